"""A detector bundle: one file with everything needed to run a trained model the same way it
was trained (architecture, weights, input size, normalisation, crop framing, threshold).

Saved with `torch.save` as a plain dict of tensors and primitives (loadable with
``weights_only=True``, so loading a user's file cannot run code). A family whose model is not
one torch module (scikit-learn estimators) saves a skops file instead (`sk_bundle`);
`load_bundle` reads both. The sha256 of the file is the weights identity reported in every
scan result.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakescope.errors import WeightsError
from fakescope.output.atomic import atomic_write_bytes

if TYPE_CHECKING:  # torch loads with the first bundle read, not with this module
    import torch

BUNDLE_FORMAT = 1


@dataclass
class BundleMeta:
    """How to feed and read the model; travels with the weights."""

    model_name: str
    model_kwargs: dict[str, Any]
    input_size: int  # square crop side the model was trained on
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    crop_preset: str = "dfdc_tight"  # a fakescope.faces crop preset name
    threshold: float = 0.5  # on the fake probability
    threshold_method: str = "default"
    version: str = "0"
    detector: str = "fakebuster"
    # What one scored unit is (`detectors.base.DetectorRequirements`): a crop, or a sequence /
    # clip of `sequence_length` crops 1 in `frame_step` frames, `windows` of them per file.
    unit: str = "crop"
    sequence_length: int = 1
    frame_step: int = 1
    windows: int = 4
    extra: dict[str, Any] = field(default_factory=dict)  # training provenance, metrics, ...


@dataclass
class Bundle:
    meta: BundleMeta
    state_dict: dict[str, torch.Tensor]
    sha256: str
    payload: dict[str, Any] | None = None  # a skops bundle's estimators and arrays


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_bundle(path: str | Path, meta: BundleMeta, state_dict: dict[str, torch.Tensor]) -> str:
    """Write atomically; returns the file's sha256."""
    import torch

    buf = io.BytesIO()
    torch.save({"format": BUNDLE_FORMAT, "meta": asdict(meta), "state_dict": state_dict}, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def load_bundle(path: str | Path, expected_sha256: str | None = None) -> Bundle:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    data = path.read_bytes()
    digest = sha256_bytes(data)
    if expected_sha256 is not None and digest != expected_sha256:
        raise WeightsError(
            f"{path}: sha256 {digest} does not match the pinned {expected_sha256} "
            "(corrupt or replaced file)"
        )
    from fakescope.detectors.sk_bundle import is_sk_bundle, load_sk_bundle

    if is_sk_bundle(data):
        return load_sk_bundle(data, path, digest)
    import torch

    try:
        raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        meta = meta_from_dict(raw["meta"])
        state = raw["state_dict"]
    except Exception as exc:  # any unpickling/shape problem means the file is not a bundle
        # torch's own message for a foreign pickle is a page of advice that ends in "load it
        # with weights_only=False" (which would let the file run code); name the error only.
        raise WeightsError(
            f"{path}: not a fakescope detector bundle ({type(exc).__name__}: the file is not "
            "a torch file of plain tensors written by `fakescope train`)"
        ) from exc
    if raw.get("format") != BUNDLE_FORMAT:
        raise WeightsError(f"{path}: bundle format {raw.get('format')} is not {BUNDLE_FORMAT}")
    return Bundle(meta=meta, state_dict=state, sha256=digest)


def meta_from_dict(raw: dict[str, Any]) -> BundleMeta:
    """A `BundleMeta` back from `asdict` (e.g. the ``meta.json`` cached next to an ONNX graph)."""
    meta = BundleMeta(**raw)
    meta.mean = tuple(meta.mean)
    meta.std = tuple(meta.std)
    return meta


def file_sha256(path: str | Path) -> str:
    """sha256 of a weights file, or WeightsError naming it when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    return sha256_bytes(path.read_bytes())


def build_model(bundle: Bundle) -> torch.nn.Module:
    """The bundle's architecture with its weights loaded strictly (a partial load is an error).

    A bundle whose BatchNorm was folded into the convolutions (``extra["bn_folded"]``) is
    loaded into the folded form of the same architecture; fp16 weights are widened to fp32 on
    load (CPU kernels are fp32) while the file stays half the size. Pretrained backbones are
    built without their ImageNet file: the bundle holds every weight."""
    import inspect

    from fakescope.models import create_model, model_spec
    from fakescope.models.fold import fold_batchnorm

    meta = bundle.meta
    kwargs = dict(meta.model_kwargs)
    try:
        if "pretrained" in inspect.signature(model_spec(meta.model_name).factory).parameters:
            kwargs["pretrained"] = False  # every weight comes from the bundle
    except KeyError as exc:
        raise WeightsError(f"weights {bundle.sha256[:12]}: {exc}") from exc
    try:
        model = create_model(meta.model_name, **kwargs)
        if meta.extra.get("bn_folded"):
            model = fold_batchnorm(model.eval())
        state = {k: v.float() if v.is_floating_point() else v for k, v in bundle.state_dict.items()}
        model.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise WeightsError(
            f"weights {bundle.sha256[:12]} do not fit model {meta.model_name!r}: {exc}"
        ) from exc
    return model.eval()
