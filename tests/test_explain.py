"""Explanations the verdict depends on: Grad-CAM finds the region a model uses, and on the
shipped detector erasing the top 10 % of its map moves the score more than erasing a random
10 % (averaged over test crops)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fakescope.analysis.faithfulness import deletion_test
from fakescope.detectors.base import Detector, DetectorRequirements
from fakescope.detectors.gradcam import gradcam_maps
from fakescope.types import DetectorInfo

SIZE = 64


class TopLeft(nn.Module):
    """Keeps the top-left quarter of a feature map, zeroes the rest."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(f)
        mask[..., : f.shape[-2] // 2, : f.shape[-1] // 2] = 1.0
        return f * mask


class TopLeftModel(nn.Module):
    """A logit that only the top-left quarter of the image can move."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), TopLeft())
        self.head = nn.Linear(8, 1)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)


class ToyDetector(Detector):
    def __init__(self) -> None:
        self.model = TopLeftModel().eval()
        with torch.no_grad():  # make the logit grow with the features (a positive Grad-CAM)
            self.model.head.weight.abs_().mul_(40.0)
            self.model.head.bias.fill_(-2.0)

    info = property(lambda self: DetectorInfo("toy", "0", "0" * 64))
    requirements = property(lambda self: DetectorRequirements(input_size=SIZE))
    threshold = property(lambda self: 0.5)

    def _x(self, crops):
        return torch.from_numpy(crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)

    def score_crops(self, crops):
        with torch.no_grad():
            return torch.sigmoid(self.model(self._x(crops))).numpy()

    def explain_crops(self, crops):
        return gradcam_maps(self.model, self._x(crops))


def _crops(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, SIZE, SIZE, 3), dtype=np.uint8)


def test_gradcam_points_at_the_region_the_model_uses():
    det = ToyDetector()
    maps = det.explain_crops(_crops())
    assert maps.shape == (6, SIZE, SIZE) and maps.dtype == np.float32
    assert maps.max() == pytest.approx(1.0)
    half = SIZE // 2
    inside = maps[:, :half, :half].sum()
    assert inside > 0.99 * maps.sum()  # nothing outside the region the logit sees


def test_deletion_test_tells_a_faithful_map_from_a_random_one():
    det = ToyDetector()
    result = deletion_test(det, _crops(), fraction=0.1, repeats=3)
    assert result.n == 6 and result.faithful
    assert result.top_shift > 2 * result.random_shift


@pytest.mark.shared
def test_shipped_default_explanations_are_faithful_on_test_crops(shared_data):
    from fakescope.detectors import create_detector
    from fakescope.data.datasets import read_image_rgb, resize_square
    from conftest import REPO

    det = create_detector("faceblend", runtime="torch")
    split = pd.read_csv(REPO / "docs" / "splits" / "dfdc_faces_split.csv")
    test = split[split["split"] == "test"].sample(48, random_state=0)
    size = det.requirements.input_size
    crops = np.stack([resize_square(read_image_rgb(shared_data / "dfdc_faces" / "faces_224" / p),
                                    size) for p in test["path"]])
    result = deletion_test(det, crops, fraction=0.1, repeats=2)
    assert result.faithful, result
