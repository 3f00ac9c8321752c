"""Faces stage: detectors, full-resolution coordinates, crops, alignment, tracking, pipeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakescope.faces import (
    CROP_PRESETS,
    FaceDetector,
    FALLBACK_TRACK_ID,
    CropSpec,
    FacePipeline,
    align_face,
    alignment_matrix,
    box_iou,
    center_crop,
    create_face_detector,
    get_crop_spec,
    link_tracks,
    margin_crop,
    measure_framing,
    square_box,
    template_points,
)
from fakescope.faces.dlib_hog import five_from_68
from fakescope.types import FaceDetection, Frame

# The astronaut's face in skimage.data.astronaut() (512x512), drawn by hand around the head
# from brow to chin; every detector's box must overlap it.
ASTRONAUT_FACE = (180.0, 60.0, 270.0, 175.0)


def _iou(a, b) -> float:
    return float(box_iou(np.array([a]), np.array([b]))[0, 0])


def _has_haar() -> bool:
    return hasattr(cv2, "CascadeClassifier")


@pytest.fixture(scope="module")
def mtcnn():
    return create_face_detector("mtcnn", device="cpu")


@pytest.fixture(scope="module")
def coffee():
    from skimage import data

    return data.coffee()


@pytest.fixture(scope="module")
def two_faces(astronaut):
    """A 512x1024 image: the astronaut (left, face ~90 px) and a smaller mirrored copy
    (right, face ~68 px) on a grey background."""
    small = cv2.resize(astronaut[:, ::-1], (384, 384), interpolation=cv2.INTER_AREA)
    right = np.full_like(astronaut, 128)
    right[64:448, 64:448] = small
    return np.ascontiguousarray(np.hstack([astronaut, right]))


# --- detectors -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mtcnn", "blazeface", "dlib", "haar"])
def test_each_detector_finds_the_astronaut(name, astronaut, mtcnn):
    if name == "haar" and not _has_haar():
        pytest.skip(f"OpenCV {cv2.__version__} has no CascadeClassifier (needs opencv<5)")
    det = mtcnn if name == "mtcnn" else create_face_detector(name)
    faces = det.detect(astronaut)
    assert len(faces) == 1
    assert _iou(faces[0].box, ASTRONAUT_FACE) > 0.5
    if name != "haar":
        lm = faces[0].landmarks
        assert lm.shape == (5, 2)
        # eyes above nose above mouth; image-left eye first
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]
        assert max(lm[0, 1], lm[1, 1]) < lm[2, 1] < min(lm[3, 1], lm[4, 1])
    if name == "dlib":
        assert faces[0].landmarks68.shape == (68, 2)


def test_mtcnn_confidence_and_size_filters(astronaut):
    # a face of ~90 px is dropped when 120 px are required
    assert create_face_detector("mtcnn", min_face_size=120).detect(astronaut) == []
    assert create_face_detector("mtcnn", min_face_size=40).detect(astronaut)[0].confidence >= 0.9


def test_no_face_no_detection(coffee, mtcnn):
    assert mtcnn.detect(coffee) == []
    assert create_face_detector("dlib").detect(coffee) == []


def test_boxes_and_landmarks_come_back_in_full_resolution(astronaut):
    """The 2x image is downscaled to exactly the original for detection (and the full-res
    minimum face size doubled, so the detector's pyramid is the same): every coordinate must
    come back exactly doubled."""
    big = np.ascontiguousarray(np.repeat(np.repeat(astronaut, 2, axis=0), 2, axis=1))
    for name in ("mtcnn", "dlib"):
        small = create_face_detector(name, detect_max_side=512, min_face_size=60).detect(astronaut)[0]
        large = create_face_detector(name, detect_max_side=512, min_face_size=120).detect(big)[0]
        np.testing.assert_allclose(np.array(large.box), 2 * np.array(small.box), rtol=1e-4, atol=0.05)
        np.testing.assert_allclose(large.landmarks, 2 * small.landmarks, rtol=1e-4, atol=0.05)
        assert large.confidence == pytest.approx(small.confidence, abs=1e-5)


class _CornerDetector(FaceDetector):
    """Reports one face covering its whole detection copy, and records what it was given."""

    name = "corners"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = []

    def _detect_small(self, images, min_size):
        self.calls.append(([im.shape[:2] for im in images], min_size))
        out = []
        for im in images:
            h, w = im.shape[:2]
            lm = np.array([[0, 0], [w, 0], [w / 2, h / 2], [0, h], [w, h]], np.float32)
            out.append([FaceDetection(box=(0.0, 0.0, float(w), float(h)), confidence=1.0, landmarks=lm)])
        return out


def test_downscale_and_rescale_per_axis():
    """Each image is shrunk to a longer side of 640, equal copies are batched together, and
    what the backend reports comes back in each image's own full resolution, per axis."""
    det = _CornerDetector(detect_max_side=640, min_confidence=0.5, min_face_size=30)
    imgs = [np.zeros((1080, 1920, 3), np.uint8), np.zeros((2160, 3840, 3), np.uint8),
            np.zeros((300, 200, 3), np.uint8), np.zeros((1081, 1919, 3), np.uint8)]
    out = det.detect_batch(imgs)
    # 1080p and 4K share one call; the 4K frame's scale sets the minimum face (30 px -> 5)
    assert det.calls == [([(360, 640), (360, 640)], 5.0), ([(300, 200)], 30.0), ([(361, 640)], pytest.approx(10.0, abs=0.01))]
    for img, faces in zip(imgs, out, strict=True):
        h, w = img.shape[:2]
        np.testing.assert_allclose(faces[0].box, (0, 0, w, h), atol=1e-3)
        np.testing.assert_allclose(faces[0].landmarks[4], (w, h), atol=1e-2)


def test_detect_batch_groups_sizes_and_keeps_order(astronaut, coffee, mtcnn):
    face = astronaut[40:200, 140:300]  # 160 x 160 around the face
    out = mtcnn.detect_batch([coffee[:200, :300], face, coffee[:200, :300], face[:150]])
    assert [len(x) for x in out] == [0, 1, 0, 1]


def test_bad_input_and_unknown_detector(mtcnn):
    with pytest.raises(ValueError, match="uint8"):
        mtcnn.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="unknown face detector"):
        create_face_detector("retinaface")


def test_five_points_from_68():
    pts = np.zeros((68, 2), np.float32)
    pts[36:42] = (10, 20)
    pts[42:48] = (30, 20)
    pts[30] = (20, 30)
    pts[48] = (12, 40)
    pts[54] = (28, 40)
    np.testing.assert_allclose(five_from_68(pts), [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]])


# --- crops -----------------------------------------------------------------------------------


def test_square_box_geometry():
    x0, y0, x1, y1 = square_box((100, 100, 180, 200), margin=0.5, shift_y=0.1)
    assert x1 - x0 == pytest.approx(150) and y1 - y0 == pytest.approx(150)  # 100 * 1.5
    assert (x0 + x1) / 2 == pytest.approx(140)
    assert (y0 + y1) / 2 == pytest.approx(150 + 10)  # shifted down by 0.1 x 100
    with pytest.raises(ValueError):
        square_box((0, 0, 10, 10), margin=-1.0)


@pytest.mark.parametrize("size", [64, 224, 299])
def test_margin_crop_size_and_content(astronaut, size):
    crop = margin_crop(astronaut, (200, 100, 300, 200), margin=0.0, size=size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    interp = cv2.INTER_AREA if size < 100 else cv2.INTER_LINEAR
    expect = cv2.resize(astronaut[100:200, 200:300], (size, size), interpolation=interp)
    np.testing.assert_array_equal(crop, expect)


def test_margin_crop_pads_outside_the_frame(astronaut):
    crop = margin_crop(astronaut, (-50, -50, 50, 50), margin=0.0, size=100)
    assert crop.shape == (100, 100, 3)
    assert crop[:50, :50].max() == 0  # constant border outside the frame
    np.testing.assert_array_equal(crop[50:, 50:], astronaut[:50, :50])
    edge = margin_crop(astronaut, (-50, -50, 50, 50), size=100, border="edge")
    np.testing.assert_array_equal(edge[0, 0], astronaut[0, 0])


def test_center_crop(coffee):
    crop = center_crop(coffee, 128)  # 400 x 600 -> centred 400 x 400
    assert crop.shape == (128, 128, 3)
    expect = cv2.resize(coffee[:, 100:500], (128, 128), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(crop, expect)


# --- alignment -------------------------------------------------------------------------------


def test_alignment_puts_eyes_on_the_template(astronaut, mtcnn):
    """Rotate the astronaut by 25 degrees, align, and detect again: the eyes must sit where
    the template puts them (level, at the template's positions)."""
    h, w = astronaut.shape[:2]
    rot = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0), (w, h))
    face = mtcnn.detect(rot)[0]
    size = 256
    aligned = align_face(rot, face.landmarks, size=size)
    assert aligned.shape == (size, size, 3)
    # landmarks moved by the fitted similarity are within 4 % of the template
    m = alignment_matrix(face.landmarks, size)
    moved = np.c_[face.landmarks, np.ones(5)] @ m.T
    assert np.abs(moved - template_points(size)).max() < 0.04 * size
    # and an independent detection on the aligned crop agrees on the eyes
    again = mtcnn.detect(aligned)[0].landmarks
    np.testing.assert_allclose(again[:2], template_points(size)[:2], atol=0.04 * size)


def test_template_margin_shrinks_towards_centre():
    t0, t1 = template_points(200), template_points(200, margin=1.0)
    np.testing.assert_allclose(t1 - 100, (t0 - 100) / 2)


def test_degenerate_landmarks_raise():
    with pytest.raises(ValueError):
        alignment_matrix(np.zeros((5, 2)), 224)
    with pytest.raises(ValueError):
        alignment_matrix(np.zeros((4, 2)), 224)


# --- tracking --------------------------------------------------------------------------------


def _det(x, y, s=100.0):
    return FaceDetection(box=(x, y, x + s, y + s), confidence=0.99)


def test_link_tracks_two_people_with_gaps_and_jumps():
    frames = [
        [_det(0, 0, 120), _det(500, 0)],
        [_det(505, 5), _det(10, 0, 120)],  # order swapped: assignment must not swap people
        [_det(60, 10, 120)],  # person B missing; A jumped 50 px (IoU ~0.4)
        [_det(150, 10, 120), _det(520, 0)],  # A jumped 90 px: no overlap, centre distance match
        [_det(150, 10, 120), _det(525, 0)],
    ]
    tracks = link_tracks(frames)
    assert len(tracks) == 2
    big, small = tracks  # ordered by size: the 120 px face first
    assert big.positions == [0, 1, 2, 3, 4] and all(d.box[0] < 300 for _, d in big.items)
    assert small.positions == [0, 1, 3, 4] and all(d.box[0] >= 500 for _, d in small.items)


def test_link_tracks_gap_limit_and_min_length():
    frames = [[_det(0, 0)], [], [], [_det(0, 0)], [_det(400, 400)]]
    assert [t.positions for t in link_tracks(frames, max_gap=2)] == [[0, 3], [4]]
    assert [t.positions for t in link_tracks(frames, max_gap=1)] == [[0], [3], [4]]
    assert [t.positions for t in link_tracks(frames, max_gap=2, min_length=2)] == [[0, 3]]


# --- pipeline --------------------------------------------------------------------------------


def _frames(images):
    return [Frame(index=10 * i, time_s=i / 3, image=img) for i, img in enumerate(images)]


def test_two_faces_give_two_tracks(two_faces, mtcnn):
    # four frames with the scene sliding right, one frame where the right face is hidden
    shifted = [np.roll(two_faces, 12 * i, axis=1) for i in range(4)]
    shifted[2] = shifted[2].copy()
    shifted[2][:, 560:] = 128
    pipe = FacePipeline(mtcnn, crop_size=96, margin=0.2)
    tracks = pipe.process(_frames(shifted))
    assert [t.track_id for t in tracks] == [0, 1]
    big, small = tracks
    assert [c.frame_index for c in big.crops] == [0, 10, 20, 30]
    assert [c.frame_index for c in small.crops] == [0, 10, 30]
    assert all(c.detection.box[2] < 512 + 48 for c in big.crops)  # the left (larger) face
    assert all(c.detection.box[0] > 512 for c in small.crops)
    assert all(c.image.shape == (96, 96, 3) and not c.fallback for t in tracks for c in t.crops)
    assert all(c.track_id == t.track_id for t in tracks for c in t.crops)


def test_largest_policy_keeps_one_track(two_faces, mtcnn):
    tracks = FacePipeline(mtcnn, crop_size=64, policy="largest").process(_frames([two_faces] * 2))
    assert len(tracks) == 1 and len(tracks[0].crops) == 2
    assert all(c.detection.box[2] < 512 for c in tracks[0].crops)


def test_fallback_is_flagged_and_never_mixed(astronaut, coffee, mtcnn):
    none = FacePipeline(mtcnn, crop_size=64).process(_frames([coffee, coffee]))
    assert none == []
    fb = FacePipeline(mtcnn, crop_size=64, fallback="center").process(_frames([coffee, coffee]))
    assert len(fb) == 1 and fb[0].track_id == FALLBACK_TRACK_ID
    assert all(c.fallback and c.detection is None and c.track_id == -1 for c in fb[0].crops)
    np.testing.assert_array_equal(fb[0].crops[0].image, center_crop(coffee, 64))
    # one real face anywhere: real crops only, no centre crops for the face-less frame
    mixed = FacePipeline(mtcnn, crop_size=64, fallback="center").process(_frames([coffee, astronaut]))
    assert len(mixed) == 1 and mixed[0].track_id == 0
    assert [c.frame_index for c in mixed[0].crops] == [10]
    assert not any(c.fallback for c in mixed[0].crops)


def test_aligned_pipeline_and_haar_style_fallback_to_margin(astronaut, mtcnn):
    pipe = FacePipeline(mtcnn, crop_size=128, align=True)
    det = mtcnn.detect(astronaut)[0]
    np.testing.assert_array_equal(pipe.crop(astronaut, det), align_face(astronaut, det.landmarks, 128))
    no_lm = FaceDetection(box=det.box, confidence=det.confidence)
    np.testing.assert_array_equal(pipe.crop(astronaut, no_lm), margin_crop(astronaut, det.box, 0.0, 128))


def test_presets(mtcnn):
    assert set(CROP_PRESETS) >= {"dfdc_tight", "seed001", "seed004", "ffhq"}
    assert get_crop_spec("seed004").margin == pytest.approx(0.2)
    assert get_crop_spec("ffhq").align
    with pytest.raises(ValueError, match="unknown crop preset"):
        get_crop_spec("nope")
    pipe = FacePipeline.from_spec(mtcnn, "dfdc_tight", crop_size=112)
    assert pipe.spec == get_crop_spec("dfdc_tight")


# --- framing ---------------------------------------------------------------------------------


def test_measure_framing_recovers_a_known_spec(astronaut, mtcnn):
    """Cut crops with a known margin and shift, measure them: the derived spec matches."""
    box = mtcnn.detect(astronaut)[0].box
    spec = CropSpec(margin=-0.1, shift_y=0.1)
    crops = [margin_crop(astronaut, box, spec.margin, s, spec.shift_y) for s in (160, 224)]
    stats = measure_framing(crops, create_face_detector("mtcnn", detect_max_side=None, min_face_size=20))
    assert stats.n_detected == 2
    got = stats.crop_spec()
    assert got.margin == pytest.approx(spec.margin, abs=0.04)
    assert got.shift_y == pytest.approx(spec.shift_y, abs=0.04)


@pytest.mark.shared
def test_dfdc_tight_matches_a_real_training_crop(shared_data):
    """lynaeydofd.jpg was cut from frame ~0 of videos/dfdc/lynaeydofd.mp4 at (835, 291)-(1058,
    514) (template match, correlation 0.99; docs/framing.md): the preset's crop from the
    default detector's box must cover nearly the same square."""
    from itertools import islice

    from fakescope.media import iter_frames

    clip = shared_data / "videos" / "dfdc" / "lynaeydofd.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} missing")
    frame = next(islice(iter_frames(clip, "all"), 0, 1)).image
    box = create_face_detector("mtcnn").detect(frame)[0].box
    spec = get_crop_spec("dfdc_tight")
    assert _iou(square_box(box, spec.margin, spec.shift_y), (835, 291, 1058, 514)) > 0.7


def test_probe_frames_raise_the_minimum_face_for_the_rest():
    """Probe frames run at the detector's own minimum; the others look only for faces at
    least half the smallest probed face (the corner stub's 'face' is its whole copy)."""
    det = _CornerDetector(detect_max_side=None, min_confidence=0.5, min_face_size=20)
    imgs = [np.zeros((100, 200, 3), np.uint8)] * 7
    pipe = FacePipeline(det, crop_size=32, probe_frames=3, batch_size=4)
    dets = pipe.detect(imgs)
    assert [len(x) for x in dets] == [1] * 7
    # probes 0, 3, 6 at 20 px; frames 1, 2, 4, 5 at 0.5 x 100 px, in batches of <= 4
    assert det.calls == [([(100, 200)] * 3, 20.0), ([(100, 200)] * 4, 50.0)]
    det.calls.clear()
    FacePipeline(det, crop_size=32, probe_frames=0).detect(imgs)
    assert det.calls == [([(100, 200)] * 7, 20.0)]
