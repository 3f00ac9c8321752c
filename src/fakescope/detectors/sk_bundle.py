"""A detector bundle for models that are not one torch module (scikit-learn estimators, numpy
arrays of a projector): one skops file holding ``{"format", "meta", "payload"}``.

Why skops and not pickle: loading a pickle runs whatever code the file names, so a user's
weights file could take over the machine. skops rebuilds only types it knows; anything else in
the file is refused here unless it is on `ALLOWED_TYPES` (scikit-learn internals that skops
does not trust by default but that hold only arrays). The file's sha256 is the weights
identity, as for torch bundles; `detectors.bundle.load_bundle` reads either kind.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fakescope.errors import WeightsError
from fakescope.output.atomic import atomic_write_bytes

SK_BUNDLE_FORMAT = 1
# Types skops leaves untrusted by default that a fakescope bundle may hold: a decision tree's
# node arrays (random forests) and an MLP's optimiser state. Nothing here executes code.
ALLOWED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
})


def is_sk_bundle(data: bytes) -> bool:
    """True for a skops file (a zip archive with a ``schema.json``); torch files are zips
    without one."""
    if not data.startswith(b"PK"):
        return False
    try:
        return "schema.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return False


def save_sk_bundle(path: str | Path, meta, payload: dict[str, Any]) -> str:
    """Write `meta` (a `BundleMeta`) and `payload` (estimators, arrays, primitives)
    atomically; returns the file's sha256."""
    import skops.io as sio

    from fakescope.detectors.bundle import sha256_bytes

    data = sio.dumps({"format": SK_BUNDLE_FORMAT, "meta": asdict(meta), "payload": payload})
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def safe_loads(data: bytes, where: str | Path) -> Any:
    """The object in skops bytes `data`; a `WeightsError` when the file names any type outside
    skops' defaults and `ALLOWED_TYPES`, or is no skops file."""
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a bundle"
        raise WeightsError(f"{where}: not a skops file ({type(exc).__name__})") from exc
    refused = sorted(untrusted - ALLOWED_TYPES)
    if refused:
        raise WeightsError(f"{where}: refusing to load: the file names types fakescope does not "
                           f"trust ({', '.join(refused[:5])})")
    try:
        return sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"{where}: unreadable skops file ({type(exc).__name__}: {exc})") from exc


def load_sk_bundle(data: bytes, where: str | Path, digest: str):
    """The `Bundle` in skops bytes `data` (already sha256-checked by the caller), read with
    `safe_loads`."""
    from fakescope.detectors.bundle import Bundle, BundleMeta

    raw = safe_loads(data, where)
    try:
        meta = BundleMeta(**raw["meta"])
        payload = raw["payload"]
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"{where}: not a fakescope detector bundle ({type(exc).__name__}: "
                           f"{exc})") from exc
    if raw.get("format") != SK_BUNDLE_FORMAT:
        raise WeightsError(f"{where}: bundle format {raw.get('format')} is not {SK_BUNDLE_FORMAT}")
    meta.mean, meta.std = tuple(meta.mean), tuple(meta.std)
    return Bundle(meta=meta, state_dict={}, sha256=digest, payload=payload)
