"""`--sampling all` / `every:K` stream: faces are found batch by batch and each frame is let go
once its faces are cropped, with the same tracks as the all-in-memory path."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from media_factory import make_video

from fakescope.faces import FacePipeline, create_face_detector
from fakescope.media import iter_frames, read_frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("stream") / "clip.mp4", n_frames=24, size=(320, 240))


@pytest.fixture(scope="module")
def pipeline():
    faces = create_face_detector("mtcnn", min_face_size=24)
    # no smoothing: process() smooths boxes over time, which a stream cannot (see its docstring)
    return FacePipeline.from_spec(faces, "dfdc_tight", crop_size=96, batch_size=4, probe_frames=0,
                                  smooth_s=0.0)


def _summary(tracks):
    return [(t.track_id, [(c.frame_index, c.detection.box) for c in t.crops],
             np.stack([c.image for c in t.crops])) for t in tracks]


def test_stream_gives_the_tracks_of_the_in_memory_path(clip, pipeline):
    whole = _summary(pipeline.process(read_frames(clip, "all")))
    streamed = _summary(pipeline.process_stream(iter_frames(clip, "all")))
    assert [(i, b) for i, b, _ in streamed] == [(i, b) for i, b, _ in whole]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(streamed, whole))
    assert sum(len(b) for _, b, _ in whole) >= 20  # the face was found in most frames


def test_stream_lets_frames_go(clip, pipeline):
    alive = set()
    peak = [0]

    def tracked():
        for n, frame in enumerate(iter_frames(clip, "all")):
            alive.add(n)
            weakref.finalize(frame.image, alive.discard, n)
            peak[0] = max(peak[0], len(alive))
            yield frame

    tracks = pipeline.process_stream(tracked())
    assert tracks and peak[0] <= 2 * pipeline.batch_size  # never the whole video in memory
