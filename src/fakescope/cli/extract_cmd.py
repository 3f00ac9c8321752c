"""`fakescope extract` (not yet built)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="(not yet available)")
    p.set_defaults(func=lambda args: (print("fakescope extract: not available yet"), 2)[1])
