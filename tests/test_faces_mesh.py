"""Face mesh: 468 points in full-resolution coordinates, 5 alignment points that agree with
MTCNN's, a closed face outline, and the pipeline using them for alignment."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakescope.faces import FacePipeline, align_face, create_face_detector
from fakescope.faces.mesh import FaceMeshProvider, _cycle, create_landmark_provider, mesh_topology
from fakescope.types import FaceDetection, Frame


@pytest.fixture(scope="module")
def mesh():
    return FaceMeshProvider()


@pytest.fixture(scope="module")
def mtcnn():
    return create_face_detector("mtcnn", device="cpu")


def _scene(astronaut, which):
    if which == "astronaut":
        return astronaut
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[:, 420:1500] = cv2.resize(astronaut, (1080, 1080), interpolation=cv2.INTER_LINEAR)
    return frame


@pytest.mark.parametrize("which", ["astronaut", "1080p"])
@pytest.mark.parametrize("boxes_from", ["mtcnn", "blazeface"])
def test_mesh_points_agree_with_mtcnn_landmarks(which, boxes_from, astronaut, mesh, mtcnn):
    img = _scene(astronaut, which)
    ref = mtcnn.detect(img)[0]
    det = ref if boxes_from == "mtcnn" else create_face_detector("blazeface").detect(img)[0]
    lm = mesh.landmarks(img, det)
    assert lm.points.shape == (468, 2) and lm.five.shape == (5, 2)
    eye_dist = np.linalg.norm(ref.landmarks[1] - ref.landmarks[0])
    # measured 0.02-0.07 of the eye distance on the 512-px astronaut
    assert np.linalg.norm(lm.five - ref.landmarks, axis=1).max() < 0.12 * eye_dist
    # the outline is a closed polygon around the eyes, nose and mouth, inside the frame region
    poly = lm.outline.astype(np.float32).reshape(-1, 1, 2)
    assert len(lm.outline) == 36
    assert all(cv2.pointPolygonTest(poly, tuple(map(float, p)), False) > 0 for p in lm.five)
    x0, y0, x1, y1 = ref.box
    side = max(x1 - x0, y1 - y0)
    assert lm.outline[:, 0].min() > x0 - 0.3 * side and lm.outline[:, 0].max() < x1 + 0.3 * side


def test_no_face_in_the_cut_gives_none(mesh):
    from skimage import data

    fake = FaceDetection(box=(100.0, 100.0, 200.0, 200.0), confidence=1.0)
    assert mesh.landmarks(data.coffee(), fake) is None


def test_face_oval_is_one_ordered_loop():
    eye_l, eye_r, oval = mesh_topology()
    assert len(set(oval.tolist())) == len(oval) == 36
    assert len(eye_l) == len(eye_r) == 16 and not set(eye_l) & set(eye_r)
    np.testing.assert_array_equal(_cycle({(0, 1), (2, 3), (1, 2), (3, 0)}), [0, 1, 2, 3])
    with pytest.raises(ValueError):
        _cycle({(0, 1), (1, 2)})
    with pytest.raises(ValueError):
        _cycle({(0, 1), (1, 2), (2, 0), (5, 6), (6, 7), (7, 5)})
    with pytest.raises(ValueError, match="unknown landmark provider"):
        create_landmark_provider("dlib68")


def test_pipeline_aligns_with_mesh_points(astronaut, mesh):
    det = create_face_detector("blazeface")
    frames = [Frame(index=0, time_s=0.0, image=astronaut)]
    plain = FacePipeline(det, crop_size=96, align=True).process(frames)[0].crops[0]
    meshed = FacePipeline(det, crop_size=96, align=True, landmark_provider=mesh).process(frames)[0].crops[0]
    five = mesh.landmarks(astronaut, plain.detection).five
    np.testing.assert_allclose(meshed.detection.landmarks, five)
    np.testing.assert_array_equal(meshed.image, align_face(astronaut, five, 96))
    assert not np.array_equal(meshed.image, plain.image)  # BlazeFace's own mouth corners differ


def test_mesh_outline_is_a_self_blend_mask(astronaut, mesh, mtcnn):
    """The outline (36 points) is taken by data.synth.self_blend as a landmark hull: the
    blended area lies around the face, not in the rest of the image."""
    from fakescope.data.synth import self_blend

    lm = mesh.landmarks(astronaut, mtcnn.detect(astronaut)[0])
    fake, mask = self_blend(astronaut, lm.outline, rng=0)
    assert fake.shape == astronaut.shape and mask.max() > 0
    x0, y0 = lm.outline.min(axis=0)
    x1, y1 = lm.outline.max(axis=0)
    ys, xs = np.nonzero(mask > 0.05)
    side = max(x1 - x0, y1 - y0)
    assert xs.min() > x0 - 0.3 * side and xs.max() < x1 + 0.3 * side
    assert ys.min() > y0 - 0.3 * side and ys.max() < y1 + 0.3 * side
    changed = np.abs(fake.astype(int) - astronaut.astype(int)).sum(axis=2) > 0
    assert changed[mask == 0].sum() == 0  # nothing changes outside the mask
