"""The scan pipeline for one input: media → faces → detector → aggregate → `ScanResult`.

Decisions (documented for users in `fakescope scan --help`):

- Tracks seen in fewer than `min_track_frames` (3) sampled frames are ignored when a person is
  seen in at least that many (false detections); alone, they are scored.
- Units: a crop detector scores each crop; a sequence / clip detector scores, per track,
  the runs of F crops its requirements ask for (`faces.units.sequence_units`), and its frames
  are sampled from those needs (`DetectorRequirements.sampling`: ``windows:K:F:S``).
- Track score = `evaluate.aggregate_scores` of its units' probabilities (default ``mean``);
  file score = the **max over tracks**: a video is fake if any person in it is fake.
- Verdict: `evaluate.calibration.Verdicts` — with a calibration of the weights (shipped beside
  them, or a user's file) three bands per media kind: ``fake`` above its 1 % false-alarm point
  on real files, ``inconclusive`` between the 1 % and 5 % points, ``real`` below, and a
  calibrated probability; a `threshold` given by the caller gives two bands at it; weights
  without a calibration give two bands at their own threshold.
- No evidence → ``abstain`` with a reason and no score, never a made-up one:
  ``no_face`` (readable, but no face in any sampled frame), ``no_sequence`` (faces, but no
  track fills one sequence / clip of a temporal detector, or a still image given to one) or
  ``unreadable: <reason> (<detail>)`` (a `MediaError`; reason is its code: missing, empty,
  not_media, link_loop, truncated, unsupported_codec, no_frames, too_few_frames, ...).
- Damaged videos are scored from the sampled frames that decode; the result counts the ones
  that did not (`frames_unreadable`). Fewer than `MIN_READABLE_SHARE` of the sampled frames
  left → ``unreadable: too_few_frames``.
- An unexpected failure inside fakescope on one input → verdict ``error`` with
  ``error: <type>: <message>`` (`fakescope.scan.batch` records it and goes on).
- Timeline: for each sampled frame with a scored face, the max probability over its faces
  (temporal detectors: at the middle frame of each unit).
- `settings()` holds everything that changes a result; its hash keys the reuse of results.
- In a batch, `scan_file(path, next_path=...)` starts the next input's front half (decode,
  faces) while this one is scored (`scan.ahead`); its errors surface in its own scan.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fakescope.detectors.base import Detector
from fakescope.errors import MediaError
from fakescope.evaluate.aggregate import aggregate_scores
from fakescope.evaluate.calibration import PACKAGED, Verdicts, resolve_calibration
from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR
from fakescope.faces.units import TrackUnit, crop_units, sequence_units
from fakescope.media.provenance import describe
from fakescope.scan.outcome import (
    REASON_NO_FACE,
    REASON_NO_SEQUENCE,
    UNREADABLE,
    error_result,
    try_hash,
)
from fakescope.scan.settings import SCAN_LOGIC_VERSION, settings_key
from fakescope.types import FaceCrop, FaceTrack, ScanResult, TimelinePoint, TrackResult

log = logging.getLogger(__name__)

# A damaged video is scored when at least this share of its sampled frames decoded.
MIN_READABLE_SHARE = 0.25


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


@dataclasses.dataclass
class FoundFaces:
    """What the front half found in one readable file with at least one person."""

    path: str
    info: object  # fakescope.media.MediaInfo
    tracks: list[FaceTrack]
    timings: dict[str, float]
    t_start: float
    frames_read: int | None = None
    frames_unreadable: int | None = None
    frame_count: int | None = None  # the video's frame count the sampling was chosen from


DEFAULT_CROP_SAMPLING = "uniform:32"


def resolve_sampling(detector: Detector, sampling=None):
    """The frames to decode for `detector`. Crop detectors: `sampling` (default: the
    detector's own `default_sampling` if it has one — seed 000 samples one frame in ten —
    else ``uniform:32``; never padded with repeats). Sequence / clip detectors: their own needs;
    a ``windows:K:F:S`` spec may change K (how many units), never F or S."""
    from fakescope.media import UniformSampling, WindowSampling, parse_sampling

    req = detector.requirements
    if not req.temporal:
        if sampling is None:
            sampling = getattr(detector, "default_sampling", None) or DEFAULT_CROP_SAMPLING
        sampling = parse_sampling(sampling)
        if isinstance(sampling, UniformSampling) and sampling.circular_pad:
            # Padding repeats frames of short videos; a repeated frame is no new evidence.
            sampling = dataclasses.replace(sampling, circular_pad=False)
        return sampling
    own = req.sampling()
    if sampling is None:
        return own
    sampling = parse_sampling(sampling)
    if not isinstance(sampling, WindowSampling) or (sampling.length, sampling.step) != (
            own.length, own.step):
        raise ValueError(f"detector {detector.info.name!r} scores {req.unit}s of "
                         f"{req.sequence_length} frames, 1 in {req.frame_step}: its frames are "
                         f"sampled for it ({own}); give windows:K:{own.length}:{own.step} to "
                         f"change the number of {req.unit}s, or no sampling, not {sampling}")
    return sampling


class Scanner:
    """Scans one file at a time with one detector and one face pipeline (built once).

    detector: a `Detector`; its requirements set the crop size and framing.
    face_detector: a `fakescope.faces` detector name (``mtcnn``, ``blazeface``, ``dlib``, ``haar``)
      or instance; default (None) `faces.detectors.DEFAULT_FACE_DETECTOR`, or, where its
      framing of the detector's crop preset was never measured, a face detector whose is.
    sampling: which video frames a crop detector looks at (``uniform:32``, ``every:10``,
      ``keyframes``, ``all`` or a sampling object; default: the detector's `default_sampling`,
      else ``uniform:32``; never padded with repeats).
      Sequence / clip detectors sample what they need (see `resolve_sampling`).
    policy: ``all`` faces or only the ``largest`` per frame.
    aggregation: crop → track method, one of `evaluate.aggregate.METHODS`.
    threshold: overrides the operating points: ``fake`` at or above it, else ``real``.
    calibration: a `FileCalibration`, a path to one, ``"packaged"`` (default: the one shipped
      for these exact weights, if any) or None (none: the weights' own threshold).
    """

    def __init__(
        self,
        detector: Detector,
        face_detector=None,
        sampling=None,
        policy: str = "all",
        aggregation: str = "mean",
        threshold: float | None = None,
        device: str | None = None,
        min_track_frames: int = 3,
        calibration=PACKAGED,
    ) -> None:
        from fakescope.evaluate.aggregate import METHODS
        from fakescope.faces import FacePipeline, create_face_detector

        req = detector.requirements
        if aggregation not in METHODS:
            raise ValueError(f"aggregation must be one of {METHODS}, got {aggregation!r}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if min_track_frames < 1:
            raise ValueError(f"min_track_frames must be >= 1, got {min_track_frames}")
        self.detector = detector
        self.min_track_frames = int(min_track_frames)
        self.aggregation = aggregation
        self.verdicts = Verdicts(detector.threshold, resolve_calibration(detector, calibration),
                                 threshold)
        self.threshold = self.verdicts.threshold(None)  # for records of no known kind
        self.sampling = resolve_sampling(detector, sampling)
        if face_detector is None:
            from fakescope.faces.presets import face_detector_for

            face_detector = face_detector_for(req.crop_preset, DEFAULT_FACE_DETECTOR)
        if isinstance(face_detector, str):
            face_detector = create_face_detector(face_detector, device=device)
        self.faces = FacePipeline.from_spec(
            face_detector,
            req.crop_preset,  # the framing the model was trained on
            crop_size=req.input_size,
            policy=policy,
            fallback="none",  # a frame without a face is no evidence, never a center crop
            # A person is a track seen in several sampled frames: beside one, a track seen in
            # one or two frames is more often a false detection (a poster, a pattern) than a
            # person; alone, short tracks are all the evidence there is and are scored.
            min_track_frames=self.min_track_frames,
            # Runs of a temporal detector lie seconds apart: a person is linked from one run
            # to the next by sampled-frame count, not by a gap in seconds.
            **({"max_gap_s": None} if req.temporal else {}),
        )
        self.settings_key = settings_key(self.settings())
        self._ahead = None  # scan.ahead.Ahead: the next input's front half, when a batch gives it
        self.on_read_ahead: Callable[[str], None] | None = None  # told when one starts

    @property
    def streaming(self) -> bool:
        """Every frame / every k-th: too many frames to hold, so they are processed as read."""
        from fakescope.media import AllFrames, EveryKSampling

        return isinstance(self.sampling, (AllFrames, EveryKSampling))

    def settings(self) -> dict:
        """Everything that changes a result, resolved (weights by hash, the threshold in use)."""
        info, req = self.detector.info, self.detector.requirements
        return {
            "logic": SCAN_LOGIC_VERSION,
            "detector": {"name": info.name, "version": info.version,
                         "weights_sha256": info.weights_sha256},
            "verdicts": self.verdicts.settings(),
            "crop": {"preset": req.crop_preset, "size": req.input_size},
            "unit": {"kind": req.unit, "length": req.sequence_length, "step": req.frame_step},
            "sampling": str(self.sampling),
            "face_detector": self.faces.detector.config(),
            "policy": self.faces.policy,
            "aggregation": self.aggregation,
            "min_track_frames": self.min_track_frames,
            "min_readable_share": MIN_READABLE_SHARE,
        }

    # ------------------------------------------------------------------ one input
    def scan_file(self, path: str | Path, explain_dir: str | Path | None = None,
                  next_path: str | Path | None = None) -> ScanResult:
        """Scan one image or video. A `MediaError` becomes an ``abstain`` result naming the
        cause; other exceptions propagate (the batch runner records them). `next_path`: the
        input a batch will scan next; its front half starts while this one is scored."""
        front = self._front(str(path))
        if next_path is not None:
            from fakescope.scan.ahead import Ahead

            if self.on_read_ahead is not None:
                self.on_read_ahead(str(next_path))
            self._ahead = Ahead(str(next_path), self.find_faces)
        if isinstance(front, ScanResult):
            return front
        return self.score_faces(front, explain_dir=explain_dir)

    def _front(self, path: str) -> FoundFaces | ScanResult:
        """`find_faces(path)`, or the front half a previous call started for `path`."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.key == path:
            return ahead.take()
        if ahead is not None:
            ahead.wait()  # started for another input: never two front halves at once
        return self.find_faces(path)

    def find_faces(self, path: str | Path) -> FoundFaces | ScanResult:
        """The front half (media → faces → tracks of real detections): the people to score,
        or the ``abstain`` result when there is no evidence."""
        from fakescope.media import DecodeStats, iter_frames, no_frames_error, probe

        path = str(path)
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        info = None
        stats = DecodeStats()
        try:
            with _timed(timings, "probe"):  # includes the sha256 of the whole file
                info = probe(path)
            frames = iter_frames(path, self.sampling, info=info, stats=stats)
            if self.streaming:
                # every frame or every k-th: faces are found chunk by chunk, frames let go
                with _timed(timings, "decode+faces"):
                    tracks = self.faces.process_stream(frames)
                n_read = stats.frames_kept
            else:
                # faces searched while the next frames decode, where the face detector allows
                with _timed(timings, "decode"):
                    frames, found = self.faces.read(frames)
                if found is not None:
                    timings["decode+faces"] = timings.pop("decode")
                n_read = len(frames)
            if n_read == 0:
                raise no_frames_error(path, self.sampling, stats)
            missing = stats.frames_missing if stats.kind == "video" else 0
            if missing and n_read < max(1, math.ceil(MIN_READABLE_SHARE * (n_read + missing))):
                cause = f"; {stats.cut_off}" if stats.cut_off else ""
                raise MediaError(path, "too_few_frames",
                                 f"{n_read} of {n_read + missing} sampled frames decoded{cause}")
        except MediaError as err:
            timings["total"] = time.perf_counter() - t_start
            reason = f"{UNREADABLE}: {err.reason}" + (f" ({err.detail})" if err.detail else "")
            return self._result(path, info, "abstain", None, reason, timings=timings,
                                sha256=None if info is not None else try_hash(path))
        if stats.cut_off or missing:
            log.warning("%s: %d sampled frames unreadable%s", path, missing,
                        f" ({stats.cut_off})" if stats.cut_off else "")
        counts = {"frames_read": n_read, "frames_unreadable": missing} if stats.kind == "video" else {}

        if not self.streaming:
            with _timed(timings, "faces"):
                tracks = self.faces.process(frames, found)
            del frames
        # Short tracks beside a long one were already dropped by the face pipeline
        # (`faces.tracking.drop_short_tracks`, min_track_frames).
        tracks = self._real_tracks(tracks)
        if not tracks:
            timings["total"] = time.perf_counter() - t_start
            return self._result(path, info, "abstain", None, REASON_NO_FACE, timings=timings,
                                **counts)
        return FoundFaces(path, info, tracks, timings, t_start, **counts,
                          frame_count=stats.frame_count)

    def units(self, front: FoundFaces) -> list[list[TrackUnit]]:
        """Per track, the units the detector scores (crops, or sequences / clips in the
        sampled runs)."""
        req = self.detector.requirements
        if not req.temporal:
            return [crop_units(t) for t in front.tracks]
        if getattr(front.info, "kind", None) == "image":
            return [[] for _ in front.tracks]  # a still image holds no sequence: abstain
        runs = self.sampling.runs(front.frame_count or 0)
        if not runs:  # a video whose length was not known: the frames that were decoded
            frames = sorted({c.frame_index for t in front.tracks for c in t.crops})
            runs = [frames]
        return [sequence_units(t, runs, req.sequence_length, req.frame_step)
                for t in front.tracks]

    def score_faces(self, front: FoundFaces, explain_dir: str | Path | None = None,
                    crops_for: Callable[[np.ndarray], np.ndarray] | None = None) -> ScanResult:
        """The back half: units → detector → per-track aggregate → file verdict. `crops_for`
        maps stacked crops to this detector's input (when the front half was cut for another)."""
        path, info = front.path, front.info
        timings = dict(front.timings)
        per_track = [(t, us) for t, us in zip(front.tracks, self.units(front), strict=True) if us]
        if not per_track:
            timings["total"] = time.perf_counter() - front.t_start
            return self._result(path, info, "abstain", None, REASON_NO_SEQUENCE, timings=timings,
                                frames_read=front.frames_read,
                                frames_unreadable=front.frames_unreadable)
        units = [u for _, us in per_track for u in us]
        batch = np.stack([u.images() for u in units])  # (N, F, S, S, 3)
        if crops_for is not None:
            n, f = batch.shape[:2]
            flat = crops_for(batch.reshape(n * f, *batch.shape[2:]))
            batch = flat.reshape(n, f, *flat.shape[1:])
        with _timed(timings, "detector"):
            probs = np.asarray(self.detector.score_units(batch), dtype=np.float64)

        temporal = self.detector.requirements.temporal
        track_results, start = [], 0
        for t, us in per_track:
            p = probs[start : start + len(us)]
            start += len(us)
            track_results.append(
                TrackResult(
                    id=t.track_id,
                    score=aggregate_scores(p, self.aggregation),
                    frames=[c.frame_index for c in t.crops],
                    boxes=[[float(v) for v in c.detection.box] for c in t.crops],
                    scores=[float(v) for v in p],
                    units=[u.frames for u in us] if temporal else None,
                )
            )
        score = max(tr.score for tr in track_results)  # fake if any person is fake
        decision = self.verdicts.decide(score, info.kind)
        shown = [u.middle for u in units]
        timeline = build_timeline(shown, probs)
        if explain_dir is not None:
            with _timed(timings, "explain"):
                write_explanation(Path(explain_dir), path, info.sha256, self.detector,
                                  shown, probs, batch[:, batch.shape[1] // 2], timeline,
                                  decision.threshold)
        timings["total"] = time.perf_counter() - front.t_start
        return self._result(path, info, decision.verdict, score, None, timings=timings,
                            probability=decision.probability,
                            inconclusive_threshold=decision.inconclusive_threshold,
                            tracks=track_results, timeline=timeline,
                            frames_read=front.frames_read,
                            frames_unreadable=front.frames_unreadable)

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
                timeline=(), frames_read=None, frames_unreadable=None, probability=None,
                inconclusive_threshold=None) -> ScanResult:
        kind = info.kind if info is not None else None
        media, provenance = describe(path, info, timings)  # shown beside the verdict, not scored
        return ScanResult(
            path=path,
            sha256=info.sha256 if info is not None else sha256,
            kind=kind,
            verdict=verdict,
            score=None if score is None else float(score),
            threshold=self.verdicts.threshold(kind),
            reason=reason,
            detector=self.detector.info,
            tracks=list(tracks),
            timeline=list(timeline),
            timings_s={k: round(v, 6) for k, v in timings.items()},
            frames_read=frames_read,
            frames_unreadable=frames_unreadable,
            settings_key=self.settings_key,
            probability=probability,
            inconclusive_threshold=inconclusive_threshold,
            media=media,
            provenance=provenance,
        )

    def error_result(self, path: str | Path, exc: BaseException | str) -> ScanResult:
        """The record for an input on which fakescope itself failed."""
        return error_result(path, exc, self.detector.info, self.threshold, self.settings_key)


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
    from fakescope.analysis.attention import (
        attention_overlay,
        display_crop,
        save_image,
        timeline_plot,
    )

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
            # the crop itself, same size, shown beside its overlay (page, report)
            written.append(save_image(folder / f"crop_{target.stem.rsplit('_p', 1)[0]}.png",
                                      display_crop(c.image)))
    if len(timeline) > 1:
        written.append(timeline_plot([p.time_s for p in timeline], [p.score for p in timeline],
                                     threshold, folder / "timeline.png", title=Path(path).name))
    return written
