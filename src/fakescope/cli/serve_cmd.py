"""`fakescope serve`: the web page and REST API (`fakescope.serve`), run with uvicorn."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

EPILOG = """\
API (OpenAPI schema at /openapi.json; Swagger UI at /docs with --docs):
  GET    /api/health                  version, default detector, queue
  POST   /api/scans                   multipart field "file" (options: detector, sampling,
                                      threshold as query or form fields) or JSON {"path": ...}
                                      for a file under an --allow-root -> 202 {"id": ...}
  GET    /api/scans/{id}              status queued|running|done|failed, progress, result (the
                                      CLI's JSON record), artefacts (overlays, timeline)
  GET    /api/scans?limit=&offset=    newest first
  DELETE /api/scans/{id}              the job, its upload and its artefacts
  GET    /api/scans/{id}/artefacts/F  an overlay or the timeline plot

Jobs live in DATA_DIR/jobs.sqlite and survive a restart (interrupted ones run again, once);
uploads stream to DATA_DIR/uploads (over --max-upload-mb: 413; disk full: 507); a full queue
answers 429 with Retry-After. Scans run in worker processes with the CLI's limits.

Loopback only by default. To listen on a network, set a token (--token or FAKESCOPE_TOKEN):
every /api call then needs "Authorization: Bearer TOKEN" (the page asks for it). Requests
must name the server by a Host it answers to (--host, loopback names, --allowed-host), and
other websites cannot change anything (cross-site POST/DELETE: 403). See docs/security.md."""


def register(sub: argparse._SubParsersAction) -> None:
    from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR, DETECTOR_NAMES

    p = sub.add_parser("serve", help="web page + REST API for scanning files",
                       description="Serve fakescope's web page and REST API.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="default: %(default)s (loopback)")
    p.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    p.add_argument("--data-dir", default="fakescope-data", metavar="DIR",
                   help="job store, uploads and artefacts (default: %(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=512.0, metavar="N",
                   help="largest upload accepted (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="scans run at once, each in its own worker process (default: %(default)s)")
    p.add_argument("--allow-root", action="append", default=[], metavar="DIR",
                   help="server folder whose files may be scanned by path (repeatable)")
    p.add_argument("--token", default=None,
                   help="require this bearer token on /api (default: $FAKESCOPE_TOKEN, else none)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name clients use to reach the server, besides --host and the "
                        "loopback names (repeatable; needed behind a proxy or a DNS name)")
    p.add_argument("--docs", action="store_true",
                   help="serve Swagger UI at /docs (its assets load from a CDN: not offline)")
    p.add_argument("--max-queue", type=int, default=100, metavar="N",
                   help="queued scans before new ones get 429 (default: %(default)s)")
    p.add_argument("--detector", default=None, help="default detector family of the scans")
    p.add_argument("--weights", default=None, metavar="FILE", help="detector bundle to use")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if present)")
    p.add_argument("--face-detector", default=None, choices=DETECTOR_NAMES,
                   help=f"default: {DEFAULT_FACE_DETECTOR}, or one with a measured framing "
                        "for the model's crop preset")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="seconds one scan may take (default: %(default)s)")
    p.add_argument("--max-memory", type=float, default=8192.0, metavar="MB",
                   help="memory one scan worker may use (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from fakescope.scan import Limits, ScanSettings
    from fakescope.serve.app import ServeConfig, create_app
    from fakescope.serve.guard import allowed_hosts

    token = args.token or os.environ.get("FAKESCOPE_TOKEN") or None
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    if not loopback and token is None:
        print("fakescope serve: error: listening beyond loopback needs --token (or "
              "FAKESCOPE_TOKEN)", file=sys.stderr)
        return 2
    if args.workers < 1 or args.max_queue < 1:
        print("fakescope serve: error: --workers and --max-queue must be >= 1", file=sys.stderr)
        return 2
    config = ServeConfig(
        data_dir=Path(args.data_dir),
        settings=ScanSettings(detector=args.detector, weights=args.weights, device=args.device,
                              face_detector=args.face_detector),
        max_upload_mb=args.max_upload_mb, workers=args.workers,
        allow_roots=tuple(Path(r) for r in args.allow_root), token=token,
        max_queue=args.max_queue, docs=args.docs,
        allowed_hosts=tuple(sorted(allowed_hosts(args.host, args.allowed_host))),
        limits=Limits(timeout_s=args.timeout or None, memory_mb=args.max_memory or None),
    )
    try:
        app = create_app(config)
    except (OSError, sqlite3.Error) as exc:
        print(f"fakescope serve: error: cannot keep jobs in {config.data_dir}: {exc}",
              file=sys.stderr)
        return 2
    print(f"fakescope serve: http://{args.host}:{args.port}/  (data in {config.data_dir})",
          file=sys.stderr)
    if args.host in ("0.0.0.0", "::") and not args.allowed_host:
        print("fakescope serve: answering to the loopback names only; add the names or "
              "addresses clients use with --allowed-host", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
