"""Who appears in which video, so that splits of whole videos keep each person on one side.

Each video's people are found with the scan's own face stage (a few sampled frames, tracks),
each track described by dlib's face descriptors (`identity.FaceDescriber`); two videos show the
same person when the median distance between the crops of one track of each is below 0.6
(dlib's same-person distance). Videos are then grouped transitively, together with any links
the caller knows (a fake and its source, a tool's inputs and outputs), by union-find.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from fakescope.errors import FakescopeError

log = logging.getLogger(__name__)

SAME_PERSON = 0.6


def track_descriptors(paths: Sequence[str | Path], frames: int = 8, face_detector: str = "blazeface",
                      crops_per_track: int = 4) -> dict[str, list[np.ndarray]]:
    """Per video, one (n, 128) descriptor array per face track (empty list: no face or an
    unreadable file, logged)."""
    from fakescope.data.identity import FaceDescriber
    from fakescope.faces import FacePipeline, create_face_detector
    from fakescope.media import iter_frames, probe

    pipeline = FacePipeline.from_spec(create_face_detector(face_detector), "dfdc_tight",
                                      crop_size=160, min_track_frames=2)
    describer = FaceDescriber()
    out: dict[str, list[np.ndarray]] = {}
    for path in map(str, paths):
        out[path] = []
        try:
            info = probe(path)
            tracks = pipeline.process(list(iter_frames(path, f"uniform:{frames}", info=info)))
        except FakescopeError as exc:
            log.warning("%s: no faces described (%s)", path, exc)
            continue
        for track in tracks:
            crops = [c for c in track.crops if not c.fallback]
            step = max(1, len(crops) // crops_per_track)
            chosen = crops[::step][:crops_per_track]
            if chosen:
                out[path].append(np.stack([describer.describe(c.image) for c in chosen]))
    return out


def same_person(a: list[np.ndarray], b: list[np.ndarray], limit: float = SAME_PERSON) -> bool:
    """Some track of `a` and some track of `b` are one person."""
    for ta in a:
        for tb in b:
            if np.median(np.linalg.norm(ta[:, None] - tb[None], axis=-1)) < limit:
                return True
    return False


class UnionFind:
    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {i: i for i in items}

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def person_groups(descriptors: dict[str, list[np.ndarray]],
                  links: Iterable[tuple[str, str]] = (), limit: float = SAME_PERSON) -> dict[str, str]:
    """Video → group id (the group's first video name): same person, or linked by the caller."""
    uf = UnionFind(descriptors)
    for a, b in links:
        uf.union(a, b)
    names = sorted(descriptors)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if uf.find(a) != uf.find(b) and same_person(descriptors[a], descriptors[b], limit):
                uf.union(a, b)
    return {n: uf.find(n) for n in names}
