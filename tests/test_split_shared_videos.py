"""scripts/split_shared_videos.py groups videos into persons with the package's own union-find
(`data.video_persons`), not networkx, which fakescope does not declare."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "split_shared_videos.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("split_shared_videos", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_persons_join_actors_and_look_alikes_transitively_without_networkx(monkeypatch):
    monkeypatch.setitem(sys.modules, "networkx", None)  # any import of it fails
    script = _load_script()
    rng = np.random.default_rng(0)

    def face(centre: np.ndarray, n: int = 4) -> np.ndarray:
        return centre + rng.normal(0, 0.01, (n, 128))

    a, b, c, d = (rng.normal(0, 1, 128) for _ in range(4))  # four far-apart faces
    desc = {"dfd/01__walk.mp4": face(a), "dfd/01__talk.mp4": face(b),  # one actor id
            "talking_heads/x.mp4": face(b),                             # looks like the 2nd
            "dfd/02__walk.mp4": face(c), "talking_heads/y.mp4": face(d)}
    groups = script.persons(sorted(desc), desc)
    assert groups == [["dfd/01__talk.mp4", "dfd/01__walk.mp4", "talking_heads/x.mp4"],
                      ["dfd/02__walk.mp4"], ["talking_heads/y.mp4"]]
