"""Score the shared labelled videos and the DeepfakeTIMIT dev set with several detectors,
through the scan pipeline, finding the faces once per video.

    .venv/bin/python scripts/eval_videos.py --out runs/videos_eval \
        --detector faceblend=src/fakescope/weights/faceblend_dfdc.pt \
        --detector fakebuster=packaged --detector sbi_only=runs/faceblend_sbi/detector.pt

For every video: media → faces → tracks (one `Scanner.find_faces`, crops cut at the largest
input size among the detectors, `dfdc_tight` framing, uniform 32 frames, MTCNN), then each
detector's `Scanner.score_faces` (crops resized to its input with area interpolation; the same
aggregation as `fakescope scan`: mean over a track, max over tracks; each detector's own
threshold). Results are JSON lines per detector under --out (a re-run skips what is done).

Writes ``summary.json`` and ``videos_eval.md`` under --out: for the shared videos, video-level
ROC-AUC with a bootstrap interval and the false alarms on the real videos at the threshold;
for DeepfakeTIMIT (160 fakes of a manipulation in no training data), the share flagged.

``--video-split docs/splits/shared_videos_split.csv`` (scripts/split_shared_videos.py) leaves
out the shared videos set aside for training (``split == train``): a detector trained on some
of them is graded only on the others, and so is every detector it is compared with.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fakescope.detectors import create_detector
from fakescope.evaluate.bootstrap import bootstrap_ci
from fakescope.evaluate.metrics import roc_auc
from fakescope.output.atomic import atomic_write_text
from fakescope.output.formats import result_to_dict
from fakescope.scan import Scanner
from fakescope.types import ScanResult

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SETS = {"videos": SHARED / "videos", "timit": SHARED / "deepfake_timit"}


def _resizer(size: int):
    def resize(batch: np.ndarray) -> np.ndarray:
        if batch.shape[1] == size:
            return batch
        return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in batch])
    return resize


def _load_done(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a torn last line from a killed run
        out[r["path"]] = r
    return out


def held_for_training(video_split: Path | None) -> set[str]:
    """Absolute paths of the shared videos a training run may have used."""
    if video_split is None:
        return set()
    table = pd.read_csv(video_split)
    return {str((SETS["videos"] / p).resolve()) for p in table.loc[table["split"] == "train", "path"]}


def score_all(detectors: dict[str, str], out: Path, sampling: str, sets: list[str],
              face_detector: str = "mtcnn", skip: set[str] = frozenset()) -> None:
    built = {}
    for name, weights in detectors.items():
        built[name] = create_detector(weights=None if weights == "packaged" else weights,
                                      name=name if weights == "packaged" else None)
    sizes = {n: d.requirements.input_size for n, d in built.items()}
    presets = {d.requirements.crop_preset for d in built.values()}
    if len(presets) != 1:
        raise SystemExit(f"detectors want different framings {presets}; score them separately")
    front_name = max(sizes, key=sizes.get)
    scanners = {n: Scanner(d, face_detector=face_detector, sampling=sampling)
                for n, d in built.items()}
    front = scanners[front_name]
    logs = {n: out / f"{n}.jsonl" for n in built}
    done = {n: _load_done(p) for n, p in logs.items()}
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in sets:
        if s not in SETS or not (SETS[s] / "labels.csv").is_file():
            raise SystemExit(f"eval_videos: set {s!r}: no labels.csv under {SETS.get(s, '?')}")
        labels = pd.read_csv(SETS[s] / "labels.csv")
        paths += [str((SETS[s] / p).resolve()) for p in labels["path"]]
    paths = [p for p in paths if p not in skip]
    t0 = time.perf_counter()
    for k, path in enumerate(paths):
        todo = [n for n in built if path not in done[n]]
        if not todo:
            continue
        try:
            found = front.find_faces(path)
        except Exception as exc:  # noqa: BLE001 - one video must not end the evaluation
            found = front.error_result(path, exc)
        for n in todo:
            if isinstance(found, ScanResult):  # abstain / error: the same for every detector
                result = dataclasses.replace(found, detector=built[n].info,
                                             threshold=scanners[n].threshold)
            else:
                try:
                    result = scanners[n].score_faces(found, crops_for=_resizer(sizes[n]))
                except Exception as exc:  # noqa: BLE001 - recorded, the others go on
                    result = scanners[n].error_result(path, exc)
            line = json.dumps(result_to_dict(result))
            with open(logs[n], "a") as f:
                f.write(line + "\n")
            done[n][path] = json.loads(line)
        print(f"[{k + 1}/{len(paths)}] {Path(path).name} {time.perf_counter() - t0:.0f}s",
              file=sys.stderr, flush=True)


def _auc_ci(y: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    ci = bootstrap_ci(lambda a, b: {"auc": roc_auc(a, b)}, y, s, n_bootstrap=1000, seed=0)["auc"]
    return roc_auc(y, s), ci.low, ci.high


def summarise(detectors: dict[str, str], out: Path, skip: set[str] = frozenset()) -> dict:
    summary = {}
    for n in detectors:
        rows = _load_done(out / f"{n}.jsonl")
        entry = {}
        reals_scores = timit_scores = None
        for s, folder in SETS.items():
            labels = pd.read_csv(folder / "labels.csv")
            labels["abs"] = [str((folder / p).resolve()) for p in labels["path"]]
            held = int(labels["abs"].isin(skip).sum())
            labels = labels[~labels["abs"].isin(skip)]
            labels["score"] = [rows.get(p, {}).get("score") for p in labels["abs"]]
            labels["verdict"] = [rows.get(p, {}).get("verdict", "missing") for p in labels["abs"]]
            labels["threshold"] = [rows.get(p, {}).get("threshold") for p in labels["abs"]]
            scored = labels[labels["score"].notna()]
            y = (scored["label"] == "FAKE").to_numpy(int)
            sc = scored["score"].astype(float).to_numpy()
            e = {"n": len(labels), "scored": len(scored), "held_for_training": held,
                 "abstained": int((labels["verdict"] == "abstain").sum()),
                 "missing": int((labels["verdict"] == "missing").sum()),
                 "threshold": next((t for t in labels["threshold"] if t is not None), None)}
            if s == "videos" and 0 < y.sum() < len(y):
                auc, lo, hi = _auc_ci(y, sc)
                reals = labels[labels["label"] == "REAL"]
                fakes = labels[labels["label"] == "FAKE"]
                e.update(auc=auc, auc_low=lo, auc_high=hi,
                         false_alarms=int((reals["verdict"] == "fake").sum()), n_real=len(reals),
                         fakes_flagged=int((fakes["verdict"] == "fake").sum()), n_fake=len(fakes),
                         per_source={f"{src}/{lab}": {
                             "n": len(g), "flagged": int((g["verdict"] == "fake").sum()),
                             "mean_score": float(g["score"].dropna().astype(float).mean())
                             if g["score"].notna().any() else None}
                             for (src, lab), g in labels.groupby(["source", "label"])})
            if s == "videos":
                reals_scores = scored.loc[scored["label"] == "REAL", "score"].astype(float).to_numpy()
            if s == "timit":
                timit_scores = sc
                e.update(flagged=int((labels["verdict"] == "fake").sum()),
                         flagged_share=float((labels["verdict"] == "fake").mean()),
                         mean_score=float(sc.mean()) if len(sc) else None)
            entry[s] = e
        if reals_scores is not None and timit_scores is not None and len(reals_scores) \
                and len(timit_scores):
            # Threshold-free cross-manipulation figure: DeepfakeTIMIT's fakes against the real
            # shared videos (other recordings, so it still mixes in 'which footage').
            y = np.r_[np.ones(len(timit_scores)), np.zeros(len(reals_scores))]
            auc, lo, hi = _auc_ci(y, np.r_[timit_scores, reals_scores])
            entry["timit"].update(auc_vs_reals=auc, auc_vs_reals_low=lo, auc_vs_reals_high=hi)
        summary[n] = {"weights": detectors[n], **entry}
    return summary


def render(summary: dict, command: str, face_detector: str = "mtcnn",
           sampling: str = "uniform:32") -> str:
    first = next(iter(summary.values()))
    nv, nr, nf = first["videos"]["n"], first["videos"].get("n_real"), first["videos"].get("n_fake")
    held = first["videos"].get("held_for_training", 0)
    nt = first["timit"]["n"]
    title = (f"{nv} shared videos ({held} more held for training)" if held
             else f"the {nv} shared videos")
    lines = [f"# Videos end to end: {title} and the DeepfakeTIMIT dev set", "",
             "Measured with:", "```", command, "```", "",
             "Each detector scans through the same pipeline as `fakescope scan` (frames "
             f"{sampling}, {face_detector} faces, its own framing preset as measured for that face "
             "detector, tracks linked with gaps in seconds and boxes smoothed over time, short "
             "tracks (< 3 sampled frames) ignored beside a longer one, mean over a track, max "
             "over tracks) at its own shipped threshold; faces are found once per video and each "
             "detector gets them resized to its input size.", "",
             f"| detector | threshold | video AUC ({nv}, 95 % CI) | false alarms ({nr} real) | "
             f"DFDC fakes flagged ({nf}) | DeepfakeTIMIT flagged ({nt}) | DeepfakeTIMIT vs "
             f"the {nr} reals, AUC | abstained |",
             "|---|---|---|---|---|---|---|---|"]
    for n, e in summary.items():
        v, t = e["videos"], e["timit"]
        auc = f"{v['auc']:.3f} ({v['auc_low']:.3f}–{v['auc_high']:.3f})" if "auc" in v else "n/a"
        thr = v["threshold"] if v["threshold"] is not None else t["threshold"]
        lines.append(f"| {n} | {thr:.3f} | {auc} | {v.get('false_alarms')} / "
                     f"{v.get('n_real')} | {v.get('fakes_flagged')} / {v.get('n_fake')} | "
                     + (f"{t['flagged']} / {t['n']} ({100 * t['flagged_share']:.0f} %) | "
                        if t.get("scored", t["n"]) else "not run | ")
                     + (f"{t['auc_vs_reals']:.3f} ({t['auc_vs_reals_low']:.3f}–"
                        f"{t['auc_vs_reals_high']:.3f}) | " if "auc_vs_reals" in t else "n/a | ")
                     + f"{v['abstained']} + {t['abstained']} |")
    sources = next(iter(summary.values()))["videos"].get("per_source", {})  # none: timit only
    lines += ["", "Per source (videos flagged / n, mean score):", "",
              "| detector | " + " | ".join(sources) + " |", "|---|" + "---|" * len(sources)]
    for n, e in summary.items():
        cells = [f"{d['flagged']} / {d['n']} ({d['mean_score']:.2f})" if d["mean_score"] is not None
                 else f"{d['flagged']} / {d['n']}" for d in e["videos"].get("per_source", {}).values()]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    other = sum(d["n"] for k, d in first["videos"].get("per_source", {}).items()
                if k.endswith("/REAL") and not k.startswith("DFDC"))
    lines += ["", f"Read with care: the {nf} fakes are all DFDC, while {other} of the {nr} reals "
              "come from other sources (Google DFD at c40, talking heads), so the AUC mixes 'fake "
              f"vs real' with 'DFDC vs not'; {nv} videos give a wide interval. "]
    if held:
        lines[-1] += (f"{held} real videos (other persons) were set aside for training "
                      "(docs/splits/shared_videos_split.csv, scripts/split_shared_videos.py) and "
                      "are left out for every detector here. ")
    lines[-1] += ("DFDC videos whose crops are in the training table were excluded from "
                  "training (scripts/exclude_eval_videos.py). DeepfakeTIMIT holds only fakes: "
                  "its figure is a detection rate at the threshold; its AUC column ranks its "
                  "fakes against the real shared videos, which are other recordings.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detector", action="append", required=True, metavar="NAME=WEIGHTS",
                    help="a name for the table and a bundle path (or 'packaged' for the family "
                         "NAME's shipped weights); repeat")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sampling", default="uniform:32")
    ap.add_argument("--face-detector", default="mtcnn",
                    help="face detector of the front half (default: %(default)s)")
    ap.add_argument("--sets", default="videos,timit")
    ap.add_argument("--doc", type=Path, help="also write the markdown here")
    ap.add_argument("--video-split", type=Path,
                    help="leave out the shared videos this table marks split=train")
    args = ap.parse_args(argv)
    detectors = dict(d.split("=", 1) for d in args.detector)
    skip = held_for_training(args.video_split)
    score_all(detectors, args.out, args.sampling, args.sets.split(","), args.face_detector, skip)
    summary = summarise(detectors, args.out, skip)
    atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    command = ".venv/bin/python scripts/eval_videos.py " + " ".join(
        [f"--detector {d}" for d in args.detector] + [f"--out {args.out}"]
        + ([f"--face-detector {args.face_detector}"] if args.face_detector != "mtcnn" else [])
        + ([f"--video-split {args.video_split}"] if args.video_split else [])
        + ([f"--sampling {args.sampling}"] if args.sampling != "uniform:32" else [])
        + ([f"--sets {args.sets}"] if args.sets != "videos,timit" else []))
    md = render(summary, command, args.face_detector, args.sampling)
    atomic_write_text(args.out / "videos_eval.md", md)
    if args.doc:
        atomic_write_text(args.doc, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
