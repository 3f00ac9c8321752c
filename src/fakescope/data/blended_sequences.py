"""Self-blended fake *sequences* from real tracks: the sequence counterpart of
`data.blended` for sequence / clip detectors, which otherwise have very few fake videos to
learn from.

Temporal consistency: a real face swap is one face pasted on every frame, with one colour
mismatch and one mask that follows the face. So one draw of blend parameters (colour jitter,
frequency change, shift, mask deformation, blur, blend ratio: one seed) serves all F frames,
the mask follows each frame's landmarks after they are smoothed over the sequence (so the
mask does not jitter more than the face does), and one JPEG quality applies to the whole
sequence. Random draws come from ``(seed, epoch, index)``: reproducible and resumable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from fakescope.data.blended import MODES, blend_slot, jpeg
from fakescope.data.datasets import ImageStore, Transform, _labels, resize_square, to_tensor
from fakescope.data.synth import self_blend


def smooth_track(points: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """(F, K, 2) landmarks averaged with their neighbours in the sequence (Gaussian weights,
    `sigma` frames); sigma 0: unchanged."""
    if sigma <= 0 or len(points) < 2:
        return points
    t = np.arange(len(points), dtype=np.float64)
    w = np.exp(-0.5 * ((t[:, None] - t[None, :]) / sigma) ** 2)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("ij,jkd->ikd", w, points.astype(np.float64)).astype(np.float32)


def blend_sequence(frames: np.ndarray, landmarks: np.ndarray, seed: int,
                   sigma: float = 1.0) -> np.ndarray:
    """(F, H, W, 3) uint8 real frames of one track → their self-blend with one set of blend
    parameters (`seed`) and a mask on the smoothed landmarks (F, 68, 2)."""
    points = smooth_track(landmarks, sigma)
    return np.stack([self_blend(f, p, rng=seed)[0] for f, p in zip(frames, points, strict=True)])


class SelfBlendSequenceDataset(Dataset):
    """``(frames (F, 3, S, S) float32, label float32)`` with self-blended fake sequences.

    sequences: rows with ``paths`` (F crops of one track) and ``label``
    (`data.datasets.item_sequences`). landmarks: path → (68, 2) in the crop's native pixels
    (a real sequence with any crop missing from it is never blended). mode: ``mix`` or
    ``only`` as in `data.blended`.
    """

    def __init__(
        self,
        sequences: pd.DataFrame,
        landmarks: dict[str, np.ndarray],
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        mode: str = "only",
        fake_fraction: float = 0.5,
        jpeg_quality: tuple[int, int] = (40, 100),
        jpeg_prob: float = 0.5,
        native_size: int = 224,
        seed: int = 0,
        transform: Transform | None = None,
        preload: bool = True,
        cache_dir: str | os.PathLike | None = None,
        tries: int = 3,
    ) -> None:
        if mode not in MODES[1:]:
            raise ValueError(f"mode must be 'mix' or 'only', got {mode!r}")
        seqs = sequences.reset_index(drop=True)
        labels = _labels(seqs, "label", "SelfBlendSequenceDataset")

        def usable(ps) -> bool:
            return all(p in landmarks and np.isfinite(landmarks[p]).all() for p in ps)

        ok = np.array([lab == 0 and usable(ps) for lab, ps in zip(labels, seqs["paths"])], bool)
        if mode == "only":
            keep = np.flatnonzero(ok)
            seqs, labels, ok = seqs.iloc[keep].reset_index(drop=True), labels[keep], ok[keep]
        self.items, self.base_labels = seqs, labels
        self.donors = np.flatnonzero(ok)
        if len(self.donors) == 0:
            raise ValueError("no real sequence with landmarks on every crop: nothing to blend")
        self.landmarks = landmarks
        self.mode, self.fake_fraction = mode, float(fake_fraction)
        self.jpeg_quality, self.jpeg_prob = tuple(int(q) for q in jpeg_quality), float(jpeg_prob)
        self.size, self.mean, self.std = int(size), mean, std
        self.transform, self.tries = transform, int(tries)
        self.seed, self.epoch = int(seed), 0
        unique = list(dict.fromkeys(p for ps in seqs["paths"] for p in ps))
        pos = {p: i for i, p in enumerate(unique)}
        self.index = [np.array([pos[p] for p in ps]) for ps in seqs["paths"]]
        self.store = ImageStore(unique, native_size, preload, cache_dir)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def labels(self) -> np.ndarray:
        if self.mode == "only":
            return np.concatenate([self.base_labels, np.ones_like(self.base_labels)])
        return self.base_labels

    def __len__(self) -> int:
        return 2 * len(self.items) if self.mode == "only" else len(self.items)

    @property
    def videos(self) -> np.ndarray:
        """The video of each served slot (for one-sequence-per-video epochs); the blends of a
        real video count as a video of their own (they carry the other label)."""
        v = self.items["video"].astype(str).to_numpy()
        return np.concatenate([v, [f"{x}#blend" for x in v]]) if self.mode == "only" else v

    def sample(self, index: int) -> tuple[np.ndarray, int]:
        """(uint8 frames (F, s, s, 3) at native size before augmentation, label)."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        i, blend = blend_slot(index, self.mode, self.base_labels, self.donors,
                              self.fake_fraction, rng)
        frames = np.stack([self.store[j] for j in self.index[i]])
        label = int(self.base_labels[i])
        if blend:
            points = np.stack([self.landmarks[p] for p in self.items["paths"][i]])
            for attempt in range(self.tries):
                try:
                    frames = blend_sequence(frames, points, int(rng.integers(2**31 - 1)))
                    break
                except ValueError as exc:
                    if attempt == self.tries - 1:
                        raise ValueError(f"sequence {i}: no usable self-blend in {self.tries} "
                                         f"draws ({exc})") from exc
            label = 1
        if rng.random() < self.jpeg_prob:
            q = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            frames = np.stack([jpeg(f, q) for f in frames])
        return frames, label

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        frames, label = self.sample(index)
        frames = np.stack([resize_square(f, self.size) for f in frames])
        if self.transform is not None:  # one draw for the whole sequence
            frames = np.asarray(self.transform(images=frames)["images"])
        return to_tensor(frames, self.mean, self.std), torch.tensor(float(label))
