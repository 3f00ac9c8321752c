"""`fakescope scan` end to end through the CLI entry point: formats, exit codes, resume,
--explain, and the errors a user sees. Untrained weights: no verdict is asserted."""

from __future__ import annotations

import csv
import io
import json

import pytest
from bundle_factory import make_bundle
from media_factory import make_corrupt, make_image

from fakescope.cli.main import main
from fakescope.families.fakebuster import detector as fb
from fakescope.output.formats import CSV_COLUMNS
from fakescope.scan import Scanner


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    bundle, sha, _ = make_bundle(root / "fb.pt")
    good = root / "good"
    good.mkdir()
    make_image(good / "face.png", size=(256, 256))
    make_image(good / "blank.png", size=(128, 128), blank=True)
    mixed = root / "mixed"
    mixed.mkdir()
    make_image(mixed / "face.png", size=(256, 256))
    make_corrupt(mixed / "broken.mp4", "truncated")
    return {"root": root, "bundle": str(bundle), "sha": sha, "good": good, "mixed": mixed}


def scan(env, *args):
    """In this process (so tests can watch `Scanner.scan_file`); the worker path is
    tested in test_scan_isolation.py."""
    return main(["scan", *map(str, args), "--weights", env["bundle"], "--runtime", "torch",
                 "--min-face", "24", "--no-progress", "--in-process"])


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["scan", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "exit status" in text
    for line in ("0  every input scanned, nothing fake or inconclusive found",
                 "1  something fake found", "2  some inputs could not be scanned",
                 "4  nothing fake found, but something inconclusive"):
        assert line in text


def test_table_and_exit_2_when_a_file_is_unreadable(env, capsys):
    assert scan(env, env["mixed"]) == 2
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["VERDICT", "SCORE", "PROB", "FACES", "TIME_S", "PATH", "REASON"]
    broken = next(line for line in lines if "broken.mp4" in line)
    assert broken.startswith("ABSTAIN") and "unreadable: " in broken
    face = next(line for line in lines if "face.png" in line)
    assert face.split()[0] in ("FAKE", "REAL")
    # the one-line reason names the score against the threshold it was judged by
    assert ("≥ threshold" in face) if face.startswith("FAKE") else ("< threshold" in face)
    assert "2 inputs: " in out
    assert "broken.mp4: unreadable" in err  # failures are also named on stderr


def test_json_lines_one_object_per_input(env, capsys):
    code = scan(env, env["good"], "--json")
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"].rsplit("/", 1)[-1] for r in records] == ["blank.png", "face.png"]
    blank, face = records
    assert (blank["verdict"], blank["reason"], blank["score"]) == ("abstain", "no_face", None)
    assert face["detector"] == {"name": "fakebuster", "version": "test-1",
                                "weights_sha256": env["sha"]}
    # everything the page shows: the band's sentence, the file's facts, its provenance
    assert face["explanation"].startswith(("Flagged as manipulated", "No sign of manipulation"))
    assert face["media"]["format"] == "PNG" and face["media"]["width"] > 0
    assert face["provenance"]["c2pa"] == {"checked": True, "present": False}
    assert blank["provenance"]["exif"] == {}
    assert face["tracks"] and face["timeline"] and face["timings_s"]["total"] > 0
    assert code == (1 if face["verdict"] == "fake" else 0)
    assert "2 inputs" in err


@pytest.mark.parametrize("threshold, code, verdict", [("0", 1, "fake"), ("1", 0, "real")])
def test_exit_code_follows_the_verdicts(env, capsys, threshold, code, verdict):
    assert scan(env, env["good"] / "face.png", "--json", "--threshold", threshold) == code
    record = json.loads(capsys.readouterr().out)
    assert record["verdict"] == verdict and record["threshold"] == float(threshold)


def test_globs_are_expanded(env, capsys):
    assert scan(env, str(env["good"] / "bl*.png"), "--json") == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["path"].endswith("blank.png") and record["reason"] == "no_face"


def test_csv_to_file_is_resumable(env, tmp_path, capsys, monkeypatch):
    out = tmp_path / "report.csv"
    assert scan(env, env["mixed"], "--csv", "--out", out) == 2
    assert capsys.readouterr().out == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["path"].rsplit("/", 1)[-1] for r in rows] == ["broken.mp4", "face.png"]
    journal = tmp_path / "report.csv.journal.jsonl"
    assert len(journal.read_text().splitlines()) == 2

    def no_rescan(self, path, explain_dir=None, next_path=None):
        raise AssertionError(f"{path} was scanned again")

    monkeypatch.setattr(Scanner, "scan_file", no_rescan)
    first = out.read_text()
    assert scan(env, env["mixed"], "--csv", "--out", out) == 2
    assert out.read_text().replace("\r", "") == first.replace("\r", "")


def test_json_out_resumes_after_a_kill(env, tmp_path, capsys, monkeypatch):
    out = tmp_path / "results.jsonl"
    code = scan(env, env["good"], "--json", "--out", out)
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and capsys.readouterr().out == ""
    out.write_text(lines[0] + "\n" + lines[1][:40])  # killed while writing the second record
    scanned = []
    real_scan = Scanner.scan_file

    def counting(self, path, explain_dir=None, next_path=None):
        scanned.append(str(path).rsplit("/", 1)[-1])
        return real_scan(self, path, explain_dir, next_path)

    monkeypatch.setattr(Scanner, "scan_file", counting)
    assert scan(env, env["good"], "--json", "--out", out) == code
    assert scanned == ["face.png"]
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in again] == [json.loads(line)["path"] for line in lines]


def test_explain_writes_overlays(env, tmp_path):
    scan(env, env["good"] / "face.png", "--explain", tmp_path / "why")
    assert len(list((tmp_path / "why").glob("face_*/track0_*.png"))) == 1


def test_missing_packaged_weights_says_what_to_do(env, capsys, monkeypatch):
    from fakescope.families.faceblend import detector as default_family

    monkeypatch.setattr(default_family, "PACKAGED_WEIGHTS", "does_not_exist.pt")
    # --in-process: the monkeypatch does not reach a worker process
    assert main(["scan", str(env["good"]), "--no-progress", "--in-process"]) == 2  # the default

    err = capsys.readouterr().err
    assert "fakescope scan: error:" in err and "--weights" in err
    monkeypatch.setattr(fb, "PACKAGED_WEIGHTS", "does_not_exist.pt")
    assert main(["scan", str(env["good"]), "--no-progress", "--in-process",
                 "--detector", "fakebuster"]) == 2
    err = capsys.readouterr().err
    assert "fakescope scan: error:" in err and "--weights" in err


@pytest.mark.parametrize("extra, message", [
    (["--sampling", "sometimes"], "bad sampling"),
    (["--detector", "nope"], "unknown detector"),
])
def test_bad_options_exit_2_with_a_message(env, capsys, extra, message):
    assert scan(env, env["good"], *extra) == 2
    assert message in capsys.readouterr().err


def test_nothing_to_scan_exits_2(env, tmp_path, capsys):
    assert scan(env, tmp_path) == 2
    assert "no image or video files found" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_builds_a_sample_and_scans_it(env, tmp_path, capsys, monkeypatch):
    from fakescope.demo import main as demo

    monkeypatch.setenv("FAKESCOPE_CACHE_DIR", str(tmp_path / "cache"))  # runtime auto caches

    code = demo(["--dir", str(tmp_path / "demo"), "--weights", env["bundle"]])
    out = capsys.readouterr().out
    names = ("real_face.png", "real_face.mp4", "fake_selfblend.png", "no_face.png")
    for name in names:
        assert (tmp_path / "demo" / "sample" / name).is_file() and name in out
    assert "no_face" in out
    assert "scan exit code 0: " in out or "scan exit code 1: " in out  # explained to the user
    assert code == 0  # every demo input is readable; a fake found is the demo working
    assert (tmp_path / "demo" / "explain").is_dir()


def test_detectors_lists_the_families_with_the_default_marked(capsys):
    from fakescope.detectors.registry import DEFAULT_DETECTOR

    assert main(["detectors"]) == 0
    out = capsys.readouterr().out.splitlines()
    default = [line for line in out if line.startswith("* ") and "sha256=" in line]
    assert len(default) == 1 and default[0].split()[1] == DEFAULT_DETECTOR
    assert any(line.split()[0] in ("fakebuster", "*") and "fakebuster" in line for line in out)
    assert main(["detectors", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = {r["name"] for r in rows}
    assert {"fakebuster", "faceblend"} <= names
    assert sum(r["default"] for r in rows) == 1
    fbr = next(r for r in rows if r["name"] == "fakebuster")
    assert len(fbr["sha256"]) == 64 and fbr["input_size"] == 64 and fbr["crop_preset"]
