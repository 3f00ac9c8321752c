"""Projectors: an aligned face → a low-dimensional code (seed 000 §3.2), behind one
scikit-learn-style interface (`fit` on batches of real faces, `transform`, `reconstruct`) and a
`state()` of primitives and numpy arrays that travels in the detector's skops bundle.

`pca` is here; `vqvae` (projectors over a network trained here) lives in `vqvae.py` and
registers itself in `PROJECTORS` the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.decomposition import IncrementalPCA

PROJECTORS: dict[str, type[Projector]] = {}


def register_projector(cls: type[Projector]) -> type[Projector]:
    PROJECTORS[cls.kind] = cls
    return cls


def resize_faces(faces: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 (N, S, S, 3) → uint8 (N, r, r, 3); INTER_AREA, so shrinking does not alias."""
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[-1] != 3 or faces.dtype != np.uint8:
        raise ValueError(f"expected uint8 faces (N, S, S, 3), got {faces.dtype} {faces.shape}")
    if faces.shape[1:3] == (resolution, resolution):
        return faces
    out = np.empty((len(faces), resolution, resolution, 3), np.uint8)
    for i, f in enumerate(faces):
        out[i] = cv2.resize(f, (resolution, resolution), interpolation=cv2.INTER_AREA)
    return out


def to_vectors(faces: np.ndarray, resolution: int) -> np.ndarray:
    """Faces as float32 rows in [0, 1] at `resolution` (the projector's input space)."""
    small = resize_faces(faces, resolution)
    return small.reshape(len(small), -1).astype(np.float32) / 255.0


def from_vectors(x: np.ndarray, resolution: int) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).reshape(-1, resolution, resolution, 3)


class Projector(ABC):
    """Face → code. Faces are uint8 (N, S, S, 3) aligned crops; codes float32 (N, d)."""

    kind: ClassVar[str]

    @abstractmethod
    def fit(self, batches: Iterable[np.ndarray]) -> Projector:
        """Fit on batches of real faces (an iterable, so memory stays bounded)."""

    @abstractmethod
    def transform(self, faces: np.ndarray) -> np.ndarray:
        ...

    @abstractmethod
    def reconstruct(self, faces: np.ndarray) -> np.ndarray:
        """The faces decoded back from their codes, uint8 at the projector's resolution."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Primitives and numpy arrays only (what a skops bundle holds safely)."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Projector:
        ...

    def reconstruction_error(self, faces: np.ndarray) -> np.ndarray:
        """Per face mean squared error in [0, 1] pixels, at the projector's resolution."""
        res = self.resolution
        diff = to_vectors(self.reconstruct(faces), res) - to_vectors(faces, res)
        return np.mean(diff**2, axis=1)

    resolution: int


def projector_from_state(state: dict[str, Any]) -> Projector:
    kind = state.get("kind")
    if kind not in PROJECTORS:
        raise ValueError(f"unknown projector kind {kind!r}; known: {sorted(PROJECTORS)}")
    return PROJECTORS[kind].from_state(state)


@register_projector
class PCAProjector(Projector):
    """IncrementalPCA of the face's pixels (seed 000: 512 components, fitted on FFHQ-256;
    here fitted on real aligned training faces). `resolution`: the side the face is shrunk
    to first — 256 px is 196608 dimensions, too heavy to fit here (docs/latentforensics.md).
    Components are stored as float16 to keep the shipped bundle small."""

    kind = "pca"

    def __init__(self, n_components: int = 512, resolution: int = 32,
                 batch_size: int = 1024) -> None:
        self.n_components, self.resolution, self.batch_size = n_components, resolution, batch_size
        self.mean_: np.ndarray | None = None
        self.components_: np.ndarray | None = None
        self.explained_variance_ratio_: np.ndarray | None = None

    def fit(self, batches: Iterable[np.ndarray]) -> PCAProjector:
        """IncrementalPCA over the batches; rows are buffered until a partial fit has at
        least `n_components` of them, as IncrementalPCA requires."""
        ipca = IncrementalPCA(n_components=self.n_components)
        buf: list[np.ndarray] = []
        n_buf = 0
        for batch in batches:
            buf.append(to_vectors(batch, self.resolution))
            n_buf += len(buf[-1])
            if n_buf >= max(self.batch_size, self.n_components):
                ipca.partial_fit(np.concatenate(buf))
                buf, n_buf = [], 0
        if n_buf:
            if n_buf < self.n_components and not hasattr(ipca, "components_"):
                raise ValueError(f"PCA with {self.n_components} components needs at least that "
                                 f"many faces, got {n_buf}")
            if n_buf >= self.n_components:
                ipca.partial_fit(np.concatenate(buf))
        self.mean_ = ipca.mean_.astype(np.float32)
        self.components_ = ipca.components_.astype(np.float16)
        self.explained_variance_ratio_ = ipca.explained_variance_ratio_.astype(np.float32)
        return self

    def _check(self) -> None:
        if self.components_ is None:
            raise RuntimeError("PCAProjector is not fitted")

    def transform(self, faces: np.ndarray, n_components: int | None = None) -> np.ndarray:
        """Codes (N, k): the first `n_components` (default all) principal coordinates."""
        self._check()
        comps = self.components_[: n_components or len(self.components_)].astype(np.float32)
        return (to_vectors(faces, self.resolution) - self.mean_) @ comps.T

    def reconstruct(self, faces: np.ndarray, n_components: int | None = None) -> np.ndarray:
        codes = self.transform(faces, n_components)
        comps = self.components_[: codes.shape[1]].astype(np.float32)
        return from_vectors(codes @ comps + self.mean_, self.resolution)

    def state(self) -> dict[str, Any]:
        self._check()
        return {"kind": self.kind, "n_components": self.n_components,
                "resolution": self.resolution, "mean": self.mean_,
                "components": self.components_,
                "explained_variance_ratio": self.explained_variance_ratio_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PCAProjector:
        p = cls(int(state["n_components"]), int(state["resolution"]))
        p.mean_ = np.asarray(state["mean"], np.float32)
        p.components_ = np.asarray(state["components"], np.float16)
        p.explained_variance_ratio_ = np.asarray(state["explained_variance_ratio"], np.float32)
        return p
