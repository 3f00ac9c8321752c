"""Write the identity-aware train/val/test split of the shared DFDC face crops.

    .venv/bin/python scripts/make_dfdc_split.py \
        --identity cache/dfdc_identity.parquet --out docs/splits/dfdc_faces_split.csv

`--identity` is the output of
`python -m fakescope.data.identity --csv ../shared/data/dfdc_faces/metadata.csv --per-group ...`
(identity clusters of dlib face descriptors, one per source group, merged with the source-video
groups into `split_group`). The split keeps every split_group on one side, so a fake and its
source, and every source video of one clustered person, never straddle train and test.
The written table holds file names and split names only (no data), with paths relative to the
crop folder, so training runs anywhere with `data.image_root` pointing at faces_224/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from fakescope.data.splits import check_split, group_split
from fakescope.output.atomic import atomic_write_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--identity", required=True, help="parquet from fakescope.data.identity")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1))
    args = ap.parse_args(argv)
    df = pd.read_parquet(args.identity)
    df["path"] = [Path(p).name for p in df["path"]]
    split = group_split(df, "split_group", fractions=tuple(args.fractions), seed=args.seed)
    check_split(split, cols=("group", "identity", "split_group"))
    parts = []
    for name in ("train", "val", "test"):
        part = getattr(split, name).copy()
        part["split"] = name
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)[
        ["path", "label", "group", "identity", "split_group", "split"]
    ].sort_values("path")
    atomic_write_text(args.out, table.to_csv(index=False))
    summary = table.groupby(["split", "label"]).size().unstack(fill_value=0)
    print(summary.to_string())
    print(f"{table['split_group'].nunique()} split groups; largest "
          f"{table['split_group'].value_counts().max()} crops -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
