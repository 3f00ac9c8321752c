"""Set some of the shared real videos aside for training (a video-level, identity-aware split).

The default detector's real faces all come from DFDC; the shared videos hold real footage of
other kinds (Google DFD actors at c40, LivePortrait talking heads) on which it raises false
alarms. To learn from that kind of footage without grading on it, half of the *persons* in
those real videos go to ``train``, the other half and everything else (DFDC clips, every fake)
stay ``eval``. Persons: videos are joined when they share a DFD actor id or when the median
distance between their crops' dlib descriptors is below 0.6 (dlib's same-person distance;
same-video medians here are 0.23–0.49), transitively. Which half: a rule fixed in advance —
per source, the persons whose sha1 (of their sorted video names) is in the lower half.

    .venv/bin/python scripts/split_shared_videos.py --videos ../shared/data/videos/labels.csv \
        --crops cache/video_reals --out docs/splits/shared_videos_split.csv \
        --train-table cache/video_reals_train.csv

`--crops` is a `fakescope extract` output of every real DFD / talking-head video (their group
= the labels.csv path). `--train-table` writes the crops of the training videos as an item table
(``path,label,group``, paths relative to the table's folder) for ``data.extra_train``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.data.video_persons import SAME_PERSON, person_groups
from fakescope.output.atomic import atomic_write_text


def candidates(labels: pd.DataFrame) -> list[str]:
    """Real videos that may be used for training: DFD actors and talking heads."""
    real = labels["label"].str.upper() == "REAL"
    other = labels["path"].str.match(r"^(dfd|talking_heads)/")
    return labels.loc[real & other, "path"].tolist()


def persons(paths: list[str], desc: dict[str, np.ndarray]) -> list[list[str]]:
    """Connected components of "same person" (same DFD actor id, or median crop-descriptor
    distance below SAME_PERSON), through the person grouping the calibration split uses."""
    actors: dict[str, list[str]] = {}
    for p in paths:
        if Path(p).parts[0] == "dfd":
            actors.setdefault(Path(p).name.split("__")[0], []).append(p)
    links = [(same[0], other) for same in actors.values() for other in same[1:]]
    group = person_groups({p: [desc[p]] for p in paths}, links, limit=SAME_PERSON)
    members: dict[str, list[str]] = {}
    for p, g in group.items():
        members.setdefault(g, []).append(p)
    return sorted(sorted(m) for m in members.values())


def rule_split(labels: pd.DataFrame, groups: list[list[str]]) -> pd.Series:
    """train for the lower half (by sha1) of the persons of each source, else eval."""
    split = pd.Series("eval", index=labels.index)
    for source in ("dfd/", "talking_heads/"):
        mine = [g for g in groups if g[0].startswith(source)]
        mine.sort(key=lambda g: hashlib.sha1("\n".join(g).encode()).hexdigest())
        for g in mine[: len(mine) // 2]:
            split[labels["path"].isin(g)] = "train"
    return split


def read_manifest(crops_dir: Path) -> pd.DataFrame:
    """The crops of a `fakescope extract` manifest (`crop`: absolute path)."""
    manifest = next(iter(sorted(crops_dir.glob("manifest.*"))), None)
    if manifest is None:
        raise SystemExit(f"{crops_dir}: no manifest (run fakescope extract first)")
    m = pd.read_parquet(manifest) if manifest.suffix == ".parquet" else pd.read_csv(manifest)
    m = m[(m["status"] == "ok") & m["crop"].notna() & ~m["fallback"].astype(bool)].copy()
    m["crop"] = [str(p if Path(p).is_absolute() else (crops_dir / p).resolve()) for p in m["crop"]]
    return m


def video_descriptors(m: pd.DataFrame) -> dict[str, np.ndarray]:
    """(n_crops, 128) dlib descriptors of each source video's crops."""
    from fakescope.data.datasets import read_image_rgb
    from fakescope.data.identity import FaceDescriber

    describer = FaceDescriber()
    out: dict[str, list[np.ndarray]] = {}
    for group, path in zip(m["group"], m["crop"]):
        out.setdefault(str(group), []).append(describer.describe(read_image_rgb(path)))
    return {k: np.stack(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", required=True, help="labels.csv of the shared videos")
    ap.add_argument("--crops", required=True,
                    help="fakescope extract output of the real DFD / talking-head videos")
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-table", help="write the training videos' crops here")
    args = ap.parse_args(argv)
    labels = pd.read_csv(args.videos)
    manifest = read_manifest(Path(args.crops))
    desc = video_descriptors(manifest)  # keyed by the extract input's group = labels path
    paths = candidates(labels)
    missing = [p for p in paths if p not in desc]
    if missing:
        raise SystemExit(f"no crops for {missing}: cannot tell who is in them")
    groups = persons(paths, desc)
    labels["split"] = rule_split(labels, groups)
    for g in groups:
        side = labels.loc[labels["path"] == g[0], "split"].item()
        print(f"{side:5s} person: {', '.join(g)}")
    cols = ["path", "label", "source", "split"]
    atomic_write_text(Path(args.out), labels[cols].to_csv(index=False))
    if args.train_table:
        chosen = set(labels.loc[labels["split"] == "train", "path"])
        rows = manifest[manifest["group"].isin(chosen)]
        base = Path(args.train_table).resolve().parent
        table = pd.DataFrame({"path": [os.path.relpath(p, base) for p in rows["crop"]],
                              "label": "REAL", "group": rows["group"].to_numpy()})
        atomic_write_text(Path(args.train_table), table.to_csv(index=False))
        print(f"{args.train_table}: {len(table)} crops of {table['group'].nunique()} videos")
    print(labels.groupby(["split", "label"]).size().to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
