"""Explanation pictures: attention overlay and score timeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakescope.analysis.attention import (
    attention_overlay,
    normalise_map,
    save_overlays,
    timeline_plot,
)


def test_overlay_is_rgb_uint8_of_the_crop_size(astronaut):
    crop = np.ascontiguousarray(astronaut[:240, 150:390])  # the face region, 240x240
    amap = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    out = attention_overlay(crop, amap, alpha=0.4)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.array_equal(attention_overlay(crop, amap, alpha=0.0), crop)
    assert not np.array_equal(out, crop)


def test_small_crops_are_enlarged_to_a_readable_size(astronaut):
    crop = np.ascontiguousarray(astronaut[:64, 150:214])
    out = attention_overlay(crop, np.ones((4, 4), np.float32))
    assert out.shape == (224, 224, 3)


def test_overlay_marks_the_attended_region_red():
    crop = np.full((64, 64, 3), 128, np.uint8)
    amap = np.zeros((16, 16), np.float32)
    amap[:4, :4] = 1.0  # attention on the top-left 4x4 cells (16 px of the 64-px crop)
    out = attention_overlay(crop, amap, alpha=0.6, min_side=64).astype(int)
    hot, cold = out[2:12, 2:12], out[40:60, 40:60]
    assert (hot[..., 0] - hot[..., 2]).mean() > 60  # JET high = red
    assert (cold[..., 2] - cold[..., 0]).mean() > 30  # JET low = blue


def test_constant_or_bad_maps():
    assert not normalise_map(np.full((4, 4), 0.3)).any()
    with pytest.raises(ValueError):
        normalise_map(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError):
        normalise_map(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError):
        attention_overlay(np.zeros((8, 8, 3), np.float32), np.zeros((2, 2)))


def test_save_overlays_writes_readable_pngs(tmp_path):
    crops = np.random.default_rng(1).integers(0, 255, (3, 48, 48, 3), dtype=np.uint8)
    maps = np.random.default_rng(2).random((3, 12, 12))
    paths = save_overlays(tmp_path, crops, maps, stem="clip")
    assert [p.name for p in paths] == ["clip_0000.png", "clip_0001.png", "clip_0002.png"]
    for p in paths:
        assert cv2.imread(str(p)).shape == (224, 224, 3)  # enlarged to a readable size
    with pytest.raises(ValueError):
        save_overlays(tmp_path, crops, maps[:2])


def test_timeline_plot(tmp_path):
    t = np.arange(20) / 10.0
    s = np.clip(np.sin(t) * 0.8, 0, 1)
    path = timeline_plot(t, s, threshold=0.5, path=tmp_path / "timeline.png", title="clip.mp4")
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 300
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left nothing behind
    with pytest.raises(ValueError):
        timeline_plot(t, s[:-1], 0.5, tmp_path / "bad.png")
