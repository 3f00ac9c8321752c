"""`fakescope train` (not yet built)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="(not yet available)")
    p.set_defaults(func=lambda args: (print("fakescope train: not available yet"), 2)[1])
