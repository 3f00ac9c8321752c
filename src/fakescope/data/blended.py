"""Training crops with self-blended fakes made on the fly (SBI; Shiohara & Yamasaki, CVPR 2022).

Two protocols, one dataset:

- ``mix``: the crop table as it is (real and real-world fakes), with a share `fake_fraction`
  of the fake slots filled by a self-blend of a random real crop instead — the detector sees
  both the DFDC manipulations and the generic blending traces every face swap leaves;
- ``only``: real crops only, each epoch every real once as itself (label 0) and once
  self-blended (label 1) — the SBI protocol, which never sees a real-world fake in training
  and so measures generalisation to manipulations it has never seen. With ``pairs`` (SBI's
  batches) item i is the pair (real i, its self-blend), both through the same JPEG and
  augmentation draw, so the only difference the network can learn within a pair is the blend.

Per sample: native-resolution crop → (self-blend, at native resolution, with its 68 dlib
landmarks) → JPEG 40–100 at native resolution on both classes (before any resize, as an
upload would be compressed) → resize → the usual augmentation → normalise. Every random draw
comes from ``(seed, epoch, index)``, so an epoch is reproducible and resumable.

With `source_sides` (the face's side in its source video; 91 % of the shared DFDC crops were
upscaled from a smaller face, median 155 px) the blend is made on a copy brought down to that
side and only its change is brought back up and added to the crop: a real-world swap of a small
face was made at that face's resolution, so what it changed cannot be sharper than the
upscaling, while a blend made on the upscaled crop can be. Pixels the blend did not change, and
the real partner, stay exactly as decoded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from fakescope.data.datasets import ImageStore, Transform, _labels, resize_square, to_tensor
from fakescope.data.synth import SelfBlendConfig, self_blend

MODES = ("none", "mix", "only")


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip an RGB uint8 image through JPEG at `quality`."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a crop")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def blend_slot(index: int, mode: str, labels: np.ndarray, donors: np.ndarray,
               fake_fraction: float, rng: np.random.Generator) -> tuple[int, bool]:
    """Which item slot `index` serves and whether it is self-blended: ``only`` serves each
    item as itself, then each again blended; ``mix`` fills a share `fake_fraction` of the fake
    slots with a blend of a random real donor."""
    if mode == "only":
        return index % len(labels), index >= len(labels)
    if labels[index] == 1 and rng.random() < fake_fraction:
        return int(donors[rng.integers(len(donors))]), True
    return index, False


class SelfBlendCropDataset(Dataset):
    """``(image (3, S, S) float32, label float32)`` with self-blended fakes (see module doc).

    items: ``path, label`` rows. landmarks: (N, 68, 2) per row in the crop's native pixels
    (NaN rows are never blended). native_size: crops are decoded (and preloaded) at this side
    before blending. size: the model's input side. pairs (``only``): each item is a
    (real, blend) pair, batched by `collate_fn`. synth: how the blends are made.
    """

    def __init__(
        self,
        items: pd.DataFrame,
        landmarks: np.ndarray,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        mode: str = "mix",
        fake_fraction: float = 0.5,
        jpeg_quality: tuple[int, int] = (40, 100),
        jpeg_prob: float = 0.5,
        native_size: int = 224,
        seed: int = 0,
        transform: Transform | None = None,
        preload: bool = True,
        cache_dir: str | os.PathLike | None = None,
        pairs: bool = False,
        synth: SelfBlendConfig = SelfBlendConfig(),
        source_sides: np.ndarray | None = None,
        min_source_side: int = 64,
    ) -> None:
        if mode not in ("mix", "only"):
            raise ValueError(f"mode must be 'mix' or 'only', got {mode!r}")
        if pairs and mode != "only":
            raise ValueError("pairs needs mode 'only' (a real crop and its own self-blend)")
        items = items.reset_index(drop=True)
        landmarks = np.asarray(landmarks, dtype=np.float32)
        if landmarks.shape != (len(items), 68, 2):
            raise ValueError(f"landmarks must be ({len(items)}, 68, 2), got {landmarks.shape}")
        labels = _labels(items, "label", "SelfBlendCropDataset")
        if source_sides is not None:
            source_sides = np.asarray(source_sides, dtype=np.float32)
            if source_sides.shape != (len(items),):
                raise ValueError(f"source_sides must be ({len(items)},), got {source_sides.shape}")
        # Landmarks are in native pixels of the file; crops are decoded at native_size.
        usable = np.isfinite(landmarks).all(axis=(1, 2)) & (labels == 0)
        if mode == "only":
            keep = np.flatnonzero(usable)
            items, landmarks, labels = items.iloc[keep].reset_index(drop=True), landmarks[keep], labels[keep]
            source_sides = source_sides[keep] if source_sides is not None else None
            usable = np.ones(len(items), dtype=bool)
        self.items, self.landmarks, self.base_labels = items, landmarks, labels
        self.donors = np.flatnonzero(usable)  # reals that may be self-blended
        if len(self.donors) == 0:
            raise ValueError("no real crop with landmarks: nothing can be self-blended")
        self.mode, self.fake_fraction = mode, float(fake_fraction)
        self.jpeg_quality, self.jpeg_prob = (int(jpeg_quality[0]), int(jpeg_quality[1])), float(jpeg_prob)
        self.size, self.native_size = int(size), int(native_size)
        self.mean, self.std = mean, std
        self.transform = transform
        self.pairs, self.synth = bool(pairs), synth
        self.source_sides, self.min_source_side = source_sides, int(min_source_side)
        self.collate_fn = pair_collate if self.pairs else None
        self.seed, self.epoch = int(seed), 0
        self.store = ImageStore(items["path"].tolist(), native_size, preload, cache_dir)

    def set_epoch(self, epoch: int) -> None:
        """New self-blends and JPEG draws each epoch (the trainer calls this)."""
        self.epoch = int(epoch)

    @property
    def labels(self) -> np.ndarray:
        """Labels as served when no slot is replaced (``only``: reals then their blends;
        ``pairs``: the label of each pair's first crop, a real)."""
        if self.mode == "only" and not self.pairs:
            return np.concatenate([self.base_labels, np.ones_like(self.base_labels)])
        return self.base_labels

    def __len__(self) -> int:
        return 2 * len(self.items) if self.mode == "only" and not self.pairs else len(self.items)

    def sample(self, index: int) -> tuple[np.ndarray, int, np.ndarray | None]:
        """(uint8 crop at native size before augmentation, label, blend mask or None)."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        i, blend = blend_slot(index, self.mode, self.base_labels, self.donors,
                              self.fake_fraction, rng)
        img = self.store[i]  # decoded at native_size
        mask = None
        label = int(self.base_labels[i])
        if blend:
            img, mask = self._blend_at_source_side(img, i, rng)
            label = 1
        if rng.random() < self.jpeg_prob:
            img = jpeg(img, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        return img, label, mask

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(real crop, its self-blend), uint8 at native size, one JPEG draw for both."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        real = self.store[index]
        fake, _ = self._blend_at_source_side(real, index, rng)
        if rng.random() < self.jpeg_prob:
            q = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            real, fake = jpeg(real, q), jpeg(fake, q)
        return real, fake

    def _blend_at_source_side(self, img: np.ndarray, i: int,
                              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`_blend` made at the face's side in its source video (not below `min_source_side`):
        the blend's change, upscaled, added to the crop. As `_blend` when that side is unknown
        or not smaller than the crop."""
        side = self.source_sides[i] if self.source_sides is not None else np.nan
        if not np.isfinite(side):
            return self._blend(img, i, rng)
        side = max(self.min_source_side, int(round(float(side))))
        if side >= img.shape[0]:
            return self._blend(img, i, rng)
        small = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
        fake, mask = self._blend(small, i, rng)
        h, w = img.shape[:2]
        change = (cv2.resize(fake.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
                  - cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR))
        out = np.clip(np.rint(img.astype(np.float32) + change), 0, 255).astype(np.uint8)
        return out, cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)

    def _blend(self, img: np.ndarray, i: int, rng: np.random.Generator,
               tries: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """A self-blend of crop `i` (at the side of `img`: landmarks are scaled to it); a draw
        whose mask comes out empty (an extreme elastic deformation or blur of a small hull) is
        drawn again rather than ending the epoch."""
        points = self.landmarks[i] * (img.shape[0] / self.native_size)
        for attempt in range(tries):
            try:
                return self_blend(img, points, rng, self.synth)
            except ValueError as exc:
                if attempt == tries - 1:
                    raise ValueError(f"{self.items['path'][i]}: no usable self-blend in {tries} "
                                     f"draws ({exc})") from exc
        raise AssertionError("unreachable")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pairs:
            return self._pair_tensors(index)
        img, label, _ = self.sample(index)
        img = resize_square(img, self.size)
        if self.transform is not None:
            img = self.transform(image=img)["image"]
        return to_tensor(img, self.mean, self.std), torch.tensor(float(label))

    def _pair_tensors(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        real, fake = (resize_square(im, self.size) for im in self.pair(index))
        if self.transform is not None:
            if "image1" not in self.transform.additional_targets:
                self.transform.add_targets({"image1": "image"})
            out = self.transform(image=real, image1=fake)
            real, fake = out["image"], out["image1"]
        x = torch.stack([to_tensor(real, self.mean, self.std), to_tensor(fake, self.mean, self.std)])
        return x, torch.tensor([0.0, 1.0])


def pair_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch of (real, blend) pairs → (2B, 3, S, S) images and (2B,) labels, as SBI batches."""
    return torch.cat([x for x, _ in batch]), torch.cat([y for _, y in batch])
