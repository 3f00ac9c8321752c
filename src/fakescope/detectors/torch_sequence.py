"""A detector that runs one torch bundle on sequences or clips of face crops: the shared body
of every temporal family (normalisation from the bundle, batching, AMP on CUDA).

The network takes (N, F, 3, S, S) and returns one logit per unit. PyTorch only: the ONNX
path of crop detectors measures single-crop graphs, and a recurrent network's export is
its own project.
"""

from __future__ import annotations

import numpy as np
import torch

from fakescope.detectors.base import BundleDetector
from fakescope.detectors.bundle import Bundle, build_model
from fakescope.detectors.runtime import TorchRunner, sigmoid
from fakescope.detectors.torch_bundle import check_family, normalise, requirements_of
from fakescope.device import resolve_device
from fakescope.types import DetectorInfo


class BundleSequenceDetector(BundleDetector):
    """Fake probability per sequence / clip from a bundle whose `unit` is one of those."""

    family = ""
    default_cpu_batch = 4  # units (of F crops each) per forward pass

    def __init__(self, bundle: Bundle, device: str | torch.device | None = None,
                 runtime: str = "auto", batch_size: int | None = None) -> None:
        check_family(bundle, self.family, ("sequence", "clip"))
        if runtime not in ("auto", "torch"):
            raise ValueError(f"{self.family}: runtime {runtime!r} is not available for "
                             "sequence models; use torch (or auto)")
        self.bundle = bundle
        self.device = resolve_device(device)
        self.model = build_model(bundle)
        self.runner = TorchRunner(self.model, self.device)
        self.batch_size = batch_size or (16 if self.device.type == "cuda" else self.default_cpu_batch)
        meta = bundle.meta
        self._requirements = requirements_of(bundle.meta)
        self._info = DetectorInfo(name=self.family, version=meta.version,
                                  weights_sha256=bundle.sha256)
        self._mean = np.asarray(meta.mean, dtype=np.float32)
        self._std = np.asarray(meta.std, dtype=np.float32)

    @property
    def runtime(self) -> str:
        return self.runner.name

    def score_sequences(self, sequences: np.ndarray) -> np.ndarray:
        units = self.check_units(np.asarray(sequences))
        out = [sigmoid(self.runner(normalise(units[i : i + self.batch_size], self._mean, self._std)))
               for i in range(0, len(units), self.batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
