"""A hostile corpus, built here, scanned through the real CLI in a subprocess (worker isolation
on, as a user runs it): every input gets exactly one result line, each verdict-less one with its
reason, nothing hangs, no traceback reaches the user, the good files are scored, exit code 2."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from bundle_factory import make_bundle
from media_factory import make_corrupt, make_image, make_video, scene
from PIL import Image


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height, with a few bytes of image data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _odd_size_video(path: Path, size=(321, 239), n=6) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=15, options={"preset": "veryfast"})
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv444p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(scene(size, index=i, n_frames=n), format="rgb24")
            frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))


def _corrupt_middle(path: Path) -> None:
    make_video(path, n_frames=60, size=(320, 240), gop=10)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _animated_gif(path: Path, n=8) -> None:
    frames = [Image.fromarray(scene((256, 256), index=i, n_frames=n)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def build_corpus(root: Path) -> tuple[Path, dict[str, str]]:
    """The folder to scan, and for each input the expected outcome: "scored" (real/fake),
    "no_face", or the reason code of an unreadable file."""
    d = root / "corpus"
    d.mkdir()
    expect: dict[str, str] = {}

    def add(name: str, outcome: str) -> Path:
        expect[name] = outcome
        return d / name

    make_corrupt(add("empty.mp4", "empty"), "empty")
    make_corrupt(add("truncated.mp4", "truncated"), "truncated")
    make_image(d / "tmp.png", size=(256, 256))
    (d / "tmp.png").rename(add("png_named.mp4", "scored"))
    make_video(d / "tmp.mp4", n_frames=8)
    (d / "tmp.mp4").rename(add("mp4_named.jpg", "scored"))
    make_corrupt(add("random.mkv", "not_media"), "garbage")
    _png_header_only(add("huge_header.png", "too_large"), 60000, 60000)
    Image.new("RGB", (1, 1), (200, 150, 120)).save(add("one_pixel.png", "no_face"))
    make_corrupt(add("audio_only.mp4", "no_frames"), "audio_only")
    make_video(add("one_frame.mp4", "scored"), n_frames=1)
    make_video(add("two_frames.mp4", "scored"), n_frames=2)
    make_video(add("vfr.mp4", "scored"), n_frames=20, vfr=True, seed=2)
    make_video(add("rotated.mp4", "scored"), n_frames=8, rotation=90, size=(240, 320))
    _odd_size_video(add("odd_size.mp4", "scored"))
    make_image(add("cmyk.jpg", "scored"), mode="CMYK")
    make_image(add("sixteen_bit.png", "scored"), mode="I;16")
    Image.fromarray(scene((256, 256))).convert("LA").save(add("grey_alpha.png", "scored"))
    _animated_gif(add("animated.gif", "scored"))
    make_image(add("no_face.png", "no_face"), blank=True)
    make_image(add("vidéo 東京 x.png", "scored"), size=(256, 256))
    os.symlink(d / "gone.mp4", add("dangling.mp4", "missing"))
    os.symlink("loop.mp4", add("loop.mp4", "link_loop"))
    os.mkfifo(add("fifo.mp4", "not_media"))
    (add("folder.mp4", "not_media")).mkdir()
    _corrupt_middle(add("corrupt_middle.mp4", "scored"))
    if os.geteuid() != 0:  # root reads files whatever their permissions
        make_image(add("no_permission.png", "unreadable"), size=(64, 64)).chmod(0)
    return d, expect


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    bundle, _, _ = make_bundle(root / "fb.pt", threshold=0.5)
    corpus, expect = build_corpus(root)
    out = root / "results.jsonl"
    loop = corpus / "loop.mp4"
    cmd = [sys.executable, "-m", "fakescope", "scan", str(corpus), str(loop), "--json",
           "--out", str(out), "--weights", str(bundle), "--runtime", "torch",
           "--min-face", "24", "--sampling", "uniform:6", "--timeout", "120", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return {"proc": proc, "records": records, "expect": expect, "corpus": corpus}


def test_every_input_gets_exactly_one_result(scanned):
    names = [Path(r["path"]).name for r in scanned["records"]]
    assert sorted(names) == sorted(scanned["expect"])  # the explicit loop is the same input
    assert len(names) == len(set(names))


def test_each_outcome_is_the_expected_one(scanned):
    for rec in scanned["records"]:
        name = Path(rec["path"]).name
        want = scanned["expect"][name]
        if want == "scored":
            assert rec["verdict"] in ("real", "fake", "abstain"), (name, rec["reason"])
            assert rec["verdict"] != "abstain" or rec["reason"] == "no_face", (name, rec["reason"])
            assert rec["verdict"] != "error", (name, rec["reason"])
        elif want == "no_face":
            assert (rec["verdict"], rec["reason"]) == ("abstain", "no_face"), name
        else:
            assert rec["verdict"] == "abstain", (name, rec["reason"])
            assert rec["reason"].startswith(f"unreadable: {want}"), (name, rec["reason"])


def test_face_files_are_scored_and_damage_is_counted(scanned):
    by = {Path(r["path"]).name: r for r in scanned["records"]}
    for name in ("png_named.mp4", "vidéo 東京 x.png", "cmyk.jpg", "animated.gif", "rotated.mp4",
                 "corrupt_middle.mp4", "mp4_named.jpg"):
        assert by[name]["verdict"] in ("real", "fake"), (name, by[name]["reason"])
    assert by["animated.gif"]["kind"] == "video" and by["animated.gif"]["frames_read"] == 6
    assert by["corrupt_middle.mp4"]["frames_read"] >= 4


def test_exit_code_2_and_no_traceback(scanned):
    proc = scanned["proc"]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for name in ("dangling.mp4", "fifo.mp4", "huge_header.png", "loop.mp4"):
        assert name in proc.stderr  # each unreadable input is named on stderr with its cause
