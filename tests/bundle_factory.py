"""Detector bundles for tests: an *untrained* FakeBuster saved in the real bundle format.

Its scores are meaningless; tests use it to exercise loading, runtimes and the scan plumbing,
never to check a verdict.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fakescope.detectors.bundle import BundleMeta, save_bundle
from fakescope.models import create_model

SIZE = 64  # small input: fast on CPU
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def make_bundle(path: str | Path, model_name: str = "fakebuster", threshold: float = 0.42,
                seed: int = 0, **meta_kw):
    """Write a bundle; returns (path, sha256, the model in eval mode)."""
    torch.manual_seed(seed)
    model = create_model(model_name)
    # Non-trivial BatchNorm statistics, so the eval-mode network is not near-identity.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    meta = BundleMeta(model_name=model_name, model_kwargs={}, input_size=SIZE, mean=MEAN,
                      std=STD, threshold=threshold, version="test-1", **meta_kw)
    sha = save_bundle(path, meta, model.state_dict())
    return Path(path), sha, model.eval()
