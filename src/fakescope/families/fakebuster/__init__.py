"""Fake-Buster (seed 002): a small MobileNetV2-like CNN with squeeze-excitation and a
self-attention block, trained from scratch, pruned, distilled and BN-folded. See README.md."""

from fakescope.families.fakebuster.network import FakeBuster
from fakescope.models.registry import register_model


@register_model("fakebuster")
def _fakebuster(**kwargs) -> FakeBuster:
    return FakeBuster(**kwargs)


@register_model("fakebuster_baseline")
def _fakebuster_baseline(**kwargs) -> FakeBuster:
    """Seed 002 Table 1 baseline: inverted residual blocks only (no attention, no SE)."""
    kwargs.setdefault("use_attention", False)
    kwargs.setdefault("use_se", False)
    return FakeBuster(**kwargs)


from fakescope.families.fakebuster import detector  # noqa: E402,F401  (registers "fakebuster")

__all__ = ["FakeBuster"]
