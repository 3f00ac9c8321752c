"""`fakescope extract`: face crops + a manifest from files, folders or a dataset description.

Exit codes: 0 every input gave faces; 2 some inputs failed or had no face (each one is printed
as ``path: reason (detail)`` and recorded in the manifest); 1 the run could not start.
"""

from __future__ import annotations

import argparse
import sys

from fakescope.errors import FakescopeError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="cut face crops out of videos/images into a folder plus a manifest",
        description=(
            "Cut face crops out of videos and images for training. INPUT is a file, a folder "
            "(searched recursively), a glob, a DFDC metadata.json (or a folder of them), a "
            "FaceForensics++ or Celeb-DF root, or a CSV with path,label[,group]. Writes "
            "OUT/crops/, OUT/manifest.parquet (or .csv) and OUT/extract_log.jsonl; a re-run "
            "with the same OUT skips finished inputs."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--out", required=True, help="output folder (crops + manifest)")
    p.add_argument("--layout", default="auto",
                   choices=("auto", "files", "dfdc", "faceforensics", "celebdf", "csv"),
                   help="how to read INPUT (default: guessed per argument)")
    p.add_argument("--no-recursive", dest="recursive", action="store_false",
                   help="do not descend into sub-folders")
    p.add_argument("--sampling", default="uniform:32",
                   help="frames per video: uniform:N, every:K, keyframes, all, or windows:K:F:S "
                        "(K runs of F frames S apart, what a sequence detector is fed; "
                        "default uniform:32)")
    p.add_argument("--frames-real", type=int, default=None, metavar="N",
                   help="uniform frames per REAL video (class balancing; seed 001 uses 40)")
    p.add_argument("--frames-fake", type=int, default=None, metavar="N",
                   help="uniform frames per FAKE video (class balancing; seed 001 uses 8)")
    p.add_argument("--detector", default="mtcnn", help="face detector: mtcnn, dlib or haar")
    p.add_argument("--detect-max-side", type=int, default=None, metavar="PX",
                   help="detect on a copy whose longer side is at most PX (default: detector's)")
    p.add_argument("--min-face-size", type=float, default=None, metavar="PX",
                   help="ignore faces smaller than PX full-resolution pixels (default: detector's)")
    p.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    p.add_argument("--crop-size", type=int, default=224)
    p.add_argument("--crop-preset", default="dfdc_tight",
                   help="crop framing preset (default dfdc_tight, the shared DFDC crops' framing)")
    p.add_argument("--margin", type=float, default=None, help="override the preset's margin")
    p.add_argument("--align", action="store_true", help="align faces on their eye landmarks")
    p.add_argument("--policy", default="all", choices=("all", "largest"),
                   help="keep every face or only the largest per frame")
    p.add_argument("--fallback", default="none", choices=("none", "center"),
                   help="center-crop frames without a face (flagged in the manifest)")
    p.add_argument("--format", dest="image_format", default="jpg", choices=("jpg", "png"))
    p.add_argument("--manifest-format", default="parquet", choices=("parquet", "csv"))
    p.add_argument("-j", "--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from fakescope.data.sources import resolve_sources
    from fakescope.extract import ExtractConfig, extract

    try:
        config = ExtractConfig(
            out_dir=args.out,
            sampling=args.sampling,
            frames_real=args.frames_real,
            frames_fake=args.frames_fake,
            detector=args.detector,
            detect_max_side=args.detect_max_side,
            min_face_size=args.min_face_size,
            device=args.device,
            crop_size=args.crop_size,
            crop_preset=args.crop_preset,
            margin=args.margin,
            align=args.align,
            policy=args.policy,
            fallback=args.fallback,
            image_format=args.image_format,
            workers=args.workers,
            manifest_name=f"manifest.{args.manifest_format}",
        )
        items = resolve_sources(args.inputs, recursive=args.recursive, layout=args.layout)
        if not items:
            print("fakescope extract: no inputs found", file=sys.stderr)
            return 1
        with logging_redirect_tqdm():  # warnings print above the progress bar, not through it
            summary = extract(items, config, progress=args.progress)
    except (FakescopeError, ValueError) as e:
        print(f"fakescope extract: {e}", file=sys.stderr)
        return 1

    for problem in summary.problems:
        print(problem.message(), file=sys.stderr)
    print(
        f"{summary.inputs} input(s): {summary.ok} with faces, {summary.no_face} without a face, "
        f"{summary.failed} failed; {summary.crops} crops; {summary.processed} processed now, "
        f"{summary.skipped} done before ({summary.seconds:.1f} s)"
    )
    if summary.by_reason:
        counts = ", ".join(f"{r}: {n}" for r, n in sorted(summary.by_reason.items()))
        print(f"problems by reason: {counts}")
    print(f"manifest: {summary.manifest_path}")
    return 0 if summary.all_ok else 2
