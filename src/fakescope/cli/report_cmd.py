"""`fakescope report` — scan records (`scan --json` lines) as one self-contained HTML file to
hand to an editor or a colleague (`output.report`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = """\
Write one self-contained HTML file (images inlined, no script, prints cleanly to PDF) with,
for each record: the verdict band and what it means, the evidence (the most suspicious
sampled frame with each face's box and score, re-read from the file when it is still there
with the same sha256; each person's crop beside its explanation overlay when the scan was
run with --explain DIR and the same DIR is given here; the score over time; each panel
member's score), the file's facts and provenance (C2PA, EXIF, container tags), the detector's
version and weights sha256, its model card's limits, and how to reproduce the scan.

  fakescope scan --json --out results.jsonl --explain explain/ clip.mp4
  fakescope report results.jsonl --explain explain/ --out report.html
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="scan records as a self-contained HTML report",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="a JSON-lines file of scan records (scan --json)")
    p.add_argument("--id", action="append", default=[], metavar="ID",
                   help="only the records whose sha256 starts with ID (8+ hex digits) or whose "
                        "path or file name is ID; repeatable (default: every record)")
    p.add_argument("--explain", metavar="DIR", help="the --explain folder of the scan")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.set_defaults(func=run)


class ReportInputError(ValueError):
    """A results file that cannot be reported, with a message naming the file."""


def read_records(path: Path) -> list[dict]:
    """Every record of a JSON-lines file; a bad line is an error naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read it ({exc})") from exc
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportInputError(f"{path}:{n}: not a JSON line ({exc.msg})") from exc
        if not isinstance(record, dict) or "path" not in record or "verdict" not in record:
            raise ReportInputError(f"{path}:{n}: not a fakescope scan record (no path / verdict)")
        records.append(record)
    if not records:
        raise ReportInputError(f"{path}: no scan records in it")
    return records


def select(records: list[dict], ids: list[str], source: Path) -> list[dict]:
    if not ids:
        return records
    chosen = []
    for wanted in ids:
        hits = [r for r in records
                if (len(wanted) >= 8 and (r.get("sha256") or "").startswith(wanted.lower()))
                or r["path"] == wanted or Path(r["path"]).name == wanted]
        if not hits:
            raise ReportInputError(f"{source}: no record matches --id {wanted}")
        chosen += [r for r in hits if r not in chosen]
    return chosen


def run(args: argparse.Namespace) -> int:
    from fakescope.output.atomic import atomic_write_text
    from fakescope.output.evidence import explain_folder, gather
    from fakescope.output.report import Item, render

    source = Path(args.results)
    try:
        records = select(read_records(source), args.id, source)
    except ReportInputError as exc:
        print(f"fakescope report: error: {exc}", file=sys.stderr)
        return 2
    explain = Path(args.explain) if args.explain else None
    if explain is not None and not explain.is_dir():
        print(f"fakescope report: error: --explain {explain}: no such folder", file=sys.stderr)
        return 2
    items = [Item(r, gather(r, Path(r["path"]),
                            explain_folder(explain, r) if explain else None)) for r in records]
    atomic_write_text(Path(args.out), render(items))
    print(f"{args.out}: {len(items)} record(s)", file=sys.stderr)
    return 0
