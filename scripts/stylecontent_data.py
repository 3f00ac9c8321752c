"""Face tracks of the shared videos for the stylecontent clip detector (seed 004), split by
person with docs/splits/shared_videos_split.csv.

    python scripts/stylecontent_data.py [--out cache/stylecontent] [--windows 2] [--train-windows 12]

1. Crops: `fakescope.extract` on every video of ../shared/data/videos, sampled as the clip
   detector needs it (``windows:2:16:1``: 2 runs of 16 consecutive frames = seed 004's 32
   frames per video; MTCNN, largest face, the ``seed004`` framing = MTCNN box + 20 % margin,
   256 px; frames without a face get a centre crop flagged ``fallback``).
2. Split (person level): the shared split's ``train`` videos (9 real videos, 7 persons) are
   cut again by person into ``train`` and ``val`` (DFD actor 27 and talking head d6 →
   ``val``); every ``eval`` video (15 real, all 22 fakes) → ``test``. So no real fake video is
   trained on: the split does not allow it (all 22 fakes are ``eval``).
3. ``OUT/tracks.csv``: path (crop, relative to OUT), label, group, video, track_id,
   frame_index, split, source (fallback centre crops are flagged in the manifest and left
   out of the table: a clip is 16 frames of one face track).

DeepfakeTIMIT is a dev set and is never read here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
SPLIT = REPO / "docs" / "splits" / "shared_videos_split.csv"
VAL_PERSONS = {"dfd_actor_27", "talking_heads/d6.mp4"}


def person(rel: str) -> str:
    """The split group: a DFD actor, else the video itself."""
    name = Path(rel).name
    return f"dfd_actor_{name.split('__')[0]}" if rel.startswith("dfd/") else rel


def split_of(rel: str, shared_split: str) -> str:
    if shared_split != "train":
        return "test"
    return "val" if person(rel) in VAL_PERSONS else "train"


def main() -> int:
    from fakescope.data.datasets import manifest_items
    from fakescope.data.sources import SourceItem
    from fakescope.data.splits import check_no_leakage
    from fakescope.extract import ExtractConfig, extract

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "cache" / "stylecontent")
    ap.add_argument("--windows", type=int, default=2, help="runs of 16 frames per video")
    ap.add_argument("--train-windows", type=int, default=12,
                    help="runs of 16 frames per training / validation video (0: as --windows)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    labels = pd.read_csv(VIDEOS / "labels.csv")
    split = dict(pd.read_csv(SPLIT)[["path", "split"]].itertuples(index=False))
    items = [SourceItem(str(VIDEOS / r.path), 1 if r.label == "FAKE" else 0, person(r.path))
             for r in labels.itertuples()]
    def run(out: Path, windows: int, todo) -> pd.DataFrame:
        config = ExtractConfig(out_dir=str(out), sampling=f"windows:{windows}:16:1",
                               detector="mtcnn", device=args.device, crop_size=256,
                               crop_preset="seed004", policy="largest", fallback="center",
                               manifest_name="manifest.parquet")
        summary = extract(todo, config, progress=False)
        print(f"{out.name}: {summary.inputs} videos: {summary.ok} with faces, {summary.no_face} "
              f"without, {summary.failed} failed; {summary.crops} crops ({summary.seconds:.0f} s)")
        return manifest_items(pd.read_parquet(out / "manifest.parquet"))

    crops = run(args.out, args.windows, items)
    trainval = [it for it in items if split[str(Path(it.path).relative_to(VIDEOS))] == "train"]
    if args.train_windows and trainval:
        more = run(args.out / "trainval", args.train_windows, trainval)
        more["path"] = "trainval/" + more["path"].astype(str)
        crops = pd.concat([crops[~crops["video"].isin(more["video"])], more], ignore_index=True)
    rel = {str(VIDEOS / r.path): r.path for r in labels.itertuples()}
    source = {str(VIDEOS / r.path): r.source for r in labels.itertuples()}
    crops["source"] = crops["video"].map(source)
    crops["video"] = crops["video"].map(rel)
    crops["split"] = [split_of(v, split[v]) for v in crops["video"]]
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
