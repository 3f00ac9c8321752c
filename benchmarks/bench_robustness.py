"""Robustness of detectors to what happens to footage after it is made: JPEG, video codecs
at several rates, downscaling, blur and noise. ROC-AUC per condition, every detector in the
same run, on two sets:

- DFDC test crops (the identity-disjoint test split of docs/splits/dfdc_faces_split.csv, a
  stratified sample): each 224-px crop degraded, then scored by the detector directly;
  intervals by bootstrap over identity clusters (`split_group`).
- The shared videos kept for evaluation (docs/splits/shared_videos_split.csv, split eval):
  the scan's 32 sampled frames of each video degraded as whole frames — the codec conditions
  re-encode the 32 frames as one H.264 clip at that CRF, the others are encoded at CRF 0 after
  the change, as is the undegraded baseline — and the clip scanned through `Scanner` (faces
  found once per clip for all detectors); intervals by bootstrap over videos.

    .venv/bin/python benchmarks/bench_robustness.py --detector v2=packaged \
        --detector v3=runs/faceblend_diverse/detector.pt --out benchmarks/results/robustness.md

Writes the Markdown table and a JSON beside it (per condition, set and detector: AUC, CI, n).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fakescope.detectors import create_detector
from fakescope.evaluate.files import auc_with_ci
from fakescope.media.codec import reencode, reencode_still
from fakescope.output.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "results" / "robustness.md"

Degrade = Callable[[list[np.ndarray]], list[np.ndarray]]


def _jpeg(q: int) -> Degrade:
    def f(frames):
        out = []
        for img in frames:
            ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
            out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
        return out
    return f


def _down(factor: float) -> Degrade:
    def f(frames):
        return [cv2.resize(img, (max(16, round(img.shape[1] * factor)),
                                 max(16, round(img.shape[0] * factor))),
                           interpolation=cv2.INTER_AREA) for img in frames]
    return f


def _blur(sigma: float) -> Degrade:
    return lambda frames: [cv2.GaussianBlur(img, (0, 0), sigma) for img in frames]


def _noise(std: float) -> Degrade:
    def f(frames):
        rng = np.random.default_rng(0)
        return [np.clip(img + rng.normal(0, std, img.shape), 0, 255).astype(np.uint8)
                for img in frames]
    return f


# name → (per-frame change, H.264 CRF of the clip the video set is scanned from)
CONDITIONS: dict[str, tuple[Degrade | None, int]] = {
    "none": (None, 0),
    "jpeg q90": (_jpeg(90), 0), "jpeg q70": (_jpeg(70), 0), "jpeg q50": (_jpeg(50), 0),
    "jpeg q30": (_jpeg(30), 0),
    "h264 crf23": (None, 23), "h264 crf32": (None, 32), "h264 crf40": (None, 40),
    "x0.5": (_down(0.5), 0), "x0.25": (_down(0.25), 0),
    "blur σ1.5": (_blur(1.5), 0), "noise σ8": (_noise(8.0), 0),
}


def degrade_crops(crops: np.ndarray, name: str) -> np.ndarray:
    """A condition on 224-px crops: the codec ones re-encode each crop as a predicted frame;
    downscaled crops are scaled back to their side (a small face, upsampled by the scan)."""
    change, crf = CONDITIONS[name]
    if crf:
        return np.stack([reencode_still(c, "h264", crf) for c in crops])
    if change is None:
        return crops
    out = change(list(crops))
    side = crops.shape[1]
    return np.stack([o if o.shape[0] == side else
                     cv2.resize(o, (side, side), interpolation=cv2.INTER_LINEAR) for o in out])


def crop_set(detectors: dict, n: int, names: list[str]) -> list[dict]:
    from fakescope.data.datasets import read_image_rgb

    table = pd.read_csv(REPO / "docs" / "splits" / "dfdc_faces_split.csv")
    test = table[table["split"] == "test"]
    test = test.sample(frac=1.0, random_state=0).groupby("label").head(n // 2)
    root = SHARED / "dfdc_faces" / "faces_224"
    crops = np.stack([read_image_rgb(root / p) for p in test["path"]])
    rows = []
    for name in names:
        t0 = time.perf_counter()
        degraded = degrade_crops(crops, name)
        for det_name, det in detectors.items():
            size = det.requirements.input_size
            inp = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
                            for c in degraded])
            scores = np.concatenate([det.score_crops(inp[i:i + 64]) for i in range(0, len(inp), 64)])
            part = pd.DataFrame({"y": test["label"].to_numpy(), "score": scores,
                                 "group": test["split_group"].to_numpy()})
            auc = auc_with_ci(part)
            rows.append({"set": "dfdc_test_crops", "condition": name, "detector": det_name,
                         "n": len(part), "auc": auc[0], "low": auc[1], "high": auc[2]})
        print(f"crops {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return rows


def _write_clip(frames: list[np.ndarray], crf: int, path: Path) -> None:
    """The frames as an H.264 clip at `crf` (0: near-lossless), even sides."""
    import av

    h, w = (s - s % 2 for s in frames[0].shape[:2])
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for img in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h, :w]), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def video_set(detectors: dict, names: list[str], limit: int | None) -> list[dict]:
    from fakescope.media import iter_frames
    from fakescope.scan import Scanner
    from fakescope.types import ScanResult

    labels = pd.read_csv(SHARED / "videos" / "labels.csv")
    split = pd.read_csv(REPO / "docs" / "splits" / "shared_videos_split.csv")
    videos = labels.merge(split[["path", "split"]], on="path")
    videos = videos[videos["split"] == "eval"].head(limit)
    scanners = {k: Scanner(d, sampling="uniform:32", calibration=None) for k, d in detectors.items()}
    first = next(iter(scanners.values()))
    scores = {(name, k): [] for name in names for k in detectors}
    with tempfile.TemporaryDirectory() as tmp:
        for row in videos.itertuples():
            frames = [f.image for f in iter_frames(SHARED / "videos" / row.path, "uniform:32")]
            for name in names:
                change, crf = CONDITIONS[name]
                clip = Path(tmp) / "clip.mp4"
                _write_clip(change(frames) if change else frames, crf, clip)
                front = first.find_faces(clip)
                for k, scanner in scanners.items():
                    # an abstain (no face left, e.g. at x0.25) is a result already: no score
                    r = front if isinstance(front, ScanResult) else scanner.score_faces(front)
                    scores[(name, k)].append(np.nan if r.score is None else r.score)
            print(f"video {row.path} done", flush=True)
    rows = []
    y = (videos["label"] == "FAKE").astype(int).to_numpy()
    for (name, k), s in scores.items():
        part = pd.DataFrame({"y": y, "score": s, "group": videos["path"].to_numpy()})
        auc = auc_with_ci(part)
        rows.append({"set": "shared_videos", "condition": name, "detector": k,
                     "n": int(part["score"].notna().sum()),
                     "auc": auc[0] if auc else None, "low": auc[1] if auc else None,
                     "high": auc[2] if auc else None})
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    df = pd.DataFrame(rows)
    dets = list(dict.fromkeys(df["detector"]))
    lines = ["# Robustness to degradations", "",
             f"`{' '.join(args.argv)}` — {platform.processor() or platform.machine()}, "
             f"{time.strftime('%Y-%m-%d')}. ROC-AUC (95 % CI by cluster bootstrap) per "
             "condition; see the script's docstring for how each set is degraded. Detectors: "
             + ", ".join(f"`{k}` = {v}" for k, v in args.detector_specs) + ".", ""]
    for name, part in df.groupby("set", sort=False):
        n = int(part["n"].max())
        lines += [f"## {name} ({n} files)", "",
                  "| condition | " + " | ".join(dets) + " |", "|---|" + "---:|" * len(dets)]
        for cond in dict.fromkeys(part["condition"]):
            cells = []
            for d in dets:
                r = part[(part["condition"] == cond) & (part["detector"] == d)].iloc[0]
                cells.append("–" if r["auc"] is None or pd.isna(r["auc"]) else
                             f"{r['auc']:.3f} ({r['low']:.3f}–{r['high']:.3f})")
            lines.append(f"| {cond} | " + " | ".join(cells) + " |")
        base = {d: part[(part["condition"] == "h264 crf23") & (part["detector"] == d)]["auc"]
                for d in dets}
        worst = {d: part[(part["condition"] == "h264 crf40") & (part["detector"] == d)]["auc"]
                 for d in dets}
        drops = [f"`{d}` {float(base[d].iloc[0]) - float(worst[d].iloc[0]):.3f}"
                 if len(base[d]) and len(worst[d]) else f"`{d}` –" for d in dets]
        lines += ["", "AUC lost from CRF 23 to CRF 40: " + ", ".join(drops) + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import sys

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detector", action="append", required=True, metavar="NAME=WEIGHTS",
                    help="WEIGHTS: a bundle, or 'packaged' (repeatable; the first is the baseline)")
    ap.add_argument("--crops", type=int, default=1000, help="DFDC test crops (stratified)")
    ap.add_argument("--videos", type=int, default=None, help="at most this many videos")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    args.argv = ["benchmarks/bench_robustness.py", *(argv if argv is not None else sys.argv[1:])]
    args.detector_specs = [spec.split("=", 1) for spec in args.detector]
    names = [c.strip() for c in args.conditions.split(",")]
    unknown = set(names) - set(CONDITIONS)
    if unknown:
        raise SystemExit(f"unknown conditions {sorted(unknown)}; known: {list(CONDITIONS)}")
    detectors = {k: create_detector(weights=None if w == "packaged" else w, runtime="auto")
                 for k, w in args.detector_specs}
    rows = crop_set(detectors, args.crops, names)
    rows += video_set(detectors, names, args.videos)
    out = Path(args.out)
    atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=1))
    atomic_write_text(out, markdown(rows, args))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
