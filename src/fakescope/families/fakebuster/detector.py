"""The Fake-Buster detector (seed 002): a bundle (weights + how to feed them) behind the
`Detector` protocol, run with PyTorch or ONNX Runtime; explanations are its self-attention.

Weights come from a bundle file the user names, or from the one packaged with fakescope
(``fakescope/weights/fakebuster_dfdc.pt``, pinned by sha256 in ``fakebuster_dfdc.json``).
There is no fallback to an untrained network: a detector without its weights would print
confident-looking noise, so a missing or mismatched file is a `WeightsError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fakescope.detectors.registry import register_detector
from fakescope.detectors.torch_bundle import BundleCropDetector
from fakescope.detectors.torch_bundle import packaged_weights as _packaged

if TYPE_CHECKING:  # torch loads when a model runs in it, not with this module
    import torch

PACKAGED_WEIGHTS = "fakebuster_dfdc.pt"
PACKAGED_CARD = "fakebuster_dfdc.json"  # model card; its "sha256" pins the weights file


def packaged_weights() -> tuple[Path, str]:
    return _packaged(PACKAGED_WEIGHTS, PACKAGED_CARD, "FakeBuster")


class FakeBusterDetector(BundleCropDetector):
    """Per-crop fake probability from a FakeBuster bundle. The attention map is (h*w)^2 per
    crop: CPU batches stay small to bound memory."""

    family = "fakebuster"
    default_cpu_batch = 16

    def explain_crops(self, crops: np.ndarray) -> np.ndarray | None:
        """The self-attention each position receives (seed 002 Fig. 5), (N, h, w)."""
        import torch

        with torch.inference_mode():
            return self._attention_maps(crops)

    def _attention_maps(self, crops: np.ndarray) -> np.ndarray | None:
        import torch

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


@register_detector("fakebuster", packaged=lambda: packaged_weights())
def create_fakebuster(
    weights: str | Path | None = None,
    device: str | None = None,
    runtime: str = "auto",
    **kwargs,
) -> FakeBusterDetector:
    """`weights=None`: the packaged, sha256-pinned bundle; otherwise a bundle file path."""
    return FakeBusterDetector.create(weights, packaged_weights, device=device, runtime=runtime,
                                     **kwargs)
