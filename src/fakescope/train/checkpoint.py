"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is a plain dict of tensors and primitives written atomically (a killed run never
leaves a half-written file) and read back with ``weights_only=True`` (reading a file cannot
run code). It carries the model, optimizer, scheduler, grad-scaler and pruner states, the
epoch, the metric history, every random-number generator's state and the configuration.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fakescope.errors import FakescopeError
from fakescope.output.atomic import atomic_write_bytes

CHECKPOINT_FORMAT = 1
LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(FakescopeError):
    """A checkpoint file that is missing or cannot be read."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated/corrupt/foreign file: say which and why
        raise CheckpointError(f"{path}: not a readable fakescope checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a fakescope checkpoint (format {CHECKPOINT_FORMAT})")
    return state


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy (global), torch CPU and CUDA generator states, as tensors/primitives."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuplify(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(obj: Any) -> Any:
    """random.setstate needs tuples; a serialiser may hand lists back."""
    if isinstance(obj, (list, tuple)):
        return tuple(_tuplify(v) for v in obj)
    return obj


def model_from_state(model_name: str, model_kwargs: dict[str, Any], state: dict[str, Any]):
    """A plain (finalised) model from a checkpoint's ``model`` (and ``pruner``) state.

    A run with pruning saves ``weight_orig``/``weight_mask`` pairs; they are loaded into a
    model carrying the same pruning re-parametrisation and made permanent, so the result has
    ordinary ``weight`` tensors (with the pruned zeros) that any inference code can load.
    """
    from fakescope.models import create_model
    from fakescope.train.compression import OneCyclePruner

    model = create_model(model_name, **model_kwargs)
    pruner_state = state.get("pruner")
    pruner = None
    if pruner_state is not None:
        pruner = OneCyclePruner(model, sparsity=pruner_state["target"],
                                total_steps=pruner_state["total_steps"], local=pruner_state["local"])
    model.load_state_dict(state["model"], strict=True)
    if pruner is not None:
        pruner.load_state_dict(pruner_state)
        pruner.finalize()
    return model.eval()


def bundle_from_checkpoint(path: str | Path):
    """An in-memory detector bundle from a training checkpoint (best.pt / last.pt), for
    evaluating a run before (or without) its exported bundle. A checkpoint holds no chosen
    threshold: 0.5 (method "default")."""
    from fakescope.detectors.bundle import Bundle, sha256_bytes
    from fakescope.train.config import config_from_dict

    path = Path(path)
    state = load_checkpoint(path)
    cfg = config_from_dict(state["config"], where=f"{path} config")
    model = model_from_state(cfg.model.name, cfg.model.kwargs, state)
    meta = meta_from_config(cfg, extra={"checkpoint": path.name, "epoch": int(state["epoch"])})
    digest = sha256_bytes(path.read_bytes())
    return Bundle(meta=meta, state_dict=model.state_dict(), sha256=digest)


def meta_from_config(cfg, threshold: float = 0.5, threshold_method: str = "default",
                     extra: dict[str, Any] | None = None):
    """BundleMeta of a model trained with `cfg` (a TrainConfig): how to feed and read it."""
    from fakescope.detectors.bundle import BundleMeta

    mean, std = cfg.normalisation()
    return BundleMeta(
        model_name=cfg.model.name, model_kwargs=dict(cfg.model.kwargs),
        input_size=cfg.data.image_size, mean=tuple(mean), std=tuple(std),
        crop_preset=cfg.data.crop_preset, threshold=float(threshold),
        threshold_method=threshold_method, version=cfg.export.version,
        detector=cfg.export.detector, unit=cfg.sequence.unit,
        sequence_length=cfg.sequence.length, frame_step=cfg.sequence.frame_step,
        windows=cfg.sequence.windows, extra=dict(extra or {}),
    )
