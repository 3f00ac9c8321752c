"""`fakescope scan PATH...`: argument parsing and printing; the work is `fakescope.scan`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Scan images and videos for manipulated faces. PATH may be a file, a folder (searched
recursively for image and video files) or a quoted glob ("clips/*.mp4").

Each input gets a verdict: fake, real, or abstain with a reason (no_face: no face in any
sampled frame; unreadable: <cause>: the file could not be decoded) -- never a made-up score.
Per face track, the crop probabilities are aggregated (--aggregate); the file score is the
highest track score (a video is fake if any person in it is fake); fake iff score >=
threshold (from the weights' model card unless --threshold is given)."""

EPILOG = """\
output:
  default      a table on stdout (or in --out FILE)
  --json       one JSON object per input and line: path, sha256, kind, verdict, score,
               threshold, reason, detector {name, version, weights_sha256},
               tracks [{id, score, frames, boxes, scores}] (one per person),
               timeline [{frame, time_s, score}] (max over faces per sampled frame),
               timings_s (seconds per stage)
  --csv        one row per input
  --out FILE   write there instead of stdout. Resumable: every finished input is appended
               and fsynced to a JSON-lines journal (FILE itself with --json, else
               FILE.journal.jsonl); a re-run skips inputs already done with the same file
               sha256, weights and threshold (inputs fakescope itself failed on are tried
               again).
               Table and CSV are written at the end.

exit status (like a virus scanner):
  0  every input scanned, nothing fake found (abstain/no_face counts as scanned)
  1  something fake found
  2  some inputs could not be scanned (unreadable, or fakescope failed on them), or
     the scan could not start (bad arguments, missing weights). 2 wins over 1: the run is
     incomplete; its report still lists the fakes that were found."""


def register(sub: argparse._SubParsersAction) -> None:
    from fakescope.evaluate.aggregate import METHODS

    p = sub.add_parser(
        "scan",
        help="scan images/videos for deepfaked faces",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON lines, one object per input")
    fmt.add_argument("--csv", action="store_true", help="CSV, one row per input")
    p.add_argument("--out", metavar="FILE", help="write results to FILE (resumable, see below)")
    p.add_argument("--explain", metavar="DIR",
                   help="write attention overlays (most suspicious crop per face track) and, "
                        "for videos, a score timeline plot under DIR")
    p.add_argument("--detector", default=None,
                   help="detector family (default: the family --weights was trained for, else "
                        "the default detector; `fakescope detectors` lists them)")
    p.add_argument("--weights", metavar="FILE",
                   help="detector bundle to use (default: the weights packaged with fakescope)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if present)")
    p.add_argument("--runtime", choices=("auto", "torch", "onnx"), default="auto",
                   help="auto: on CPU, ONNX Runtime if it was measured faster here with the same "
                        "scores, else PyTorch (default: %(default)s)")
    p.add_argument("--sampling", default="uniform:32",
                   help="video frames to scan: uniform:N, every:K, keyframes, all "
                        "(default: %(default)s)")
    p.add_argument("--threshold", type=float, default=None,
                   help="fake iff score >= this (default: the weights' calibrated threshold)")
    p.add_argument("--face-detector", default="mtcnn", choices=("mtcnn", "dlib", "haar"),
                   help="default: %(default)s")
    p.add_argument("--min-face", type=float, default=None, metavar="PX",
                   help="smallest face side to consider, in pixels (default: the face "
                        "detector's own; smaller faces carry little evidence)")
    p.add_argument("--faces", choices=("all", "largest"), default="all",
                   help="score every face, or only the largest per frame (default: %(default)s)")
    p.add_argument("--aggregate", choices=METHODS, default="mean",
                   help="crop scores -> track score (default: %(default)s)")
    p.add_argument("--min-track-frames", type=int, default=3, metavar="N",
                   help="faces seen in fewer than N sampled frames of a video are ignored when "
                        "a person is seen in at least N (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def _journal_path(out: Path, as_json: bool) -> Path:
    return out if as_json else out.with_name(out.name + ".journal.jsonl")


def _error(message: str) -> int:
    print(f"fakescope scan: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fakescope.detectors import create_detector
    from fakescope.errors import FakescopeError
    from fakescope.faces import create_face_detector
    from fakescope.output.atomic import atomic_write_text
    from fakescope.output.formats import summary_line, to_csv, to_json_line, to_table
    from fakescope.scan import Scanner, exit_code, is_failure, scan_batch

    try:
        detector = create_detector(args.detector, weights=args.weights, device=args.device,
                                   runtime=args.runtime)
        faces = create_face_detector(args.face_detector, device=args.device,
                                     min_face_size=args.min_face)
        scanner = Scanner(detector, face_detector=faces, sampling=args.sampling,
                          policy=args.faces, aggregation=args.aggregate,
                          threshold=args.threshold, min_track_frames=args.min_track_frames)
    except (FakescopeError, KeyError, ValueError) as exc:
        return _error(str(exc).strip("'\""))

    out = Path(args.out) if args.out else None
    stream_json = args.json and out is None
    progress = not args.no_progress and sys.stderr.isatty()

    def on_result(result) -> None:
        if stream_json:
            print(to_json_line(result), flush=True)
        if is_failure(result):
            tqdm.write(f"fakescope scan: {result.path}: {result.reason}", file=sys.stderr)

    results = scan_batch(
        scanner,
        args.paths,
        journal=_journal_path(out, args.json) if out else None,
        explain_dir=args.explain,
        progress=progress,
        on_result=on_result,
    )
    if not results:
        return _error(f"no image or video files found in {' '.join(args.paths)}")
    if args.csv or not args.json:
        text = to_csv(results) if args.csv else to_table(results)
        if out is not None:
            atomic_write_text(out, text)
        else:
            sys.stdout.write(text)
    if out is not None or args.json:
        print(summary_line(results), file=sys.stderr)
    return exit_code(results)
