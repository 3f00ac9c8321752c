"""`--engine ray` on a local Ray with 2 CPUs: the local scan's records on a generated mix; an
actor killed mid-run and a resume from the shards give every input exactly once; the Parquet
output reads with pandas. Skipped where Ray is not installed (`pip install fakescope[ray]`)."""

from __future__ import annotations

import sys

import pytest

ray = pytest.importorskip("ray")

from bundle_factory import make_bundle  # noqa: E402
from media_factory import make_corrupt, make_image, make_video  # noqa: E402

from fakescope.output.formats import result_to_dict  # noqa: E402
from fakescope.output.parquet import SHARD_GLOB, read_shards  # noqa: E402
from fakescope.scan import ScanSettings, exit_code, scan_batch  # noqa: E402
from fakescope.scan.ray_engine import scan_with_ray  # noqa: E402
from fakescope.scan.workers import FAULT_ENV  # noqa: E402


def _same(rec):
    """A record without timings, floats to 3 decimals: Ray's actors run torch with one thread
    each, and another thread count moves MTCNN's boxes by ~1e-4 px (scores agreed to 1e-9)."""
    if isinstance(rec, dict):
        return {k: _same(v) for k, v in rec.items() if k != "timings_s"}
    if isinstance(rec, list):
        return [_same(v) for v in rec]
    if isinstance(rec, float):
        return round(rec, 3)
    return rec


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    bundle, _, _ = make_bundle(root / "fb.pt", threshold=0.5)
    media = root / "media"
    media.mkdir()
    for i in range(3):
        make_image(media / f"face_{i}.png", size=(192 + 32 * i, 192 + 32 * i))
        make_video(media / f"clip_{i}.mp4", n_frames=6 + 2 * i, size=(320, 240), seed=i)
    make_image(media / "blank.png", size=(128, 128), blank=True)
    make_corrupt(media / "broken.mp4", "garbage")
    settings = ScanSettings(weights=str(bundle), runtime="torch", min_face=24, sampling="uniform:4")
    marker = root / "died.marker"
    mp = pytest.MonkeyPatch()
    mp.setenv(FAULT_ENV, f"die_once:clip_1.mp4:{marker}")  # inherited by the Ray workers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield {"root": root, "media": media, "settings": settings, "marker": marker}
    ray.shutdown()
    mp.undo()


def test_ray_gives_the_local_records_exactly_once(env):
    local = scan_batch(env["settings"].build(), [env["media"]])
    out = env["root"] / "out"
    results, scanned = scan_with_ray(env["settings"], [env["media"]], out, shard_rows=3)
    assert env["marker"].exists()  # an actor was killed mid-run, and its work was retried
    assert scanned == len(local) == 8
    assert [_same(result_to_dict(r)) for r in results] == [_same(result_to_dict(r)) for r in local]
    stored = read_shards(out)
    assert sorted(r.path for r in stored) == sorted(r.path for r in local)  # once each
    assert exit_code(results) == exit_code(local) == 2  # the corrupt file, as locally

    import pandas as pd

    table = pd.read_parquet(out)
    assert len(table) == 8 and set(table["verdict"]) <= {"real", "fake", "abstain"}
    video = table[table["path"].str.endswith("clip_0.mp4")].iloc[0]
    assert len(video["timeline"]) >= 2 and len(video["tracks"]) >= 1

    # A run killed before its last shard landed: the rerun scans only what is missing.
    shards = sorted(out.glob(SHARD_GLOB))
    assert shards
    assert len(shards) == 3  # 8 results, 3 per shard
    before = {r.path for r in read_shards(out)}
    shards[0].unlink()
    lost = before - {r.path for r in read_shards(out)}
    again, scanned = scan_with_ray(env["settings"], [env["media"]], out)
    assert scanned == len(lost) > 0
    assert [_same(result_to_dict(r)) for r in again] == [_same(result_to_dict(r)) for r in local]
    assert len(read_shards(out)) == 8
    _, scanned = scan_with_ray(env["settings"], [env["media"]], out)
    assert scanned == 0  # everything is there for these settings


def test_local_scan_never_imports_ray():
    import subprocess

    code = ("import sys, fakescope.scan, fakescope.cli.scan_cmd, fakescope.output.parquet;"
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_engine_ray_writes_shards_and_follows_the_exit_codes(env, tmp_path, capsys):
    from fakescope.cli.main import main

    out = tmp_path / "shards"
    code = main(["scan", str(env["media"]), "--engine", "ray", "--out", str(out), "--json",
                 "--weights", env["settings"].weights, "--runtime", "torch", "--min-face", "24",
                 "--sampling", "uniform:4", "--no-progress"])
    assert code == 2  # the corrupt file, as in the local scan
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 8
    assert "broken.mp4: unreadable: not_media" in captured.err
    assert len(read_shards(out)) == 8
    assert main(["scan", str(env["media"]), "--engine", "ray", "--no-progress"]) == 2
    assert "--out DIR" in capsys.readouterr().err


def test_a_damaged_shard_is_ignored_not_fatal(tmp_path, caplog):
    from fakescope.output.parquet import write_shard
    from fakescope.types import ScanResult

    good = ScanResult(path="/x/a.png", sha256="ab", kind="image", verdict="abstain", score=None,
                      threshold=0.5, reason="no_face", detector=None, settings_key="k")
    write_shard(tmp_path, [good])
    (tmp_path / "part-broken.parquet").write_bytes(b"PAR1 not really parquet")
    rows = read_shards(tmp_path)
    assert [r.path for r in rows] == ["/x/a.png"]
    assert "unreadable result shard" in caplog.text
