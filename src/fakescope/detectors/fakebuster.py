"""The Fake-Buster detector (seed 002): a bundle (weights + how to feed them) behind the
`Detector` protocol, run with PyTorch or ONNX Runtime.

Weights come from a bundle file the user names, or from the one packaged with fakescope
(``fakescope/weights/fakebuster_dfdc.pt``, pinned by sha256 in ``fakebuster_dfdc.json``).
There is no fallback to an untrained network: a detector without its weights would print
confident-looking noise, so a missing or mismatched file is a `WeightsError`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from fakescope.detectors.base import Detector, DetectorRequirements
from fakescope.detectors.bundle import Bundle, load_bundle
from fakescope.detectors.registry import register_detector
from fakescope.detectors.runtime import cache_root, choose_runner, sigmoid
from fakescope.device import resolve_device
from fakescope.errors import WeightsError
from fakescope.models import create_model
from fakescope.types import DetectorInfo

PACKAGED_WEIGHTS = "fakebuster_dfdc.pt"
PACKAGED_CARD = "fakebuster_dfdc.json"  # model card; its "sha256" pins the weights file


def packaged_weights() -> tuple[Path, str]:
    """Path and pinned sha256 of the weights shipped in the package, or a `WeightsError`
    saying how to proceed without them."""
    folder = resources.files("fakescope") / "weights"
    weights, card = folder / PACKAGED_WEIGHTS, folder / PACKAGED_CARD
    if not (weights.is_file() and card.is_file()):
        raise WeightsError(
            f"no packaged FakeBuster weights in this install (looked for {PACKAGED_WEIGHTS} and "
            f"{PACKAGED_CARD} in {folder}); pass a trained bundle with --weights PATH "
            "(Python: create_detector(weights=PATH)); `fakescope train` writes one"
        )
    try:
        sha = json.loads(card.read_text())["sha256"]
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"{card}: model card has no readable 'sha256' ({exc})") from exc
    return Path(str(weights)), sha


def build_model(bundle: Bundle) -> torch.nn.Module:
    """The bundle's architecture with its weights loaded strictly (a partial load is an error).

    A bundle whose BatchNorm was folded into the convolutions (``extra["bn_folded"]``) is
    loaded into the folded form of the same architecture; fp16 weights are widened to fp32 on
    load (CPU kernels are fp32) while the file stays half the size."""
    meta = bundle.meta
    try:
        model = create_model(meta.model_name, **meta.model_kwargs)
        if meta.extra.get("bn_folded"):
            from fakescope.train.compression import fold_batchnorm

            model = fold_batchnorm(model.eval())
        model.load_state_dict(bundle.state_dict, strict=True)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise WeightsError(
            f"weights {bundle.sha256[:12]} do not fit model {meta.model_name!r}: {exc}"
        ) from exc
    return model.eval()


class FakeBusterDetector(Detector):
    """Per-crop fake probability from a FakeBuster bundle.

    `runtime`: ``"torch"``, ``"onnx"`` (ONNX Runtime, CPU) or ``"auto"`` — on CPU the one
    measured faster on this machine whose scores agree with PyTorch's (see `runtime.py`);
    on CUDA always PyTorch with AMP. Attention maps (`explain_crops`) always come from PyTorch.
    """

    def __init__(
        self,
        bundle: Bundle,
        device: str | torch.device | None = None,
        runtime: str = "auto",
        batch_size: int | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        if bundle.meta.detector != "fakebuster":
            raise WeightsError(
                f"bundle {bundle.sha256[:12]} is for detector {bundle.meta.detector!r}, "
                "not 'fakebuster'"
            )
        self.bundle = bundle
        self.device = resolve_device(device)
        self.model = build_model(bundle)
        # The attention map is (h*w)^2 per crop: keep CPU batches small to bound memory.
        self.batch_size = batch_size or (64 if self.device.type == "cuda" else 16)
        meta = bundle.meta
        self._requirements = DetectorRequirements(
            input_size=meta.input_size,
            crop_preset=meta.crop_preset,
            mean=tuple(meta.mean),
            std=tuple(meta.std),
        )
        self._info = DetectorInfo(name="fakebuster", version=meta.version,
                                  weights_sha256=bundle.sha256)
        folder = Path(cache_dir) if cache_dir is not None else cache_root() / "onnx"
        self.runner, self.runtime_choice = choose_runner(
            self.model, self.device, runtime, meta.input_size, folder / bundle.sha256
        )
        self._mean = np.asarray(meta.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(meta.std, dtype=np.float32).reshape(1, 3, 1, 1)

    @property
    def info(self) -> DetectorInfo:
        return self._info

    @property
    def requirements(self) -> DetectorRequirements:
        return self._requirements

    @property
    def threshold(self) -> float:
        return float(self.bundle.meta.threshold)

    @property
    def runtime(self) -> str:
        """The runtime actually in use (``"torch"`` or ``"onnx"``)."""
        return self.runner.name

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """uint8 NHWC → float32 NCHW normalised with the bundle's mean/std (as in training)."""
        x = crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        return np.ascontiguousarray((x - self._mean) / self._std, dtype=np.float32)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        crops = self.check_crops(np.asarray(crops))
        out = [
            sigmoid(self.runner(self.preprocess(crops[i : i + self.batch_size])))
            for i in range(0, len(crops), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    @torch.inference_mode()
    def explain_crops(self, crops: np.ndarray) -> np.ndarray | None:
        """The self-attention each position receives (seed 002 Fig. 5), (N, h, w)."""
        if self.model.attention is None:
            return None
        crops = self.check_crops(np.asarray(crops))
        self.model.to(self.device)
        maps = []
        for i in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(self.preprocess(crops[i : i + self.batch_size]))
            self.model(x.to(self.device))
            maps.append(self.model.last_attention.float().cpu().numpy())
        if not maps:
            return None
        return np.concatenate(maps)


@register_detector("fakebuster")
def create_fakebuster(
    weights: str | Path | None = None,
    device: str | None = None,
    runtime: str = "auto",
    **kwargs,
) -> FakeBusterDetector:
    """`weights=None`: the packaged, sha256-pinned bundle; otherwise a bundle file path."""
    if weights is None:
        path, sha = packaged_weights()
        bundle = load_bundle(path, expected_sha256=sha)
    else:
        bundle = load_bundle(weights)
    return FakeBusterDetector(bundle, device=device, runtime=runtime, **kwargs)
