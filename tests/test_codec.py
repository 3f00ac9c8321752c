"""Video-codec re-encoding (media.codec) and the codec augmentation built on it: it really goes
through the encoder (the output differs, decodes, and degrades as the rate factor rises)."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from fakescope.data.augment import VideoCodecCompression, build_augment
from fakescope.media.codec import CODECS, reencode, reencode_still
from fakescope.train.config import config_from_dict


@pytest.fixture(scope="module")
def face(astronaut):
    return np.ascontiguousarray(astronaut[40:200, 160:320])  # 160 x 160, the face


def _err(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_reencode_changes_the_pixels_more_at_higher_crf(face, codec):
    good, bad = reencode_still(face, codec, 18), reencode_still(face, codec, 45)
    assert good.shape == bad.shape == face.shape and good.dtype == np.uint8
    assert 0.0 < _err(good, face) < _err(bad, face)
    assert _err(good, face) < 6.0  # still the same picture


def test_reencode_keeps_frame_count_and_odd_sizes(face):
    odd = face[:101, :77]
    out = reencode([odd, np.roll(odd, 1, axis=1)], "h264", 30)
    assert len(out) == 2 and all(o.shape == odd.shape for o in out)
    with pytest.raises(ValueError, match="codec must be one of"):
        reencode([odd], "mjpeg", 30)
    with pytest.raises(ValueError, match="crf"):
        reencode([odd], "h264", 70)
    with pytest.raises(ValueError, match="no frames"):
        reencode([], "h264", 30)


def test_codec_augmentation_is_seeded_and_applies_to_sequences_alike(face):
    step = VideoCodecCompression(("h264", "vp9"), (35, 45), (0.5, 1.0), p=1.0)
    a = A.Compose([step], seed=3)(image=face)["image"]
    b = A.Compose([step], seed=3)(image=face)["image"]
    assert np.array_equal(a, b) and _err(a, face) > 1.0
    seq = np.stack([face, face])
    out = A.Compose([VideoCodecCompression(p=1.0)], seed=1)(images=seq)["images"]
    assert np.array_equal(out[0], out[1])  # one codec and rate for the whole sequence
    with pytest.raises(ValueError, match="codecs"):
        VideoCodecCompression(("h266",))
    with pytest.raises(ValueError, match="scale_range"):
        VideoCodecCompression(scale_range=(0.0, 1.0))


def test_training_config_puts_the_codec_step_first(face):
    cfg = config_from_dict({"augment": {"codec_prob": 1.0, "codecs": ["hevc"],
                                        "codec_crf": [40, 40]}})
    step = cfg.augment.codec_transform()
    assert isinstance(step, VideoCodecCompression) and step.codecs == ("hevc",)
    pipe = build_augment(0.0, seed=0, codec=step)
    assert isinstance(pipe.transforms[0], VideoCodecCompression)
    assert config_from_dict({}).augment.codec_transform() is None
