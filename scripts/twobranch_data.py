"""Face tracks of the shared videos for sequence detectors (twobranch), with a video-level
split that keeps videos aside for measurement.

    python scripts/twobranch_data.py [--out cache/twobranch] [--windows 6]
    python scripts/twobranch_data.py --list-test    # the held-aside videos, one per line

1. Crops: `fakescope.extract` on every video of ../shared/data/videos, sampled as a sequence
   detector needs it (``windows:W:10:7``: W runs of 10 frames, 1 in 7; MTCNN, largest face,
   dfdc_tight framing, 224 px), tracks linked and boxes smoothed by the face stage.
2. Split by person, never by crop: DFD videos by actor (the ``NN__`` prefix: one actor's
   videos all on one side), the others by video. All 22 fake videos go to ``test``: the
   recipe (configs/twobranch_sbi.yaml) trains on real tracks and their self-blends only,
   so the real fakes are kept for measurement. Reals: train 10 / val 4 / test 10 videos.
3. ``OUT/tracks.csv``: path (crop, relative to OUT), label, group, video, track_id,
   frame_index, split, source.

DeepfakeTIMIT is a dev set and is never read here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"

# Real videos by split (person-level): everything not named here that is real is train.
VAL_REAL = {"dfd/c40/09__walking_down_street_outside_angry.mp4", "dfd/c40/18__kitchen_pan.mp4",
            "talking_heads/d13.mp4", "talking_heads/d14.mp4"}
TEST_REAL_ACTORS = {"01", "13", "27"}  # DFD actors held aside (4 videos)
TEST_REAL = {"talking_heads/d0.mp4", "talking_heads/d10.mp4", "talking_heads/d11.mp4",
             "talking_heads/d12.mp4", "dfdc/lynaeydofd.mp4",
             "dfdc_face_clips/real/0_aayrffkzxn.mp4_0_0.mp4"}


def person(rel: str) -> str:
    """The split group: a DFD actor, else the video itself."""
    name = Path(rel).name
    return f"dfd_actor_{name.split('__')[0]}" if rel.startswith("dfd/") else rel


def split_of(rel: str, label: str) -> str:
    if label == "FAKE":
        return "test"
    if rel in VAL_REAL:
        return "val"
    if rel in TEST_REAL or (rel.startswith("dfd/") and Path(rel).name.split("__")[0] in TEST_REAL_ACTORS):
        return "test"
    return "train"


def main() -> int:
    from fakescope.data.datasets import manifest_items
    from fakescope.data.sources import SourceItem
    from fakescope.data.splits import check_no_leakage
    from fakescope.extract import ExtractConfig, extract

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "cache" / "twobranch")
    ap.add_argument("--windows", type=int, default=6, help="runs of 10 frames per video")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--list-test", action="store_true",
                    help="only print the held-aside videos' paths (for `fakescope scan`)")
    args = ap.parse_args()

    labels = pd.read_csv(VIDEOS / "labels.csv")
    if args.list_test:
        print("\n".join(str(VIDEOS / p) for p, lab in zip(labels.path, labels.label)
                        if split_of(p, lab) == "test"))
        return 0
    items = [SourceItem(str(VIDEOS / r.path), 1 if r.label == "FAKE" else 0, person(r.path))
             for r in labels.itertuples()]
    config = ExtractConfig(out_dir=str(args.out), sampling=f"windows:{args.windows}:10:7",
                           detector="mtcnn", device=args.device, crop_size=224,
                           crop_preset="dfdc_tight", policy="largest",
                           manifest_name="manifest.parquet")
    summary = extract(items, config, progress=False)
    print(f"{summary.inputs} videos: {summary.ok} with faces, {summary.no_face} without, "
          f"{summary.failed} failed; {summary.crops} crops ({summary.seconds:.0f} s)")
    manifest = pd.read_parquet(args.out / "manifest.parquet")
    crops = manifest_items(manifest)
    rel = {str(VIDEOS / r.path): r.path for r in labels.itertuples()}
    source = {str(VIDEOS / r.path): r.source for r in labels.itertuples()}
    crops["source"] = crops["video"].map(source)
    crops["split"] = [split_of(rel[v], "FAKE" if lab == 1 else "REAL")
                      for v, lab in zip(crops["video"], crops["label"])]
    crops["video"] = crops["video"].map(rel)
    # crop paths in the manifest are relative to OUT, as the table needs them
    parts = {s: crops[crops["split"] == s] for s in ("train", "val", "test")}
    check_no_leakage(parts["train"], parts["val"], cols=("group",), names=["train", "val"])
    check_no_leakage(parts["train"], parts["test"], cols=("group",), names=["train", "test"])
    crops.to_csv(args.out / "tracks.csv", index=False)
    counts = crops.groupby(["split", "label"]).agg(videos=("video", "nunique"), crops=("path", "size"))
    print(counts.to_string())
    print(f"tracks table: {args.out / 'tracks.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
