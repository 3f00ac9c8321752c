"""`fakescope` entry point. Each sub-command lives in its own module with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fakescope import __version__
from fakescope.errors import EXIT_INTERNAL

SUBCOMMANDS = ("scan", "extract", "train", "eval", "calibrate", "analyze", "detectors",
               "serve", "report")
EXIT_INTERRUPTED = 130

log = logging.getLogger("fakescope")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fakescope",
        description="Detect manipulated faces (deepfakes) in images and videos.",
    )
    parser.add_argument("--version", action="version", version=f"fakescope {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"fakescope.cli.{name}_cmd")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("fakescope: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected failure ends a run
        log.debug("internal failure", exc_info=True)
        hint = "" if args.verbose else " (run with -v for the traceback)"
        print(f"fakescope {args.command}: internal error: {type(exc).__name__}: {exc}{hint}",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
