"""A timm-style registry: `create_model("mobilenet_v2", **overrides)` builds any registered net.

A model is registered with the input normalisation its weights expect (`ModelSpec`): the one
place the trainer, the bundle and the detector read it from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[..., nn.Module]
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # per channel, on [0, 1] pixels
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pretrained: str | None = None  # what its default weights are, for listings


_MODELS: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
    std: tuple[float, float, float] = (0.5, 0.5, 0.5),
    pretrained: str | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = ModelSpec(name, factory, tuple(mean), tuple(std), pretrained)
        return factory

    return wrap


def _discover() -> None:
    from fakescope.families import discover

    discover()


def model_spec(name: str) -> ModelSpec:
    if name not in _MODELS:
        _discover()
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {sorted(_MODELS)}") from None


def create_model(name: str, **kwargs) -> nn.Module:
    return model_spec(name).factory(**kwargs)


def list_models() -> list[str]:
    _discover()
    return sorted(_MODELS)
