"""Detector families, one folder each (network, detector, recipe, README), found by discovery.

`discover()` imports every subpackage of `fakescope.families` and every module named by the
``fakescope.families`` entry-point group (a family in another distribution), once. Importing a
family registers its networks (`models.register_model`) and its detector
(`detectors.register_detector`); the registries call `discover()` before they look a name up,
so adding a family never means editing a central file.

`discover(name)` imports only the family of that name (its folder, or its entry point) when
one exists: building the default detector must not import every other family's libraries
(scikit-learn, torchvision), which would cost a one-image scan seconds of start-up.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from importlib.metadata import entry_points

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "fakescope.families"
_state = {"done": False, "running": False}


def discover(name: str | None = None) -> None:
    """Import every family, or, with `name`, the one family of that name if there is one
    (then the registries fall back to importing all of them)."""
    if name is not None and not _state["done"]:
        if _discover_one(name):
            return
    if _state["done"] or _state["running"]:
        return
    _state["running"] = True
    try:
        for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
            if info.ispkg:
                importlib.import_module(info.name)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plug-in must not hide the others
                log.warning("detector family plug-in %s failed to load: %s: %s",
                            ep.name, type(exc).__name__, exc)
        _state["done"] = True
    finally:
        _state["running"] = False


def _discover_one(name: str) -> bool:
    """Import the family folder or entry point called `name`; True if one was found."""
    if not name.isidentifier():
        return False
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        importlib.import_module(f"{__name__}.{name}")
        return True
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        ep.load()
        return True
    return False
