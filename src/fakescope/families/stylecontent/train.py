"""Training of the stylecontent head on cached features, as seed 004 trains it:

1. clips of F = 16 consecutive crops from the tracks table (`data.datasets.item_sequences`;
   a short track is looped: the seed's circular padding), plus `blends_per_clip` temporally
   consistent self-blends of every real train / val clip (`data.blended_sequences`: one
   blend draw per clip, mask on smoothed landmarks);
2. features of every clip through the frozen extractors, once, into the feature cache
   (`features.FeatureCache`, ``real/`` and ``fake/`` folders, validity flags);
3. epochs on the cached tensors only: AdamW, mixup of both streams and the target on 70 % of
   batches (`data.mixup.mixup_streams`), cosine annealing with warm restarts (T0 = 10
   epochs, doubling; torch's `CosineAnnealingWarmRestarts`), early stopping on the validation
   loss with patience 12, TensorBoard scalars when tensorboard is installed, a wall-clock
   limit;
4. the best epoch's head with the extractors → one detector bundle (threshold chosen on
   validation files), and the test clips scored from the cache.

    python scripts/stylecontent_train.py configs/stylecontent_sbi.yaml [--set key=value ...]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml

from fakescope.families.stylecontent.features import FeatureCache
from fakescope.families.stylecontent.network import StyleContent

log = logging.getLogger(__name__)


@dataclass
class StyleContentConfig:
    table: str = "../cache/stylecontent/tracks.csv"  # relative to the config file's folder
    cache_dir: str = "../cache/stylecontent/features"
    out_dir: str = "../runs/stylecontent"
    image_size: int = 256
    length: int = 16
    train_step: int = 8  # training clips start every 8 crops (overlapping)
    windows: int = 2  # clips per file at scan time (2 x 16 = the seed's 32 frames)
    blends_per_clip: int = 1  # self-blended fakes per real train / val clip
    blend_jpeg_prob: float = 0.5
    landmarks_rect: str = "fixed"
    max_train_clips: int | None = None  # cap (seeded) on real training clips
    model: dict[str, Any] = field(default_factory=lambda: {"content_backbone": "r3d_18",
                                                           "content_init": "scratch"})
    epochs: int = 150
    batch_size: int = 16
    lr: float = 3.0e-4
    weight_decay: float = 1.0e-2
    mixup_alpha: float = 0.2
    mixup_prob: float = 0.7
    t0_epochs: int = 10
    t_mult: int = 2
    eta_min_ratio: float = 0.01
    patience: int = 12
    max_minutes: float | None = 15.0
    threshold_far: float = 0.05  # on validation files (reals and their blends)
    seed: int = 0

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], base: Path, where: str = "config"
                     ) -> StyleContentConfig:
        """From a YAML mapping. Relative paths, the defaults' included, are relative to `base`
        (the config's folder), never to this module's place: an installed package has no
        repository around it."""
        raw = dict(raw)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}")
        defaults = cls()
        for key in ("table", "cache_dir", "out_dir"):
            raw[key] = str((Path(base) / raw.get(key, getattr(defaults, key))).resolve())
        return cls(**raw)

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> StyleContentConfig:
        """The config file at `path` with `--set KEY=VALUE` overrides (paths given there are
        relative to the working directory, like any command-line path)."""
        raw = yaml.safe_load(Path(path).read_text()) or {}
        base = Path(path).resolve().parent
        raw.pop("recipe", None)  # `recipe: stylecontent` routes `fakescope train` here
        cfg = cls.from_mapping(raw, base, where=str(path))
        names = {f.name for f in dataclasses.fields(cls)}
        for item in overrides or []:
            key, _, value = item.partition("=")
            head, _, sub = key.partition(".")
            if head not in names:
                raise ValueError(f"--set {key}: unknown key")
            parsed = yaml.safe_load(value)
            if head == "model" and sub:
                cfg.model = {**cfg.model, sub: parsed}
            else:
                if head in ("table", "cache_dir", "out_dir"):
                    parsed = str(Path(str(parsed)).resolve())
                setattr(cfg, head, parsed)
        return cfg


# ------------------------------------------------------------------------------ clips
def clip_table(cfg: StyleContentConfig, tracks: pd.DataFrame) -> pd.DataFrame:
    """Clips of every split: ``paths``, ``label``, ``video``, ``track_id``, ``split``,
    ``blend`` (the draw, -1 for none), ``unit`` (the cache id). Train clips overlap."""
    from fakescope.data.datasets import item_sequences

    root = Path(cfg.table).parent
    tracks = tracks.assign(path=[str(root / p) for p in tracks["path"]])
    parts = []
    for split in ("train", "val", "test"):
        rows = tracks[tracks["split"] == split]
        if rows.empty:
            continue
        seqs = item_sequences(rows, cfg.length, 1, step=cfg.train_step if split == "train" else None)
        if split == "train" and cfg.max_train_clips and len(seqs) > cfg.max_train_clips:
            seqs = seqs.sample(cfg.max_train_clips, random_state=cfg.seed).sort_index()
        seqs = seqs.assign(split=split, blend=-1)
        parts.append(seqs)
        reals = seqs[seqs["label"] == 0]
        if split != "test":
            for k in range(cfg.blends_per_clip):
                parts.append(reals.assign(label=1, blend=k))
    clips = pd.concat(parts, ignore_index=True)
    clips["unit"] = [f"{v}|t{t}|f{fi[0]}-{fi[-1]}|{'real' if b < 0 else f'blend{b}'}|s{cfg.seed}"
                     for v, t, fi, b in zip(clips["video"], clips["track_id"],
                                            clips["frame_indices"], clips["blend"])]
    return clips


def _frames(paths: list[str], size: int) -> np.ndarray:
    from fakescope.data.datasets import read_image_rgb, resize_square

    return np.stack([resize_square(read_image_rgb(p), size) for p in paths])


def clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (F, S, S, 3) → float (1, F, 3, S, S) in [0, 1] (the bundle's mean 0 / std 1)."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255.0).unsqueeze(0)


def build_features(cfg: StyleContentConfig, model: StyleContent, clips: pd.DataFrame,
                   progress: bool = False) -> tuple[dict[str, torch.Tensor], FeatureCache]:
    """Cached content / style features of every clip (computed once; a re-run reuses)."""
    from fakescope.data.blended import jpeg
    from fakescope.data.blended_sequences import blend_sequence

    cache = FeatureCache(cfg.cache_dir, model.extractor_id)
    need_marks = clips[clips["blend"] >= 0]
    marks: dict[str, np.ndarray] = {}
    if len(need_marks):
        from fakescope.data.landmarks import crop_landmarks

        paths = sorted({p for ps in need_marks["paths"] for p in ps})
        marks = dict(zip(paths, crop_landmarks(paths, Path(cfg.cache_dir) / "landmarks",
                                               rect=cfg.landmarks_rect)))
    model.eval()
    content, style = [], []
    t0 = time.perf_counter()
    for i, row in enumerate(clips.itertuples()):
        def compute(row=row) -> tuple[torch.Tensor, torch.Tensor]:
            frames = _frames(row.paths, cfg.image_size)
            if row.blend >= 0:
                key = int(hashlib.sha1(row.unit.encode()).hexdigest()[:8], 16)
                rng = np.random.default_rng([cfg.seed, row.blend, key])
                points = np.stack([marks[p] for p in row.paths])
                if not np.isfinite(points).all():
                    raise ValueError(f"{row.unit}: a crop without landmarks cannot be blended")
                frames = blend_sequence(frames, points * (cfg.image_size / _native(row.paths[0])),
                                        int(rng.integers(2**31 - 1)))
                if rng.random() < cfg.blend_jpeg_prob:
                    q = int(rng.integers(40, 101))
                    frames = np.stack([jpeg(f, q) for f in frames])
            c, s = model.features(clip_tensor(frames))
            return c[0], s[0]

        try:
            entry = cache.get(row.unit, int(row.label), row.paths, compute)
        except ValueError as exc:
            log.warning("skipped: %s", exc)
            content.append(None)
            style.append(None)
            continue
        content.append(entry["content"].float())
        style.append(entry["style"].float())
        if progress and (i + 1) % 20 == 0:
            print(f"features {i + 1}/{len(clips)} ({time.perf_counter() - t0:.0f} s; "
                  f"reused {cache.stats.reused}, computed {cache.stats.computed})", flush=True)
    keep = np.array([c is not None for c in content])
    out = {"content": torch.stack([c for c in content if c is not None]),
           "style": torch.stack([s for s in style if s is not None]), "keep": torch.from_numpy(keep)}
    return out, cache


def _native(path: str) -> int:
    from fakescope.data.datasets import read_image_rgb

    return read_image_rgb(path).shape[0]


# ------------------------------------------------------------------------------ training
def predict(head, content: torch.Tensor, style: torch.Tensor, batch: int = 64) -> np.ndarray:
    head.eval()
    with torch.no_grad():
        out = [head(content[i : i + batch], style[i : i + batch]) for i in range(0, len(content), batch)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def fit_head(cfg: StyleContentConfig, head, train: tuple, val: tuple, out_dir: Path,
             on_epoch=None) -> dict[str, Any]:
    """Train `head` on (content, style, label) tensors; returns the history and best state."""
    from fakescope.data.mixup import mixup_streams
    from fakescope.train.schedules import EarlyStopping, warm_restarts

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = warm_restarts(opt, cfg.t0_epochs, cfg.t_mult, cfg.eta_min_ratio)
    stopper = EarlyStopping(cfg.patience)
    writer = _writer(out_dir / "tb")
    xc, xs, y = train
    vc, vs, vy = val
    n = len(y)
    batches = max(1, int(np.ceil(n / cfg.batch_size)))
    history, best_state = [], None
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        head.train()
        order = torch.randperm(n, generator=gen)
        total, correct = 0.0, 0.0
        for b in range(batches):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            mixed = mixup_streams((xc[idx], xs[idx]), y[idx], cfg.mixup_alpha, cfg.mixup_prob, gen)
            logits = head(*mixed.xs)
            loss = F.binary_cross_entropy_with_logits(logits, mixed.y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 5.0)
            opt.step()
            sched.step(epoch + (b + 1) / batches)
            total += float(loss.detach()) * len(idx)
            correct += float(((logits > 0).float() == (mixed.y > 0.5).float()).sum())
        vlog = torch.from_numpy(predict(head, vc, vs))
        vloss = float(F.binary_cross_entropy_with_logits(vlog, vy))
        vacc = float(((vlog > 0).float() == vy).float().mean())
        from fakescope.evaluate.metrics import roc_auc

        vauc = float(roc_auc(vy.numpy(), vlog.numpy())) if len(set(vy.tolist())) > 1 else float("nan")
        record = {"epoch": epoch + 1, "train_loss": total / n, "train_accuracy": correct / n,
                  "val_loss": vloss, "val_accuracy": vacc, "val_auc": vauc,
                  "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - start}
        stop = stopper.step(vloss)
        if stopper.improved:
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        history.append(record)
        if writer is not None:
            for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "val_auc", "lr"):
                writer.add_scalar(k.replace("_", "/", 1) if "_" in k else k, record[k], epoch + 1)
        if on_epoch is not None:
            on_epoch(record)
        if stop:
            log.info("early stop at epoch %d (best %d)", epoch + 1, stopper.best_epoch)
            break
        if cfg.max_minutes and time.perf_counter() - start > 60 * cfg.max_minutes:
            log.info("time limit at epoch %d", epoch + 1)
            break
    if writer is not None:
        writer.close()
    return {"history": history, "best_state": best_state, "best_epoch": stopper.best_epoch,
            "stopped_early": stopper.bad_epochs >= stopper.patience}


def _writer(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: no event files, nothing else changes
        return None
    return SummaryWriter(str(path))


# ------------------------------------------------------------------------------ export
def file_level(clips: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """Clip probabilities → one per file as a scan makes it (mean over a track's clips, max
    over tracks). Blends count as files of their own (``video#blend``)."""
    from fakescope.evaluate.aggregate import file_scores

    df = clips.assign(score=probs,
                      file=[v if b < 0 else f"{v}#blend" for v, b in zip(clips["video"], clips["blend"])])
    return file_scores(df, "file", "score", track_col="track_id", label_col="label")


def export_bundle(cfg: StyleContentConfig, model: StyleContent, threshold: float, method: str,
                  extra: dict[str, Any], path: Path) -> str:
    from fakescope.detectors.bundle import BundleMeta, save_bundle

    meta = BundleMeta(model_name="stylecontent", model_kwargs=dict(cfg.model),
                      input_size=cfg.image_size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                      crop_preset="seed004", threshold=float(threshold), threshold_method=method,
                      version="0", detector="stylecontent", unit="clip",
                      sequence_length=cfg.length, frame_step=1, windows=cfg.windows, extra=extra)
    return save_bundle(path, meta, {k: v.detach().cpu() for k, v in model.state_dict().items()})


def run(cfg: StyleContentConfig, progress: bool = True) -> dict[str, Any]:
    from fakescope.evaluate.bootstrap import bootstrap_ci
    from fakescope.evaluate.metrics import roc_auc
    from fakescope.evaluate.threshold import fixed_threshold, select_threshold

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    torch.manual_seed(cfg.seed)
    model = StyleContent(**cfg.model)
    tracks = pd.read_csv(cfg.table)
    clips = clip_table(cfg, tracks)
    t0 = time.perf_counter()
    feats, cache = build_features(cfg, model, clips, progress)
    clips = clips[feats["keep"].numpy()].reset_index(drop=True)
    extract_s = time.perf_counter() - t0
    print(f"features: {len(clips)} clips, reused {cache.stats.reused}, computed "
          f"{cache.stats.computed} {cache.stats.reasons} ({extract_s:.0f} s)", flush=True)
    labels = torch.tensor(clips["label"].to_numpy(), dtype=torch.float32)

    def part(split):
        m = torch.from_numpy((clips["split"] == split).to_numpy().copy())
        return feats["content"][m], feats["style"][m], labels[m]

    def show(r):
        print(f"epoch {r['epoch']}: train_loss={r['train_loss']:.4f} val_loss={r['val_loss']:.4f} "
              f"val_auc={r['val_auc']:.3f} lr={r['lr']:.2e} ({r['seconds']:.0f} s)", flush=True)

    fit = fit_head(cfg, model.head, part("train"), part("val"), out, show if progress else None)
    if fit["best_state"] is not None:
        model.head.load_state_dict(fit["best_state"])
    pd.DataFrame(fit["history"]).to_csv(out / "history.csv", index=False)
    probs = 1.0 / (1.0 + np.exp(-predict(model.head, feats["content"], feats["style"])))
    clips_out = clips.assign(score=probs)
    clips_out.drop(columns=["paths"]).to_csv(out / "clip_scores.csv", index=False)
    val_files = file_level(clips[clips["split"] == "val"], probs[(clips["split"] == "val").to_numpy()])
    try:
        thr = select_threshold(val_files["label"].to_numpy(int), val_files["score"].to_numpy(),
                               "far", cfg.threshold_far)
    except ValueError as exc:
        log.warning("threshold not chosen on validation (%s); 0.5", exc)
        thr = fixed_threshold(0.5)
    test_mask = (clips["split"] == "test").to_numpy()
    test_files = file_level(clips[test_mask], probs[test_mask])
    test_files.to_csv(out / "test_videos.csv", index=False)
    yl, ys = test_files["label"].to_numpy(int), test_files["score"].to_numpy()
    summary: dict[str, Any] = {
        "clips": clips.groupby(["split", "label"]).size().rename("n").reset_index().to_dict("records"),
        "videos": clips[clips["blend"] < 0].groupby(["split", "label"])["video"].nunique()
                       .rename("n").reset_index().to_dict("records"),
        "feature_cache": {"reused": cache.stats.reused, "computed": cache.stats.computed,
                          "reasons": cache.stats.reasons, "seconds": round(extract_s, 1),
                          "root": str(cache.root)},
        "epochs_run": len(fit["history"]), "best_epoch": fit["best_epoch"],
        "stopped_early": fit["stopped_early"],
        "best_val": next((r for r in fit["history"] if r["epoch"] == fit["best_epoch"]), None),
        "threshold": thr.to_dict(),
    }
    if len(set(yl)) > 1:
        ci = bootstrap_ci(_auc, yl, ys, n_bootstrap=1000, seed=0)["auc"]
        flagged = ys >= thr.value
        summary["test"] = {"videos": int(len(yl)), "fake": int(yl.sum()), "real": int((yl == 0).sum()),
                           "video_auc": float(roc_auc(yl, ys)), "auc_ci95": [ci.low, ci.high],
                           "tp": int((flagged & (yl == 1)).sum()), "fp": int((flagged & (yl == 0)).sum()),
                           "tn": int((~flagged & (yl == 0)).sum()), "fn": int((~flagged & (yl == 1)).sum())}
    extra = {"config": {k: v for k, v in dataclasses.asdict(cfg).items()
                        if k not in ("table", "cache_dir", "out_dir")},
             "summary": summary, "history": fit["history"], "extractor": model.extractor_id}
    digest = export_bundle(cfg, model, thr.value, thr.method, extra, out / "detector.pt")
    summary["bundle_sha256"] = digest
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_num) + "\n")
    return summary


def _auc(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from fakescope.evaluate.metrics import roc_auc

    if labels.min() == labels.max():  # a resample with one class: undefined
        return {"auc": float("nan")}
    return {"auc": float(roc_auc(labels, scores))}


def _num(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    raise TypeError(type(obj).__name__)


def run_yaml(raw: dict[str, Any], base: Path, out: Path | None) -> int:
    """`fakescope train CONFIG` with ``recipe: stylecontent``."""
    try:
        cfg = StyleContentConfig.from_mapping(raw, base, where=f"stylecontent config in {base}")
    except (TypeError, ValueError) as exc:
        print(f"fakescope train: {exc}", file=sys.stderr)
        return 2
    if not Path(cfg.table).is_file():
        print(f"fakescope train: {cfg.table}: track table not found (scripts/stylecontent_data.py "
              "writes it)", file=sys.stderr)
        return 2
    if out is not None:
        cfg.out_dir = str(Path(out).resolve())
    summary = run(cfg)
    print(json.dumps({k: summary.get(k) for k in ("test", "threshold", "best_epoch", "epochs_run")},
                     indent=2, default=_num))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="e.g. configs/stylecontent_sbi.yaml (paths relative to it)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    summary = run(StyleContentConfig.load(args.config, args.set))
    print(json.dumps({k: summary.get(k) for k in ("test", "threshold", "best_epoch", "epochs_run")},
                     indent=2, default=_num))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
