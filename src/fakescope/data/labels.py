"""The one label convention of fakescope: 1 = FAKE, 0 = REAL, everywhere."""

from __future__ import annotations

import numbers

LABEL_REAL = 0
LABEL_FAKE = 1

_NAMES = {
    "fake": LABEL_FAKE,
    "real": LABEL_REAL,
    "1": LABEL_FAKE,
    "0": LABEL_REAL,
    "manipulated": LABEL_FAKE,
    "synthesis": LABEL_FAKE,
    "original": LABEL_REAL,
    "pristine": LABEL_REAL,
}


def parse_label(value: object) -> int:
    """Map ``"FAKE"``/``"REAL"`` (any case), ``1``/``0``, ``True``/``False`` to 1/0.

    Raises ValueError naming the value for anything else, so a typo in a label column fails
    loudly instead of silently becoming one of the classes.
    """
    if isinstance(value, bool):
        return LABEL_FAKE if value else LABEL_REAL
    if isinstance(value, numbers.Number):
        if value == 1:
            return LABEL_FAKE
        if value == 0:
            return LABEL_REAL
        raise ValueError(f"label {value!r} is not 0 (real) or 1 (fake)")
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        key = text.strip().lower()
        if key in _NAMES:
            return _NAMES[key]
        raise ValueError(f"label {value!r} is not one of FAKE/REAL/fake/real/1/0")
    raise ValueError(f"label {value!r} of type {type(value).__name__} is not a label")


def label_name(label: int) -> str:
    """``1 -> "FAKE"``, ``0 -> "REAL"`` (the spelling DFDC metadata uses)."""
    return "FAKE" if parse_label(label) == LABEL_FAKE else "REAL"
