"""Mark the split groups of the crop table that contain a video of the shared evaluation set
(``../shared/data/videos/labels.csv``) as ``excluded``: nothing used in training may appear in
an evaluation, and DFDC clips there (e.g. ``dfdc/lynaeydofd.mp4``) also have crops here.

    .venv/bin/python scripts/exclude_eval_videos.py --split docs/splits/dfdc_faces_split.csv \
        --videos ../shared/data/videos/labels.csv --out docs/splits/dfdc_faces_split.csv
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from fakescope.output.atomic import atomic_write_text

CLIP = re.compile(r"^\d+_([a-z]+\.mp4)")  # dfdc_face_clips names: 0_<video>.mp4_<track>_<n>.mp4


def eval_video_names(labels_csv: str | Path) -> set[str]:
    names = set()
    for p in pd.read_csv(labels_csv)["path"]:
        base = Path(p).name
        m = CLIP.match(base)
        names.add(m.group(1) if m else base)
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", required=True)
    ap.add_argument("--videos", required=True, help="labels.csv of the evaluation videos")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    table = pd.read_csv(args.split)
    names = eval_video_names(args.videos)
    video = table["path"].str.replace(r"\.jpg$", ".mp4", regex=True)
    hit = video.isin(names) | table["group"].isin(names)
    groups = set(table.loc[hit, "split_group"])
    out = table["split_group"].isin(groups)
    table.loc[out, "split"] = "excluded"
    atomic_write_text(args.out, table.to_csv(index=False))
    print(f"{int(hit.sum())} crops of {len(names)} evaluation videos; {len(groups)} split groups, "
          f"{int(out.sum())} crops marked excluded -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
