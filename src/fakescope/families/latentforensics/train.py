"""Seed 000's training recipe: align the crops of a split table, fit a projector on the real
training faces, code every face, fit each classifier on the training codes, choose thresholds
on validation, measure the test split with bootstrap intervals over identity clusters, and
write one skops detector bundle per classifier.

  python -m fakescope.families.latentforensics.train --table docs/splits/dfdc_faces_split.csv \
      --image-root ../shared/data/dfdc_faces/faces_224 --projector pca --out runs/lf_pca

Every stage is cached in the output folder (aligned faces, projector, codes, one result per
classifier), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.detectors.bundle import BundleMeta
from fakescope.detectors.sk_bundle import safe_loads, save_sk_bundle
from fakescope.evaluate.predict import read_item_table
from fakescope.evaluate.report import evaluate_predictions
from fakescope.evaluate.threshold import select_threshold
from fakescope.families.latentforensics.align import ALIGNED_SIZE, CROP_PRESET
from fakescope.families.latentforensics.classifiers import (
    CLASSIFIERS,
    make_classifier,
    strip_for_saving,
)
from fakescope.families.latentforensics.data import load_faces, prepare_aligned
from fakescope.families.latentforensics.detector import FAMILY
from fakescope.families.latentforensics.projectors import PROJECTORS, Projector, projector_from_state
from fakescope.output.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


@dataclass
class RecipeConfig:
    """What one run trains; defaults are seed 000's where it says, else stated in the docs."""

    table: str
    out_dir: str
    image_root: str | None = None
    projector: str = "pca"
    projector_kwargs: dict[str, Any] = field(default_factory=dict)
    classifiers: tuple[str, ...] = CLASSIFIERS
    max_iter: int = 100  # epochs of SGD for LR / MLPs
    max_per_split: int | None = None  # random subsample per split (None: every crop)
    projector_max_faces: int | None = None  # fit the projector on this many real train faces
    classifier_max_train: int | None = None  # fit classifiers on a random subset of train crops
    threshold_far: float = 0.05  # shipped threshold: this FAR on the real validation faces
    cluster_column: str = "split_group"  # the bootstrap resamples these clusters
    n_bootstrap: int = 1000
    seed: int = 0


def _select(cfg: RecipeConfig) -> pd.DataFrame:
    items = read_item_table(cfg.table, cfg.image_root)
    items = items[items["split"].isin(SPLITS)]
    if cfg.max_per_split:
        parts = [items[items["split"] == s] for s in SPLITS]
        items = pd.concat([d.sample(min(len(d), cfg.max_per_split), random_state=cfg.seed)
                           for d in parts])
    return items.reset_index(drop=True)


def _fit_projector(cfg: RecipeConfig, faces: pd.DataFrame, out: Path) -> Projector:
    import skops.io as sio

    target = out / f"projector_{cfg.projector}.skops"
    if target.is_file():
        return projector_from_state(safe_loads(target.read_bytes(), target))
    proj = PROJECTORS[cfg.projector](**cfg.projector_kwargs)
    real = faces[(faces["split"] == "train") & (faces["label"] == 0)]
    if cfg.projector_max_faces and len(real) > cfg.projector_max_faces:
        real = real.sample(cfg.projector_max_faces, random_state=cfg.seed)
    arr = load_faces(real["path"].tolist(), proj.resolution)
    t0 = time.time()
    proj.fit([arr[i : i + 1024] for i in range(0, len(arr), 1024)])
    log.info("projector %s fitted on %d real faces in %.0fs", cfg.projector, len(arr), time.time() - t0)
    atomic_write_bytes(target, sio.dumps(proj.state()))
    return proj


def _codes(proj: Projector, faces: pd.DataFrame, out: Path) -> np.ndarray:
    target = out / f"codes_{proj.kind}.npy"
    if target.is_file():
        codes = np.load(target)
        if len(codes) == len(faces):
            return codes
    arr = load_faces(faces["path"].tolist(), proj.resolution)
    codes = np.concatenate([proj.transform(arr[i : i + 256]) for i in range(0, len(arr), 256)])
    np.save(target, codes)
    return codes


def _portable(training: dict) -> dict:
    """The training settings with paths relative to the working directory: a bundle that
    travels must not carry the training machine's absolute paths."""
    out = dict(training)
    for key in ("table", "image_root", "out_dir"):
        if out.get(key):
            out[key] = os.path.relpath(str(out[key]))
    return out


def _measure(cfg: RecipeConfig, name: str, model, codes: np.ndarray, faces: pd.DataFrame,
             proj: Projector, out: Path, n_fit: int) -> dict[str, Any]:
    """Val thresholds, test metrics with cluster-bootstrap intervals, and the bundle."""
    fake = list(model.classes_).index(1)
    score = {s: model.predict_proba(codes[faces["split"].to_numpy() == s])[:, fake] for s in SPLITS}
    part = {s: faces[faces["split"] == s] for s in SPLITS}
    y_val = part["val"]["label"].to_numpy()
    shipped = select_threshold(y_val, score["val"], "far", cfg.threshold_far)
    best_acc = select_threshold(y_val, score["val"], "accuracy")
    test = part["test"]
    clusters = test[cfg.cluster_column].astype(str).to_numpy()
    rep = {}
    for key, thr in (("far", shipped), ("accuracy", best_acc)):
        r = evaluate_predictions(test["label"].to_numpy(), score["test"], threshold=thr,
                                 clusters=clusters, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
        rep[key] = r.to_dict()
    strip_for_saving(model)
    meta = BundleMeta(
        model_name=f"{FAMILY}_{proj.kind}_{name}", model_kwargs={}, input_size=ALIGNED_SIZE,
        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), crop_preset=CROP_PRESET,
        threshold=float(shipped.value), threshold_method="far", version="1", detector=FAMILY,
        extra={"projector": proj.kind, "classifier": name,
               "val": {"threshold": shipped.to_dict()},
               "val_accuracy_threshold": best_acc.to_dict(),
               "training": _portable({k: v for k, v in asdict(cfg).items()
                                      if k != "classifiers"}),
               "n_train": n_fit},
    )
    bundle = out / f"{FAMILY}_{proj.kind}_{name}.skops"
    sha = save_sk_bundle(bundle, meta, {"projector": proj.state(), "classifier": model})
    return {"projector": proj.kind, "classifier": name, "bundle": bundle.name, "sha256": sha,
            "bytes": bundle.stat().st_size, "threshold_far": shipped.to_dict(),
            "threshold_accuracy": best_acc.to_dict(), "test": rep,
            "n": {s: int(len(part[s])) for s in SPLITS}}


def run_recipe(cfg: RecipeConfig) -> dict[str, dict[str, Any]]:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = prepare_aligned(_select(cfg), out / "aligned", cache_dir=out / "cache")
    log.info("aligned %d faces (%d without landmarks left out)", prepared.n_written, prepared.n_skipped)
    faces = read_item_table(prepared.table)  # absolute paths again
    proj = _fit_projector(cfg, faces, out)
    codes = _codes(proj, faces, out)
    is_train = faces["split"].to_numpy() == "train"
    if cfg.classifier_max_train and is_train.sum() > cfg.classifier_max_train:
        keep = np.random.default_rng(cfg.seed).choice(np.flatnonzero(is_train),
                                                      cfg.classifier_max_train, replace=False)
        is_train = np.zeros(len(faces), bool)
        is_train[keep] = True
    results = {}
    for name in cfg.classifiers:
        target = out / "results" / f"{proj.kind}_{name}.json"
        if target.is_file():
            results[name] = json.loads(target.read_text())
            continue
        t0 = time.time()
        model = make_classifier(name, seed=cfg.seed, max_iter=cfg.max_iter)
        model.fit(codes[is_train], faces.loc[is_train, "label"].to_numpy())
        res = _measure(cfg, name, model, codes, faces, proj, out, int(is_train.sum()))
        res["fit_seconds"] = round(time.time() - t0, 1)
        res["n_skipped_no_landmarks"] = prepared.n_skipped
        res["n_train_classifier"] = int(is_train.sum())
        atomic_write_text(target, json.dumps(res, indent=2, default=float))
        auc = res["test"]["far"]["levels"]["frame"]["metrics"]["auc"]
        log.info("%s %s: test auc %.4f (%.0fs)", proj.kind, name, auc, res["fit_seconds"])
        results[name] = res
    if proj.kind == "stylegan" and not (out / "results" / "per_channel.json").is_file():
        _per_channel(cfg, proj, codes, faces, out)
    return results


def _number(v: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v


def _per_channel(cfg: RecipeConfig, proj: Projector, codes: np.ndarray, faces: pd.DataFrame,
                 out: Path) -> None:
    """Seed 000 Fig. 5, when the codes are StyleGAN W+ codes."""
    from fakescope.families.latentforensics.study import per_channel_accuracy, plot_per_channel

    g = proj.generator
    split = faces["split"].to_numpy()
    res = per_channel_accuracy(codes.reshape(len(codes), g.num_ws, g.w_dim),
                               faces["label"].to_numpy(), split == "train", split == "test",
                               max_iter=cfg.max_iter, seed=cfg.seed)
    atomic_write_text(out / "results" / "per_channel.json", json.dumps(
        {"weights_sha256": proj.sha256, "accuracy": res}, indent=2))
    plot_per_channel(res, out / "per_channel.png", f"per-channel accuracy, StyleGAN2 "
                     f"{proj.sha256[:12]}")


def config_from_yaml(raw: dict[str, Any], base: Path, out: Path | None = None) -> RecipeConfig:
    """A `RecipeConfig` from a YAML mapping (without ``recipe``): `table`, `image_root` and
    `out_dir` relative to the YAML's folder `base`; `out` (``--out``) replaces `out_dir`.
    ValueError on an unknown or ill-typed setting."""
    from dataclasses import fields

    raw = dict(raw)
    known = {f.name for f in fields(RecipeConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown latentforensics setting(s) {unknown}; known: {sorted(known)}")
    for key in ("table", "image_root", "out_dir"):
        if raw.get(key) is not None and not Path(raw[key]).is_absolute():
            raw[key] = str((base / raw[key]).resolve())
    if out is not None:
        raw["out_dir"] = str(out)
    if "classifiers" in raw:
        raw["classifiers"] = tuple(raw["classifiers"])
    try:
        return RecipeConfig(**raw)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def run_yaml(raw: dict[str, Any], base: Path, out: Path | None) -> int:
    """`fakescope train CONFIG` with ``recipe: latentforensics`` (registered by the package's
    ``__init__``, so running this module with ``-m`` does not register it twice)."""
    try:
        cfg = config_from_yaml(raw, base, out)
    except ValueError as exc:
        print(f"fakescope train: {exc}", file=sys.stderr)
        return 2
    _report(run_recipe(cfg))
    return 0


def _report(results: dict[str, dict[str, Any]]) -> None:
    for name, res in results.items():
        m = res["test"]["accuracy"]["levels"]["frame"]
        print(f"{res['projector']} {name}: auc {m['metrics']['auc']:.4f} "
              f"accuracy {m['metrics']['accuracy']:.4f}  bundle {res['bundle']} "
              f"sha256 {res['sha256']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--image-root")
    ap.add_argument("--out", required=True)
    ap.add_argument("--projector", default="pca", choices=sorted(PROJECTORS))
    ap.add_argument("--projector-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="projector parameter, e.g. resolution=32 or weights=sg2.pt (repeatable)")
    ap.add_argument("--classifiers", default=",".join(CLASSIFIERS))
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--max-per-split", type=int)
    ap.add_argument("--classifier-max-train", type=int,
                    help="fit the classifiers on a random subset of this many training crops")
    ap.add_argument("--projector-max-faces", type=int,
                    help="fit the projector on at most this many real training faces")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    kwargs = {}
    for kv in args.projector_arg:
        k, _, v = kv.partition("=")
        kwargs[k] = _number(v)
    cfg = RecipeConfig(table=args.table, image_root=args.image_root, out_dir=args.out,
                       projector=args.projector, projector_kwargs=kwargs,
                       classifiers=tuple(args.classifiers.split(",")), max_iter=args.max_iter,
                       max_per_split=args.max_per_split,
                       projector_max_faces=args.projector_max_faces,
                       classifier_max_train=args.classifier_max_train, n_bootstrap=args.n_bootstrap, seed=args.seed)
    _report(run_recipe(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())

