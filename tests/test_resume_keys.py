"""Resume keyed on the file, not on how its path was spelled (issue 29): the local journal and
the Ray engine's Parquet rows. A scanner that records its calls stands in for the detector:
what is under test is which inputs are scanned again and how many records each file keeps."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from media_factory import make_image

from fakescope.media import iter_media_files
from fakescope.scan import scan_batch
from fakescope.scan.outcome import error_result

KEY = "k" * 16


class RecordingScanner:
    """`FileScanner` whose every scan is a (reusable) record of the file's bytes."""

    settings_key = KEY

    def __init__(self) -> None:
        self.calls: list[str] = []

    def scan_file(self, path, explain_dir=None, next_path=None):
        self.calls.append(str(path))
        return error_result(path, "recorded", None, 0.5, KEY)

    def error_result(self, path, exc):
        return error_result(path, exc, None, 0.5, KEY)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    media = tmp_path / "media"
    media.mkdir()
    make_image(media / "a.png", size=(64, 64), blank=True)
    make_image(media / "b.png", size=(80, 80), blank=True)
    monkeypatch.chdir(tmp_path)
    return media


def _journal(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("first, second", [("media", "{abs}/media"), ("{abs}/media", "media"),
                                           ("media", "./media/../media"), ("media", "link")])
def test_journal_resume_ignores_how_the_folder_was_named(folder, tmp_path, first, second):
    os.symlink(folder, tmp_path / "link")
    journal = tmp_path / "r.jsonl"
    scan_batch(RecordingScanner(), [first.format(abs=tmp_path)], journal=journal)
    again = RecordingScanner()
    results = scan_batch(again, [second.format(abs=tmp_path)], journal=journal)
    assert again.calls == []  # nothing scanned twice
    assert len(_journal(journal)) == 2  # one record per file
    named = [str(p) for p in iter_media_files([second.format(abs=tmp_path)])]
    assert [r.path for r in results] == named  # each result names the file as this run did


def test_journal_still_rescans_a_changed_file_named_another_way(folder, tmp_path):
    journal = tmp_path / "r.jsonl"
    scan_batch(RecordingScanner(), ["media"], journal=journal)
    make_image(folder / "a.png", size=(96, 96), blank=True)  # new bytes
    again = RecordingScanner()
    scan_batch(again, [str(folder)], journal=journal)
    assert again.calls == [str(folder / "a.png")]
    assert len(_journal(journal)) == 2


def test_ray_resume_matches_rows_by_canonical_path(folder, tmp_path):
    from fakescope.output.parquet import write_shard
    from fakescope.scan.ray_engine import resumable

    out = tmp_path / "out"
    write_shard(out, [error_result("media/a.png", "recorded", None, 0.5, KEY)])
    from fakescope.output.parquet import read_shards

    done = resumable([str(folder / "a.png"), str(folder / "b.png")], read_shards(out), KEY)
    assert list(done) == [str(folder / "a.png")] and done[str(folder / "a.png")].path == str(
        folder / "a.png")


def test_ray_output_keeps_one_row_per_input_after_a_change(folder, tmp_path):
    import pandas as pd

    from fakescope.output.parquet import write_shard
    from fakescope.scan.ray_engine import drop_superseded_rows

    out = tmp_path / "out"
    write_shard(out, [error_result(str(folder / n), "recorded", None, 0.5, KEY)
                      for n in ("a.png", "b.png")])
    shutil.copy(folder / "b.png", folder / "a.png")  # a.png changed: the next run rescans it
    write_shard(out, [error_result("media/a.png", "recorded", None, 0.5, KEY)])
    assert len(pd.read_parquet(out)) == 3  # before: the old and the new row of a.png
    assert drop_superseded_rows(out) == 1
    table = pd.read_parquet(out)
    assert sorted(table["path"]) == sorted(["media/a.png", str(folder / "b.png")])
    assert table.set_index("path").loc["media/a.png", "sha256"] == table.set_index(
        "path").loc[str(folder / "b.png"), "sha256"]  # the newer row of a.png is the one kept
