"""A detector that runs one torch bundle on single face crops: the shared body of every crop
family (preprocessing with the bundle's normalisation, PyTorch or ONNX Runtime, batching).

Families subclass it for what is theirs (an explanation method, a packaged weights file);
none re-implements normalisation or the runtime choice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from fakescope.detectors.base import BundleDetector, DetectorRequirements
from fakescope.detectors.bundle import Bundle, build_model, load_bundle
from fakescope.detectors.runtime import cache_root, choose_runner, sigmoid
from fakescope.device import resolve_device
from fakescope.errors import WeightsError
from fakescope.types import DetectorInfo


def packaged_weights(weights_name: str, card_name: str, family: str) -> tuple[Path, str]:
    """Path and pinned sha256 of a weights file shipped in ``fakescope/weights``, or a
    `WeightsError` saying how to proceed without it. The model card's "sha256" pins it."""
    folder = resources.files("fakescope") / "weights"
    weights, card = folder / weights_name, folder / card_name
    if not (weights.is_file() and card.is_file()):
        raise WeightsError(
            f"no packaged {family} weights in this install (looked for {weights_name} and "
            f"{card_name} in {folder}); pass a trained bundle with --weights PATH "
            "(Python: create_detector(weights=PATH)); `fakescope train` writes one"
        )
    try:
        sha = json.loads(card.read_text())["sha256"]
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"{card}: model card has no readable 'sha256' ({exc})") from exc
    return Path(str(weights)), sha


def load_family_bundle(weights: str | Path | Bundle | None,
                       packaged: Callable[[], tuple[Path, str]]) -> Bundle:
    """`weights=None`: the packaged bundle (`packaged()` gives its path and pinned sha256);
    a `Bundle` already loaded; otherwise the user's file."""
    if isinstance(weights, Bundle):
        return weights
    if weights is None:
        path, sha = packaged()
        return load_bundle(path, expected_sha256=sha)
    return load_bundle(weights)


def check_family(bundle: Bundle, family: str, unit: str | tuple[str, ...]) -> None:
    """The bundle must be for this family and score this kind of unit."""
    if bundle.meta.detector != family:
        raise WeightsError(f"bundle {bundle.sha256[:12]} is for detector "
                           f"{bundle.meta.detector!r}, not {family!r}")
    units = (unit,) if isinstance(unit, str) else unit
    if bundle.meta.unit not in units:
        raise WeightsError(f"bundle {bundle.sha256[:12]} scores {bundle.meta.unit}s; "
                           f"{family} runs {' / '.join(units)} models")


def requirements_of(bundle: Bundle) -> DetectorRequirements:
    """What the bundle's model was trained on: crop size, framing, normalisation, unit."""
    meta = bundle.meta
    return DetectorRequirements(
        input_size=meta.input_size, crop_preset=meta.crop_preset, mean=tuple(meta.mean),
        std=tuple(meta.std), sequence_length=meta.sequence_length, unit=meta.unit,
        frame_step=meta.frame_step, windows=meta.windows,
    )


def normalise(crops: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 (..., S, S, 3) → float32 (..., 3, S, S) normalised with mean/std (1, 3, 1, 1)."""
    x = np.moveaxis(crops.astype(np.float32) / 255.0, -1, -3)
    return np.ascontiguousarray((x - mean.reshape(3, 1, 1)) / std.reshape(3, 1, 1),
                                dtype=np.float32)


class BundleCropDetector(BundleDetector):
    """Per-crop fake probability from a bundle, with PyTorch or ONNX Runtime.

    `runtime`: ``"torch"``, ``"onnx"`` (ONNX Runtime, CPU) or ``"auto"`` — on CPU the one
    measured faster on this machine whose scores agree with PyTorch's (see `runtime.py`);
    on CUDA always PyTorch with AMP. Explanations always come from PyTorch.
    """

    family = ""  # the registered name; the bundle must be for it
    default_cpu_batch = 32

    def __init__(
        self,
        bundle: Bundle,
        device: str | torch.device | None = None,
        runtime: str = "auto",
        batch_size: int | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        check_family(bundle, self.family, "crop")
        self.bundle = bundle
        self.device = resolve_device(device)
        self.model = build_model(bundle)
        self.batch_size = batch_size or (64 if self.device.type == "cuda" else self.default_cpu_batch)
        meta = bundle.meta
        self._requirements = requirements_of(bundle)
        self._info = DetectorInfo(name=self.family, version=meta.version,
                                  weights_sha256=bundle.sha256)
        folder = Path(cache_dir) if cache_dir is not None else cache_root() / "onnx"
        self.runner, self.runtime_choice = choose_runner(
            self.model, self.device, runtime, meta.input_size, folder / bundle.sha256
        )
        self._mean = np.asarray(meta.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(meta.std, dtype=np.float32).reshape(1, 3, 1, 1)

    @property
    def runtime(self) -> str:
        """The runtime actually in use (``"torch"`` or ``"onnx"``)."""
        return self.runner.name

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """uint8 NHWC → float32 NCHW normalised with the bundle's mean/std (as in training)."""
        return normalise(crops, self._mean, self._std)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        crops = self.check_crops(np.asarray(crops))
        out = [
            sigmoid(self.runner(self.preprocess(crops[i : i + self.batch_size])))
            for i in range(0, len(crops), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray | None:
        """Input of the network's last linear layer (the classifier head), from PyTorch."""
        crops = self.check_crops(np.asarray(crops))
        head = last_linear(self.model)
        if head is None:
            return None
        self.model.to(self.device).eval()
        grabbed: list[torch.Tensor] = []
        hook = head.register_forward_hook(lambda _m, args, _out: grabbed.append(args[0].detach()))
        try:
            with torch.inference_mode():
                for i in range(0, len(crops), self.batch_size):
                    x = torch.from_numpy(self.preprocess(crops[i : i + self.batch_size]))
                    self.model(x.to(self.device))
        finally:
            hook.remove()
        if not grabbed:
            return np.zeros((0, head.in_features), dtype=np.float32)
        return torch.cat(grabbed).flatten(1).float().cpu().numpy()


def last_linear(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The last `nn.Linear` registered in `model` (a classifier's head), or None."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return linears[-1] if linears else None
