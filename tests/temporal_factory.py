"""Toy sequence and clip detectors for the protocol tests: tiny *untrained* (or briefly
trained) networks behind the real temporal detector body, plus a learnable table of tracks.

The toy families register themselves here, so only in-process code (Scanner, eval, Trainer)
sees them; nothing in `src/` knows them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn

from fakescope.detectors.bundle import BundleMeta, save_bundle
from fakescope.detectors.registry import _DETECTORS, register_detector
from fakescope.detectors.torch_bundle import load_family_bundle
from fakescope.detectors.torch_sequence import BundleSequenceDetector
from fakescope.models.registry import _MODELS, register_model

SIZE = 32


class ToySequence(nn.Module):
    """Per-frame conv features → their mean and mean absolute change over time → logit."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.fc = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F, 3, S, S)
        b, f = x.shape[:2]
        h = torch.relu(self.conv(x.flatten(0, 1))).mean((2, 3)).view(b, f, -1)
        motion = (h[:, 1:] - h[:, :-1]).abs().mean(1) if f > 1 else torch.zeros_like(h[:, 0])
        return self.fc(torch.cat([h.mean(1), motion], 1)).squeeze(1)


class ToyClip(nn.Module):
    """One 3D convolution over (time, height, width) → logit."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, width, 3, padding=1)
        self.fc = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F, 3, S, S)
        h = torch.relu(self.conv(x.transpose(1, 2))).mean((2, 3, 4))
        return self.fc(h).squeeze(1)


if "toy_sequence" not in _MODELS:
    register_model("toy_sequence", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(ToySequence)
    register_model("toy_clip", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(ToyClip)


class ToySequenceDetector(BundleSequenceDetector):
    family = "toy_sequence"


class ToyClipDetector(BundleSequenceDetector):
    family = "toy_clip"


def _no_packaged():
    from fakescope.errors import WeightsError

    raise WeightsError("toy detectors ship no weights")


if "toy_sequence" not in _DETECTORS:
    @register_detector("toy_sequence", unit="sequence")
    def _toy_sequence(weights=None, device=None, runtime="auto", **kw):
        return ToySequenceDetector(load_family_bundle(weights, _no_packaged), device, runtime, **kw)

    @register_detector("toy_clip", unit="clip")
    def _toy_clip(weights=None, device=None, runtime="auto", **kw):
        return ToyClipDetector(load_family_bundle(weights, _no_packaged), device, runtime, **kw)


def make_temporal_bundle(path: Path, kind: str = "sequence", length: int = 4, step: int = 3,
                         windows: int = 3, threshold: float = 0.5, seed: int = 0,
                         size: int = SIZE) -> Path:
    """An untrained toy bundle of `kind` (sequence / clip)."""
    torch.manual_seed(seed)
    name = f"toy_{kind}"
    model = ToySequence() if kind == "sequence" else ToyClip()
    meta = BundleMeta(model_name=name, model_kwargs={}, input_size=size, threshold=threshold,
                      version="test-1", detector=name, unit=kind, sequence_length=length,
                      frame_step=1 if kind == "clip" else step, windows=windows)
    save_bundle(path, meta, model.state_dict())
    return path


def write_tracks(folder: Path, videos_per_split: dict[str, int] | None = None, frames: int = 12,
                 spacing: int = 2, seed: int = 0, size: int = SIZE) -> Path:
    """PNG crops of one track per video + ``table.csv`` (path, label, group, video, track_id,
    frame_index, split). Fake videos flicker: a checkerboard on every other frame — a
    temporal artefact no single crop shows reliably. Labels alternate by video."""
    videos_per_split = videos_per_split or {"train": 8, "val": 4, "test": 4}
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    checker = (yy // 2 + xx // 2) % 2 == 0
    rows, v = [], 0
    for split, n in videos_per_split.items():
        for _ in range(n):
            label = v % 2
            corners = rng.uniform(40, 215, size=(2, 2, 3)).astype(np.float32)
            base = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
            for k in range(frames):
                img = base + rng.normal(0, 4, base.shape)
                if label and k % 2:
                    img[checker] *= 0.6
                name = f"v{v:03d}_f{k:03d}.png"
                cv2.imwrite(str(folder / name), np.clip(img, 0, 255).astype(np.uint8)[..., ::-1])
                rows.append({"path": name, "label": label, "group": f"src{v}", "video": f"vid{v}",
                             "track_id": 0, "frame_index": k * spacing, "split": split})
            v += 1
    table = folder / "table.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table
