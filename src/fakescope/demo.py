"""`python -m fakescope.demo`: build a small sample and scan it exactly as `fakescope scan` does.

The sample, written to ./fakescope-demo/sample (or --dir, or a temporary folder with --tmp):

- ``real_face.png``   a real photograph of a face (scikit-image's astronaut, NASA, public domain)
- ``real_face.mp4``   a short video of it (a slow zoom), written with PyAV
- ``fake_selfblend.png`` a self-blended fake of it (`fakescope.data.synth.self_blend`: the face,
  colour-jittered and slightly shifted, blended back inside its landmark mask)
- ``no_face.png``     a photograph without a face (scikit-image's coffee cup) → abstain

It then runs ``fakescope scan <folder>/sample --explain <folder>/explain`` (same code path,
same output) and explains the scan's exit code. The demo itself exits 0 when the scan ran (the
sample holds a fake on purpose), 2 when it could not. Verdicts come from the packaged weights unless --weights names a bundle.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

EXIT_MEANING = {
    0: "0: every input was scanned and nothing fake was found",
    1: "1: something fake was found",
    2: "2: some inputs could not be scanned, or the scan could not start",
    4: "4: nothing fake was found, but something was inconclusive (a person should look)",
}


def write_video(path: Path, image: np.ndarray, frames: int = 24, fps: int = 12,
                side: int = 320) -> Path:
    """A slow zoom into `image` (square, RGB uint8), H.264 in MP4."""
    import av
    import cv2

    h, w = image.shape[:2]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            zoom = 1.0 + 0.25 * i / max(frames - 1, 1)
            cw, ch = int(w / zoom), int(h / zoom)
            x0, y0 = (w - cw) // 2, (h - ch) // 3  # zoom towards the upper third (the face)
            frame = cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (side, side),
                               interpolation=cv2.INTER_AREA)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def build_sample(folder: Path, face_detector=None, seed: int = 0) -> list[Path]:
    """Write the demo inputs into `folder`; returns their paths."""
    from PIL import Image
    from skimage import data

    from fakescope.data.synth import self_blend
    from fakescope.faces import create_face_detector

    folder.mkdir(parents=True, exist_ok=True)
    face = data.astronaut()
    face_detector = face_detector or create_face_detector("mtcnn")
    found = face_detector.detect(face)
    if not found:
        raise RuntimeError("the face detector found no face in the demo image")
    det = found[0]
    fake, _ = self_blend(face, det.landmarks if det.landmarks is not None else
                         np.asarray(det.box), rng=seed)
    paths = [folder / "real_face.png", folder / "real_face.mp4",
             folder / "fake_selfblend.png", folder / "no_face.png"]
    Image.fromarray(face).save(paths[0])
    write_video(paths[1], face)
    Image.fromarray(fake).save(paths[2])
    Image.fromarray(data.coffee()).save(paths[3])
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakescope.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--dir", default="fakescope-demo", help="sample folder (default: %(default)s)")
    where.add_argument("--tmp", action="store_true", help="use a temporary folder, removed after")
    parser.add_argument("--weights", help="detector bundle (default: the packaged weights)")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the table")
    args = parser.parse_args(argv)

    from fakescope.cli.main import main as fakescope_main

    with tempfile.TemporaryDirectory(prefix="fakescope-demo-") as tmp:
        folder = Path(tmp) if args.tmp else Path(args.dir)
        sample, explain = folder / "sample", folder / "explain"
        build_sample(sample)
        cmd = ["scan", str(sample), "--explain", str(explain)]
        cmd += ["--weights", args.weights] if args.weights else []
        cmd += ["--json"] if args.json else []
        print(f"$ fakescope {' '.join(cmd)}", flush=True)
        code = fakescope_main(cmd)
    print(f"\nscan exit code {EXIT_MEANING.get(code, code)}")
    if not args.tmp:
        print(f"sample in {sample}/, explanation overlays (Grad-CAM or attention) and timelines in {explain}/")
    # The sample holds a fake on purpose: finding it (scan's 1) is the demo working. Only a
    # scan that could not run or read an input (2) makes the demo fail.
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    sys.exit(main())
