"""Split the real files of several sources into calibration and evaluation halves by person.

The verdict's operating points (`fakescope calibrate`) are read off real *files* of other
footage than DFDC; a figure about false alarms is only worth something on files, and people,
the calibration never saw. This writes ``docs/splits/calibration_split.csv``
(``set, path, label, source, group, split``):

- ``wild_dev`` (all 140 videos) and the shared ``videos`` not set aside for training
  (``docs/splits/shared_videos_split.csv``): videos are grouped by person (dlib descriptors of
  each face track, `data.video_persons`, at 0.5 as `data.identity` clusters crops: at 0.6 look-alikes
  chain 137 of the 183 videos into one group), by DeepFaceLive celebrity folder (a swap, its
  original and every clip of that model), by DFD actor id, and by repository for the other
  tools (a tool's inputs and its outputs); whole groups go to ``calibration`` or ``eval``,
  largest first (ties by their names' sha1), each to the side that has fewer real videos of
  its set so far, so that each set's reals are about halved (a person's whole footage moves
  with them, so single sources can fall mostly on one side: the counts are printed). DFDC clips and every fake of the shared videos stay ``eval`` (the shared-video
  AUC is measured on them), with their groups.
- ``real_faces`` photos: grouped by the dataset's ``person`` column joined with dlib identity
  clusters (`data.identity`), then 60 % of the groups ``train``, 20 % ``calibration``, 20 %
  ``eval`` by the same sha1 rule. DFDC crops keep ``docs/splits/dfdc_faces_split.csv``
  (its ``val`` part calibrates images, its ``test`` part evaluates).

    .venv/bin/python scripts/make_calibration_split.py --shared ../shared/data \
        --out docs/splits/calibration_split.csv --cache cache/calibration_split
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import pickle
import re
from pathlib import Path

import pandas as pd

from fakescope.data.video_persons import person_groups, track_descriptors
from fakescope.output.atomic import atomic_write_bytes, atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SAME_PERSON = 0.5  # dlib descriptor distance between two tracks' crops (median)


def _sha(names) -> str:
    return hashlib.sha1("\n".join(sorted(names)).encode()).hexdigest()


def video_table(shared: Path) -> pd.DataFrame:
    wild = pd.read_csv(shared / "wild_dev" / "labels.csv")
    wild = wild.assign(set="wild_dev", source=wild["method"])
    vids = pd.read_csv(shared / "videos" / "labels.csv")
    split = pd.read_csv(REPO / "docs" / "splits" / "shared_videos_split.csv")
    vids = vids.merge(split[["path", "split"]], on="path")
    vids = vids[vids["split"] == "eval"].assign(set="videos")
    cols = ["set", "path", "label", "source"]
    return pd.concat([wild[cols], vids[cols]], ignore_index=True)


def known_links(table: pd.DataFrame) -> list[tuple[str, str]]:
    """Videos that must share a side whoever is in them."""
    key = {}
    for row in table.itertuples():
        p = row.path
        if row.set == "wild_dev":
            m = re.match(r"(iperov\+DeepFaceLive/doc/celebs/[^/]+)/", p)
            key[f"{row.set}:{p}"] = m.group(1) if m else p.split("/")[0]
        elif p.startswith("dfd/"):
            key[f"{row.set}:{p}"] = "dfd-actor-" + Path(p).name.split("__")[0]
    by_key: dict[str, list[str]] = {}
    for name, k in key.items():
        by_key.setdefault(k, []).append(name)
    return [(v[0], other) for v in by_key.values() for other in v[1:]]


def split_videos(table: pd.DataFrame, groups: dict[str, str]) -> pd.Series:
    names = table["set"] + ":" + table["path"]
    table = table.assign(name=names, group=names.map(groups))
    forced = set(table.loc[(table["set"] == "videos") & ((table["label"] == "FAKE") |
                           (table["source"] == "DFDC")), "group"])
    side: dict[str, str] = {g: "eval" for g in forced}
    reals = {"calibration": {}, "eval": {}}
    members = table.groupby("group")["name"].apply(list)
    n_reals = table.groupby("group")["label"].apply(lambda s: int((s == "REAL").sum()))
    # balanced per set (wild_dev, videos): that of the group's first real video (else first)
    order = sorted(members.index, key=lambda g: (-n_reals[g], _sha(members[g])))
    for g in order:
        part = table[table["group"] == g]
        first = part[part["label"] == "REAL"].head(1)
        src = (first if len(first) else part.head(1))["set"].item()
        n_real = int((part["label"] == "REAL").sum())
        if g not in side:
            cal, ev = reals["calibration"].get(src, 0), reals["eval"].get(src, 0)
            side[g] = "calibration" if cal < ev else "eval" if ev < cal else (
                "calibration" if int(_sha(members[g]), 16) % 2 else "eval")
        reals[side[g]][src] = reals[side[g]].get(src, 0) + n_real
    return table["group"].map(side), table["group"]


def photo_table(shared: Path, cache: Path) -> pd.DataFrame:
    from fakescope.data.identity import assign_identities

    root = shared / "real_faces"
    df = pd.read_csv(root / "labels.csv")
    df["file"] = [str(root / p) for p in df["path"]]
    ids = assign_identities(df, path_col="file", cache_path=cache / "real_faces_desc.parquet",
                            rect="detect")
    from fakescope.data.video_persons import UnionFind

    uf = UnionFind(df["path"])
    for key in ("person", "identity"):
        for _, part in ids.dropna(subset=[key]).groupby(key):
            first = part["path"].iloc[0]
            for other in part["path"].iloc[1:]:
                uf.union(first, other)
    group = df["path"].map(uf.find)
    members = df.groupby(group)["path"].apply(list)
    ranked = sorted(members.index, key=lambda g: _sha(members[g]))
    side, n = {}, 0
    for g in ranked:  # 60 / 20 / 20 by photo count, in sha1 order
        share = n / len(df)
        side[g] = "train" if share < 0.6 else "calibration" if share < 0.8 else "eval"
        n += len(members[g])
    return pd.DataFrame({"set": "real_faces", "path": df["path"], "label": "REAL",
                         "source": df["dataset"], "group": "real_faces:" + group,
                         "split": group.map(side)})


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "docs" / "splits" / "calibration_split.csv"))
    ap.add_argument("--cache", default=str(REPO / "cache" / "calibration_split"))
    args = ap.parse_args(argv)
    shared, cache = Path(args.shared), Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    videos = video_table(shared)
    desc_file = cache / "video_tracks.pkl"
    desc = pickle.loads(desc_file.read_bytes()) if desc_file.is_file() else {}
    todo = [(s, p) for s, p in zip(videos["set"], videos["path"]) if f"{s}:{p}" not in desc]
    for s, p in todo:
        desc[f"{s}:{p}"] = track_descriptors([shared / s / p])[str(shared / s / p)]
        atomic_write_bytes(desc_file, pickle.dumps(desc))
    groups = person_groups(desc, known_links(videos), limit=SAME_PERSON)
    videos["split"], videos["group"] = split_videos(videos, groups)
    photos = photo_table(shared, cache)
    out = pd.concat([videos, photos], ignore_index=True)[
        ["set", "path", "label", "source", "group", "split"]]
    atomic_write_text(Path(args.out), out.to_csv(index=False))
    print(out.groupby(["set", "split", "label"]).size().to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
