"""`fakescope scan PATH...`: argument parsing and printing; the work is `fakescope.scan`."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

DESCRIPTION = """\
Scan images and videos for manipulated faces. PATH may be a file, a folder (searched
recursively for image and video files) or a quoted glob ("clips/*.mp4").

Each input gets a verdict: fake, inconclusive, real, or abstain with a reason (no_face: no
face in any sampled frame; unreadable: <cause>: the file could not be decoded) -- never a
made-up score. Per face track, the crop probabilities are aggregated (--aggregate); the file
score is the highest track score (a video is fake if any person in it is fake). The verdict
comes from the file score and the weights' calibration on real files of several sources, one
per kind (video, image): fake at or above the score that calls 1 % of those real files fake
(threshold), inconclusive between that and the 5 % point (inconclusive_threshold: a person
should look), real below; probability is the calibrated probability of manipulation.
--threshold T gives two verdicts instead: fake iff score >= T, else real. Weights without a
calibration (a user's, unless --calibration names one) use their own threshold, two
verdicts and no probability."""

EPILOG = """\
output:
  default      a table on stdout (or in --out FILE): verdict, score, calibrated
               probability and a one-line reason per input
  --json       one JSON object per input and line: path, sha256, kind, verdict, score,
               probability, threshold, inconclusive_threshold, reason,
               detector {name, version, weights_sha256},
               tracks [{id, score, frames, boxes, scores}] (one per person),
               timeline [{frame, time_s, score}] (max over faces per sampled frame),
               timings_s (seconds per stage), media (format, size, resolution, duration,
               codec), provenance {c2pa, exif, container} (read beside the pixels, never
               scored), explanation (what the verdict means, in one sentence)
  --csv        one row per input
  --out FILE   write there instead of stdout. Resumable: every finished input is appended
               and fsynced to a JSON-lines journal (FILE itself with --json, else
               FILE.journal.jsonl); a re-run skips inputs already done with the same file
               sha256 and the same settings (weights, threshold, sampling, face detector,
               min face, faces policy, aggregation; each record carries their hash as
               settings_key). Inputs fakescope failed on (error) are not tried again unless
               --retry-errors. Table and CSV are written at the end.

inputs:
  Every path named gets one result, whatever it is: a missing file, a dangling or looping
  symbolic link, a file without read permission, a FIFO or device (never opened), a folder
  named like a video -- each as "unreadable: <cause>". Folders contribute every entry with an
  image or video suffix (hidden ones skipped). A damaged video is scored from the sampled
  frames that decode ("partial: N of M sampled frames unreadable"); with fewer than a quarter
  left it is "unreadable: too_few_frames". Animated GIF/WebP/PNG are scanned like videos.

isolation:
  Each input is scanned in a worker process: an input that crashes it, runs past --timeout or
  uses more than --max-memory gets "error: <cause>" and the batch goes on with a new worker.
  --in-process scans in this process instead (faster start, no isolation).

exit status (like a virus scanner):
  0  every input scanned, nothing fake or inconclusive found (abstain/no_face counts as
     scanned)
  1  something fake found
  4  nothing fake found, but something inconclusive (a person should look at it)
  2  some inputs could not be scanned (unreadable, or fakescope failed on them), or
     the scan could not start (bad arguments, missing weights). 2 wins over 1 and 4: the run
     is incomplete; its report still lists what was found. 1 wins over 4.
  3  internal failure of the run itself (not of one input); the message says what failed.
  130 interrupted (Ctrl-C); the journal keeps every input finished so far."""


def register(sub: argparse._SubParsersAction) -> None:
    from fakescope.evaluate.aggregate import METHODS
    from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR, DETECTOR_NAMES

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
    p.add_argument("--sampling", default=None,
                   help="video frames to scan: uniform:N, every:K, keyframes, all (default: "
                        "the detector's: uniform:32, latentforensics every:10); a sequence / "
                        "clip detector samples the runs of frames it needs (windows:K:F:S; only K "
                        "may be changed)")
    p.add_argument("--threshold", type=float, default=None,
                   help="fake iff score >= this, else real (default: the calibrated bands)")
    p.add_argument("--calibration", default="packaged", metavar="FILE",
                   help="file-level calibration of the weights (`fakescope calibrate`); "
                        "'packaged': the one shipped for these exact weights, if any; 'none': "
                        "the weights' own threshold (default: %(default)s)")
    p.add_argument("--face-detector", default=None, choices=DETECTOR_NAMES,
                   help=f"default: {DEFAULT_FACE_DETECTOR} (~10x faster than mtcnn, no torch), "
                        "or, for a model whose framing was measured for other face detectors "
                        "only (stylecontent: mtcnn), the first of those; each face "
                        "detector's boxes are framed by its own measured preset")
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
    p.add_argument("--retry-errors", action="store_true",
                   help="with --out: scan again the inputs a previous run failed on (error)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="seconds one input may take before its worker is stopped; 0 = no limit "
                        "(default: %(default)s)")
    p.add_argument("--max-memory", type=float, default=8192.0, metavar="MB",
                   help="memory one worker may use before it is stopped; 0 = no limit "
                        "(default: %(default)s)")
    p.add_argument("--in-process", action="store_true",
                   help="scan in this process: no worker, no --timeout/--max-memory")
    p.add_argument("--read-ahead", action="store_true",
                   help="decode the next input and find its faces while the current one is "
                        "scored: for machines with idle cores (slower on 2 cores, measured)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this machine, one input at a time; ray: a Ray Data pipeline "
                        "(needs `pip install fakescope[ray]`; --out is then a folder of "
                        "Parquet shards) (default: %(default)s)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --engine ray: the cluster to use (default: a local Ray)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def _journal_path(out: Path, as_json: bool) -> Path:
    return out if as_json else out.with_name(out.name + ".journal.jsonl")


def _error(message: str) -> int:
    print(f"fakescope scan: error: {message}", file=sys.stderr)
    return 2


def settings_from_args(args: argparse.Namespace):
    from fakescope.scan import ScanSettings

    return ScanSettings(
        detector=args.detector, weights=args.weights, device=args.device, runtime=args.runtime,
        face_detector=args.face_detector, min_face=args.min_face, sampling=args.sampling,
        policy=args.faces, aggregation=args.aggregate, threshold=args.threshold,
        min_track_frames=args.min_track_frames,
        calibration=None if args.calibration == "none" else args.calibration,
    )


def _start_scanner(args: argparse.Namespace):
    """The scanner the batch uses: in this process, or a worker (the default)."""
    from fakescope.scan import IsolatedScanner, Limits

    from fakescope.scan.memory import keep_large_buffers_unpooled

    settings = settings_from_args(args)
    if args.in_process:
        keep_large_buffers_unpooled()
        return settings.build()
    if args.timeout < 0 or args.max_memory < 0:
        raise ValueError("--timeout and --max-memory must be >= 0")
    limits = Limits(timeout_s=args.timeout or None, memory_mb=args.max_memory or None)
    return IsolatedScanner(settings, limits).start()


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fakescope.errors import FakescopeError
    from fakescope.output.atomic import atomic_write_text
    from fakescope.output.formats import summary_line, to_csv, to_json_line, to_table
    from fakescope.scan import exit_code, is_failure, scan_batch

    if args.engine == "ray":
        return _run_on_ray(args)
    try:
        scanner = _start_scanner(args)
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

    try:
        results = scan_batch(
            scanner,
            args.paths,
            journal=_journal_path(out, args.json) if out else None,
            explain_dir=args.explain,
            progress=progress,
            on_result=on_result,
            retry_errors=args.retry_errors,
            read_ahead=args.read_ahead,
        )
    finally:
        close = getattr(scanner, "close", None)
        if close is not None:
            close()
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


def _run_on_ray(args: argparse.Namespace) -> int:
    """--engine ray: the same records, in Parquet shards under --out (a folder)."""
    from fakescope.errors import FakescopeError
    from fakescope.output.formats import summary_line, to_csv, to_json_line, to_table
    from fakescope.scan import exit_code, is_failure

    if not args.out:
        return _error("--engine ray writes Parquet shards: give the folder with --out DIR")
    try:
        from fakescope.scan.ray_engine import scan_with_ray
        import ray  # noqa: F401
    except ImportError:
        return _error("--engine ray needs Ray: pip install 'fakescope[ray]'")

    stdout = sys.stdout  # the records' stream; Ray's own messages go to stderr

    def on_result(result) -> None:
        if args.json:
            print(to_json_line(result), file=stdout, flush=True)
        if is_failure(result):
            print(f"fakescope scan: {result.path}: {result.reason}", file=sys.stderr)

    try:
        with contextlib.redirect_stdout(sys.stderr):
            results, scanned = scan_with_ray(settings_from_args(args), args.paths,
                                             Path(args.out), address=args.ray_address,
                                             retry_errors=args.retry_errors, on_result=on_result)
    except (FakescopeError, KeyError, ValueError) as exc:
        return _error(str(exc).strip("'\""))
    if not results:
        return _error(f"no image or video files found in {' '.join(args.paths)}")
    if not args.json:
        sys.stdout.write(to_csv(results) if args.csv else to_table(results))
    print(f"{summary_line(results)}; {scanned} scanned in this run, results in {args.out}",
          file=sys.stderr)
    return exit_code(results)
