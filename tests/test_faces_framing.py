"""Framing per face detector: a preset is cut from each detector's boxes with the spec measured
for that detector, and a pairing never measured is refused plainly."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.faces import (
    DETECTOR_FRAMINGS,
    DETECTOR_NAMES,
    CropSpec,
    FacePipeline,
    FramingError,
    box_iou,
    create_face_detector,
    get_crop_spec,
    margin_crop,
    measure_framing,
    measured_detectors,
    preset_for,
    square_box,
)

# The region lynaeydofd.jpg was cut from, frame 0 of videos/dfdc/lynaeydofd.mp4 (template match,
# correlation 0.995; docs/framing.md).
LYNAEYDOFD_REGION = (835, 291, 1058, 514)


def test_every_detector_has_a_measured_dfdc_tight():
    assert set(measured_detectors("dfdc_tight")) == set(DETECTOR_NAMES)
    assert preset_for("mtcnn", "dfdc_tight") == get_crop_spec("dfdc_tight")
    # BlazeFace's box is about the training crop itself; dlib's sits higher than MTCNN's
    assert preset_for("blazeface", "dfdc_tight").margin > get_crop_spec("dfdc_tight").margin
    assert preset_for("hog", "dfdc_tight") == preset_for("dlib", "dfdc_tight")  # aliases


def test_unmeasured_pairing_is_refused_plainly():
    with pytest.raises(FramingError, match=r"'blazeface' has no measured framing.*'seed004'.*mtcnn"):
        preset_for("blazeface", "seed004")
    with pytest.raises(FramingError, match="haar"):
        preset_for("haar", "ffhq")  # Haar has no landmarks to align with
    with pytest.raises(FramingError):
        preset_for("retinaface", "dfdc_tight")
    with pytest.raises(ValueError, match="unknown crop preset"):
        preset_for("mtcnn", "nope")
    assert issubclass(FramingError, ValueError)


def test_from_spec_applies_the_detectors_own_framing():
    for name in ("blazeface", "haar"):
        det = create_face_detector(name)
        pipe = FacePipeline.from_spec(det, "dfdc_tight", crop_size=64)
        assert pipe.spec == DETECTOR_FRAMINGS["dfdc_tight"][name]
    explicit = CropSpec(margin=0.3)
    assert FacePipeline.from_spec(det, explicit).spec == explicit  # a spec is taken as given
    with pytest.raises(FramingError):
        FacePipeline.from_spec(det, "seed001")


def test_measure_framing_scale_jitter_keeps_the_framing(astronaut):
    """Enlarging each padded crop by a random factor (to average out pyramid steps) maps the
    box back: a known framing is still recovered, and landmarks stay inside the crop."""
    mtcnn = create_face_detector("mtcnn", device="cpu")
    box = mtcnn.detect(astronaut)[0].box
    spec = CropSpec(margin=-0.1, shift_y=0.1)
    crops = [margin_crop(astronaut, box, spec.margin, s, spec.shift_y) for s in (160, 192, 224)]
    det = create_face_detector("mtcnn", detect_max_side=None, min_face_size=20)
    stats = measure_framing(crops, det, pad=0.5, scale_jitter=0.2, seed=1)
    assert stats.n_detected == 3
    got = stats.crop_spec()
    assert got.margin == pytest.approx(spec.margin, abs=0.04)
    assert got.shift_y == pytest.approx(spec.shift_y, abs=0.04)
    assert all(((lm > 0) & (lm < 1)).all() for lm in stats.landmarks)
    with pytest.raises(ValueError):
        measure_framing(crops, det, scale_jitter=-0.1)


@pytest.mark.shared
@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_each_detectors_dfdc_tight_matches_a_real_training_crop(name, shared_data):
    """Each detector's own dfdc_tight square on frame 0 covers the real training crop's region
    (IoU measured: mtcnn 0.80, blazeface 0.79, dlib 0.94, haar 0.88; docs/framing.md)."""
    from itertools import islice

    from fakescope.media import iter_frames

    clip = shared_data / "videos" / "dfdc" / "lynaeydofd.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} missing")
    frame = next(islice(iter_frames(clip, "all"), 0, 1)).image
    box = create_face_detector(name).detect(frame)[0].box
    spec = preset_for(name, "dfdc_tight")
    iou = float(box_iou(np.array([square_box(box, spec.margin, spec.shift_y)]), np.array([LYNAEYDOFD_REGION]))[0, 0])
    assert iou > 0.7


def test_a_scan_without_a_named_face_detector_takes_one_with_a_measured_framing():
    """BlazeFace (the default) where its framing of the model's preset was measured, else the
    first detector that has one: `fakescope scan --detector stylecontent` works without flags."""
    from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR
    from fakescope.faces.presets import FramingError, face_detector_for, preset_for

    assert face_detector_for("dfdc_tight", DEFAULT_FACE_DETECTOR) == "blazeface"
    assert face_detector_for("ffhq_tight", DEFAULT_FACE_DETECTOR) == "blazeface"
    assert face_detector_for("seed004", DEFAULT_FACE_DETECTOR) == "mtcnn"
    assert face_detector_for("seed001", "blazeface") == "mtcnn"
    with pytest.raises(FramingError, match="no measured framing"):
        preset_for("blazeface", "seed004")  # a face detector the user names is never swapped
