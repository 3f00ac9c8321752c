"""fakescope.media: probing, sampling, decoding, images, files, hashing and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import MediaError
from fakescope.media import (
    AllFrames,
    DecodeStats,
    EveryKSampling,
    KeyframeSampling,
    DecodeStats,
    UniformSampling,
    is_image,
    is_video,
    iter_frames,
    iter_media_files,
    parse_sampling,
    probe,
    read_frames,
    read_image,
    sha256_file,
)
from media_factory import face_boxes, has_encoder, make_corrupt, make_image, make_video, scene

SIZE = (160, 120)  # display (W, H) of most test videos


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """60 frames, keyframe every 10, B-frames (libx264 veryfast)."""
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", n_frames=60, size=SIZE, gop=10)


@pytest.fixture(scope="module")
def clip_all(clip):
    return read_frames(clip, AllFrames())


# ---------------------------------------------------------------- containers and codecs


@pytest.mark.parametrize(
    "suffix,codec,name",
    [(".mp4", "libx264", "h264"), (".mov", "libx264", "h264"), (".mkv", "libx265", "hevc"),
     (".webm", "libvpx-vp9", "vp9"), (".avi", "mpeg4", "mpeg4")],
)
def test_probe_and_decode_each_container(tmp_path, suffix, codec, name):
    path = make_video(tmp_path / f"v{suffix}", n_frames=20, fps=20, size=SIZE, codec=codec, gop=5)
    info = probe(path)
    assert (info.kind, info.codec, info.width, info.height, info.rotation) == ("video", name, 160, 120, 0)
    assert info.fps == pytest.approx(20, rel=1e-3)
    assert info.duration_s == pytest.approx(1.0, abs=0.06)
    assert info.frame_count == 20
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    frames = read_frames(path, "all")
    assert [f.index for f in frames] == list(range(20))
    assert [f.time_s for f in frames] == pytest.approx([i / 20 for i in range(20)], abs=1e-3)
    for f in frames:
        assert f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous
        assert _diff(f.image, scene(SIZE, index=f.index, n_frames=20)) < 12  # lossy, but the same picture
    # sampled frames (seeking, skipped B-frames) are pixel-identical to a full decode
    for spec, expected in (("uniform:4", [0, 6, 13, 19]), ("every:5", [0, 5, 10, 15]), ("keyframes", [0, 5, 10, 15])):
        picked = read_frames(path, spec)
        assert [f.index for f in picked] == expected, spec
        assert all(np.array_equal(f.image, frames[f.index].image) for f in picked), spec


@pytest.mark.parametrize("rotation,suffix", [(90, ".mp4"), (180, ".mov"), (270, ".mp4"), (90, ".mkv")])
def test_rotation_metadata_is_applied(tmp_path, rotation, suffix):
    path = make_video(tmp_path / f"r{suffix}", n_frames=6, size=(120, 160), rotation=rotation)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (rotation, 120, 160)
    for f in read_frames(path, "all"):
        assert f.image.shape == (160, 120, 3)  # portrait, as displayed
        upright = scene((120, 160), index=f.index, n_frames=6)
        assert _diff(f.image, upright) < 8
        if rotation == 180:  # same shape either way: the content must not be upside down
            assert _diff(f.image, upright[::-1, ::-1]) > 20


def test_variable_frame_rate_uses_timestamps(tmp_path):
    path = make_video(tmp_path / "vfr.mp4", n_frames=40, fps=20, size=SIZE, vfr=True, seed=3)
    frames = read_frames(path, "all")
    times = np.array([f.time_s for f in frames])
    steps = np.diff(times)
    assert len(frames) == 40 and np.all(steps > 0)
    assert steps.std() > 0.1 / 20  # really irregular
    info = probe(path)
    assert [f.index for f in frames] == [round(t * info.fps) for t in times]
    picked = read_frames(path, UniformSampling(8))
    assert len(picked) == 8 and np.all(np.diff([f.time_s for f in picked]) > 0)
    for f in picked:  # each pick is a real decoded frame with its own timestamp and pixels
        j = int(np.argmin(np.abs(times - f.time_s)))
        assert times[j] == pytest.approx(f.time_s) and np.array_equal(f.image, frames[j].image)


# ---------------------------------------------------------------- sampling


def test_sampling_indices_and_parse():
    assert UniformSampling(4).indices(10) == [0, 3, 6, 9]
    assert UniformSampling(32).indices(300)[:3] == [0, 10, 19] and UniformSampling(32).indices(300)[-1] == 299
    assert UniformSampling(5).indices(3) == [0, 1, 2, 0, 1]
    assert UniformSampling(5, circular_pad=False).indices(3) == [0, 1, 2]
    assert EveryKSampling(10).indices(25) == [0, 10, 20]
    assert parse_sampling("uniform:32") == UniformSampling(32)
    assert parse_sampling("uniform") == UniformSampling(32)
    assert parse_sampling("uniform:8:nopad") == UniformSampling(8, circular_pad=False)
    assert parse_sampling("every:10") == EveryKSampling(10)
    assert parse_sampling("keyframes") == KeyframeSampling()
    assert parse_sampling("all") == AllFrames()
    for spec in ("uniform:32", "uniform:8:nopad", "every:3", "keyframes", "all"):
        assert str(parse_sampling(spec)) == spec
    for bad in ("uniform:x", "every", "every:0", "uniform:0", "random:3", "keyframes:2"):
        with pytest.raises(ValueError):
            parse_sampling(bad)


def test_uniform_frames_are_exact(clip, clip_all):
    picked = read_frames(clip, "uniform:7")
    assert [f.index for f in picked] == UniformSampling(7).indices(60)
    for f in picked:
        assert np.array_equal(f.image, clip_all[f.index].image)
        assert f.time_s == pytest.approx(clip_all[f.index].time_s)


def test_every_k_and_keyframes(clip, clip_all):
    every = read_frames(clip, EveryKSampling(7))
    assert [f.index for f in every] == list(range(0, 60, 7))
    assert all(np.array_equal(f.image, clip_all[f.index].image) for f in every)
    keys = read_frames(clip, KeyframeSampling())
    assert [f.index for f in keys] == [0, 10, 20, 30, 40, 50]  # gop=10
    assert all(np.array_equal(f.image, clip_all[f.index].image) for f in keys)


def test_sparse_targets_decode_fewer_frames(clip):
    stats = DecodeStats()
    frames = read_frames(clip, "every:20", stats=stats)  # targets 0, 20, 40 sit on keyframes
    assert [f.index for f in frames] == [0, 20, 40]
    assert stats.seeks == 2 and stats.frames_decoded < 20 and stats.frames_kept == 3
    dense = DecodeStats()
    read_frames(clip, "uniform:30", stats=dense)  # dense targets: no seek, unneeded B-frames skipped
    assert dense.seeks == 0 and 30 <= dense.frames_decoded < 60 and dense.frames_kept == 30
    full = DecodeStats()
    read_frames(clip, "all", stats=full)
    assert full.frames_decoded == full.frames_kept == full.packets == 60


def test_decoder_threads_do_not_change_frames(clip, clip_all, monkeypatch):
    """The scan decodes with more frame threads than FFmpeg would pick (faster sampled reads):
    H.264 frame threading is exact, so every frame is the one a single thread decodes."""
    import fakescope.media.container as container

    assert container.MIN_DECODER_THREADS <= container.decoder_threads() <= container.MAX_DECODER_THREADS
    monkeypatch.setattr(container, "decoder_threads", lambda: 1)
    single = read_frames(clip, AllFrames())
    assert len(single) == len(clip_all) == 60
    assert all(np.array_equal(a.image, b.image) for a, b in zip(single, clip_all, strict=True))
    sampled = read_frames(clip, "uniform:7")
    assert all(np.array_equal(f.image, clip_all[f.index].image) for f in sampled)


def test_short_video_circular_padding(tmp_path):
    path = make_video(tmp_path / "short.mp4", n_frames=10, size=SIZE)
    padded = read_frames(path, UniformSampling(32))
    assert [f.index for f in padded] == [i % 10 for i in range(32)]
    assert read_frames(path, "uniform:32:nopad")[-1].index == 9
    assert len(read_frames(path, "uniform:32:nopad")) == 10


def test_iter_frames_streams(clip):
    it = iter_frames(clip, "all")
    first = next(it)
    assert first.index == 0
    assert sum(1 for _ in it) == 59


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("mode,suffix", [("RGB", "png"), ("RGB", "jpg"), ("RGB", "webp"), ("RGB", "bmp"),
                                         ("RGB", "tiff"), ("RGBA", "png"), ("L", "png"), ("CMYK", "jpg"),
                                         ("CMYK", "tiff"), ("I;16", "png"), ("I;16", "tiff")])
def test_image_modes_become_rgb8(tmp_path, mode, suffix):
    path = make_image(tmp_path / f"im.{suffix}", mode=mode, size=(96, 64))
    img = read_image(path)
    assert img.shape == (64, 96, 3) and img.dtype == np.uint8
    ref = scene((96, 64), moving=False)
    if mode in ("L", "I;16"):
        ref = np.repeat(np.asarray(Image.fromarray(ref).convert("L"))[:, :, None], 3, axis=2)
    if mode == "RGBA":  # transparency is composited on white
        ref = ref.copy()
        ref[:16, :16] = 255
        assert (img[:16, :16] == 255).all()
    tol = 1.5 if suffix in ("png", "bmp", "tiff") and mode != "CMYK" else 8
    assert _diff(img, ref) < tol  # a clipped 16-bit image would be all white: far off
    [frame] = read_frames(path, "uniform:32")
    assert frame.index == 0 and np.array_equal(frame.image, img)
    info = probe(path)
    assert (info.kind, info.width, info.height) == ("image", 96, 64)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation(tmp_path, orientation):
    path = make_image(tmp_path / "o.jpg", exif_orientation=orientation, size=(96, 64))
    img = read_image(path)
    assert img.shape == (64, 96, 3)
    assert _diff(img, scene((96, 64), moving=False)) < 8
    info = probe(path)
    assert (info.width, info.height) == (96, 64)
    assert info.rotation == {3: 180, 5: 90, 6: 90, 7: 270, 8: 270}.get(orientation, 0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kind,suffix,reason",
    [("empty", ".mp4", "empty"), ("truncated", ".mp4", "truncated"), ("truncated_tail", ".mp4", "truncated"),
     ("garbage", ".mp4", "not_media"), ("text", ".avi", "not_media"),
     ("unsupported_codec", ".avi", "unsupported_codec"), ("audio_only", ".mp4", "no_frames")],
)
def test_bad_video_raises_media_error(tmp_path, kind, suffix, reason):
    path = make_corrupt(tmp_path / f"bad_{kind}{suffix}", kind)
    for call in (lambda: probe(path), lambda: read_frames(path, "all"), lambda: read_frames(path, "uniform:8")):
        with pytest.raises(MediaError) as err:
            call()
        assert err.value.reason == reason and str(path) in str(err.value)


def test_missing_directory_and_bad_images(tmp_path):
    with pytest.raises(MediaError, match="missing") as err:
        probe(tmp_path / "nope.mp4")
    assert err.value.reason == "missing" and "nope.mp4" in str(err.value)
    with pytest.raises(MediaError) as err:
        read_frames(tmp_path, "all")
    assert err.value.reason == "not_media"
    good = make_image(tmp_path / "good.jpg", size=(128, 128))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(MediaError) as err:
        read_image(cut)
    assert err.value.reason == "truncated"
    junk = make_corrupt(tmp_path / "junk.png", "garbage")
    with pytest.raises(MediaError) as err:
        probe(junk)
    assert err.value.reason == "not_media"
    with pytest.raises(MediaError) as err:
        sha256_file(make_corrupt(tmp_path / "e.jpg", "empty"))
    assert err.value.reason == "empty"


# ---------------------------------------------------------------- files, hashing, factory


def test_iter_media_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ("a/x.mp4", "a/b/y.JPG", "a/notes.txt", ".hidden/z.mp4", "a/.w.png", "top.webm"):
        (tmp_path / rel).write_bytes(b"x")
    assert iter_media_files(tmp_path) == [tmp_path / p for p in ("a/b/y.JPG", "a/x.mp4", "top.webm")]
    assert iter_media_files(tmp_path, recursive=False) == [tmp_path / "top.webm"]
    listed = iter_media_files([tmp_path / "a" / "x.mp4", str(tmp_path / "a" / "*.mp4"), tmp_path / "missing.mov",
                               tmp_path / "a" / "notes.txt"])
    assert listed == [tmp_path / "a/x.mp4", tmp_path / "missing.mov", tmp_path / "a/notes.txt"]
    assert is_video("A.MKV") and is_image("b.tif") and not is_video("c.txt")


def test_sha256_file(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"fakescope" * 1000)
    assert sha256_file(p) == hashlib.sha256(b"fakescope" * 1000).hexdigest()


def test_factory_faces_and_blank(tmp_path):
    two = face_boxes((320, 160), faces=2, index=5, n_frames=30)
    assert len(two) == 2 and two[0][2] < two[1][0]  # side by side, not overlapping
    for x0, y0, x1, y1 in two:
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 160
    assert face_boxes(SIZE, index=0) != face_boxes(SIZE, index=7)  # the face pans
    assert face_boxes(SIZE, index=7, moving=False) == face_boxes(SIZE, index=0)
    blank = scene(SIZE, blank=True)
    face = scene(SIZE)
    x0, y0, x1, y1 = (int(v) for v in face_boxes(SIZE, moving=False)[0])
    assert _diff(face[y0:y1, x0:x1], blank[y0:y1, x0:x1]) > 20
    assert has_encoder("libx264") and not has_encoder("no-such-codec")


# ---------------------------------------------------------------- shared data


@pytest.mark.shared
def test_dfdc_portrait_clip_is_upright(shared_data):
    dfdc = sorted((shared_data / "videos" / "dfdc").glob("*.mp4"))
    assert len(dfdc) == 4
    shapes = {p.name: probe(p) for p in dfdc}
    portrait = [name for name, info in shapes.items() if info.height > info.width]
    assert portrait  # brtujopkby (1080x1920) and yhffcuhhjy (720x1280) are stored portrait
    for name in portrait:
        [frame] = read_frames(shared_data / "videos" / "dfdc" / name, "uniform:1")
        assert frame.image.shape[0] > frame.image.shape[1]


@pytest.mark.shared
@pytest.mark.slow
def test_all_shared_videos_probe_and_decode(shared_data):
    videos = sorted((shared_data / "videos").rglob("*.mp4"))
    assert len(videos) == 46
    for path in videos:
        info = probe(path)
        assert info.kind == "video" and info.frame_count and info.fps and info.duration_s
        frames = read_frames(path, KeyframeSampling(), info=info)
        assert frames and all(f.image.shape == (info.height, info.width, 3) for f in frames)


def _damage(path, start: float, stop: float, seed: int = 2):
    """Overwrite the bytes between fractions `start` and `stop` of the file with noise."""
    data = bytearray(path.read_bytes())
    a, b = int(len(data) * start), int(len(data) * stop)
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def test_damaged_packets_are_skipped_not_fatal(tmp_path):
    clean = make_video(tmp_path / "clean.mp4", n_frames=60, size=SIZE, gop=10)
    every = read_frames(clean, "all")
    bad = _damage(make_video(tmp_path / "bad.mp4", n_frames=60, size=SIZE, gop=10), 0.3, 0.5)
    stats = DecodeStats()
    frames = read_frames(bad, "all", stats=stats)
    assert 0 < len(frames) < len(every) and stats.corrupt_packets > 0
    assert stats.frames_missing == stats.corrupt_packets
    by_index = {f.index: f.image for f in every}
    first = frames[0]  # before the damage: the very same pixels as the clean file
    assert np.array_equal(first.image, by_index[first.index])
    stats = DecodeStats()
    picked = read_frames(bad, UniformSampling(60, circular_pad=False), stats=stats)
    assert stats.targets == 60 and len(picked) == stats.frames_kept == 60 - stats.frames_missing
    assert stats.frames_missing > 0


def test_listing_keeps_every_odd_entry_and_survives_link_loops(tmp_path):
    import os

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.mp4").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "sub" / "back")  # a folder link back up: a loop
    os.symlink(tmp_path / "nowhere.mp4", tmp_path / "dangling.mp4")
    os.symlink("self.mp4", tmp_path / "self.mp4")
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "dir.mp4").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    listed = iter_media_files(tmp_path)
    names = sorted(p.name for p in listed)
    assert names == ["a.mp4", "dangling.mp4", "dir.mp4", "pipe.mp4", "self.mp4"]
    reasons = {}
    for p in listed:
        try:
            probe(p)
        except MediaError as err:
            reasons[p.name] = (err.reason, err.detail)
    assert reasons["dangling.mp4"][0] == "missing" and "dangling" in reasons["dangling.mp4"][1]
    assert reasons["self.mp4"][0] == "link_loop"
    assert reasons["pipe.mp4"][0] == "not_media" and "FIFO" in reasons["pipe.mp4"][1]
    assert reasons["dir.mp4"] == ("not_media", "a directory, not a file")
    # Named explicitly, a looping link is one input with its cause, not a crash of the run.
    assert iter_media_files([tmp_path / "self.mp4", tmp_path / "sub" / "a.mp4"]) == [
        tmp_path / "self.mp4", tmp_path / "sub" / "a.mp4"]


def test_unreadable_file_is_named_as_such(tmp_path, monkeypatch):
    import os

    good = make_image(tmp_path / "locked.png", size=(32, 32))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(good) else real_access(p, mode))
    with pytest.raises(MediaError) as err:
        probe(good)
    assert (err.value.reason, err.value.detail) == ("unreadable", "permission denied")


def test_huge_images_are_decoded_reduced_or_refused(tmp_path, monkeypatch):
    from fakescope.media import images

    Image.fromarray(scene((1600, 1200))).save(tmp_path / "big.jpg", quality=90)
    Image.fromarray(scene((1600, 1200))).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_DECODED_SIDE", 400)
    monkeypatch.setattr(images, "MAX_FULL_PIXELS", 1_000_000)
    jpg = read_image(tmp_path / "big.jpg")  # DCT-reduced decode to 1/4, never full size
    assert jpg.shape == (300, 400, 3)
    with pytest.raises(MediaError) as err:  # 1.92 MP PNG over the 1 MP full-decode limit
        read_image(tmp_path / "big.png")
    assert err.value.reason == "too_large" and "1600x1200" in err.value.detail
    monkeypatch.setattr(images, "MAX_FULL_PIXELS", 2_000_000)
    assert max(read_image(tmp_path / "big.png").shape[:2]) <= 400  # decoded, then reduced
