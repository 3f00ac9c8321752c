"""What the wheel carries: every package-data pattern in pyproject.toml names files that exist,
so a pattern left behind by a move (a dead entry ships nothing and says nothing) fails here."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_data_pattern_matches_a_file():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = project["tool"]["setuptools"]["package-data"]
    where = project["tool"]["setuptools"]["packages"]["find"]["where"][0]
    dead = [f"{package}: {pattern}" for package, patterns in package_data.items()
            for pattern in patterns
            if not any(p.is_file() for p in (REPO / where / package).glob(pattern))]
    assert not dead, f"package-data patterns that match no file: {dead}"
