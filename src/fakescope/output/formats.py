"""The user-facing shapes of a `ScanResult`: a dict (the JSON of ARCHITECTURE.md), JSON lines,
CSV rows and a plain-text table. Conversion only; deciding verdicts happens in `scan`."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from fakescope.output import explain
from fakescope.types import DetectorInfo, ScanResult, TimelinePoint, TrackResult

CSV_COLUMNS = (
    "path",
    "verdict",
    "score",
    "probability",
    "threshold",
    "inconclusive_threshold",
    "reason",
    "kind",
    "faces",  # number of face tracks scored
    "frames",  # number of sampled frames with a scored face
    "frames_unreadable",  # sampled frames that did not decode (the rest were scored)
    "sha256",
    "detector",
    "detector_version",
    "weights_sha256",
    "time_s",
)


def result_to_dict(result: ScanResult) -> dict[str, Any]:
    """The JSON object for one input, keys in the documented order."""
    record = {
        "path": result.path,
        "sha256": result.sha256,
        "kind": result.kind,
        "verdict": result.verdict,
        "score": result.score,
        "probability": result.probability,
        "threshold": result.threshold,
        "inconclusive_threshold": result.inconclusive_threshold,
        "reason": result.reason,
        "detector": asdict(result.detector) if result.detector else None,
        "tracks": [asdict(t) for t in result.tracks],
        "timeline": [asdict(p) for p in result.timeline],
        "timings_s": dict(result.timings_s),
        "frames_read": result.frames_read,
        "frames_unreadable": result.frames_unreadable,
        "settings_key": result.settings_key,
        "media": result.media,
        "provenance": result.provenance,
    }
    record["explanation"] = explain.sentence(record)  # what the page and the report say
    return record


def result_from_dict(data: dict[str, Any]) -> ScanResult:
    """Inverse of `result_to_dict` (used to resume from a JSON-lines file)."""
    det = data.get("detector")
    return ScanResult(
        path=data["path"],
        sha256=data.get("sha256"),
        kind=data.get("kind"),
        verdict=data["verdict"],
        score=data.get("score"),
        threshold=data.get("threshold"),
        reason=data.get("reason"),
        detector=DetectorInfo(**det) if det else None,
        tracks=[TrackResult(**t) for t in data.get("tracks", [])],
        timeline=[TimelinePoint(**p) for p in data.get("timeline", [])],
        timings_s=dict(data.get("timings_s", {})),
        frames_read=data.get("frames_read"),
        frames_unreadable=data.get("frames_unreadable"),
        settings_key=data.get("settings_key"),
        probability=data.get("probability"),
        inconclusive_threshold=data.get("inconclusive_threshold"),
        media=data.get("media"),
        provenance=data.get("provenance"),
    )


def to_json_line(result: ScanResult) -> str:
    """One compact JSON object, no trailing newline."""
    return json.dumps(result_to_dict(result), ensure_ascii=False)


def _num(x: float | None, digits: int) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def to_csv_row(result: ScanResult) -> dict[str, Any]:
    det = result.detector
    return {
        "path": result.path,
        "verdict": result.verdict,
        "score": _num(result.score, 6),
        "probability": _num(result.probability, 6),
        "threshold": _num(result.threshold, 6),
        "inconclusive_threshold": _num(result.inconclusive_threshold, 6),
        "reason": result.reason or "",
        "kind": result.kind or "",
        "faces": len(result.tracks),
        "frames": len(result.timeline),
        "frames_unreadable": "" if result.frames_unreadable is None else result.frames_unreadable,
        "sha256": result.sha256 or "",
        "detector": det.name if det else "",
        "detector_version": det.version if det else "",
        "weights_sha256": det.weights_sha256 if det else "",
        "time_s": _num(result.timings_s.get("total"), 3),
    }


def to_csv(results: Iterable[ScanResult]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in results:
        writer.writerow(to_csv_row(r))
    return buf.getvalue()


def _fmt(x: float | None, digits: int = 3) -> str:
    return _num(x, digits) or "-"


def note(result: ScanResult) -> str:
    """One line on why this band (or why none), and a warning when a scored file is partial."""
    text = explain.short_reason(result_to_dict(result))
    bad = result.frames_unreadable or 0
    if bad and result.score is not None:
        total = bad + (result.frames_read or 0)
        text += f"; partial: {bad} of {total} sampled frames unreadable"
    return text


def summary_line(results: Iterable[ScanResult]) -> str:
    """E.g. ``4 inputs: 1 fake, 1 real, 2 abstain (1 no_face, 1 unreadable)``."""
    results = list(results)
    verdicts = Counter(r.verdict for r in results)
    parts = [f"{verdicts[v]} {v}" for v in ("fake", "inconclusive", "real", "abstain", "error")
             if verdicts[v]]
    reasons = Counter(
        (r.reason or "").split(":")[0] for r in results if r.verdict == "abstain"
    )
    text = f"{len(results)} input{'s' if len(results) != 1 else ''}: " + (", ".join(parts) or "none")
    if reasons:
        text += " (" + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items())) + ")"
    return text


def to_table(results: Iterable[ScanResult]) -> str:
    """Aligned columns for a terminal, one row per input, then a summary line."""
    results = list(results)
    header = ("VERDICT", "SCORE", "PROB", "FACES", "TIME_S", "PATH", "REASON")
    rows = [
        (
            r.verdict.upper(),
            _fmt(r.score),
            "-" if r.probability is None else f"{r.probability:.0%}",
            str(len(r.tracks)),
            _fmt(r.timings_s.get("total"), 2),
            r.path,
            note(r),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = []
    for row in [header, *rows]:
        cells = [c.ljust(w) if i in (0, 5, 6) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines.append(summary_line(results))
    return "\n".join(lines) + "\n"
