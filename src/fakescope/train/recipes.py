"""Training recipes that are not the torch `Trainer` (e.g. a projector + scikit-learn
classifier), run by `fakescope train CONFIG` when the YAML names one with ``recipe: NAME``.

A family registers its recipe on import (`register_recipe`); this module knows none by name.
A recipe takes the YAML mapping (without ``recipe``), the config's folder (relative paths in
the YAML are relative to it) and the ``--out`` folder or None, and returns an exit status.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Recipe = Callable[[dict[str, Any], Path, "Path | None"], int]
_RECIPES: dict[str, Recipe] = {}


def register_recipe(name: str) -> Callable[[Recipe], Recipe]:
    def wrap(fn: Recipe) -> Recipe:
        if name in _RECIPES:
            raise ValueError(f"recipe {name!r} is already registered")
        _RECIPES[name] = fn
        return fn

    return wrap


def get_recipe(name: str) -> Recipe:
    from fakescope.families import discover

    discover()
    try:
        return _RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown training recipe {name!r}; known: {sorted(_RECIPES)}") from None


def recipe_name(config_path: Path) -> str | None:
    """The ``recipe`` a YAML config names, or None (the torch trainer's config)."""
    import yaml

    try:
        raw = yaml.safe_load(config_path.read_text())
    except (OSError, yaml.YAMLError):
        return None  # load_config reports the problem in its own words
    return raw.get("recipe") if isinstance(raw, dict) else None
