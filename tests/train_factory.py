"""A tiny, learnable crop dataset and a tiny training config for trainer / CLI tests.

Plain functions (call them with a folder under ``tmp_path``). "Fakes" carry a 2-pixel
checkerboard over the central region — a high-frequency blending artefact a small CNN picks up
within a few epochs — on top of the same smooth random backgrounds as the "reals". Images are
written at the training size, so no resize blurs the artefact away.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

SIZE = 32
TINY_MODEL = {"widths": [8, 8, 8, 8], "stem_width": 8, "expand": 2}


def write_crops(folder: Path, n_train: int = 24, n_val: int = 12, n_test: int = 0,
                seed: int = 0, size: int = SIZE) -> Path:
    """PNG crops + ``table.csv`` (path relative to the table, label, group, video, split).
    Labels alternate, so every split holds both classes. Returns the table path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    checker = ((yy // 2 + xx // 2) % 2 == 0)
    centre = (abs(yy - size / 2) < size / 3) & (abs(xx - size / 2) < size / 3)
    rows = []
    splits = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    for i, split in enumerate(splits):
        label = i % 2
        corners = rng.uniform(40, 215, size=(2, 2, 3)).astype(np.float32)
        img = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
        img = img + rng.normal(0, 6, img.shape)
        if label:
            img[checker & centre] *= 0.6
        img = np.clip(img, 0, 255).astype(np.uint8)
        name = f"{split}_{i:03d}.png"
        cv2.imwrite(str(folder / name), img[..., ::-1])
        rows.append({"path": name, "label": label, "group": f"src{i}", "video": f"vid{i}",
                     "split": split})
    table = folder / "table.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def tiny_overrides(table: Path, out_dir: Path, extra: dict | None = None) -> list[str]:
    """``--set`` style overrides for a few-second run of the tiny model on `table`."""
    values = {
        "data.table": str(table),
        "data.image_size": SIZE,
        "model.kwargs": "{widths: [8, 8, 8, 8], stem_width: 8, expand: 2}",
        "epochs": 3,
        "batch_size": 8,
        "schedule.t0_epochs": 1,
        "out_dir": str(out_dir),
        "export.threshold_method": "youden",
        "device": "cpu",  # bit-for-bit checks; CUDA has its own test
        "threads": 1,  # OpenMP threads spin badly when the CPU is shared
    }
    values.update(extra or {})
    return [f"{k}={'null' if v is None else v}" for k, v in values.items()]
