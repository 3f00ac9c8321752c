"""Detector registry, in the style of timm's `create_model` and DeepfakeBench's detector zoo:
each family registers a factory under a name; callers only ever say the name."""

from __future__ import annotations

from collections.abc import Callable

from fakescope.detectors.base import Detector

DetectorFactory = Callable[..., Detector]

_DETECTORS: dict[str, DetectorFactory] = {}


def register_detector(name: str) -> Callable[[DetectorFactory], DetectorFactory]:
    """Decorator: `@register_detector("fakebuster")` on a factory
    ``(weights=None, device=None, runtime="auto", **kw) -> Detector``."""

    def wrap(factory: DetectorFactory) -> DetectorFactory:
        if name in _DETECTORS:
            raise ValueError(f"detector {name!r} is already registered")
        _DETECTORS[name] = factory
        return factory

    return wrap


def create_detector(
    name: str = "fakebuster",
    weights: str | None = None,
    device: str | None = None,
    runtime: str = "auto",
    **kwargs,
) -> Detector:
    """Build a registered detector. `weights=None` means the weights packaged with fakescope;
    `runtime` is ``"auto"`` (fastest measured), ``"torch"`` or ``"onnx"``."""
    try:
        factory = _DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {list_detectors()}") from None
    return factory(weights=weights, device=device, runtime=runtime, **kwargs)


def list_detectors() -> list[str]:
    return sorted(_DETECTORS)
