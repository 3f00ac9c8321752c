"""Scan every labelled file the shipped calibration uses or is judged on, with scan's defaults,
then fit the calibration and write its per-source report.

    .venv/bin/python scripts/calibrate_default.py --out runs/calibration_v2 [--weights FILE]

Sets (docs/splits/calibration_split.csv, ../shared/data):
- videos: `wild_dev` and the shared videos kept for evaluation, halved by person into
  ``calibration`` and ``eval``; DeepfakeTIMIT (``eval`` only, a cross-manipulation dev set);
- images: `real_faces` photos of the ``calibration`` / ``eval`` person groups (the ``train``
  ones are training data), and DFDC crops: the identity-disjoint ``val`` split calibrates
  (reals and fakes), a seeded sample of 1,000 ``test`` crops is reported.

Each set is scanned with ``fakescope scan --json --out OUT/scores/<set>.jsonl --calibration
none`` (a killed run resumes). Then ``fakescope calibrate`` fits on the calibration rows and
reports every row: OUT/calibration.json, OUT/calibration.md, OUT/labels.csv.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

from fakescope.cli.main import main as fakescope
from fakescope.output.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
DFDC_TEST_SAMPLE = 1000


def labels(shared: Path) -> pd.DataFrame:
    split = pd.read_csv(REPO / "docs" / "splits" / "calibration_split.csv")
    split = split[split["split"] != "train"]
    timit = pd.read_csv(shared / "deepfake_timit" / "labels.csv")
    timit = pd.DataFrame({"set": "deepfake_timit", "path": timit["path"], "label": "FAKE",
                          "source": "DeepfakeTIMIT", "group": "timit:" + timit["target"].astype(str),
                          "split": "eval"})
    dfdc = pd.read_csv(REPO / "docs" / "splits" / "dfdc_faces_split.csv")
    val = dfdc[dfdc["split"] == "val"]
    test = dfdc[dfdc["split"] == "test"].sample(DFDC_TEST_SAMPLE, random_state=0)
    dfdc = pd.concat([val.assign(split="calibration"), test.assign(split="eval")])
    dfdc = pd.DataFrame({"set": "dfdc_faces", "path": "faces_224/" + dfdc["path"],
                         "label": dfdc["label"].map({0: "REAL", 1: "FAKE"}), "source": "DFDC crops",
                         "group": "dfdc:" + dfdc["split_group"].astype(str), "split": dfdc["split"]})
    return pd.concat([split, timit, dfdc], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=None, help="a bundle (default: the packaged weights)")
    args = ap.parse_args(argv)
    shared, out = Path(args.shared).resolve(), Path(args.out)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    table = labels(shared)
    atomic_write_text(out / "labels.csv", table.to_csv(index=False))
    weights = ["--weights", args.weights] if args.weights else []
    journals = []
    for name, part in table.groupby("set", sort=True):
        files = [str(shared / s / p) for s, p in zip(part["set"], part["path"])]
        journal = out / "scores" / f"{name}.jsonl"
        code = fakescope(["scan", "--json", "--out", str(journal), "--calibration", "none",
                          "--no-progress", *weights, *files])
        if code not in (0, 1, 4):
            print(f"scan of {name} ended with exit code {code}; see {journal}")
        journals.append(str(journal))
    # relative paths: the calibration file records its command
    return fakescope(["calibrate", *journals, "--labels", str(out / "labels.csv"),
                      "--root", os.path.relpath(shared), "--out", str(out / "calibration.json"),
                      "--report", str(out / "calibration.md"),
                      "--data", "scan records of docs/splits/calibration_split.csv (calibration "
                                "rows) and the DFDC val crops; scripts/calibrate_default.py"])


if __name__ == "__main__":
    raise SystemExit(main())
