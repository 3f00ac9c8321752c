"""A timm-style registry: `create_model("fakebuster", **overrides)` builds any registered net."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = factory
        return factory

    return wrap


def create_model(name: str, **kwargs) -> nn.Module:
    try:
        factory = _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {sorted(_MODELS)}") from None
    return factory(**kwargs)


def list_models() -> list[str]:
    return sorted(_MODELS)
