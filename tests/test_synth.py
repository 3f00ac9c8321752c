"""Self-blended image synthesis: the fake differs from the real face only inside the face mask."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.data.synth import SelfBlendConfig, self_blend
from media_factory import ASTRONAUT_FACE_BOX

# Five MTCNN-style landmarks inside ASTRONAUT_FACE_BOX: eyes, nose, mouth corners.
LANDMARKS5 = np.array([[205.0, 105.0], [245.0, 104.0], [226.0, 128.0], [208.0, 150.0],
                       [243.0, 149.0]])


def _inside_box(mask: np.ndarray, box, slack: float) -> bool:
    ys, xs = np.nonzero(mask > 0)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return (xs.min() >= x0 - slack * w and xs.max() <= x1 + slack * w
            and ys.min() >= y0 - slack * h and ys.max() <= y1 + slack * h)


@pytest.mark.parametrize("face", [np.array(ASTRONAUT_FACE_BOX), LANDMARKS5], ids=["box", "lm5"])
def test_blend_changes_only_the_face(astronaut, face):
    fake, mask = self_blend(astronaut, face, rng=3)
    assert fake.shape == astronaut.shape and fake.dtype == np.uint8
    assert mask.shape == astronaut.shape[:2] and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0 and mask.max() >= 0.25
    diff = np.abs(fake.astype(int) - astronaut.astype(int)).sum(axis=2)
    assert diff[mask == 0].max() == 0  # untouched outside the mask
    assert diff[mask >= 0.5 * mask.max()].mean() > 2.0  # visibly altered inside
    assert _inside_box(mask, ASTRONAUT_FACE_BOX, slack=0.45)
    # The altered area is face-sized: not a speck, not the whole image.
    x0, y0, x1, y1 = ASTRONAUT_FACE_BOX
    assert 0.3 < (mask > 0).sum() / ((x1 - x0) * (y1 - y0)) < 2.5


def test_68_landmarks_use_their_hull(astronaut):
    x0, y0, x1, y1 = ASTRONAUT_FACE_BOX
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    pts = np.stack([(x0 + x1) / 2 + 0.4 * (x1 - x0) * np.cos(t),
                    (y0 + y1) / 2 + 0.4 * (y1 - y0) * np.sin(t)], axis=1)
    fake, mask = self_blend(astronaut, pts, rng=0)
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    assert mask[cy, cx] == pytest.approx(mask.max())
    assert mask[int(y0) - 30, cx] == 0 and mask[cy, int(x1) + 30] == 0


def test_same_seed_same_fake_other_seed_other_fake(astronaut):
    box = np.array(ASTRONAUT_FACE_BOX)
    a, ma = self_blend(astronaut, box, rng=7)
    b, mb = self_blend(astronaut, box, rng=7)
    c, _ = self_blend(astronaut, box, rng=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    assert np.any(a != c)


def test_blend_ratio_scales_the_mask(astronaut):
    cfg = SelfBlendConfig(blend_ratios=(0.5,))
    _, mask = self_blend(astronaut, np.array(ASTRONAUT_FACE_BOX), rng=1, config=cfg)
    assert mask.max() == pytest.approx(0.5, abs=1e-6)


def test_face_at_the_image_border(astronaut):
    fake, mask = self_blend(astronaut, np.array([-20.0, -10.0, 60.0, 90.0]), rng=0)
    assert fake.shape == astronaut.shape and mask.max() > 0


@pytest.mark.parametrize(
    "face, match",
    [(np.zeros((3, 2)), "landmarks or a"), (np.array([10.0, 10.0, 12.0, 12.0]), "unusable"),
     (np.array([600.0, 600.0, 700.0, 700.0]), "unusable")],
)
def test_bad_faces_are_rejected(astronaut, face, match):
    with pytest.raises(ValueError, match=match):
        self_blend(astronaut, face, rng=0)


def test_bad_image_is_rejected(astronaut):
    with pytest.raises(ValueError, match="uint8"):
        self_blend(astronaut.astype(np.float32), np.array(ASTRONAUT_FACE_BOX))


def _dlib_landmarks(astronaut):
    from fakescope.data.landmarks import CropLandmarker

    return CropLandmarker().landmarks(astronaut, rect=_rect(astronaut))


def _rect(astronaut):
    import dlib

    x0, y0, x1, y1 = (int(round(v)) for v in ASTRONAUT_FACE_BOX)
    return dlib.rectangle(x0, y0, x1, y1)


@pytest.mark.parametrize("hull", ["facehull", "dfl_full", "components", "extended"])
def test_each_hull_shape_masks_the_face_only(astronaut, hull):
    pts = _dlib_landmarks(astronaut)
    cfg = SelfBlendConfig(hulls=(hull,), blend_ratios=(1.0,))
    fake, mask = self_blend(astronaut, pts, rng=2, config=cfg)
    diff = np.abs(fake.astype(int) - astronaut.astype(int)).sum(axis=2)
    assert diff[mask == 0].max() == 0
    nose = pts[30].round().astype(int)
    assert mask[nose[1], nose[0]] == pytest.approx(1.0)  # the face centre is blended in full
    assert _inside_box(mask, ASTRONAUT_FACE_BOX, slack=0.45)


def test_extended_hull_reaches_the_forehead(astronaut):
    from fakescope.data.synth import _hull_mask

    pts = _dlib_landmarks(astronaut).astype(np.float64)
    rng = np.random.default_rng(0)
    face = _hull_mask(astronaut.shape[:2], pts, "landmarks", rng, ("facehull",))
    extended = _hull_mask(astronaut.shape[:2], pts, "landmarks", rng, ("extended",))
    brow_top = int(pts[17:27, 1].min())
    assert extended[:brow_top].sum() > face[:brow_top].sum()


def test_altering_the_target_changes_the_surroundings_not_the_blended_core(astronaut):
    """SBI alters the target instead of the source half of the time: then the face core
    (mask 1) keeps its original pixels, shifted, and the area around it is the altered copy."""
    pts = _dlib_landmarks(astronaut)
    cfg = SelfBlendConfig(hulls=("facehull",), blend_ratios=(1.0,), alter_target_prob=1.0,
                          translate=0.0, scale=(1.0, 1.0))
    fake, mask = self_blend(astronaut, pts, rng=5, config=cfg)
    diff = np.abs(fake.astype(int) - astronaut.astype(int)).sum(axis=2)
    x0, y0, x1, y1 = (int(v) for v in ASTRONAUT_FACE_BOX)
    ring = np.zeros_like(mask, dtype=bool)
    ring[max(0, y0 - 20):y1 + 20, max(0, x0 - 20):x1 + 20] = True
    ring &= mask == 0
    core = mask >= 0.999
    assert diff[ring].mean() > diff[core].mean()


def test_unknown_hull_is_refused():
    with pytest.raises(ValueError, match="hulls"):
        SelfBlendConfig(hulls=("oval",))
