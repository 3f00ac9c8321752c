"""Seed 000 Fig. 4: faces reconstructed from each projector's code, with the mean perceptual
distance to the original (MobileNetV2 features, `latentforensics.perceptual`, in place of
LPIPS-VGG) over N test faces, 95 % bootstrap interval over `split_group` clusters.

The committed figure shows the scikit-image astronaut (public domain), aligned by the scan
pipeline (MTCNN landmarks, preset ffhq_tight), so that no DFDC face is published; the same
figure with a real and a fake DFDC test face is written to --out-dfdc (not committed).

  PYTHONPATH=src python benchmarks/latentforensics_recon.py runs/lf_pca32 runs/lf_vqvae \
      --n 250 --fig docs/images/latentforensics_recon.png --out-dfdc runs/recon_dfdc.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fakescope.detectors.sk_bundle import safe_loads
from fakescope.evaluate.bootstrap import bootstrap_ci
from fakescope.evaluate.predict import read_item_table
from fakescope.families.latentforensics.align import ALIGNED_SIZE, CROP_PRESET
from fakescope.families.latentforensics.data import load_faces
from fakescope.families.latentforensics.perceptual import PerceptualDistance
from fakescope.families.latentforensics.projectors import projector_from_state

SIDE = 128  # the perceptual distance compares faces at this side


def _tensor(faces: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(resize_up(faces, SIDE))).permute(0, 3, 1, 2).float() / 127.5 - 1


def resize_up(faces: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA if f.shape[0] > side
                                else cv2.INTER_LINEAR) for f in faces])


def astronaut_face() -> np.ndarray:
    from skimage import data

    from fakescope.faces import FacePipeline, create_face_detector

    pipe = FacePipeline.from_spec(create_face_detector("mtcnn"), CROP_PRESET, crop_size=ALIGNED_SIZE)
    img = data.astronaut()
    det = max(pipe.detect([img])[0], key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return pipe.crop(img, det)


def figure(rows: list[tuple[str, np.ndarray]], projs, dists: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1 + len(projs), figsize=(2.2 * (1 + len(projs)), 2.4 * len(rows)),
                             squeeze=False)
    for r, (label, face) in enumerate(rows):
        axes[r, 0].imshow(face)
        axes[r, 0].set_title(f"{label}: original", fontsize=8)
        for c, (name, proj) in enumerate(projs.items(), start=1):
            rec = proj.reconstruct(face[None])[0]
            axes[r, c].imshow(resize_up(rec[None], ALIGNED_SIZE)[0])
            axes[r, c].set_title(f"{name} ({proj.resolution} px)\nd = {dists[name]}", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fig", type=Path, required=True)
    ap.add_argument("--out-dfdc", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    projs = {}
    for run in args.runs:
        for f in sorted(run.glob("projector_*.skops")):
            p = projector_from_state(safe_loads(f.read_bytes(), f))
            projs[p.kind.upper()] = p
        table = read_item_table(run / "aligned" / "aligned.csv")
    test = table[table["split"] == "test"]
    test = test.groupby("label", group_keys=False).sample(args.n // 2, random_state=args.seed)
    faces = load_faces(test["path"].tolist(), ALIGNED_SIZE)
    dist = PerceptualDistance()
    out, cells = {}, {}
    with torch.no_grad():
        for name, p in projs.items():
            rec = np.concatenate([p.reconstruct(faces[i : i + 50]) for i in range(0, len(faces), 50)])
            d = np.concatenate([dist(_tensor(rec[i : i + 50]), _tensor(faces[i : i + 50])).numpy()
                                for i in range(0, len(faces), 50)])
            ci = bootstrap_ci(lambda y, s: {"mean": float(np.mean(s))}, test["label"].to_numpy(), d,
                              groups=test["split_group"].astype(str).to_numpy(), seed=args.seed)["mean"]
            mse = float(np.mean(p.reconstruction_error(faces)))
            out[name] = {"perceptual_mean": float(d.mean()), "ci": [ci.low, ci.high],
                         "mse_at_projector_resolution": mse, "resolution": p.resolution,
                         "by_label": {int(k): float(d[test["label"].to_numpy() == k].mean()) for k in (0, 1)}}
            cells[name] = f"{d.mean():.3f} [{ci.low:.3f}, {ci.high:.3f}]"
    print(json.dumps({"n": len(faces), "side": SIDE, "projectors": out}, indent=2))
    figure([("astronaut", astronaut_face())], projs, cells, args.fig)
    if args.out_dfdc:
        real = faces[test["label"].to_numpy() == 0][0]
        fake = faces[test["label"].to_numpy() == 1][0]
        figure([("real", real), ("fake", fake)], projs, cells, args.out_dfdc)


if __name__ == "__main__":
    main()
