"""`fakescope eval` (not yet built)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="(not yet available)")
    p.set_defaults(func=lambda args: (print("fakescope eval: not available yet"), 2)[1])
