"""Detector registry, in the style of timm's `create_model` and DeepfakeBench's detector zoo:
each family registers a factory under a name; callers only ever say the name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fakescope.detectors.base import Detector

DetectorFactory = Callable[..., Detector]

_DETECTORS: dict[str, DetectorFactory] = {}
_PACKAGED: dict[str, Callable[[], tuple[Path, str]]] = {}
_UNITS: dict[str, str] = {}


def register_detector(
    name: str, packaged: Callable[[], tuple[Path, str]] | None = None, unit: str = "crop"
) -> Callable[[DetectorFactory], DetectorFactory]:
    """Decorator: `@register_detector("fakebuster")` on a factory
    ``(weights=None, device=None, runtime="auto", **kw) -> Detector``. `packaged`: gives the
    (path, pinned sha256) of the family's shipped weights, for listings. `unit`: what the
    family scores (crop, sequence, clip), listed even when no weights ship."""

    def wrap(factory: DetectorFactory) -> DetectorFactory:
        if name in _DETECTORS:
            raise ValueError(f"detector {name!r} is already registered")
        _DETECTORS[name] = factory
        _UNITS[name] = unit
        if packaged is not None:
            _PACKAGED[name] = packaged
        return factory

    return wrap


@dataclass(frozen=True)
class DetectorListing:
    """What `fakescope detectors` prints about one family (read from its packaged bundle)."""

    name: str
    default: bool
    weights: str | None  # packaged file, or None with `problem` saying why
    sha256: str | None
    input_size: int | None
    crop_preset: str | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    unit: str
    sequence_length: int | None
    threshold: float | None
    model: str | None
    problem: str | None = None
    # Thresholds for stated validation false-alarm rates, e.g. {"far_0.01": 0.96}: stricter
    # (or looser) points than the shipped threshold, for `fakescope scan --threshold`.
    operating_points: dict[str, float] | None = None


def describe_detectors() -> list[DetectorListing]:
    """Every registered family with its packaged weights' identity and input needs."""
    from fakescope.detectors.bundle import load_bundle
    from fakescope.errors import WeightsError

    out = []
    for name in list_detectors():
        base = dict(name=name, default=name == DEFAULT_DETECTOR, unit=_UNITS.get(name, "crop"))
        try:
            if name not in _PACKAGED:
                raise WeightsError("no packaged weights; pass --weights")
            path, sha = _PACKAGED[name]()
            meta = load_bundle(path, expected_sha256=sha).meta
        except WeightsError as exc:
            out.append(DetectorListing(**base, sequence_length=None, weights=None, sha256=None,
                                       input_size=None,
                                       crop_preset=None, mean=None, std=None, threshold=None,
                                       model=None, problem=str(exc)))
            continue
        out.append(DetectorListing(**base, sequence_length=meta.sequence_length,
                                   weights=str(path), sha256=sha,
                                   input_size=meta.input_size, crop_preset=meta.crop_preset,
                                   mean=tuple(meta.mean), std=tuple(meta.std),
                                   threshold=float(meta.threshold), model=meta.model_name,
                                   operating_points=_operating_points(meta.extra)))
    return out


def _operating_points(extra: dict) -> dict[str, float] | None:
    points = extra.get("operating_points") if isinstance(extra, dict) else None
    if not points:
        return None
    return {name: float(p["value"]) for name, p in points.items()}


DEFAULT_DETECTOR = "faceblend"  # what `fakescope scan` runs unless told otherwise


def create_detector(
    name: str | None = None,
    weights=None,
    device: str | None = None,
    runtime: str = "auto",
    **kwargs,
) -> Detector:
    """Build a registered detector. `weights=None` means the weights packaged with fakescope;
    `runtime` is ``"auto"`` (fastest measured), ``"torch"`` or ``"onnx"``. `weights`: a bundle
    path or an already loaded `Bundle`. `name=None`: the family the weights were trained for,
    else `DEFAULT_DETECTOR`."""
    if name is None:
        name = DEFAULT_DETECTOR
        if weights is not None:
            from fakescope.detectors.bundle import Bundle, load_bundle

            if not isinstance(weights, Bundle):
                weights = load_bundle(weights)  # read once; the factory takes the Bundle
            name = weights.meta.detector
            _discover(name)
            if name not in _DETECTORS:
                _discover()
            if name not in _DETECTORS:
                from fakescope.errors import WeightsError

                raise WeightsError(f"weights {weights.sha256[:12]}: bundle is for detector "
                                   f"{name!r}, which is not registered; known: {list_detectors()}")
    if name not in _DETECTORS:
        _discover(name)
    if name not in _DETECTORS:
        _discover()
    try:
        factory = _DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {list_detectors()}") from None
    return factory(weights=weights, device=device, runtime=runtime, **kwargs)


def _discover(name: str | None = None) -> None:
    from fakescope.families import discover

    discover(name)


def list_detectors() -> list[str]:
    _discover()
    return sorted(_DETECTORS)
