"""Epoch samplers: one random item per video (seed 003 §3.1 "stratified epoch") and class
balancing. Deterministic under a seed; call ``set_epoch`` (or just iterate again) for a new
draw each epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler, WeightedRandomSampler


class StratifiedVideoSampler(Sampler[int]):
    """Each epoch yields one random item index per video, in random video order.

    Inter-video variation is larger than intra-video variation, so drawing one sequence (or
    crop) from every video per epoch gives diverse mini-batches without near-duplicates from
    one video. With `class_balance` the videos of the smaller class are drawn again (with a
    fresh random item each time) until both classes contribute as many videos per epoch.
    """

    def __init__(
        self,
        videos: Sequence[object],
        labels: Sequence[int] | None = None,
        class_balance: bool = False,
        seed: int = 0,
    ) -> None:
        keys = np.asarray(list(videos), dtype=object)
        if len(keys) == 0:
            raise ValueError("StratifiedVideoSampler needs at least one item")
        _, inverse = np.unique(keys.astype(str), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        self.members = np.split(order, bounds)  # item indices per video
        self.video_labels: np.ndarray | None = None
        if class_balance:
            if labels is None:
                raise ValueError("class_balance needs labels")
            lab = np.asarray(labels)
            self.video_labels = np.array([lab[m[0]] for m in self.members])
            for m, v in zip(self.members, self.video_labels):
                if (lab[m] != v).any():
                    raise ValueError("a video has items with different labels")
            if len(np.unique(self.video_labels)) < 2:
                raise ValueError("class_balance needs videos of both classes")
        self.seed = seed
        self.epoch = 0
        self._explicit_epoch = False

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._explicit_epoch = True

    def _videos_for_epoch(self, rng: np.random.Generator) -> np.ndarray:
        n = len(self.members)
        if self.video_labels is None:
            return rng.permutation(n)
        classes, counts = np.unique(self.video_labels, return_counts=True)
        target = counts.max()
        chosen = []
        for c in classes:
            vids = np.flatnonzero(self.video_labels == c)
            extra = rng.choice(vids, target - len(vids), replace=True) if len(vids) < target else []
            chosen.append(np.concatenate([vids, extra]).astype(int))
        return rng.permutation(np.concatenate(chosen))

    def __len__(self) -> int:
        if self.video_labels is None:
            return len(self.members)
        return int(np.unique(self.video_labels, return_counts=True)[1].max() * 2)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        if not self._explicit_epoch:
            self.epoch += 1
        for v in self._videos_for_epoch(rng):
            m = self.members[v]
            yield int(m[rng.integers(len(m))])


class ClassBalancedSampler(Sampler[int]):
    """Draws items with probability inversely proportional to their class frequency, so each
    epoch sees both classes about equally often (torch's WeightedRandomSampler, seeded)."""

    def __init__(
        self,
        labels: Sequence[int],
        num_samples: int | None = None,
        replacement: bool = True,
        seed: int = 0,
    ) -> None:
        lab = np.asarray(labels)
        classes, inverse, counts = np.unique(lab, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise ValueError("ClassBalancedSampler needs items of at least two classes")
        self.weights = torch.as_tensor(1.0 / counts[inverse], dtype=torch.double)
        self.num_samples = int(num_samples or len(lab))
        self.replacement = replacement
        self.seed = seed
        self.epoch = 0
        self._explicit_epoch = False

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._explicit_epoch = True

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if not self._explicit_epoch:
            self.epoch += 1
        inner = WeightedRandomSampler(self.weights, self.num_samples, self.replacement, generator=g)
        return iter(inner)
