"""Network architectures only (pure nn.Modules), behind a timm-style registry."""

from fakescope.models.fakebuster import FakeBuster
from fakescope.models.registry import create_model, list_models, register_model


@register_model("fakebuster")
def _fakebuster(**kwargs) -> FakeBuster:
    return FakeBuster(**kwargs)


@register_model("fakebuster_baseline")
def _fakebuster_baseline(**kwargs) -> FakeBuster:
    """Seed 002 Table 1 baseline: inverted residual blocks only (no attention, no SE)."""
    kwargs.setdefault("use_attention", False)
    kwargs.setdefault("use_se", False)
    return FakeBuster(**kwargs)


__all__ = ["FakeBuster", "create_model", "list_models", "register_model"]
