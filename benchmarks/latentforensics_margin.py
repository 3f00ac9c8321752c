"""How far to zoom the FFHQ template in so an aligned face fits inside a tight DFDC crop.

For N random crops of the split table: dlib's 68 landmarks (fakescope.data.landmarks, fixed
rectangle), their 5 FFHQ points, and for each margin (with the shift that keeps the template's
eyes-mouth midpoint centred, `align.centring_shift`) the share of the aligned 256 px square
that falls outside the crop. Prints, per margin, the median and 90th percentile share.

  PYTHONPATH=src python benchmarks/latentforensics_margin.py --n 300 --seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.data.datasets import read_image_rgb
from fakescope.data.landmarks import CropLandmarker
from fakescope.families.latentforensics.align import (
    ALIGNED_SIZE,
    centring_shift,
    five_from_68,
    outside_fraction,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table", default=str(ROOT / "docs/splits/dfdc_faces_split.csv"))
    ap.add_argument("--images", default=str(ROOT.parent / "shared/data/dfdc_faces/faces_224"))
    args = ap.parse_args()
    df = pd.read_csv(args.table).sample(args.n, random_state=args.seed)
    marker = CropLandmarker("fixed")
    margins = [0.0, -0.2, -0.3, -0.35, -0.4, -0.45, -0.5, -0.55, -0.6]
    fr = {m: [] for m in margins}
    for p in df["path"]:
        img = read_image_rgb(Path(args.images) / p)
        five = five_from_68(marker.landmarks(img))
        for m in margins:
            fr[m].append(outside_fraction(five, img.shape[:2], ALIGNED_SIZE, m, centring_shift(m)))
    print(f"{args.n} crops (seed {args.seed}): share of the aligned square outside the crop")
    for m in margins:
        a = np.asarray(fr[m])
        print(f"margin {m:+.2f} shift_y {centring_shift(m):.3f}: median {np.median(a):.3f}  p90 {np.quantile(a, 0.9):.3f}  "
              f"share of crops with <1% outside {np.mean(a < 0.01):.2f}")


if __name__ == "__main__":
    main()
