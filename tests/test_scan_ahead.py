"""A batch reads the next input while it scores the current one (`scan.ahead`): same results
as one by one, the next input's front half runs in the background, and its failure is
reported in its own turn, never in the current input's."""

from __future__ import annotations

import threading

import pytest
from bundle_factory import make_bundle
from media_factory import make_image, make_video

from fakescope.output.formats import result_to_dict
from fakescope.scan import ScanSettings, scan_batch


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("ahead")
    bundle, _, _ = make_bundle(root / "fb.pt", threshold=0.5)
    media = root / "media"
    media.mkdir()
    make_video(media / "a_clip.mp4", n_frames=8, size=(320, 240))
    make_image(media / "b_face.png", size=(256, 256))
    make_video(media / "c_clip.mp4", n_frames=8, size=(320, 240))
    settings = ScanSettings(weights=str(bundle), runtime="torch", min_face=24,
                            sampling="uniform:4")
    return {"media": media, "scanner": settings.build()}


def _plain(r) -> dict:
    return {k: v for k, v in result_to_dict(r).items() if k != "timings_s"}


def test_batch_reads_ahead_and_gives_the_one_by_one_results(env, monkeypatch):
    scanner = env["scanner"]
    inputs = sorted(env["media"].iterdir())
    alone = [scanner.scan_file(p) for p in inputs]
    where: dict[str, str] = {}
    real_find = scanner.find_faces

    def find(path):
        where[path.rsplit("/", 1)[-1]] = threading.current_thread().name
        return real_find(path)

    monkeypatch.setattr(scanner, "find_faces", find)
    batch = scan_batch(scanner, inputs, read_ahead=True)
    assert [_plain(r) for r in batch] == [_plain(r) for r in alone]
    # the first input is read in its turn; each later one ahead, while the previous is scored
    assert where == {"a_clip.mp4": threading.current_thread().name,
                     "b_face.png": "fakescope-ahead", "c_clip.mp4": "fakescope-ahead"}


def test_a_failure_while_reading_ahead_is_the_next_inputs(env, monkeypatch):
    scanner = env["scanner"]
    real_find = scanner.find_faces

    def find(path):
        if path.endswith("b_face.png"):
            raise RuntimeError("decoder fell over")
        return real_find(path)

    monkeypatch.setattr(scanner, "find_faces", find)
    a, b, c = scan_batch(scanner, sorted(env["media"].iterdir()), read_ahead=True)
    assert a.verdict in ("real", "fake") and c.verdict in ("real", "fake")
    assert b.verdict == "error" and b.reason == "error: RuntimeError: decoder fell over"


def test_a_read_ahead_for_another_input_is_dropped(env):
    """Asked for another file than the one read ahead, the scanner reads that file."""
    scanner = env["scanner"]
    media = env["media"]
    scanner.scan_file(media / "a_clip.mp4", next_path=media / "c_clip.mp4")
    other = scanner.scan_file(media / "b_face.png")
    assert other.path == str(media / "b_face.png")
    assert _plain(other) == _plain(scanner.scan_file(media / "b_face.png"))


def test_without_read_ahead_each_input_is_read_in_its_turn(env, monkeypatch):
    scanner = env["scanner"]
    threads = set()
    real_find = scanner.find_faces

    def find(path):
        threads.add(threading.current_thread().name)
        return real_find(path)

    monkeypatch.setattr(scanner, "find_faces", find)
    scan_batch(scanner, sorted(env["media"].iterdir()))
    assert threads == {threading.current_thread().name}
