"""Torch datasets over face crops: single images (`CropDataset`) and sequences of one face
track (`SequenceDataset`), both built from the same item tables.

Items come from `public_layouts.read_crop_csv` (crop folders + CSV) or from a ``fakescope
extract`` manifest via `manifest_items` / `manifest_sequences`. Decoding JPEGs dominates
training time on a few CPU cores, so `ImageStore` can decode every crop once, resized to the
training size, into one uint8 array cached on disk as ``.npy`` (keyed by the file list, the
files' sizes/mtimes and the size) and memory-mapped afterwards.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, get_worker_info

from fakescope.errors import FakescopeError, MediaError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Transform = Callable[..., dict]  # albumentations convention: t(image=img) -> {"image": img}


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """HxWx3 uint8 RGB of an image file; MediaError naming the file when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise MediaError(str(p), "missing")
    data = np.fromfile(p, dtype=np.uint8)
    if data.size == 0:
        raise MediaError(str(p), "empty")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise MediaError(str(p), "unreadable", "OpenCV cannot decode the image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize_square(img: np.ndarray, size: int | None) -> np.ndarray:
    """Resize to size x size (area interpolation when shrinking, linear when enlarging)."""
    if size is None or img.shape[:2] == (size, size):
        return img
    interp = cv2.INTER_AREA if max(img.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def to_tensor(
    img: np.ndarray,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
) -> torch.Tensor:
    """uint8 (..., H, W, 3) → float32 (..., 3, H, W) in [0, 1], then (x - mean) / std."""
    t = torch.from_numpy(np.ascontiguousarray(img)).float().div_(255.0)
    t = t.movedim(-1, -3)
    if mean is not None and std is not None:
        shape = (3, 1, 1)
        t = (t - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)
    return t


class ImageStore:
    """Crops by index, decoded on demand or preloaded into one (N, S, S, 3) uint8 array.

    With `cache_dir` the preloaded array is stored as ``crops_<key>.npy`` and memory-mapped
    on later runs (and shared between DataLoader workers through the page cache).
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        size: int | None = None,
        preload: bool = False,
        cache_dir: str | os.PathLike | None = None,
        num_threads: int = 2,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.size = size
        self.array: np.ndarray | None = None
        if preload:
            if size is None:
                raise ValueError("preload needs a size (all crops go into one array)")
            self.array = self._preload(cache_dir, num_threads)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        if self.array is not None:
            return np.array(self.array[i])  # a writable copy, not a view of the shared array
        return resize_square(read_image_rgb(self.paths[i]), self.size)

    def cache_key(self) -> str:
        """Hash of (paths, file sizes and mtimes, size): a changed file list or file
        invalidates the cache."""
        h = hashlib.sha1(f"size={self.size}\n".encode())
        for p in self.paths:
            try:
                st = os.stat(p)
                h.update(f"{p}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{p}\tmissing\n".encode())
        return h.hexdigest()[:20]

    def _preload(self, cache_dir: str | os.PathLike | None, num_threads: int) -> np.ndarray:
        assert self.size is not None
        shape = (len(self.paths), self.size, self.size, 3)
        target: Path | None = None
        if cache_dir is not None:
            target = Path(cache_dir) / f"crops_{self.cache_key()}_{self.size}.npy"
            if target.exists():
                arr = np.load(target, mmap_mode="r")
                if arr.shape == shape and arr.dtype == np.uint8:
                    return arr
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        else:
            arr = np.empty(shape, dtype=np.uint8)
        errors: list[str] = []

        def load(i: int) -> None:
            try:
                arr[i] = resize_square(read_image_rgb(self.paths[i]), self.size)
            except MediaError as e:
                errors.append(str(e))

        try:
            with ThreadPoolExecutor(max(1, num_threads)) as pool:  # cv2 releases the GIL
                list(pool.map(load, range(len(self.paths))))
            if errors:
                raise FakescopeError(
                    f"{len(errors)} crop(s) could not be read, e.g. {errors[:3]}"
                )
            if target is not None:
                arr.flush()
                del arr
                os.replace(tmp, target)
                return np.load(target, mmap_mode="r")
        except BaseException:
            if target is not None:
                Path(tmp).unlink(missing_ok=True)
            raise
        return arr


def _labels(df: pd.DataFrame, label_col: str, where: str) -> np.ndarray:
    if label_col not in df.columns:
        raise KeyError(f"{where}: no '{label_col}' column")
    lab = pd.to_numeric(df[label_col], errors="coerce")
    if lab.isna().any() or not lab.isin([0, 1]).all():
        bad = df.loc[lab.isna() | ~lab.isin([0, 1])].head(3)
        raise ValueError(f"{where}: labels must be 0/1 for every item, e.g. bad rows {bad.to_dict('records')}")
    return lab.to_numpy(dtype=np.float32)


class CropDataset(Dataset):
    """One face crop per item → ``(image (3, S, S) float32, label float32)``.

    `items` has ``path`` and ``label`` (1 fake / 0 real); `transform` is an albumentations
    transform applied to the uint8 RGB crop (after resizing to `size`); `mean`/`std`
    normalise (None: plain [0, 1]). `preload`/`cache_dir`: see `ImageStore`.
    """

    def __init__(
        self,
        items: pd.DataFrame,
        transform: Transform | None = None,
        size: int | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        preload: bool = False,
        cache_dir: str | os.PathLike | None = None,
        num_threads: int = 2,
        path_col: str = "path",
        label_col: str = "label",
    ) -> None:
        self.items = items.reset_index(drop=True)
        self.labels = _labels(self.items, label_col, "CropDataset")
        self.store = ImageStore(self.items[path_col].tolist(), size, preload, cache_dir, num_threads)
        self.transform = transform
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int) -> np.ndarray:
        """The augmented uint8 crop of item `i` (what the model sees, before normalising)."""
        img = self.store[i]
        if self.transform is not None:
            img = self.transform(image=img)["image"]
        return img

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return to_tensor(self.image(i), self.mean, self.std), torch.tensor(self.labels[i])


class SequenceDataset(Dataset):
    """F crops of one face track per item → ``(frames (F, 3, S, S) float32, label float32)``.

    `sequences` comes from `manifest_sequences` (a ``paths`` list per row). The same random
    augmentation is applied to all F frames (albumentations ``images=`` target), so the
    temporal signal is not drowned by frame-to-frame augmentation jitter.
    """

    def __init__(
        self,
        sequences: pd.DataFrame,
        transform: Transform | None = None,
        size: int | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        preload: bool = False,
        cache_dir: str | os.PathLike | None = None,
        num_threads: int = 2,
        label_col: str = "label",
    ) -> None:
        self.items = sequences.reset_index(drop=True)
        if "paths" not in self.items.columns:
            raise KeyError("SequenceDataset: no 'paths' column (build it with manifest_sequences)")
        self.labels = _labels(self.items, label_col, "SequenceDataset")
        unique = list(dict.fromkeys(p for ps in self.items["paths"] for p in ps))
        pos = {p: i for i, p in enumerate(unique)}
        self.index = [np.array([pos[p] for p in ps]) for ps in self.items["paths"]]
        self.store = ImageStore(unique, size, preload, cache_dir, num_threads)
        self.transform = transform
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.items)

    def frames(self, i: int) -> np.ndarray:
        """The augmented uint8 frames (F, S, S, 3) of item `i`."""
        imgs = [self.store[j] for j in self.index[i]]
        if self.transform is not None:
            return np.asarray(self.transform(images=np.stack(imgs))["images"])
        return np.stack(imgs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return to_tensor(self.frames(i), self.mean, self.std), torch.tensor(self.labels[i])


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: give each worker's augmentation its own seed.

    Every worker holds a copy of the same seeded albumentations Compose and would otherwise
    produce the same augmentation stream. The worker seed comes from torch (base seed drawn
    from the main process's generator each epoch + worker id), so runs stay reproducible
    under ``torch.manual_seed`` and epochs differ.
    """
    info = get_worker_info()
    if info is None:
        return
    seed = info.seed % 2**32
    np.random.seed(seed)
    transform = getattr(info.dataset, "transform", None)
    if transform is not None and hasattr(transform, "set_random_seed"):
        transform.set_random_seed(seed)


# ----------------------------------------------------------------- from extract manifests
def manifest_items(
    manifest: pd.DataFrame, include_fallback: bool = False, require_labels: bool = True
) -> pd.DataFrame:
    """Image items from an extract manifest: one row per crop.

    Columns: ``path`` (the crop), ``label``, ``group``, ``video`` (the source file),
    ``track_id``, ``frame_index``. Status rows (no face / error) are dropped; fallback
    center crops are dropped unless `include_fallback`.
    """
    df = manifest
    ok = df["status"] == "ok"
    ok &= df["crop"].notna()
    if not include_fallback and "fallback" in df.columns:
        ok &= ~df["fallback"].fillna(False).astype(bool)
    df = df[ok]
    if require_labels and df["label"].isna().any():
        missing = df.loc[df["label"].isna(), "path"].drop_duplicates().head(3).tolist()
        raise ValueError(f"manifest has crops without a label, e.g. from {missing}")
    out = pd.DataFrame(
        {
            "path": df["crop"].astype(str).to_numpy(),
            "label": df["label"].to_numpy(),
            "group": df["group"].to_numpy(),
            "video": df["path"].astype(str).to_numpy(),
            "track_id": df["track_id"].to_numpy(),
            "frame_index": df["frame_index"].to_numpy(),
        }
    )
    out["group"] = out["group"].where(out["group"].notna(), out["video"])
    return out.sort_values(["video", "track_id", "frame_index"], kind="stable").reset_index(drop=True)


def item_sequences(items: pd.DataFrame, length: int, frame_step: int = 1,
                   step: int | None = None) -> pd.DataFrame:
    """Sequences of `length` crops of one track, `frame_step` video frames apart, from a crop
    table with ``video`` and ``frame_index`` (``track_id`` optional: one track per video).

    Chosen by frame index, not by row: a sequence starting at frame f takes the crops nearest
    f + k·frame_step (within half a step), so it is right whatever the table's spacing, and it
    ends at a jump (the gap between two sampled runs) or a missed face. `step` None: sequences
    that do not overlap; `step` = s: one starting at every s-th crop (overlapping, for
    training). A track that holds no whole sequence gives its longest run of crops, looped (as
    `faces.units.sequence_units` does for a short video). Columns as `manifest_sequences`.
    """
    if length < 1 or frame_step < 1 or (step is not None and step < 1):
        raise ValueError("length, frame_step and step must be >= 1")
    missing = [c for c in ("video", "frame_index") if c not in items.columns]
    if missing:
        raise KeyError(f"a sequence table needs columns {missing} (one row per crop of a track)")
    items = items if "track_id" in items.columns else items.assign(track_id=0)
    if "group" not in items.columns:
        items = items.assign(group=items["video"])
    tol = frame_step // 2
    rows = []
    for (video, track), t in items.groupby(["video", "track_id"], sort=True):
        t = t.sort_values("frame_index", kind="stable").drop_duplicates("frame_index")
        frames = t["frame_index"].to_numpy(np.int64)
        paths = t["path"].tolist()

        def chain(i: int) -> list[int]:
            out = [i]
            for k in range(1, length):
                j = int(np.argmin(np.abs(frames - (frames[i] + k * frame_step))))
                if abs(frames[j] - frames[i] - k * frame_step) > tol or j <= out[-1]:
                    break
                out.append(j)
            return out

        chains, partial = [], [[0]]
        if step is not None:
            for i in range(0, len(frames), step):
                c = chain(i)
                (chains if len(c) == length else partial).append(c)
        else:
            i = 0
            while i < len(frames):
                c = chain(i)
                if len(c) == length:
                    chains.append(c)
                    i = c[-1] + 1
                else:
                    partial.append(c)
                    i += 1
        longest = max(partial, key=len)
        if not chains:
            chains = [[longest[k % len(longest)] for k in range(length)]]
        for c in chains:
            rows.append({"paths": [paths[k] for k in c], "frame_indices": [int(frames[k]) for k in c],
                         "label": t["label"].iloc[0], "group": t["group"].iloc[0],
                         "video": video, "track_id": track})
    return pd.DataFrame(rows, columns=["paths", "frame_indices", "label", "group", "video", "track_id"])


def manifest_sequences(
    manifest: pd.DataFrame | None = None,
    length: int = 8,
    stride: int = 1,
    step: int | None = None,
    pad_short: bool = True,
    items: pd.DataFrame | None = None,
    include_fallback: bool = False,
) -> pd.DataFrame:
    """Sequence items: windows of `length` crops of one track, every `stride`-th crop.

    Windows start every `step` crops (default ``length * stride``: non-overlapping). A track
    with fewer crops than one window is looped (``0,1,2,0,1,2,...``) when `pad_short`, else
    dropped. Pass an extract `manifest` or already-built image `items`. Columns: ``paths``
    (list of crop paths), ``frame_indices``, ``label``, ``group``, ``video``, ``track_id``.
    """
    if length < 1 or stride < 1:
        raise ValueError("length and stride must be >= 1")
    if items is None:
        if manifest is None:
            raise ValueError("pass a manifest or items")
        items = manifest_items(manifest, include_fallback=include_fallback)
    step = step or length * stride
    span = (length - 1) * stride + 1
    rows = []
    for (video, track), t in items.groupby(["video", "track_id"], sort=True):
        t = t.sort_values("frame_index")
        paths, frames = t["path"].tolist(), t["frame_index"].tolist()
        n = len(paths)
        if n >= span:
            starts = range(0, n - span + 1, step)
            windows = [list(range(s, s + span, stride)) for s in starts]
        elif pad_short:
            windows = [[k % n for k in range(length)]]
        else:
            continue
        for w in windows:
            rows.append(
                {
                    "paths": [paths[k] for k in w],
                    "frame_indices": [int(frames[k]) for k in w],
                    "label": t["label"].iloc[0],
                    "group": t["group"].iloc[0],
                    "video": video,
                    "track_id": track,
                }
            )
    return pd.DataFrame(rows, columns=["paths", "frame_indices", "label", "group", "video", "track_id"])
