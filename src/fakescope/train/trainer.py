"""The training loop: config in, checkpoints + TensorBoard log + a detector bundle out.

One epoch = progressive augmentation strength for this epoch → batches (mixup on a fraction of
them) → BCE-with-logits on (soft) targets, optionally distilled from a teacher bundle → AMP on
CUDA → optimiser step, per-batch LR schedule, one-cycle pruning step → validation (loss,
accuracy, AUC) → plateau schedule, early stopping, best/last checkpoints.

Reproducibility: every random stream (sampler order, augmentation, mixup, dropout, loader
workers) is seeded from (config seed, epoch, rank) at the start of each epoch, and a
checkpoint holds all optimiser/scheduler/scaler/pruner states, so a run resumed from its last
checkpoint continues exactly as the uninterrupted run would have (bit-for-bit on CPU with
``num_workers=0``; on CUDA, up to cuDNN's own non-determinism).

At the end the best epoch's model is scored on the validation set, a decision threshold is
chosen there (`evaluate.threshold`) and the model ships as a detector bundle
(`detectors.bundle`) together with its config, data description and validation metrics.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.special import expit
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, Subset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from fakescope import __version__
from fakescope.data.augment import build_augment
from fakescope.data.datasets import CropDataset, seed_worker
from fakescope.data.mixup import mixup_batch
from fakescope.data.public_layouts import read_crop_csv
from fakescope.data.samplers import ClassBalancedSampler, StratifiedVideoSampler
from fakescope.data.splits import check_no_leakage, group_split
from fakescope.detectors.bundle import build_model, load_bundle, save_bundle
from fakescope.device import autocast, resolve_device
from fakescope.errors import FakescopeError
from fakescope.evaluate import metrics
from fakescope.evaluate.predict import read_item_table, select_split
from fakescope.evaluate.threshold import fixed_threshold, select_threshold
from fakescope.models import create_model
from fakescope.output.atomic import atomic_write_text
from fakescope.train import ddp
from fakescope.train.checkpoint import (
    BEST,
    LAST,
    capture_rng_state,
    load_checkpoint,
    meta_from_config,
    model_from_state,
    restore_rng_state,
    save_checkpoint,
)
from fakescope.train.compression import OneCyclePruner, distillation_loss
from fakescope.train.config import ConfigError, TrainConfig, config_from_dict, dump_config
from fakescope.train.losses import build_loss
from fakescope.train.schedules import AugmentSchedule, LRSchedule, build_optimizer

log = logging.getLogger(__name__)

BUNDLE_NAME = "detector.pt"
_STREAMS = {"init": 0, "torch": 1, "sampler": 2, "augment": 3, "mixup": 4, "loader": 5}


class TrainingError(FakescopeError):
    """Training cannot go on (e.g. the loss became NaN/inf)."""


def derive_seed(seed: int, stream: str, epoch: int = 0, rank: int = 0) -> int:
    """Independent 32-bit seed per (run seed, random stream, epoch, process)."""
    return int(np.random.SeedSequence([seed, _STREAMS[stream], epoch, rank]).generate_state(1)[0])


# ------------------------------------------------------------------------------------ data
@dataclass
class SplitItems:
    """The training and validation rows (``path,label,group``...) and what they are."""

    train: pd.DataFrame
    val: pd.DataFrame
    description: dict[str, Any]
    table: pd.DataFrame | None = None  # full table with its split column (on-the-fly splits)


def _counts(df: pd.DataFrame) -> dict[str, int]:
    return {"n": len(df), "n_fake": int((df["label"] == 1).sum()),
            "n_real": int((df["label"] == 0).sum()), "n_groups": int(df["group"].nunique())}


def _subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most `n` rows, stratified by label (smoke runs on a slice of a big table)."""
    if n is None or n >= len(df):
        return df
    from sklearn.model_selection import train_test_split

    stratify = df["label"] if df["label"].nunique() > 1 and n >= 2 else None
    part, _ = train_test_split(df, train_size=n, stratify=stratify, random_state=seed)
    return part.sort_index().reset_index(drop=True)


def load_split_items(cfg: TrainConfig) -> SplitItems:
    """Train/val rows from `data.table` (its ``split`` column) or `data.crops_csv` (split now,
    by group). Refuses a split where a group or identity is on both sides."""
    d = cfg.data
    table = None
    if d.table is not None:
        df = read_item_table(d.table, d.image_root)
        if "split" not in df.columns:
            raise ConfigError(f"{d.table}: data.table needs a 'split' column (train/val/test)")
        train = select_split(df, d.train_split, d.table)
        val = select_split(df, d.val_split, d.table)
        source = {"table": Path(d.table).name, "table_sha256": _sha256(Path(d.table))}
    else:
        df = read_crop_csv(d.crops_csv, d.image_root)
        split = group_split(df, fractions=d.split_fractions, seed=d.split_seed)
        train, val = split.train, split.val
        if val.empty:
            raise ConfigError("data.split_fractions gives an empty validation part")
        parts = []
        for name, part in split.parts().items():
            parts.append(part.assign(split=name))
        table = pd.concat(parts, ignore_index=True)
        source = {"crops_csv": Path(d.crops_csv).name, "crops_csv_sha256": _sha256(Path(d.crops_csv)),
                  "split_fractions": list(d.split_fractions), "split_seed": d.split_seed}
    train = _subsample(train, d.max_train, cfg.seed)
    val = _subsample(val, d.max_val, cfg.seed)
    if d.extra_train is not None:
        extra = read_item_table(d.extra_train)
        source["extra_train"] = {"table": Path(d.extra_train).name,
                                 "sha256": _sha256(Path(d.extra_train)),
                                 "rows": _counts(extra), "repeat": d.extra_repeat,
                                 "groups": int(extra["group"].nunique())}
        keep = [c for c in train.columns if c in extra.columns]
        train = pd.concat([train] + [extra[keep]] * d.extra_repeat, ignore_index=True)
    check_no_leakage(train, val, cols=("group", "identity", "split_group"), names=["train", "val"])
    desc = {**source, "train": _counts(train), "val": _counts(val), "image_size": d.image_size,
            "crop_preset": d.crop_preset}
    return SplitItems(train.reset_index(drop=True), val.reset_index(drop=True), desc, table)


def _sha256(path: Path) -> str:
    from fakescope.detectors.bundle import sha256_bytes

    return sha256_bytes(path.read_bytes())


def build_crop_dataset(cfg: TrainConfig, items: pd.DataFrame, train: bool):
    """The training or validation dataset `cfg` asks for: plain crops, or crops with
    self-blended fakes (`cfg.blend`; validation gets them only with ``val_mode: blend``, with a
    fixed seed so every epoch is scored on the same blends). With `cfg.sequence` a sequence or
    clip unit: `build_sequence_dataset`."""
    if cfg.sequence.unit != "crop":
        return build_sequence_dataset(cfg, items, train)
    d, b = cfg.data, cfg.blend
    mean, std = cfg.normalisation()
    mode = _blend_mode(cfg, train)
    if mode == "none":
        return CropDataset(items, None, d.image_size, mean, std, preload=True,
                           cache_dir=d.cache_dir)
    from fakescope.data.blended import SelfBlendCropDataset
    from fakescope.data.landmarks import crop_landmarks
    from fakescope.data.synth import SelfBlendConfig

    real = (items["label"] == 0).to_numpy()
    landmarks = np.full((len(items), 68, 2), np.nan, dtype=np.float32)
    if real.any():
        landmarks[real] = crop_landmarks(items.loc[real, "path"].tolist(), d.cache_dir,
                                         rect=b.landmarks_rect)
    return SelfBlendCropDataset(
        items, landmarks, d.image_size, mean, std, mode=mode, fake_fraction=b.fake_fraction,
        jpeg_quality=b.jpeg_quality, jpeg_prob=b.jpeg_prob if train else b.val_jpeg_prob,
        native_size=b.native_size, seed=derive_seed(cfg.seed, "augment", 10_000 if not train else 0),
        preload=True, cache_dir=d.cache_dir, pairs=b.pairs and train,
        synth=SelfBlendConfig.sbi() if b.synth == "sbi" else SelfBlendConfig(),
        source_sides=source_sides(b.source_sides, items["path"]) if b.source_sides else None,
        min_source_side=b.min_source_side,
    )


def source_sides(table: str, paths: pd.Series) -> np.ndarray:
    """Each crop's face side in its source video from `table` (matched by file stem; NaN where
    the table has no row), for blends made at the face's own resolution."""
    try:
        sides = pd.read_csv(table)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"blend.source_sides {table}: {exc}") from exc
    key = next((c for c in ("path", "videoname") if c in sides.columns), None)
    side = next((c for c in ("source_side", "original_width") if c in sides.columns), None)
    if key is None or side is None:
        raise ConfigError(f"blend.source_sides {table}: needs a path or videoname column and a "
                          f"source_side or original_width column, has {list(sides.columns)}")
    values = pd.to_numeric(sides[side], errors="coerce")
    if values.isna().any():
        bad = sides.loc[values.isna(), key].head(3).tolist()
        raise ConfigError(f"blend.source_sides {table}: {side} is not a number for {bad}")
    by_stem = dict(zip(sides[key].map(lambda v: Path(str(v)).stem), values.astype(float)))
    return np.array([by_stem.get(Path(str(p)).stem, np.nan) for p in paths], dtype=np.float32)


def _blend_mode(cfg: TrainConfig, train: bool) -> str:
    b = cfg.blend
    return b.mode if train else ("only" if b.mode != "none" and b.val_mode == "blend" else "none")


def build_sequence_dataset(cfg: TrainConfig, items: pd.DataFrame, train: bool):
    """Sequences / clips of `cfg.sequence` cut from the tracks of a crop table (training
    windows overlap by `train_step`, validation ones do not), with temporally consistent
    self-blended fake sequences when `cfg.blend` asks for them."""
    from fakescope.data.datasets import SequenceDataset, item_sequences

    d, b, q = cfg.data, cfg.blend, cfg.sequence
    mean, std = cfg.normalisation()
    step = (q.train_step or max(1, q.length // 2)) if train else None
    seqs = item_sequences(items, q.length, q.frame_step, step=step)
    if seqs.empty:
        raise ConfigError(f"no track of the {'training' if train else 'validation'} table "
                          f"holds a {q.unit} of {q.length} crops")
    mode = _blend_mode(cfg, train)
    if mode == "none":
        return SequenceDataset(seqs, None, d.image_size, mean, std, preload=True,
                               cache_dir=d.cache_dir)
    from fakescope.data.blended_sequences import SelfBlendSequenceDataset
    from fakescope.data.landmarks import crop_landmarks

    real = sorted({p for ps, lab in zip(seqs["paths"], seqs["label"]) if lab == 0 for p in ps})
    points = crop_landmarks(real, d.cache_dir, rect=b.landmarks_rect) if real else []
    return SelfBlendSequenceDataset(
        seqs, dict(zip(real, points)), d.image_size, mean, std, mode=mode,
        fake_fraction=b.fake_fraction, jpeg_quality=b.jpeg_quality,
        jpeg_prob=b.jpeg_prob if train else 0.0, native_size=b.native_size,
        seed=derive_seed(cfg.seed, "augment", 10_000 if not train else 0), preload=True,
        cache_dir=d.cache_dir,
    )


def dataset_videos(ds) -> np.ndarray | None:
    """The video of each item of a dataset, when it knows (one-unit-per-video epochs)."""
    if hasattr(ds, "videos"):
        return np.asarray(ds.videos)
    items = getattr(ds, "items", None)
    if items is not None and "video" in items.columns and len(items) == len(ds):
        return items["video"].astype(str).to_numpy()
    return None


# ---------------------------------------------------------------------------------- result
@dataclass
class TrainResult:
    out_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int | None
    best: dict[str, Any] | None
    stopped_early: bool
    finished: bool  # False when stopped by `stop_after` (resume later)
    bundle_path: Path | None = None
    bundle_sha256: str | None = None
    threshold: dict[str, Any] | None = None
    val_metrics: dict[str, float] = field(default_factory=dict)


class _TeacherInput(nn.Module):
    """Runs a teacher on the student's batches: re-normalises and resizes when the teacher was
    trained with another normalisation or input size."""

    def __init__(self, teacher: nn.Module, student_mean, student_std, teacher_mean, teacher_std,
                 teacher_size: int) -> None:
        super().__init__()
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.register_buffer("s_mean", torch.tensor(student_mean).view(1, 3, 1, 1))
        self.register_buffer("s_std", torch.tensor(student_std).view(1, 3, 1, 1))
        self.register_buffer("t_mean", torch.tensor(teacher_mean).view(1, 3, 1, 1))
        self.register_buffer("t_std", torch.tensor(teacher_std).view(1, 3, 1, 1))
        self.size = teacher_size

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x * self.s_std + self.s_mean - self.t_mean) / self.t_std
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.teacher(x)


class Trainer:
    """``Trainer(config).fit()`` → TrainResult. Writes into ``config.out_dir``:
    ``config.yaml``, ``checkpoints/{last,best}.pt``, ``tb/`` (TensorBoard), ``history.csv``,
    ``val_predictions.csv``, ``detector.pt`` (the bundle) and ``summary.json``.

    `on_epoch` is called with each epoch's record (for printing); `progress` shows tqdm bars
    (default: only when stderr is a terminal).
    """

    def __init__(self, config: TrainConfig, *, progress: bool | None = None,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.cfg = config.validate()
        self.out_dir = Path(self.cfg.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.on_epoch = on_epoch

    # -------------------------------------------------------------------------- setup
    def _setup(self) -> None:
        cfg = self.cfg
        device = resolve_device(cfg.device)
        self.dist = ddp.init_from_env(device)
        self.device = ddp.local_device(device, self.dist)
        self.amp = cfg.amp and self.device.type == "cuda"
        torch.manual_seed(derive_seed(cfg.seed, "init"))

        self.items = load_split_items(cfg)
        if cfg.early_stopping.enabled and cfg.early_stopping.monitor == "val_auc" \
                and self.items.val["label"].nunique() < 2:
            raise ConfigError("early_stopping.monitor val_auc needs both classes in the validation set")
        d = cfg.data
        self.mean, self.std = cfg.normalisation()
        # With a cache folder, rank 0 decodes first and the others memory-map its file.
        if self.dist.enabled and d.cache_dir and not self.dist.is_main:
            ddp.barrier()
        self.train_ds = build_crop_dataset(cfg, self.items.train, train=True)
        self.val_ds = build_crop_dataset(cfg, self.items.val, train=False)
        if self.dist.enabled and d.cache_dir and self.dist.is_main:
            ddp.barrier()

        self.model = create_model(cfg.model.name, **cfg.model.kwargs)
        self.init_sha256 = self._init_from(self.model)
        self.model = self.model.to(self.device)
        self.loss_fn = build_loss(cfg.loss)
        self.steps_per_epoch = len(self._train_loader(0))
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.pruner = None
        if cfg.pruning.enabled:
            self.pruner = OneCyclePruner(self.model, sparsity=cfg.pruning.sparsity,
                                         total_steps=self.total_steps, local=cfg.pruning.local)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.schedule = LRSchedule(self.optimizer, cfg.schedule, cfg.epochs, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.augment = AugmentSchedule(cfg.augment, cfg.progressive, cfg.epochs)
        self.teacher = self._load_teacher()
        self.net: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _init_from(self, model: nn.Module) -> str | None:
        """Load `model.init_from`'s weights (a bundle of the same architecture); its sha256."""
        path = self.cfg.model.init_from
        if path is None:
            return None
        bundle = load_bundle(path)
        if bundle.meta.model_name != self.cfg.model.name or bundle.meta.extra.get("bn_folded"):
            raise ConfigError(f"model.init_from {path}: a bundle of {bundle.meta.model_name!r}"
                              f"{' (BatchNorm folded)' if bundle.meta.extra.get('bn_folded') else ''}"
                              f" cannot initialise {self.cfg.model.name!r}")
        state = {k: v.float() if v.is_floating_point() else v for k, v in bundle.state_dict.items()}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ConfigError(f"model.init_from {path}: weights do not fit: {exc}") from exc
        return bundle.sha256

    def _load_teacher(self) -> nn.Module | None:
        path = self.cfg.distill.teacher
        if path is None:
            return None
        bundle = load_bundle(path)
        m = bundle.meta
        return _TeacherInput(build_model(bundle), self.mean, self.std, m.mean, m.std,
                             m.input_size).to(self.device)

    # -------------------------------------------------------------------------- loaders
    def _train_loader(self, epoch: int) -> DataLoader:
        cfg, info = self.cfg, self.dist
        if info.enabled:
            sampler = DistributedSampler(self.train_ds, num_replicas=info.world_size,
                                         rank=info.rank, shuffle=True,
                                         seed=derive_seed(cfg.seed, "sampler"))
            sampler.set_epoch(epoch)
        elif cfg.sequence.unit != "crop" and cfg.sequence.stratified \
                and (videos := dataset_videos(self.train_ds)) is not None:
            # seed 003's stratified epoch: one random unit per video, classes balanced
            sampler = StratifiedVideoSampler(videos, self.train_ds.labels, class_balance=True,
                                             seed=derive_seed(cfg.seed, "sampler"))
            sampler.set_epoch(epoch)
        elif cfg.sequence.unit == "crop" and cfg.data.class_balance:
            n = cfg.data.epoch_size or len(self.train_ds)
            sampler = ClassBalancedSampler(self.train_ds.labels, num_samples=n,
                                           replacement=n > len(self.train_ds),
                                           seed=derive_seed(cfg.seed, "sampler"))
            sampler.set_epoch(epoch)
        else:
            g = torch.Generator().manual_seed(derive_seed(cfg.seed, "sampler", epoch))
            n = cfg.data.epoch_size if cfg.sequence.unit == "crop" else None
            sampler = RandomSampler(self.train_ds, generator=g, num_samples=n)
        return DataLoader(
            self.train_ds, batch_size=cfg.batch_size, sampler=sampler,
            num_workers=cfg.num_workers, worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(derive_seed(cfg.seed, "loader", epoch, info.rank)),
            pin_memory=self.device.type == "cuda",
            collate_fn=getattr(self.train_ds, "collate_fn", None),  # SBI pairs
        )

    # -------------------------------------------------------------------------- steps
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, rank = self.cfg, self.dist.rank
        strength = self.augment.strength(epoch)
        if hasattr(self.train_ds, "set_epoch"):
            self.train_ds.set_epoch(epoch)  # new self-blends every epoch
        self.train_ds.transform = (
            None if strength is None
            else build_augment(strength, seed=derive_seed(cfg.seed, "augment", epoch, rank),
                               cutout=cfg.augment.cutout, preset=cfg.augment.preset,
                               codec=cfg.augment.codec_transform())
        )
        torch.manual_seed(derive_seed(cfg.seed, "torch", epoch, rank))  # dropout
        mix_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "mixup", epoch, rank))
        loader = self._train_loader(epoch)
        self.net.train()
        loss_sum = correct = count = 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                   disable=not (self.progress and self.dist.is_main))
        for x, y in bar:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True).float()
            if cfg.mixup.enabled:
                mixed = mixup_batch(x, y, alpha=cfg.mixup.alpha, prob=cfg.mixup.prob,
                                    generator=mix_gen)
                x, y = mixed.x, mixed.y
            with autocast(self.device, enabled=self.amp):
                if self.teacher is not None:
                    logits = self.net(x)
                    loss = distillation_loss(logits, self.teacher(x), y,
                                             cfg.distill.temperature, cfg.distill.alpha)
                else:
                    loss, logits = self.loss_fn(self.net, self.model, x, y)
            finite = bool(torch.isfinite(loss))
            if not finite and not self.amp:  # fp16 overflow is the GradScaler's to handle
                raise TrainingError(f"epoch {epoch + 1}: training loss is {loss.item()}; "
                                    "lower optim.lr or set optim.grad_clip")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.optim.grad_clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.schedule.after_batch()
            if self.pruner is not None:
                self.pruner.step()
            if finite:  # a batch skipped by the scaler does not enter the averages
                n = y.shape[0]
                loss_sum += loss.item() * n
                correct += float(((logits.detach() > 0) == (y >= 0.5)).sum())
                count += n
                bar.set_postfix(loss=f"{loss_sum / count:.4f}")
        loss_sum, correct, count = ddp.all_reduce_sum([loss_sum, correct, count], self.device)
        count = count or float("nan")
        return {"train_loss": loss_sum / count, "train_accuracy": correct / count,
                "aug_strength": strength}

    def _sync_buffers(self) -> None:
        """BatchNorm statistics are per process under DDP; validate and save rank 0's."""
        if self.dist.enabled:
            for b in self.model.buffers():
                torch.distributed.broadcast(b, src=0)

    @torch.inference_mode()
    def predict_logits(self, model: nn.Module, dataset, shard: bool = True) -> np.ndarray:
        """Logits for every item of `dataset` (no augmentation); with `shard` the items are
        split over the DDP processes and gathered (every process must call it then)."""
        info = self.dist if shard else ddp.DistInfo()
        idx = np.arange(len(dataset))[info.rank :: info.world_size]
        loader = DataLoader(Subset(dataset, idx.tolist()),
                            batch_size=self.cfg.eval_batch_size or 2 * self.cfg.batch_size,
                            shuffle=False, num_workers=self.cfg.num_workers)
        model.eval()
        out = []
        for x, _ in loader:
            with autocast(self.device, enabled=self.amp):
                out.append(model(x.to(self.device)).float().cpu())
        mine = torch.cat(out).numpy() if out else np.zeros(0, np.float32)
        parts = ddp.all_gather_objects(mine) if info.enabled else [mine]
        full = np.empty(len(dataset), dtype=np.float32)
        for r, part in enumerate(parts):
            full[r :: info.world_size] = part
        return full

    def _validate(self, model: nn.Module | None = None,
                  shard: bool = True) -> tuple[dict[str, float], np.ndarray]:
        logits = self.predict_logits(model or self.model, self.val_ds, shard)
        y = self.val_ds.labels.astype(np.float64)
        loss = self.loss_fn.from_logits(model or self.model, torch.from_numpy(logits),
                                        torch.from_numpy(y))
        probs = expit(logits.astype(np.float64))
        labels = y.astype(np.int64)
        acc = metrics.classification_metrics(labels, probs, 0.5)["accuracy"]
        auc = metrics.roc_auc(labels, probs) if 0 < labels.sum() < len(labels) else float("nan")
        return {"val_loss": loss, "val_accuracy": acc, "val_auc": auc}, probs

    def _eligible(self) -> bool:
        """With pruning, only epochs whose sparsity has reached (99 % of) the target may become
        the best model or count towards early stopping: one-cycle pruning reaches its target
        only in the last quarter of training, and a denser early epoch is not what was asked."""
        if self.pruner is None:
            return True
        return self.pruner.scheduled_sparsity() >= 0.99 * self.pruner.target

    def _improved(self, record: dict[str, float], best: dict[str, Any] | None) -> bool:
        es = self.cfg.early_stopping
        value = record[es.monitor]
        if not math.isfinite(value):
            return False
        if best is None:
            return True
        if es.monitor == "val_loss":
            return value < best[es.monitor] - es.min_delta
        return value > best[es.monitor] + es.min_delta

    # -------------------------------------------------------------------------- state
    def _state(self, epoch: int, history, best, bad_epochs: int, stopped: bool,
               finished: bool) -> dict[str, Any]:
        return {
            "epoch": epoch, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "pruner": self.pruner.state_dict() if self.pruner is not None else None,
            "history": history, "best": best, "bad_epochs": bad_epochs,
            "stopped_early": stopped, "finished": finished, "rng": capture_rng_state(),
            "config": self.cfg.to_dict(), "world_size": self.dist.world_size,
            "fakescope_version": __version__,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        saved = config_from_dict(state["config"], where="checkpoint config")
        if saved.model != self.cfg.model:
            raise ConfigError(f"checkpoint was trained with model {saved.model}, config asks for "
                              f"{self.cfg.model}; use a new out_dir")
        changed = _diff(saved.to_dict(), self.cfg.to_dict())
        if changed:
            log.warning("resuming with a changed config: %s", ", ".join(changed))
        if state["world_size"] != self.dist.world_size:
            log.warning("resuming with %d processes, checkpoint was written by %d",
                        self.dist.world_size, state["world_size"])
        if (self.pruner is None) != (state["pruner"] is None):
            raise ConfigError("pruning.enabled differs between the config and the checkpoint; "
                              "a run cannot switch pruning on or off when resumed")
        self.model.load_state_dict(state["model"])
        if self.pruner is not None:
            self.pruner.load_state_dict(state["pruner"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])

    # -------------------------------------------------------------------------- fit
    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train (or continue with `resume`) until `epochs`, early stop, or `stop_after`
        epochs in this call; then export the bundle (main process) once training is over."""
        threads = torch.get_num_threads()
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        try:
            return self._fit(resume, stop_after)
        finally:
            torch.set_num_threads(threads)  # the setting is process-wide: give it back

    def _fit(self, resume: bool, stop_after: int | None) -> TrainResult:
        cfg = self.cfg
        self._setup()
        main = self.dist.is_main
        last_path, best_path = self.ckpt_dir / LAST, self.ckpt_dir / BEST
        history: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        bad_epochs, start, stopped, finished = 0, 0, False, False
        if resume and last_path.is_file():
            state = load_checkpoint(last_path)
            self._restore(state)
            history, best, bad_epochs = list(state["history"]), state["best"], state["bad_epochs"]
            start, stopped = state["epoch"] + 1, state["stopped_early"]
            finished = stopped or start >= cfg.epochs  # `epochs` may have been raised since
            log.info("resumed from %s at epoch %d", last_path, start + 1)
        elif resume:
            log.warning("--resume: no checkpoint at %s, starting a new run", last_path)
        elif last_path.exists():
            raise ConfigError(f"{self.out_dir} already holds a run ({last_path}); pass --resume "
                              "to continue it or choose another out_dir")
        if start == 0 and not history and self.init_sha256 is None:
            # a new run from scratch: e.g. the hypersphere centre, once (a model initialised
            # from a bundle brings its own centre and calibration)
            self.loss_fn.prepare(self.model, self._train_loader(0), self.device)
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "config.yaml", dump_config(cfg))
            if self.items.table is not None:
                cols = [c for c in ("path", "label", "group", "video", "identity", "split")
                        if c in self.items.table.columns]
                atomic_write_text(self.out_dir / "split.csv",
                                  self.items.table[cols].to_csv(index=False))
        writer = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out_dir / "tb"), purge_step=start + 1)
        ran = 0
        try:
            for epoch in range(start, cfg.epochs):
                if finished or (stop_after is not None and ran >= stop_after):
                    break
                t0 = time.perf_counter()
                record = {"epoch": epoch + 1, **self._train_epoch(epoch)}
                self._sync_buffers()
                val, _ = self._validate()
                record.update(val)
                self.schedule.after_epoch(val["val_loss"])
                record["lr"] = max(g["lr"] for g in self.optimizer.param_groups)
                record["sparsity"] = self.pruner.sparsity() if self.pruner is not None else 0.0
                record["seconds"] = time.perf_counter() - t0
                history.append(record)
                ran += 1
                if not self._eligible():
                    pass  # still pruning towards the target: not a model to ship yet
                elif self._improved(record, best):
                    best, bad_epochs = {k: record[k] for k in ("epoch", *val)}, 0
                    if main:
                        save_checkpoint(best_path, {
                            "epoch": epoch, "model": self.model.state_dict(),
                            "pruner": self.pruner.state_dict() if self.pruner else None,
                            "metrics": record, "config": cfg.to_dict(),
                        })
                else:
                    bad_epochs += 1
                stopped = cfg.early_stopping.enabled and bad_epochs >= cfg.early_stopping.patience
                finished = stopped or epoch + 1 == cfg.epochs
                if main:
                    save_checkpoint(last_path, self._state(epoch, history, best, bad_epochs,
                                                           stopped, finished))
                    atomic_write_text(self.out_dir / "history.csv",
                                      pd.DataFrame(history).to_csv(index=False))
                    self._log_epoch(writer, record)
                ddp.barrier()
        finally:
            if writer is not None:
                writer.close()
        result = TrainResult(self.out_dir, history, best["epoch"] if best else None, best,
                             stopped, finished)
        if finished and main and cfg.export.enabled:
            self._export(result, best_path if best_path.is_file() else last_path)
        ddp.barrier()
        return result

    def _log_epoch(self, writer, record: dict[str, Any]) -> None:
        step = record["epoch"]
        if writer is not None:
            for key, tag in (("train_loss", "loss/train"), ("val_loss", "loss/val"),
                             ("train_accuracy", "accuracy/train"), ("val_accuracy", "accuracy/val"),
                             ("val_auc", "auc/val"), ("lr", "lr"), ("aug_strength", "augment/strength"),
                             ("sparsity", "pruning/sparsity")):
                if record.get(key) is not None:
                    writer.add_scalar(tag, record[key], step)
            writer.flush()
        log.info("epoch %d: %s", step, _fmt_record(record))
        if self.on_epoch is not None:
            self.on_epoch(record)

    # -------------------------------------------------------------------------- export
    def _export(self, result: TrainResult, source: Path) -> None:
        """Score the best model on validation, choose the threshold there, write the bundle."""
        cfg = self.cfg
        state = load_checkpoint(source)
        model = model_from_state(cfg.model.name, cfg.model.kwargs, state).to(self.device)
        labels = self.val_ds.labels.astype(np.int64)
        if hasattr(self.loss_fn, "calibrate"):  # distance → probability, fitted on validation
            self.loss_fn.calibrate(model, self.predict_logits(model, self.val_ds, shard=False),
                                   labels)
        val, probs = self._validate(model, shard=False)  # main process only
        file_labels, file_probs = labels, probs
        units = getattr(self.val_ds, "items", self.items.val)
        if "video" in units.columns and len(units) == len(probs):
            # The operating point is a file-level one: units → track → file, as scan does.
            from fakescope.evaluate.aggregate import file_scores

            track = "track_id" if "track_id" in units.columns else None
            per_file = file_scores(units.assign(score=probs, label=labels), "video",
                                   "score", track_col=track, label_col="label")
            file_labels = per_file["label"].to_numpy(np.int64)
            file_probs = per_file["score"].to_numpy(np.float64)
        try:
            thr = select_threshold(file_labels, file_probs, cfg.export.threshold_method,
                                   cfg.export.threshold_target)
        except ValueError as exc:  # e.g. one-class validation set: say so, keep 0.5
            log.warning("threshold not chosen on validation (%s); using 0.5", exc)
            thr = fixed_threshold(0.5)
        operating_points = _operating_points(file_labels, file_probs)
        rows = getattr(self.val_ds, "items", self.items.val)
        if "path" not in rows.columns:  # a sequence: named by its first crop
            rows = rows.assign(path=[ps[0] for ps in rows["paths"]])
        rows = rows[["path", "label", "group"]]
        if len(rows) != len(probs):  # validation with self-blends: each real, then its blend
            rows = pd.concat([rows.assign(label=0), rows.assign(label=1, blended=True)],
                             ignore_index=True)
        preds = rows.copy()
        preds["label"] = labels
        preds["score"] = probs
        atomic_write_text(self.out_dir / "val_predictions.csv", preds.to_csv(index=False))
        atomic_write_text(self.out_dir / "threshold.json", thr.to_json() + "\n")
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if cfg.export.half:
            weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        extra = {
            "config": _portable_config(cfg, self.out_dir),
            "data": self.items.description,
            "val": {**val, "threshold": thr.to_dict()},
            "operating_points": operating_points,
            "best_epoch": int(state["epoch"]) + 1,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "history": [{k: v for k, v in r.items()} for r in result.history],
            "sparsity": _sparsity(model) if cfg.pruning.enabled else 0.0,
            "torch": str(torch.__version__),
            "fakescope": __version__,
            "init_from_sha256": self.init_sha256,
        }
        meta = meta_from_config(cfg, thr.value, thr.method, extra)
        path = self.out_dir / BUNDLE_NAME
        digest = save_bundle(path, meta, weights)
        result.bundle_path, result.bundle_sha256 = path, digest
        result.threshold, result.val_metrics = thr.to_dict(), val
        summary = {"bundle": path.name, "sha256": digest, "best_epoch": extra["best_epoch"],
                   "epochs_run": extra["epochs_run"], "stopped_early": result.stopped_early,
                   "val": extra["val"], "data": self.items.description,
                   "init_from_sha256": self.init_sha256}
        atomic_write_text(self.out_dir / "summary.json",
                          json.dumps(summary, indent=2, default=_json_num) + "\n")


OPERATING_POINT_FARS = (0.01, 0.05, 0.10)


def _operating_points(labels: np.ndarray, scores: np.ndarray) -> dict[str, dict[str, Any]]:
    """Thresholds for a few stated validation false-alarm rates, kept in the bundle beside
    the shipped one, so that a platform can choose a stricter point (``scan --threshold``)
    without re-scoring validation — and without choosing it on its evaluation data."""
    out = {}
    for far in OPERATING_POINT_FARS:
        try:
            out[f"far_{far:g}"] = select_threshold(labels, scores, "far", far).to_dict()
        except ValueError as exc:  # one-class validation: no operating point to state
            log.warning("operating point FAR %g not chosen: %s", far, exc)
    return out


def _sparsity(model: nn.Module) -> float:
    from fakescope.train.compression import prunable_layers

    zeros = total = 0
    for _, m in prunable_layers(model):
        zeros += int((m.weight == 0).sum())
        total += m.weight.numel()
    return zeros / total if total else 0.0


def _json_num(obj: Any) -> Any:
    if isinstance(obj, (np.generic,)):
        return obj.item()
    raise TypeError(type(obj).__name__)


def _fmt_record(r: dict[str, Any]) -> str:
    keys = ("train_loss", "val_loss", "val_accuracy", "val_auc", "lr")
    return "  ".join(f"{k}={r[k]:.4g}" for k in keys if r.get(k) is not None)


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict) and k != "kwargs":
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


def _portable_config(cfg: TrainConfig, base: Path) -> dict[str, Any]:
    """The config with its paths relative to the run folder: a shipped bundle must not carry
    absolute paths of the machine it was trained on."""
    import dataclasses

    d = cfg.to_dict()

    def walk(obj, node: dict[str, Any]) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, node[f.name])
            elif f.metadata.get("path") and isinstance(value, str):
                node[f.name] = os.path.relpath(value, base)

    walk(cfg, d)
    return d


def fit_in_process(rank: int, world_size: int, config: dict[str, Any], resume: bool,
                   stop_after: int | None, progress: bool) -> None:
    """Entry point of one spawned DDP process (see `ddp.spawn`)."""
    del world_size  # the process group is already set up
    on_epoch = _print_record if rank == 0 else None
    Trainer(config_from_dict(config), progress=progress and rank == 0,
            on_epoch=on_epoch).fit(resume=resume, stop_after=stop_after)


def _print_record(record: dict[str, Any]) -> None:
    print(f"epoch {record['epoch']}: {_fmt_record(record)}", flush=True)


__all__ = ["SplitItems", "TrainResult", "TrainingError", "Trainer", "derive_seed",
           "fit_in_process", "load_split_items"]
