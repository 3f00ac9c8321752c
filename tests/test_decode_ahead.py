"""Faces searched while the next frames decode (`FacePipeline.read`, `decode_ahead`): the same
tracks as searching after the decode, errors raised in the caller's thread, no thread left
behind when the caller stops early."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fakescope.errors import MediaError
from fakescope.faces import FaceDetector, FacePipeline, create_face_detector
from fakescope.faces.pipeline import decode_ahead
from fakescope.types import FaceDetection, Frame
from tests.media_factory import make_video


def _frames(n: int) -> list[Frame]:
    return [Frame(index=i, time_s=i / 10, image=np.full((8, 8, 3), i, np.uint8)) for i in range(n)]


def test_frames_come_through_in_order():
    assert [f.index for f in decode_ahead(iter(_frames(20)), depth=2)] == list(range(20))


def test_a_decode_error_is_raised_in_the_callers_thread():
    def broken():
        yield from _frames(3)
        raise MediaError("clip.mp4", "decode_error", "broken packet")

    got = []
    with pytest.raises(MediaError, match="broken packet"):
        for f in decode_ahead(broken()):
            got.append(f.index)
    assert got == [0, 1, 2]


def test_stopping_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield Frame(index=i, time_s=i / 10, image=np.zeros((4, 4, 3), np.uint8))
                i += 1
        finally:
            closed.set()

    it = decode_ahead(endless(), depth=2)
    assert next(it).index == 0
    it.close()
    assert closed.wait(5)
    assert not any(t.name == "fakescope-decode" for t in threading.enumerate())


class _MinSizeMatters(FaceDetector):
    """A detector whose search depends on the minimum size: `read` must not search ahead."""

    name = "minsize"

    def __init__(self):
        super().__init__(detect_max_side=None, min_confidence=0.0, min_face_size=0.0)

    def _detect_small(self, images, min_size):
        return [[FaceDetection(box=(0.0, 0.0, 4.0, 4.0), confidence=0.9)] for _ in images]


def test_read_searches_ahead_only_where_the_result_is_the_same():
    frames = _frames(5)
    pipe = FacePipeline(_MinSizeMatters(), crop_size=16)
    got, found = pipe.read(iter(frames))
    assert found is None and [f.index for f in got] == [0, 1, 2, 3, 4]


def test_blazeface_tracks_are_the_same_searched_ahead_or_after(tmp_path):
    """Two people, a moving face: the tracks from `read` + `process(found)` equal the ones
    `process` finds by itself (probe frames and their minimum face size included)."""
    from fakescope.media import iter_frames

    video = make_video(tmp_path / "two.mp4", faces=2, n_frames=12, moving=True, size=(640, 360))
    pipe = FacePipeline.from_spec(create_face_detector("blazeface"), "dfdc_tight", crop_size=64)
    frames, found = pipe.read(iter_frames(video, "uniform:12"))
    assert found is not None and len(found) == len(frames) == 12
    ahead = pipe.process(frames, found)
    after = pipe.process(frames)
    assert len(ahead) == len(after) == 2
    for a, b in zip(ahead, after, strict=True):
        assert [c.frame_index for c in a.crops] == [c.frame_index for c in b.crops]
        for ca, cb in zip(a.crops, b.crops, strict=True):
            assert ca.detection.box == cb.detection.box
            np.testing.assert_array_equal(ca.image, cb.image)
