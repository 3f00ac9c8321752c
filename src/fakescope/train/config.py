"""Training configuration: typed dataclasses with defaults that work, loadable from YAML.

A YAML file names only what it changes; every other value keeps its default. Unknown keys are
an error (a typo must not silently fall back to a default). Relative paths in a YAML file are
relative to that file's folder, so a config keeps working wherever the repository is checked
out; paths given on the command line (``--set data.table=...``) are relative to the working
directory, like any other command-line path. A data source given on the command line
(``data.table`` or ``data.crops_csv``) replaces the one in the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fakescope.errors import FakescopeError


class ConfigError(FakescopeError):
    """A training configuration that cannot be used (unknown key, bad value, bad file)."""


def _path(default: str | None = None, doc: str = ""):
    """A field holding a filesystem path (resolved against the YAML file's folder)."""
    return field(default=default, metadata={"path": True, "doc": doc})


@dataclass
class DataConfig:
    """Where the face crops come from and how they are fed.

    Either `table` (CSV or parquet with ``path,label,group,split``; `split` is
    train/val/test) or `crops_csv` (a crop CSV read by
    :func:`fakescope.data.public_layouts.read_crop_csv`, split on the fly by
    :func:`fakescope.data.splits.group_split` with `split_fractions` and `split_seed`).
    Relative image paths in either are resolved against `image_root` (default: the table's
    folder).
    """

    table: str | None = _path()
    crops_csv: str | None = _path()
    image_root: str | None = _path()
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    train_split: str = "train"
    val_split: str = "val"
    image_size: int = 64
    # Input normalisation: None = the model's own (`models.model_spec(name)`, what its
    # pretrained weights expect). The resolved values travel in the bundle.
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    crop_preset: str = "dfdc_tight"  # framing the crops were cut with; travels in the bundle
    cache_dir: str | None = _path()  # preloaded uint8 arrays are cached here (.npy)
    max_train: int | None = None  # take at most this many rows (seeded, stratified) — smoke runs
    max_val: int | None = None
    # Extra training-only rows (``path,label[,group]``; relative paths against that table's
    # folder): faces of another kind of footage (e.g. real frames of the shared videos set
    # aside for training by scripts/split_shared_videos.py). Never used for validation.
    extra_train: str | None = _path()
    extra_repeat: int = 1  # each extra row appears this many times per epoch (few, correlated frames)
    # Crop units only, one process: `class_balance` draws each epoch's items with probability
    # inversely proportional to their class's frequency (seed 001 §2.2.2: as many real faces as
    # fake ones); `epoch_size` caps an epoch at that many items, a new draw without
    # replacement every epoch (a CPU budget over a large table). None: every row once.
    class_balance: bool = False
    epoch_size: int | None = None


@dataclass
class BlendConfig:
    """Self-blended training fakes (`fakescope.data.blended`): ``none``; ``mix`` (a share
    `fake_fraction` of the fake slots become self-blends of real crops); ``only`` (real crops
    and their self-blends, no real-world fake: the SBI protocol). `landmarks_rect`: how the
    68 dlib points of each real crop are found (cached in `data.cache_dir`). `synth`: how a
    blend is made (``default``: `SelfBlendConfig()`; ``sbi``: SBI's published choices, four
    hull shapes, `SelfBlendConfig.sbi()`). `pairs` (``only``): SBI's batches, each real crop
    beside its own blend under one augmentation draw; `batch_size` then counts pairs.
    `val_jpeg_prob` (``val_mode: blend``): the share of validation crops re-compressed (fixed
    draws); 0 scores blends as made, where the crop file's JPEG grid survives outside the mask
    only — a cue no real-world fake carries, which flatters validation. `source_sides`: a CSV
    giving each crop's face side in its source video (``videoname``/``path`` and
    ``original_width``/``source_side`` columns, matched by file stem: DFDC's metadata.csv);
    each blend is then made on a copy at that side (not below `min_source_side`) and only its
    change, upscaled, is added to the crop; real crops stay as decoded (`fakescope.data.blended`)."""

    mode: str = "none"
    fake_fraction: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 100)  # at native resolution, both classes
    jpeg_prob: float = 0.5
    val_jpeg_prob: float = 0.0
    native_size: int = 224
    landmarks_rect: str = "fixed"
    val_mode: str = "real"  # real: validate on the table's val rows; blend: val reals + blends
    synth: str = "default"
    pairs: bool = False
    source_sides: str | None = _path()
    min_source_side: int = 64


@dataclass
class SequenceConfig:
    """What one training item is (`detectors.base.DetectorRequirements`): a ``crop``, or a
    ``sequence`` / ``clip`` of `length` crops of one track, 1 in `frame_step` video frames,
    cut from the table's tracks (``video``, ``frame_index``[, ``track_id``] columns). Training
    windows start every `train_step` crops (None: half a window apart); validation takes
    non-overlapping ones. `stratified`: each epoch draws one random sequence per video (seed
    003 §3.1), with the smaller class's videos drawn again to balance. `windows`: how many
    units a scan of one file takes (travels in the bundle)."""

    unit: str = "crop"
    length: int = 1
    frame_step: int = 1
    train_step: int | None = None
    stratified: bool = True
    windows: int = 4


@dataclass
class LossConfig:
    """``bce`` on the model's logit, ``ce`` (softmax cross-entropy over a two-class head that
    keeps ``last_class_logits``; seed 001's log loss), or ``hypersphere`` (seed 003 Eq. 2): real units pulled
    within `r_minus` of a fixed centre c, fakes pushed beyond `r_plus`. The model must set
    ``last_embedding`` in its forward and hold c in a ``center`` buffer; c is the mean
    embedding of up to `center_batches` batches of real training units under the untrained
    network (seed 003 §3.3), computed once before the first epoch."""

    name: str = "bce"
    r_minus: float = 0.042
    r_plus: float = 1.638
    center_batches: int = 8


@dataclass
class ModelConfig:
    name: str = "fakebuster"
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to models.create_model
    # Fine-tune: start from the weights of a detector bundle of the same architecture (its
    # sha256 is recorded in summary.json and the new bundle) instead of the model's own init.
    init_from: str | None = _path()


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)  # adamw
    momentum: float = 0.9  # sgd
    nesterov: bool = True  # sgd
    # Per-block learning-rate decay (seed 003): the head trains at `lr`, the block before it at
    # lr*layer_decay, the one before that at lr*layer_decay**2, ... down to the stem. 1 = off.
    layer_decay: float = 1.0
    no_decay_norm_bias: bool = True  # no weight decay on biases and normalisation weights
    grad_clip: float | None = None  # max global gradient norm


@dataclass
class ScheduleConfig:
    """`cosine_restarts` (seed 004: SGDR, T0 = 10 epochs doubling, eta_min = lr/100),
    `onecycle`, `plateau` (reduce on validation-loss plateau) or `constant`."""

    name: str = "cosine_restarts"
    t0_epochs: float = 10.0
    t_mult: int = 2
    eta_min_ratio: float = 0.01
    pct_start: float = 0.3  # onecycle
    div_factor: float = 25.0  # onecycle
    final_div_factor: float = 1e4  # onecycle
    factor: float = 0.1  # plateau
    patience: int = 3  # plateau


@dataclass
class AugmentConfig:
    """Training augmentation (fakescope.data.augment.build_augment); strength in [0, 1]."""

    enabled: bool = True
    strength: float = 0.5
    cutout: bool = True  # CoarseDropout (seed 002); off = seed 001's set exactly
    # seed001: seed 001's set scaled by strength; sbi: SBI's (flip, RGB shift, HSV,
    # brightness/contrast at p = 0.3 — nothing that blurs or hides a blending boundary)
    preset: str = "seed001"
    # Real video-codec compression (data.augment.VideoCodecCompression) on this share of
    # crops, real and fake alike: one of `codecs` at a CRF in `codec_crf`, after a downscale
    # by a factor in `codec_scale`. 0 = off.
    codec_prob: float = 0.0
    codecs: tuple[str, ...] = ("h264", "hevc", "vp9")
    codec_crf: tuple[int, int] = (23, 45)
    codec_scale: tuple[float, float] = (0.25, 1.0)

    def codec_transform(self):
        """The codec step, or None when off."""
        if not self.codec_prob:
            return None
        from fakescope.data.augment import VideoCodecCompression

        return VideoCodecCompression(self.codecs, self.codec_crf, self.codec_scale,
                                     p=self.codec_prob)


@dataclass
class ProgressiveConfig:
    """Progressive learning (seed 002 §3.3): the augmentation strength rises linearly from
    `start` at the first epoch to `end` at the last; replaces `augment.strength`."""

    enabled: bool = True
    start: float = 0.1
    end: float = 1.0


@dataclass
class MixupConfig:
    enabled: bool = True
    alpha: float = 0.2
    prob: float = 0.7  # fraction of batches that get mixed (seed 004: 70 %)


@dataclass
class PruningConfig:
    """One-cycle L1 unstructured pruning from the first step (seed 002 §3.4)."""

    enabled: bool = False
    sparsity: float = 0.5
    schedule: str = "one_cycle"
    local: bool = True


@dataclass
class DistillConfig:
    """Knowledge distillation from a trained detector bundle (the teacher)."""

    teacher: str | None = _path()
    temperature: float = 4.0
    alpha: float = 0.5  # weight of the distillation term


@dataclass
class EarlyStoppingConfig:
    enabled: bool = True
    patience: int = 12  # seed 004
    monitor: str = "val_loss"  # val_loss | val_auc
    min_delta: float = 0.0


@dataclass
class ExportConfig:
    """The detector bundle written at the end of training (from the best epoch)."""

    enabled: bool = True
    threshold_method: str = "youden"  # fakescope.evaluate.threshold: youden|accuracy|far|...
    threshold_target: float | None = None  # the FAR to allow, for threshold_method "far"
    detector: str = "fakebuster"  # detector family that runs the bundle
    half: bool = False  # store weights in fp16 (half the file size)
    version: str = "0"


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    progressive: ProgressiveConfig = field(default_factory=ProgressiveConfig)
    mixup: MixupConfig = field(default_factory=MixupConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    amp: bool = True  # mixed precision; only takes effect on CUDA
    seed: int = 0
    epochs: int = 30
    batch_size: int = 64  # per process
    eval_batch_size: int | None = None  # default: 2 * batch_size
    num_workers: int = 0
    device: str = "auto"
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default
    out_dir: str = _path("runs/train")

    def validate(self) -> TrainConfig:
        """Raise ConfigError for values no code path accepts; returns self."""
        checks = [
            (self.optim.name in ("adamw", "adam", "sgd"),
             f"optim.name {self.optim.name!r} is not adamw|adam|sgd"),
            (self.sequence.unit in ("crop", "sequence", "clip"),
             f"sequence.unit {self.sequence.unit!r} is not crop|sequence|clip"),
            ((self.sequence.unit == "crop") == (self.sequence.length == 1),
             "sequence.length is 1 for unit crop and > 1 for sequence / clip"),
            (self.sequence.frame_step >= 1 and self.sequence.windows >= 1,
             "sequence.frame_step and sequence.windows must be >= 1"),
            (self.sequence.unit != "clip" or self.sequence.frame_step == 1,
             "a clip is consecutive frames: sequence.frame_step must be 1"),
            (self.loss.name in ("bce", "ce", "hypersphere"),
             f"loss.name {self.loss.name!r} is not bce|ce|hypersphere"),
            (self.data.epoch_size is None or self.data.epoch_size >= 1,
             "data.epoch_size must be >= 1"),
            (0 <= self.loss.r_minus < self.loss.r_plus, "loss needs 0 <= r_minus < r_plus"),
            (self.loss.center_batches >= 1, "loss.center_batches must be >= 1"),
            (
                self.schedule.name in ("cosine_restarts", "onecycle", "plateau", "constant"),
                f"schedule.name {self.schedule.name!r} is not cosine_restarts|onecycle|plateau|constant",
            ),
            (self.early_stopping.monitor in ("val_loss", "val_auc"),
             f"early_stopping.monitor {self.early_stopping.monitor!r} is not val_loss|val_auc"),
            (self.pruning.schedule == "one_cycle",
             f"pruning.schedule {self.pruning.schedule!r} is not one_cycle"),
            (0.0 <= self.pruning.sparsity < 1.0, "pruning.sparsity must be in [0, 1)"),
            (self.optim.lr > 0, "optim.lr must be > 0"),
            (0 < self.optim.layer_decay <= 1.0, "optim.layer_decay must be in (0, 1]"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.num_workers >= 0, "num_workers must be >= 0"),
            (self.data.image_size >= 16, "data.image_size must be >= 16"),
            (self.data.extra_repeat >= 1, "data.extra_repeat must be >= 1"),
            (0.0 <= self.mixup.prob <= 1.0, "mixup.prob must be in [0, 1]"),
            (self.mixup.alpha > 0, "mixup.alpha must be > 0"),
            (0.0 <= self.distill.alpha <= 1.0, "distill.alpha must be in [0, 1]"),
            (self.distill.temperature > 0, "distill.temperature must be > 0"),
            (self.schedule.t0_epochs > 0 and self.schedule.t_mult >= 1,
             "schedule.t0_epochs must be > 0 and schedule.t_mult >= 1"),
            (len(self.data.split_fractions) == 3, "data.split_fractions needs 3 numbers"),
            (self.blend.mode in ("none", "mix", "only"),
             f"blend.mode {self.blend.mode!r} is not none|mix|only"),
            (self.blend.val_mode in ("real", "blend"),
             f"blend.val_mode {self.blend.val_mode!r} is not real|blend"),
            (0.0 <= self.blend.fake_fraction <= 1.0, "blend.fake_fraction must be in [0, 1]"),
            (0.0 <= self.blend.jpeg_prob <= 1.0 and 0.0 <= self.blend.val_jpeg_prob <= 1.0,
             "blend.jpeg_prob and blend.val_jpeg_prob must be in [0, 1]"),
            (self.blend.landmarks_rect in ("fixed", "detect"),
             "blend.landmarks_rect must be fixed|detect"),
            (self.blend.synth in ("default", "sbi"), f"blend.synth {self.blend.synth!r} is not default|sbi"),
            (not self.blend.pairs or self.blend.mode == "only", "blend.pairs needs blend.mode: only"),
            (not (self.blend.pairs and self.data.class_balance),
             "blend.pairs: every pair holds one crop of each class; drop data.class_balance"),
            (self.augment.preset in ("seed001", "sbi"),
             f"augment.preset {self.augment.preset!r} is not seed001|sbi"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if not 0.0 <= self.augment.strength <= 1.0:
            raise ConfigError(f"augment.strength must be in [0, 1], got {self.augment.strength}")
        for name in ("start", "end"):
            value = getattr(self.progressive, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"progressive.{name} must be in [0, 1], got {value}")
        from fakescope.evaluate.threshold import METHODS

        chosen = [m for m in METHODS if m != "fixed"]
        if self.export.threshold_method not in chosen:
            raise ConfigError(f"export.threshold_method {self.export.threshold_method!r} is not "
                              f"one of {chosen}")
        if (self.export.threshold_method == "far") != (self.export.threshold_target is not None):
            raise ConfigError("export.threshold_target (the FAR to allow) goes with "
                              "export.threshold_method: far, and only with it")
        if self.loss.name == "hypersphere" and (self.mixup.enabled or self.distill.teacher):
            raise ConfigError("loss hypersphere takes hard labels: set mixup.enabled false and "
                              "no distill.teacher")
        if (self.data.table is None) == (self.data.crops_csv is None):
            raise ConfigError("set exactly one of data.table or data.crops_csv")
        return self

    def normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) fed to the model: the config's, else the model's registered ones."""
        from fakescope.models import model_spec

        spec = model_spec(self.model.name)
        mean = tuple(self.data.mean) if self.data.mean is not None else spec.mean
        std = tuple(self.data.std) if self.data.std is not None else spec.std
        return mean, std

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict (tuples become lists)."""
        return _plain(dataclasses.asdict(self))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- loading
def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    validate: bool = True,
) -> TrainConfig:
    """Defaults ← YAML file (paths relative to its folder) ← ``key.sub=value`` overrides
    (paths relative to the working directory)."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        raw = _resolve_paths(TrainConfig, loaded, path.resolve().parent, where=str(path))
    keys = set()
    for item in overrides:
        key, value = parse_override(item)
        keys.add(key)
        sub = _resolve_paths(TrainConfig, _nest(key, value), Path.cwd(), where="--set")
        _merge(raw, sub)
    # A data source named on the command line replaces the file's (table vs crop CSV).
    for chosen, other in (("table", "crops_csv"), ("crops_csv", "table")):
        if f"data.{chosen}" in keys and f"data.{other}" not in keys:
            raw.get("data", {}).pop(other, None)
    cfg = config_from_dict(raw, where=str(path) if path else "config")
    return cfg.validate() if validate else cfg


def config_from_dict(raw: dict[str, Any], where: str = "config") -> TrainConfig:
    """Build a TrainConfig from a nested dict (e.g. one saved in a checkpoint)."""
    return _build(TrainConfig, raw, where)


def parse_override(item: str) -> tuple[str, Any]:
    """``"optim.lr=1e-3"`` → ``("optim.lr", "1e-3")``; the value is read as YAML
    (``[1, 2]``, ``null``, ``true`` work)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-3")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return key, value


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cur = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    """Deep merge: ``--set model.kwargs.expand=2`` keeps the other model kwargs."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _resolve_paths(cls: type, raw: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    out = dict(raw)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in out:
            continue
        value = out[f.name]
        if f.metadata.get("path") and isinstance(value, str) and value:
            p = Path(value).expanduser()
            out[f.name] = str(p if p.is_absolute() else (base / p).resolve())
        elif dataclasses.is_dataclass(hints[f.name]) and isinstance(value, dict):
            out[f.name] = _resolve_paths(hints[f.name], value, base, where)
    return out


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown} in section {cls.__name__}; known: {sorted(names)}"
        )
    kwargs = {}
    for key, value in raw.items():
        kwargs[key] = _coerce(hints[key], value, f"{where}: {key}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check/convert one YAML value to the annotated type (YAML reads ``1e-3`` as a string)."""
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if tp is Any:
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise ConfigError(f"{where}: unsupported config type {tp!r}")


def dump_config(cfg: TrainConfig) -> str:
    """YAML text of the full, resolved configuration (written next to every run)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
