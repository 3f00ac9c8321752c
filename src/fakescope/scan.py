"""The scan pipeline: one input → media → faces → detector → aggregate → `ScanResult`, and a
resumable batch over many inputs.

Decisions (documented for users in `fakescope scan --help`):

- Tracks seen in fewer than `min_track_frames` (3) sampled frames are ignored when a person is
  seen in at least that many (false detections); alone, they are scored.
- Track score = `evaluate.aggregate_scores` of its crops' probabilities (default ``mean``);
  file score = the **max over tracks**: a video is fake if any person in it is fake.
- Verdict: ``fake`` iff score >= threshold (the threshold comes with the weights unless the
  caller overrides it), else ``real``.
- No evidence → ``abstain`` with a reason and no score, never a made-up one:
  ``no_face`` (readable, but no face in any sampled frame) or
  ``unreadable: <reason> (<detail>)`` (a `MediaError`; reason is its code: missing, empty,
  not_media, truncated, unsupported_codec, no_frames, ...).
- An unexpected failure inside fakescope on one input → verdict ``error`` with
  ``error: <type>: <message>``; the batch goes on and the input is retried on a re-run.
- Timeline: for each sampled frame with a scored face, the max probability over its faces.
- Exit codes (virus-scanner style): 0 nothing fake found; 1 something fake found; 2 some
  inputs could not be scanned (unreadable or error). 2 wins over 1: a run with failures is
  incomplete, and its report still lists whatever fakes were found.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fakescope.detectors.base import Detector
from fakescope.errors import FakescopeError, MediaError
from fakescope.evaluate.aggregate import aggregate_scores
from fakescope.output.atomic import RecordLog, atomic_write_text
from fakescope.output.formats import result_from_dict, result_to_dict, to_json_line
from fakescope.types import FaceCrop, FaceTrack, ScanResult, TimelinePoint, TrackResult

log = logging.getLogger(__name__)

EXIT_CLEAN, EXIT_FAKE, EXIT_INCOMPLETE = 0, 1, 2
REASON_NO_FACE = "no_face"
UNREADABLE = "unreadable"


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def is_failure(result: ScanResult) -> bool:
    """The input could not be scanned (counts toward exit code 2)."""
    return result.verdict == "error" or (
        result.verdict == "abstain" and (result.reason or "").startswith(UNREADABLE)
    )


def exit_code(results: Iterable[ScanResult]) -> int:
    """0 nothing fake found, 1 something fake found, 2 some inputs could not be scanned."""
    results = list(results)
    if any(is_failure(r) for r in results):
        return EXIT_INCOMPLETE
    if any(r.verdict == "fake" for r in results):
        return EXIT_FAKE
    return EXIT_CLEAN


@dataclasses.dataclass
class FoundFaces:
    """What the front half found in one readable file with at least one person."""

    path: str
    info: object  # fakescope.media.MediaInfo
    tracks: list[FaceTrack]
    timings: dict[str, float]
    t_start: float


class Scanner:
    """Scans one file at a time with one detector and one face pipeline (built once).

    detector: a `Detector`; its requirements set the crop size and framing.
    face_detector: a `fakescope.faces` detector name (``mtcnn``, ``dlib``, ``haar``) or instance.
    sampling: which video frames to look at (``uniform:32``, ``every:10``, ``keyframes``,
      ``all`` or a sampling object). Uniform sampling never repeats frames here.
    policy: ``all`` faces or only the ``largest`` per frame.
    aggregation: crop → track method, one of `evaluate.aggregate.METHODS`.
    threshold: overrides the detector's own threshold.
    """

    def __init__(
        self,
        detector: Detector,
        face_detector="mtcnn",
        sampling="uniform:32",
        policy: str = "all",
        aggregation: str = "mean",
        threshold: float | None = None,
        device: str | None = None,
        min_track_frames: int = 3,
    ) -> None:
        from fakescope.evaluate.aggregate import METHODS
        from fakescope.faces import FacePipeline, create_face_detector
        from fakescope.media import UniformSampling, parse_sampling

        req = detector.requirements
        if req.sequence_length != 1:
            raise ValueError(
                f"detector {detector.info.name!r} scores sequences of {req.sequence_length} "
                "crops; this scanner feeds single crops"
            )
        if aggregation not in METHODS:
            raise ValueError(f"aggregation must be one of {METHODS}, got {aggregation!r}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if min_track_frames < 1:
            raise ValueError(f"min_track_frames must be >= 1, got {min_track_frames}")
        self.detector = detector
        self.min_track_frames = int(min_track_frames)
        self.aggregation = aggregation
        self.threshold = float(detector.threshold if threshold is None else threshold)
        sampling = parse_sampling(sampling)
        if isinstance(sampling, UniformSampling) and sampling.circular_pad:
            # Padding repeats frames of short videos; a repeated frame is no new evidence.
            sampling = dataclasses.replace(sampling, circular_pad=False)
        self.sampling = sampling
        if isinstance(face_detector, str):
            face_detector = create_face_detector(face_detector, device=device)
        self.faces = FacePipeline.from_spec(
            face_detector,
            req.crop_preset,  # the framing the model was trained on
            crop_size=req.input_size,
            policy=policy,
            fallback="none",  # a frame without a face is no evidence, never a center crop
        )

    # ------------------------------------------------------------------ one input
    def scan_file(self, path: str | Path, explain_dir: str | Path | None = None) -> ScanResult:
        """Scan one image or video. A `MediaError` becomes an ``abstain`` result naming the
        cause; other exceptions propagate (the batch runner records them)."""
        front = self.find_faces(path)
        if isinstance(front, ScanResult):
            return front
        return self.score_faces(front, explain_dir=explain_dir)

    def find_faces(self, path: str | Path) -> FoundFaces | ScanResult:
        """The front half (media → faces → tracks of real detections): the people to score,
        or the ``abstain`` result when there is no evidence."""
        from fakescope.media import probe, read_frames

        path = str(path)
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        info = None
        try:
            with _timed(timings, "probe"):  # includes the sha256 of the whole file
                info = probe(path)
            with _timed(timings, "decode"):
                frames = read_frames(path, self.sampling, info=info)
            if not frames:
                raise MediaError(path, "no_frames", "no frame could be decoded")
        except MediaError as err:
            timings["total"] = time.perf_counter() - t_start
            reason = f"{UNREADABLE}: {err.reason}" + (f" ({err.detail})" if err.detail else "")
            return self._result(path, info, "abstain", None, reason, timings=timings,
                                sha256=None if info is not None else _try_hash(path))

        with _timed(timings, "faces"):
            tracks = self._real_tracks(self.faces.process(frames))
        # A person is a track seen in several sampled frames: beside one, a track seen in one or
        # two frames is more often a false detection (a poster, a pattern) than a person. When
        # no track is that long (a face the tracker lost and found again, a very short clip),
        # the short ones are all the evidence there is, and they are scored rather than dropped.
        need = min(self.min_track_frames, len(frames))
        long_enough = [t for t in tracks if len(t.crops) >= need]
        if long_enough:
            tracks = long_enough
        del frames
        if not tracks:
            timings["total"] = time.perf_counter() - t_start
            return self._result(path, info, "abstain", None, REASON_NO_FACE, timings=timings)
        return FoundFaces(path, info, tracks, timings, t_start)

    def score_faces(self, front: FoundFaces, explain_dir: str | Path | None = None,
                    crops_for: Callable[[np.ndarray], np.ndarray] | None = None) -> ScanResult:
        """The back half: detector → per-track aggregate → file verdict. `crops_for` maps the
        stacked crops to this detector's input (when the front half was cut for another)."""
        path, info, tracks = front.path, front.info, front.tracks
        timings = dict(front.timings)
        crops = [c for t in tracks for c in t.crops]
        batch = np.stack([c.image for c in crops])
        if crops_for is not None:
            batch = crops_for(batch)
        with _timed(timings, "detector"):
            probs = np.asarray(self.detector.score_crops(batch), dtype=np.float64)

        track_results, start = [], 0
        for t in tracks:
            p = probs[start : start + len(t.crops)]
            start += len(t.crops)
            track_results.append(
                TrackResult(
                    id=t.track_id,
                    score=aggregate_scores(p, self.aggregation),
                    frames=[c.frame_index for c in t.crops],
                    boxes=[[float(v) for v in c.detection.box] for c in t.crops],
                    scores=[float(v) for v in p],
                )
            )
        score = max(tr.score for tr in track_results)  # fake if any person is fake
        verdict = "fake" if score >= self.threshold else "real"
        timeline = build_timeline(crops, probs)
        if explain_dir is not None:
            with _timed(timings, "explain"):
                write_explanation(Path(explain_dir), path, info.sha256, self.detector,
                                  crops, probs, batch, timeline, self.threshold)
        timings["total"] = time.perf_counter() - front.t_start
        return self._result(path, info, verdict, score, None, timings=timings,
                            tracks=track_results, timeline=timeline)

    @staticmethod
    def _real_tracks(tracks: list[FaceTrack]) -> list[FaceTrack]:
        """Only real detections; fallback crops are never scored (see `FaceCrop.fallback`)."""
        out = []
        for t in tracks:
            crops = [c for c in t.crops if not c.fallback and c.detection is not None]
            if crops:
                out.append(FaceTrack(track_id=t.track_id, crops=crops))
        return out

    def _result(self, path, info, verdict, score, reason, timings, sha256=None, tracks=(),
                timeline=()) -> ScanResult:
        return ScanResult(
            path=path,
            sha256=info.sha256 if info is not None else sha256,
            kind=info.kind if info is not None else None,
            verdict=verdict,
            score=None if score is None else float(score),
            threshold=self.threshold,
            reason=reason,
            detector=self.detector.info,
            tracks=list(tracks),
            timeline=list(timeline),
            timings_s={k: round(v, 6) for k, v in timings.items()},
        )

    def error_result(self, path: str | Path, exc: BaseException) -> ScanResult:
        """The record for an input on which fakescope itself failed."""
        return self._result(str(path), None, "error", None,
                            f"error: {type(exc).__name__}: {exc}", timings={},
                            sha256=_try_hash(path))


def _try_hash(path: str | Path) -> str | None:
    """sha256 of an input that could not be decoded, when its bytes can still be read (lets a
    re-run skip it while the file is unchanged); None when even that fails."""
    from fakescope.media import sha256_file

    try:
        return sha256_file(path)
    except (FakescopeError, OSError):
        return None


def build_timeline(crops: list[FaceCrop], probs: np.ndarray) -> list[TimelinePoint]:
    """One point per sampled frame that has a scored face: the max probability over its faces."""
    best: dict[int, TimelinePoint] = {}
    for crop, p in zip(crops, probs):
        point = best.get(crop.frame_index)
        if point is None or p > point.score:
            best[crop.frame_index] = TimelinePoint(crop.frame_index, float(crop.time_s), float(p))
    return [best[k] for k in sorted(best)]


def write_explanation(out_dir: Path, path: str, sha256: str, detector: Detector,
                      crops: list[FaceCrop], probs: np.ndarray, batch: np.ndarray,
                      timeline: list[TimelinePoint], threshold: float) -> list[Path]:
    """Attention overlays for the most suspicious crop of each track, and (videos) the
    timeline plot, in ``out_dir/<name>_<sha8>/``. Returns the files written."""
    from fakescope.analysis.attention import attention_overlay, save_image, timeline_plot

    folder = out_dir / f"{Path(path).stem}_{sha256[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    by_track: dict[int, int] = {}
    for i, c in enumerate(crops):
        if c.track_id not in by_track or probs[i] > probs[by_track[c.track_id]]:
            by_track[c.track_id] = i
    chosen = sorted(by_track.values())
    maps = detector.explain_crops(batch[chosen])
    if maps is not None:
        for i, att in zip(chosen, maps):
            c = crops[i]
            target = folder / f"track{c.track_id}_frame{c.frame_index:06d}_p{probs[i]:.3f}.png"
            written.append(save_image(target, attention_overlay(c.image, att)))
    if len(timeline) > 1:
        written.append(timeline_plot([p.time_s for p in timeline], [p.score for p in timeline],
                                     threshold, folder / "timeline.png", title=Path(path).name))
    return written


# ------------------------------------------------------------------ many inputs
def _reusable(record: dict, scanner: Scanner) -> bool:
    """A journal record may stand for a new scan of its path if it was a completed scan
    (not a fakescope failure) of known bytes with the same detector weights and threshold."""
    det = record.get("detector") or {}
    info = scanner.detector.info
    return (
        record.get("verdict") != "error"
        and bool(record.get("sha256"))
        and det.get("name") == info.name
        and det.get("weights_sha256") == info.weights_sha256
        and record.get("threshold") == scanner.threshold
    )


def scan_batch(
    scanner: Scanner,
    paths: Iterable[str | Path],
    journal: str | Path | None = None,
    explain_dir: str | Path | None = None,
    progress: bool = False,
    on_result: Callable[[ScanResult], None] | None = None,
) -> list[ScanResult]:
    """Scan every input that `media.iter_media_files` finds in `paths` (files, folders,
    globs); one bad input never stops the rest.

    journal: a JSON-lines file (`RecordLog`): each finished input is appended and fsynced as
    soon as it is done, so a killed run loses nothing already written; a re-run skips inputs
    whose path, file sha256, detector weights and threshold match the latest journal record
    (inputs fakescope itself failed on are scanned again).
    At the end the journal is rewritten atomically with one line per input (latest wins).
    on_result: called with each result, in input order, as it becomes available.
    Returns the results in input order (resumed ones included).
    """
    from tqdm import tqdm

    from fakescope.media import iter_media_files, sha256_file

    files = iter_media_files([str(p) for p in paths])
    record_log = RecordLog(journal) if journal is not None else None
    done: dict[str, dict] = {}
    if record_log is not None:
        for rec in record_log.records():  # the latest record of a path decides
            done[rec["path"]] = rec
    results = []
    for path in tqdm(files, desc="scan", unit="file", disable=not progress, leave=False):
        key = str(path)
        result = None
        prev = done.get(key)
        if prev is not None and _reusable(prev, scanner):
            try:
                if sha256_file(path) == prev["sha256"]:
                    result = result_from_dict(prev)
            except FakescopeError:
                pass  # now unreadable: scan it and report that
        if result is None:
            try:
                result = scanner.scan_file(path, explain_dir=explain_dir)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - recorded per input; the batch goes on
                log.warning("%s: fakescope failed on this input", key, exc_info=True)
                result = scanner.error_result(key, exc)
            if record_log is not None:
                record_log.append(result_to_dict(result))
        results.append(result)
        if on_result is not None:
            on_result(result)
    if record_log is not None:
        compact_journal(Path(journal), results)
    return results


def compact_journal(journal: Path, results: list[ScanResult]) -> None:
    """Rewrite the journal with one line per path: records of paths outside this run first
    (as they were), then this run's results in input order."""
    mine = {r.path for r in results}
    latest: dict[str, dict] = {}
    for rec in RecordLog(journal).records():
        if rec.get("path") not in mine:
            latest[rec["path"]] = rec  # later lines replace earlier ones
    lines = [json.dumps(rec, ensure_ascii=False) for rec in latest.values()]
    lines += [to_json_line(r) for r in results]
    atomic_write_text(journal, "".join(line + "\n" for line in lines))

