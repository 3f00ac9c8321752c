"""Cut the extra real faces the diverse-reals recipe trains on, and write their item table.

Inputs (all REAL, all training-only): the `real_faces` photos of the person groups that
docs/splits/calibration_split.csv puts in ``train``, and the shared real videos that
docs/splits/shared_videos_split.csv sets aside for training (24 frames each). Faces are cut
with the scan's own face stage (`fakescope extract`, BlazeFace, dfdc_tight framing, 224 px,
PNG so that no second JPEG step marks the reals), the largest face per frame.

    .venv/bin/python scripts/make_extra_reals.py --out cache/extra_reals

Writes OUT/table.csv (``path,label,group``; paths relative to OUT) for ``data.extra_train``;
a re-run resumes the extraction.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

from fakescope.cli.main import main as fakescope
from fakescope.output.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]


def inputs(shared: Path) -> pd.DataFrame:
    split = pd.read_csv(REPO / "docs" / "splits" / "calibration_split.csv")
    photos = split[(split["set"] == "real_faces") & (split["split"] == "train")]
    videos = pd.read_csv(REPO / "docs" / "splits" / "shared_videos_split.csv")
    videos = videos[(videos["split"] == "train") & (videos["label"] == "REAL")]
    return pd.concat([
        pd.DataFrame({"path": [str(shared / "real_faces" / p) for p in photos["path"]],
                      "label": "REAL", "group": photos["group"].to_numpy()}),
        pd.DataFrame({"path": [str(shared / "videos" / p) for p in videos["path"]],
                      "label": "REAL", "group": "videos:" + videos["path"]}),
    ], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "cache" / "extra_reals"))
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    table = inputs(Path(args.shared).resolve())
    atomic_write_text(out / "inputs.csv", table.to_csv(index=False))
    code = fakescope(["extract", "--out", str(out), "--layout", "csv", "--sampling", "uniform:24",
                      "--detector", "blazeface", "--crop-size", "224", "--crop-preset",
                      "dfdc_tight", "--policy", "largest", "--format", "png",
                      "--manifest-format", "csv", "--no-progress", str(out / "inputs.csv")])
    if code not in (0, 2):  # 2: some inputs had no face, which the manifest records
        return code
    m = pd.read_csv(out / "manifest.csv")
    m = m[(m["status"] == "ok") & m["crop"].notna() & ~m["fallback"].astype(bool)]
    rows = pd.DataFrame({"path": [os.path.relpath((out / p).resolve() if not Path(p).is_absolute()
                                                  else p, out) for p in m["crop"]],
                         "label": "REAL", "group": m["group"].to_numpy()})
    atomic_write_text(out / "table.csv", rows.to_csv(index=False))
    print(f"{out / 'table.csv'}: {len(rows)} crops of {rows['group'].nunique()} groups "
          f"from {len(table)} inputs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
