"""`fakescope report`: scan records as one self-contained HTML file to hand on — the verdict and
what it means, the evidence (frame with boxes, crops beside their explanation overlays, the
score over time, each panel member's score), the file's facts and provenance, the detector's
version and weights hash, its model card's limits, and how to reproduce the scan.

Everything is inlined (images as data URIs, styles in the page); a CSP in the file itself lets
it load nothing and run no script. It prints to PDF from a browser (print styles below)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from fakescope import __version__
from fakescope.output import explain
from fakescope.output.evidence import Evidence

REPO = Path(__file__).resolve().parents[3]  # a source checkout holds docs/model_cards/
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@dataclass
class Item:
    record: dict[str, Any]
    evidence: Evidence
    settings: dict[str, Any] | None = None  # the scan's settings when known (serve jobs)
    title: str | None = None  # a display name (serve: the uploaded file's name)


def _e(x: Any) -> str:
    return escape("" if x is None else str(x), quote=True)


def _img(data: bytes, mime: str, alt: str, cls: str = "") -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="{cls}" alt="{_e(alt)}" src="data:{mime};base64,{b64}">'


def _rows(pairs: Sequence[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs
                   if v not in (None, "", [], {}))


def _num(x: float | None, digits: int = 3) -> str | None:
    return None if x is None else f"{x:.{digits}f}"


def timeline_svg(record: dict[str, Any]) -> str:
    """The score over the video's time as an inline SVG, with the band edges dashed."""
    pts = record.get("timeline") or []
    if len(pts) < 2:
        return ""
    w, h, pad = 720, 160, 30
    t0, t1 = pts[0]["time_s"], pts[-1]["time_s"]
    x = lambda t: pad + (w - 2 * pad) * (t - t0) / max(t1 - t0, 1e-6)  # noqa: E731
    y = lambda s: h - pad - (h - 2 * pad) * s  # noqa: E731
    lines = []
    for edge, label in ((record.get("threshold"), "1 %"), (record.get("inconclusive_threshold"), "5 %")):
        if edge is not None:
            lines.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(edge):.1f}" y2="{y(edge):.1f}" '
                         f'stroke="#a40e0e" stroke-dasharray="6 4"/><text x="{w - pad + 2}" '
                         f'y="{y(edge) + 4:.1f}" font-size="11">{label}</text>')
    poly = " ".join(f"{x(p['time_s']):.1f},{y(p['score']):.1f}" for p in pts)
    dots = "".join(f'<circle cx="{x(p["time_s"]):.1f}" cy="{y(p["score"]):.1f}" r="2.5" '
                   f'fill="#0b57d0"><title>{p["time_s"]:.2f} s: {p["score"]:.3f}</title></circle>'
                   for p in pts)
    return (f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="score over time" class="timeline">'
            f'{"".join(lines)}<polyline points="{poly}" fill="none" stroke="#0b57d0" stroke-width="2"/>'
            f'{dots}<text x="2" y="{y(1) + 4:.1f}" font-size="11">1</text>'
            f'<text x="2" y="{y(0) + 4:.1f}" font-size="11">0</text>'
            f'<text x="{pad}" y="{h - 6}" font-size="11">{t0:.1f} s</text>'
            f'<text x="{w - pad - 30}" y="{h - 6}" font-size="11">{t1:.1f} s</text></svg>')


def members_table(members: Any) -> str:
    """Each panel member's score (``{name: score}`` or ``{name: {"score": ...}}``)."""
    if not isinstance(members, dict) or not members:
        return ""
    rows = []
    for name, value in members.items():
        score = value.get("score") if isinstance(value, dict) else value
        width = 0 if score is None else max(0.0, min(1.0, float(score))) * 100
        rows.append(f'<tr><th>{_e(name)}</th><td>{_e(_num(score))}</td><td class="bar">'
                    f'<span style="width:{width:.0f}%"></span></td></tr>')
    return ("<h3>Each detector of the panel</h3><table class=\"members\">"
            "<tr><th>detector</th><th>score</th><th></th></tr>" + "".join(rows) + "</table>")


def model_card_limits(detector: dict[str, Any] | None) -> tuple[str | None, str]:
    """(card name, its "Limits" section as text) for packaged weights found by sha256."""
    sha = (detector or {}).get("weights_sha256")
    for card in sorted(WEIGHTS.glob("*.json")):
        try:
            meta = json.loads(card.read_text())
        except (OSError, ValueError):
            continue  # not a model card; the packaged cards are checked by their own tests
        if sha and meta.get("sha256") == sha:
            md = REPO / "docs" / "model_cards" / f"{card.stem}.md"
            if md.is_file():
                text = md.read_text()
                if "## Limits" in text:
                    return card.stem, text.split("## Limits", 1)[1].split("\n## ", 1)[0].strip()
            return card.stem, (f"See the model card docs/model_cards/{card.stem}.md (not found "
                               "beside this installation).")
    return None, ("These weights are not one of fakescope's packaged detectors: no model card "
                  "is known for them, so their limits are unknown here.")


def reproduce(record: dict[str, Any], settings: dict[str, Any] | None) -> str:
    det = record.get("detector") or {}
    flags = []
    if det.get("name"):
        flags.append(f"--detector {det['name']}")
    for key in ("sampling", "face_detector", "policy", "aggregation", "threshold", "min_face"):
        value = (settings or {}).get(key)
        default = {"policy": "all", "aggregation": "mean"}.get(key)
        if value is not None and value != default:
            flags.append(f"--{key.replace('_', '-')} {value}")
    if (settings or {}).get("weights"):
        flags.append("--weights WEIGHTS_FILE")
    name = Path(record["path"]).name
    return (f"pip install 'fakescope=={__version__}'\n"
            f"sha256sum {name}   # must print {record.get('sha256')}\n"
            f"fakescope scan {' '.join(flags)} --json {name}\n"
            f"# the record's settings_key must be {record.get('settings_key')} "
            f"and its detector weights sha256 {det.get('weights_sha256')}")


def _provenance(p: dict[str, Any] | None) -> str:
    if not p:
        return "<p>Not read (a record from a fakescope before provenance was read).</p>"
    c = p.get("c2pa") or {}
    if c.get("present"):
        actions = "; ".join(
            " ".join(str(v) for v in (a.get("action"), a.get("source_type"),
                                      a.get("software_agent") and f"by {a['software_agent']}",
                                      a.get("when")) if v)
            for a in c.get("actions") or [])
        c2pa = _rows([("C2PA manifest", "present"), ("state", c.get("state")),
                      ("valid", "yes" if c.get("valid") else "no"),
                      ("signer", c.get("signer")), ("issuer", c.get("issuer")),
                      ("trusted", "yes" if c.get("trusted") else "no (not on a trust list)"),
                      ("failed checks", ", ".join(
                          f for f in c.get("failures") or []
                          if not (c.get("valid") and f == "signingCredential.untrusted"))),
                      ("claim generator", c.get("claim_generator")), ("actions", actions),
                      ("generated by AI", c.get("generated")), ("error", c.get("error"))])
    elif c.get("checked"):
        c2pa = _rows([("C2PA manifest", "none")])
    else:
        c2pa = _rows([("C2PA manifest", f"not checked: {c.get('error')}")])
    exif = p.get("exif")
    exif_rows = _rows(sorted(exif.items())) if exif else _rows(
        [("EXIF", "none" if exif == {} else None)])
    tags = (p.get("container") or {}).get("tags") or {}
    error = (p.get("container") or {}).get("error")
    return (f"<table>{c2pa}{exif_rows}{_rows(sorted(tags.items()))}"
            f"{_rows([('container error', error)])}</table>")


def _facts(r: dict[str, Any]) -> str:
    m = r.get("media") or {}
    size = f"{m['width']} × {m['height']}" if m.get("width") else None
    return "<table>" + _rows([
        ("file", r["path"]), ("kind", r.get("kind")), ("format", m.get("format")),
        ("resolution", size), ("duration", m.get("duration_s") and f"{m['duration_s']:.2f} s"),
        ("frame rate", m.get("fps") and f"{m['fps']:.2f} fps"), ("codec", m.get("codec")),
        ("bytes", m.get("bytes")), ("sha256", r.get("sha256")),
        ("sampled frames decoded", r.get("frames_read")),
        ("sampled frames unreadable", r.get("frames_unreadable")),
    ]) + "</table>"


def _evidence(item: Item) -> str:
    ev, r = item.evidence, item.record
    parts = []
    if ev.frame is not None:
        parts.append(f"<figure>{_img(ev.frame, 'image/jpeg', 'the most suspicious sampled frame with each face boxed', 'frame')}"
                     f"<figcaption>Sampled frame {ev.frame_index}, the highest-scoring one: each "
                     "face boxed with its score.</figcaption></figure>")
    elif ev.frame_note:
        parts.append(f"<p class=\"note\">Frame: {_e(ev.frame_note)}.</p>")
    for person in ev.people:
        crop = (_img(person.crop, "image/png", f"person {person.track_id + 1}: the face crop")
                if person.crop else "<p class=\"note\">(crop not kept)</p>")
        parts.append(
            f'<div class="person"><h3>Person {person.track_id + 1}: frame {person.frame}, score '
            f'{person.score:.3f}</h3><div class="pair"><figure>{crop}<figcaption>the face as the '
            f'detector saw it</figcaption></figure><figure>'
            f'{_img(person.overlay, "image/png", f"person {person.track_id + 1}: explanation overlay")}'
            "<figcaption>where the detector looked (red: most)</figcaption></figure></div></div>")
    if not ev.people and r.get("tracks"):
        parts.append("<p class=\"note\">No explanation overlays (scan with --explain DIR and "
                     "give the same --explain to the report).</p>")
    for t in r.get("tracks") or []:
        parts.append(f"<p>Person {t['id'] + 1}: score {t['score']:.3f} over "
                     f"{len(t['frames'])} sampled frame(s).</p>")
    svg = timeline_svg(r)
    if svg:
        parts.append(f"<h3>Score over time</h3>{svg}")
    parts.append(members_table(r.get("members")))
    return "".join(parts)


def _section(item: Item, n: int) -> str:
    r = item.record
    verdict = r.get("verdict") or "error"
    det = r.get("detector") or {}
    card, limits = model_card_limits(det)
    title = item.title or Path(r["path"]).name
    scores = _rows([("score", _num(r.get("score"))),
                    ("calibrated probability", _num(r.get("probability"), 3)),
                    ("fake at or above", _num(r.get("threshold"))),
                    ("inconclusive from", _num(r.get("inconclusive_threshold"))),
                    ("reason", r.get("reason"))])
    return f"""
<section class="result" id="r{n}">
<h2>{_e(title)}</h2>
<div class="band {_e(verdict)}"><span class="label">{_e(verdict.upper())}</span>
<p>{_e(r.get("explanation") or explain.sentence(r))}</p></div>
<table>{scores}</table>
<h2>Evidence</h2>{_evidence(item)}
<h2>The file</h2>{_facts(r)}
<h2>Provenance</h2>{_provenance(r.get("provenance"))}
<p class="note">Provenance is shown beside the score and never changes it. A valid manifest
proves who signed the file and that it is unchanged since; it says nothing of files without one.</p>
<h2>Detector</h2><table>{_rows([("detector", det.get("name")), ("version", det.get("version")),
                                  ("weights sha256", det.get("weights_sha256")),
                                  ("model card", card), ("settings key", r.get("settings_key"))])}</table>
<h3>Limits (from the model card)</h3><div class="limits">{_e(limits)}</div>
<h2>How to reproduce</h2><pre>{_e(reproduce(r, item.settings))}</pre>
</section>"""


STYLE = """
:root{--fake:#a40e0e;--inconclusive:#8a4b00;--real:#13622b;--abstain:#555}
*{box-sizing:border-box}body{font:15px/1.5 system-ui,sans-serif;color:#1a1a1a;max-width:60rem;margin:0 auto;padding:1rem}
h1{margin:0 0 .25rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{text-align:left;vertical-align:top;padding:.2rem .5rem;border-bottom:1px solid #eee;overflow-wrap:anywhere}
th{width:14rem;color:#444;font-weight:600}
.band{border-left:.6rem solid var(--abstain);padding:.5rem 1rem;background:#f6f6f6}
.band .label{font-size:1.8rem;font-weight:700}.band.fake{border-color:var(--fake)}.band.fake .label{color:var(--fake)}
.band.inconclusive{border-color:var(--inconclusive)}.band.inconclusive .label{color:var(--inconclusive)}
.band.real{border-color:var(--real)}.band.real .label{color:var(--real)}
img{max-width:100%;height:auto}img.frame{border:1px solid #ccc}.pair{display:flex;gap:1rem;flex-wrap:wrap}
.pair figure{margin:0;flex:1 1 14rem}.pair img{width:100%;max-width:320px}figcaption{color:#555;font-size:.9rem}
.timeline{width:100%;height:auto;border:1px solid #ccc}.note{color:#555}
.members .bar{width:40%}.members .bar span{display:block;height:.8rem;background:#0b57d0}
.limits{white-space:pre-wrap}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem;overflow-wrap:anywhere}
@media print{body{max-width:none;font-size:11pt}.result{break-before:page}.result:first-of-type{break-before:auto}
figure,table,.band,.person,svg{break-inside:avoid}a{color:inherit}}
@page{margin:15mm}
"""


def render(items: Sequence[Item]) -> str:
    """The whole report as one HTML document."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    index = "".join(
        f'<tr><td><a href="#r{i}">{_e(it.title or Path(it.record["path"]).name)}</a></td>'
        f'<td>{_e((it.record.get("verdict") or "").upper())}</td>'
        f'<td>{_e(_num(it.record.get("score")))}</td></tr>' for i, it in enumerate(items))
    body = "".join(_section(it, i) for i, it in enumerate(items))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fakescope report</title><style>{STYLE}</style></head><body>
<h1>fakescope report</h1>
<p class="note">Made {now} by fakescope {__version__}. A detector's score is evidence, not
proof: read each verdict with its sentence, the evidence and the limits below.</p>
<table><tr><th>file</th><th>verdict</th><th>score</th></tr>{index}</table>
{body}
</body></html>
"""
