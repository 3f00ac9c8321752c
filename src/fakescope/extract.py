"""Cut face crops out of many inputs once, for training: media → frames → faces → crop files,
plus a manifest (`fakescope.data.manifest`) saying where every crop came from.

Resumable by construction: each finished input is appended (fsynced) to ``extract_log.jsonl``
in the output folder *after* its crops are on disk, and the manifest is rebuilt from that log.
A re-run skips inputs whose (path, sha256, config hash) is logged; a killed run loses at most
the inputs it was working on. Bad inputs are logged with their reason and the run goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import io
import json
import logging
import multiprocessing
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from fakescope.data.labels import LABEL_FAKE, LABEL_REAL
from fakescope.data.manifest import (
    STATUS_ERROR,
    STATUS_NO_FACE,
    STATUS_OK,
    landmarks_to_json,
    write_manifest,
)
from fakescope.data.sources import SourceItem
from fakescope.errors import FakescopeError, MediaError
from fakescope.output.atomic import RecordLog, atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

LOG_NAME = "extract_log.jsonl"
CONFIG_NAME = "extract_config.json"
CROPS_DIR = "crops"
#: Reasons worth another try on a re-run (the input itself may be fine).
RETRY_REASONS = frozenset({"internal_error", "worker_crashed"})


@dataclass(frozen=True)
class ExtractConfig:
    """Everything that decides which crops come out, plus how to run.

    Frames per input: `frames_real` / `frames_fake` give uniformly spaced frame counts for
    labelled REAL / FAKE videos (class balancing: seed 001 §2.2.2 takes 40 per REAL and 8 per
    FAKE video because fakes outnumber reals 5:1); inputs without a label, or when the count
    for their label is None, use `sampling` (``uniform:N``, ``every:K``, ``keyframes``, ``all``).
    `detect_max_side` / `min_face_size` (full-resolution pixels) left None take the face
    detector's defaults. `crop_preset` names a faces CropSpec (e.g. ``dfdc_tight``); `margin`,
    when given, overrides the preset's margin, and `align` turns landmark alignment on. `fallback="center"` writes a center crop (flagged) for frames without
    a face; the default ``none`` keeps training data to real detections.
    """

    out_dir: str
    sampling: str = "uniform:32"
    frames_real: int | None = None
    frames_fake: int | None = None
    detector: str = "mtcnn"
    detect_max_side: int | None = None
    min_face_size: float | None = None
    device: str | None = None
    crop_size: int = 224
    crop_preset: str | None = "dfdc_tight"
    margin: float | None = None
    align: bool = False
    policy: str = "all"
    fallback: str = "none"
    image_format: str = "jpg"
    jpeg_quality: int = 95
    workers: int = 1
    manifest_name: str = "manifest.parquet"

    #: Fields that do not change the crops; left out of `config_hash`.
    RUN_ONLY = ("out_dir", "device", "workers", "manifest_name")

    def __post_init__(self) -> None:
        if self.image_format not in ("jpg", "png"):
            raise ValueError(f"image_format must be 'jpg' or 'png', got {self.image_format!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        for name in ("frames_real", "frames_fake"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.policy not in ("all", "largest"):
            raise ValueError(f"policy must be 'all' or 'largest', got {self.policy!r}")
        if self.fallback not in ("none", "center"):
            raise ValueError(f"fallback must be 'none' or 'center', got {self.fallback!r}")

    def crop_settings(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.RUN_ONLY}

    def config_hash(self) -> str:
        text = json.dumps(self.crop_settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class InputStatus:
    """How one input ended: ``ok`` (crops written), ``no_face`` or ``error``."""

    path: str
    status: str
    reason: str | None
    detail: str | None

    def message(self) -> str:
        return f"{self.path}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class ExtractSummary:
    out_dir: str
    manifest_path: str
    config_hash: str
    inputs: int = 0
    processed: int = 0  # inputs worked on in this run
    skipped: int = 0  # inputs already done by an earlier run
    crops: int = 0  # crops (real detections) of all requested inputs
    ok: int = 0
    no_face: int = 0
    failed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    problems: list[InputStatus] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def all_ok(self) -> bool:
        return self.ok == self.inputs


# ------------------------------------------------------------------------ per-input work
def sampling_for(label: int | None, config: ExtractConfig):
    """The frame sampling for an input with this label (class balancing, see ExtractConfig)."""
    from fakescope.media import UniformSampling, parse_sampling

    n = {LABEL_REAL: config.frames_real, LABEL_FAKE: config.frames_fake}.get(label)
    if n is not None:
        return UniformSampling(n, circular_pad=False)
    sampling = parse_sampling(config.sampling)
    if isinstance(sampling, UniformSampling) and sampling.circular_pad:
        # A short video gives each frame once; repeated frames would be duplicate crops.
        sampling = dataclasses.replace(sampling, circular_pad=False)
    return sampling


def build_pipeline(config: ExtractConfig):
    """The face detector + FacePipeline this config asks for (built once per process)."""
    from fakescope.faces import CropSpec, FacePipeline, create_face_detector
    from fakescope.faces.presets import preset_for

    kwargs: dict[str, Any] = {}
    if config.detect_max_side is not None:
        kwargs["detect_max_side"] = config.detect_max_side
    detector = create_face_detector(
        config.detector, device=config.device, min_face_size=config.min_face_size, **kwargs
    )
    # the preset's framing as measured for this face detector's boxes (docs/framing.md)
    spec = preset_for(detector, config.crop_preset) if config.crop_preset else CropSpec()
    if config.margin is not None:
        spec = dataclasses.replace(spec, margin=config.margin)
    if config.align:
        spec = dataclasses.replace(spec, align=True)
    return FacePipeline.from_spec(
        detector, spec, crop_size=config.crop_size, policy=config.policy, fallback=config.fallback
    )


def _safe_stem(path: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).strip("._") or "input"
    return stem[:60]


def _encode(image, config: ExtractConfig) -> bytes:
    buf = io.BytesIO()
    if config.image_format == "jpg":
        Image.fromarray(image).save(buf, format="JPEG", quality=config.jpeg_quality)
    else:
        Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _stat(path: str) -> tuple[int | None, int | None]:
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def process_input(item: SourceItem, config: ExtractConfig, pipeline) -> dict[str, Any]:
    """Probe, sample, find faces and write crops for one input; returns its log record
    (with wall ``timings_s`` and process ``cpu_s`` per stage: probe incl. hashing, decode,
    faces, write).

    A `MediaError` or an input without faces becomes a record with ``status``/``reason``;
    any other exception is recorded as ``internal_error`` (retried on the next run) with the
    traceback in the log, so one input never stops a batch. Interrupts propagate.
    """
    from fakescope.media import probe, read_frames

    size, mtime_ns = _stat(item.path)
    record: dict[str, Any] = {
        "path": item.path,
        "label": item.label,
        "group": item.group,
        "size": size,
        "mtime_ns": mtime_ns,
        "config_hash": config.config_hash(),
        "detector": config.detector,
        "sha256": None,
        "kind": None,
        "status": STATUS_ERROR,
        "reason": None,
        "detail": None,
        "crops": [],
        "timings_s": {},
        "cpu_s": {},
    }
    tick = (time.perf_counter(), time.process_time())

    def lap(name: str) -> None:
        nonlocal tick
        now = (time.perf_counter(), time.process_time())
        record["timings_s"][name] = round(now[0] - tick[0], 4)
        record["cpu_s"][name] = round(now[1] - tick[1], 4)
        tick = now

    try:
        info = probe(item.path)
        record.update(sha256=info.sha256, kind=info.kind)
        lap("probe")
        frames = read_frames(item.path, sampling_for(item.label, config), info=info)
        if not frames:
            raise MediaError(item.path, "no_frames", "no frame could be decoded")
        lap("decode")
        tracks = pipeline.process(frames)
        lap("faces")
        frame_sizes = {f.index: f.image.shape[:2] for f in frames}
        del frames
        folder = Path(CROPS_DIR) / f"{_safe_stem(item.path)}_{info.sha256[:16]}"
        crops = []
        for track in tracks:
            for crop in track.crops:
                tag = "fallback" if crop.fallback else f"t{track.track_id}"
                rel = folder / f"f{crop.frame_index:06d}_{tag}.{config.image_format}"
                atomic_write_bytes(Path(config.out_dir) / rel, _encode(crop.image, config))
                det = crop.detection
                h, w = frame_sizes.get(crop.frame_index, (None, None))
                crops.append(
                    {
                        "crop": rel.as_posix(),
                        "frame_index": crop.frame_index,
                        "time_s": crop.time_s,
                        "track_id": -1 if crop.fallback else track.track_id,
                        "box": list(det.box) if det is not None else None,
                        "landmarks": landmarks_to_json(det.landmarks) if det is not None else None,
                        "confidence": det.confidence if det is not None else None,
                        "fallback": bool(crop.fallback),
                        "frame_width": w,
                        "frame_height": h,
                    }
                )
        crops.sort(key=lambda c: (c["frame_index"], c["track_id"]))
        record["crops"] = crops
        lap("write")
        if any(not c["fallback"] for c in crops):
            record.update(status=STATUS_OK)
        else:
            detector = getattr(pipeline, "detector", None)
            limits = ""
            if detector is not None and hasattr(detector, "config"):
                cfg = detector.config()
                limits = (f" ({cfg.get('name')}: min_face_size {cfg.get('min_face_size'):g} px, "
                          f"min_confidence {cfg.get('min_confidence'):g})")
            record.update(
                status=STATUS_NO_FACE,
                reason="no_face",
                detail=f"no face found in {len(frame_sizes)} sampled frame(s){limits}",
            )
    except MediaError as e:
        record.update(status=STATUS_ERROR, reason=e.reason, detail=e.detail or None)
    except Exception as e:  # noqa: BLE001 - recorded with its traceback, retried next run
        log.warning("%s: unexpected %s", item.path, type(e).__name__, exc_info=True)
        record.update(status=STATUS_ERROR, reason="internal_error", detail=f"{type(e).__name__}: {e}")
    return record


# -------------------------------------------------------------------- worker processes
_WORKER: dict[str, Any] = {}


def _init_worker(config: ExtractConfig) -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker; workers are the parallelism
    _WORKER["config"] = config
    _WORKER["pipeline"] = build_pipeline(config)


def _work(item: SourceItem) -> dict[str, Any]:
    return process_input(item, _WORKER["config"], _WORKER["pipeline"])


def _crashed(item: SourceItem, config: ExtractConfig, error: BaseException) -> dict[str, Any]:
    size, mtime_ns = _stat(item.path)
    return {
        "path": item.path, "label": item.label, "group": item.group, "size": size,
        "mtime_ns": mtime_ns, "config_hash": config.config_hash(), "detector": config.detector,
        "sha256": None, "kind": None, "status": STATUS_ERROR, "reason": "worker_crashed",
        "detail": f"{type(error).__name__}: {error}", "crops": [],
    }


def _run_pool(todo: Sequence[SourceItem], config: ExtractConfig):
    """Yield records as workers finish; at most 2 inputs in flight per worker so that an
    interrupt loses little. A crashed worker (e.g. killed for memory) fails only the inputs
    then in flight; the pool is rebuilt for the rest."""
    ctx = multiprocessing.get_context("spawn")
    pending = list(todo)[::-1]
    while pending:
        pool = cf.ProcessPoolExecutor(
            max_workers=config.workers, mp_context=ctx, initializer=_init_worker,
            initargs=(config,),
        )
        in_flight: dict[cf.Future, SourceItem] = {}
        broken = False
        try:
            while pending or in_flight:
                while pending and len(in_flight) < 2 * config.workers and not broken:
                    item = pending.pop()
                    in_flight[pool.submit(_work, item)] = item
                if not in_flight:
                    break
                done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    item = in_flight.pop(fut)
                    try:
                        yield fut.result()
                    except cf.process.BrokenProcessPool as e:
                        broken = True
                        yield _crashed(item, config, e)
                if broken and not in_flight:
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------- resumption
def _check_config(out_dir: Path, config: ExtractConfig) -> None:
    """An output folder holds crops of one configuration; refuse to mix two (a folder whose
    earlier run logged nothing, e.g. it stopped on a bad setting, takes the new one)."""
    path = out_dir / CONFIG_NAME
    settings = {"config_hash": config.config_hash(), **config.crop_settings()}
    if path.exists():
        old = json.loads(path.read_text())
        logged = next(RecordLog(out_dir / LOG_NAME).records(), None) is not None
        if old.get("config_hash") != settings["config_hash"] and logged:
            changed = sorted(k for k in settings if old.get(k) != settings[k] and k != "config_hash")
            raise FakescopeError(
                f"{out_dir} holds crops made with other settings (changed: {', '.join(changed)}); "
                "use a new output folder"
            )
        if old.get("config_hash") == settings["config_hash"]:
            return
    atomic_write_text(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def _still_done(record: dict[str, Any], item: SourceItem) -> bool:
    """True when `record` still describes `item`: same label/group, same file content."""
    from fakescope.media import sha256_file

    if record.get("reason") in RETRY_REASONS:
        return False
    if record.get("label") != item.label or record.get("group") != item.group:
        return False
    size, mtime_ns = _stat(item.path)
    if size is None:
        return record.get("size") is None  # missing then, missing now
    if (size, mtime_ns) == (record.get("size"), record.get("mtime_ns")):
        return True
    return record.get("sha256") is not None and sha256_file(item.path) == record["sha256"]


def _manifest_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    base = {
        "path": record["path"], "sha256": record.get("sha256"), "kind": record.get("kind"),
        "label": record.get("label"), "group": record.get("group"),
        "detector": record.get("detector"), "config_hash": record.get("config_hash"),
    }
    rows = []
    if record["status"] != STATUS_OK:
        rows.append({**base, "status": record["status"], "reason": record.get("reason"),
                     "detail": record.get("detail")})
    for c in record.get("crops", []):
        if record["status"] != STATUS_OK and not c["fallback"]:
            continue
        box = c.get("box") or [None] * 4
        rows.append({
            **base, "status": STATUS_OK, "crop": c["crop"], "frame_index": c["frame_index"],
            "time_s": c["time_s"], "track_id": c["track_id"], "box_x0": box[0],
            "box_y0": box[1], "box_x1": box[2], "box_y1": box[3],
            "landmarks": c.get("landmarks"), "confidence": c.get("confidence"),
            "fallback": c["fallback"], "frame_width": c.get("frame_width"),
            "frame_height": c.get("frame_height"),
        })
    return rows


def rebuild_manifest(out_dir: str | os.PathLike, config: ExtractConfig) -> Path:
    """Write the manifest from every input logged in `out_dir` under this config (the latest
    record per path wins; rows sorted by path, frame, track so that reruns give the same
    table), atomically. Safe to call at any time, e.g. after a killed run."""
    out_dir = Path(out_dir)
    latest = _latest_records(RecordLog(out_dir / LOG_NAME), config.config_hash())
    rows = [row for path in sorted(latest) for row in _manifest_rows(latest[path])]
    path = out_dir / config.manifest_name
    write_manifest(rows, path)
    return path


def _latest_records(record_log: RecordLog, config_hash: str) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for rec in record_log.records():
        if rec.get("config_hash") == config_hash:
            latest[rec["path"]] = rec
    return latest


# ---------------------------------------------------------------------------- the run
def extract(
    items: Iterable[SourceItem], config: ExtractConfig, progress: bool = True
) -> ExtractSummary:
    """Extract face crops of `items` into ``config.out_dir``; see the module docstring.

    `progress` shows a tqdm bar on stderr. Returns counts over all requested inputs (including
    those done by earlier runs); ``summary.all_ok`` is False when any input failed or had no face.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    unique: dict[str, SourceItem] = {}
    for item in items:
        unique.setdefault(item.path, item)  # a path given twice is one input (first wins)
    items = list(unique.values())
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_config(out_dir, config)
    record_log = RecordLog(out_dir / LOG_NAME)
    latest = _latest_records(record_log, config.config_hash())

    todo: list[SourceItem] = []
    for item in items:
        rec = latest.get(item.path)
        if rec is None or not _still_done(rec, item):
            todo.append(item)
    summary = ExtractSummary(
        out_dir=str(out_dir), manifest_path=str(out_dir / config.manifest_name),
        config_hash=config.config_hash(), inputs=len(items), skipped=len(items) - len(todo),
    )
    bar = tqdm(total=len(items), initial=summary.skipped, desc="extract", unit="input",
               disable=not progress, dynamic_ncols=True)
    try:
        if todo:
            # Built here even for worker processes: a bad detector or preset fails now, once,
            # with its own message, instead of as a crashed pool per input.
            pipeline = build_pipeline(config)
            if config.workers == 1:
                records = (process_input(item, config, pipeline) for item in todo)
            else:
                del pipeline
                records = _run_pool(todo, config)
            for rec in records:
                record_log.append(rec)
                latest[rec["path"]] = rec
                summary.processed += 1
                if rec["status"] != STATUS_OK:
                    log.info("%s: %s (%s)", rec["path"], rec["reason"], rec["detail"])
                bar.update(1)
    finally:
        bar.close()
        rebuild_manifest(out_dir, config)

    for item in items:
        rec = latest[item.path]
        n = sum(1 for c in rec.get("crops", []) if not c["fallback"])
        summary.crops += n if rec["status"] == STATUS_OK else 0
        if rec["status"] == STATUS_OK:
            summary.ok += 1
            continue
        summary.problems.append(
            InputStatus(rec["path"], rec["status"], rec.get("reason"), rec.get("detail"))
        )
        if rec["status"] == STATUS_NO_FACE:
            summary.no_face += 1
        else:
            summary.failed += 1
    summary.by_reason = dict(Counter(p.reason or "unknown" for p in summary.problems))
    summary.seconds = time.perf_counter() - start
    return summary
