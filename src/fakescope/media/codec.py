"""Re-encoding frames with a real video codec (H.264, HEVC, VP9 through PyAV), in memory.

Why: the footage users scan was compressed by a video codec — block transforms, deblocking,
motion-compensated prediction, chroma subsampling — at rates from a camera's CRF 18 to a
re-upload's CRF 40+. JPEG alone teaches none of that. Training augmentation and the
robustness benchmark use this one implementation.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

# codec name in `fakescope` → (FFmpeg encoder, container, options besides the rate). One
# thread, no look-ahead or B-frames: a few small frames encode in 20-50 ms this way, where
# x265's defaults (thread pools, look-ahead) take 0.5 s (measured on 160-px crops, 2 cores).
CODECS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264": ("libx264", "mp4", {"preset": "veryfast", "tune": "zerolatency", "threads": "1"}),
    "hevc": ("libx265", "mp4", {"preset": "ultrafast", "x265-params":
             "log-level=none:pools=none:frame-threads=1:rc-lookahead=0:bframes=0"}),
    "vp9": ("libvpx-vp9", "webm", {"deadline": "realtime", "cpu-used": "8", "b": "0",
                                   "threads": "1"}),
}
MAX_CRF = {"h264": 51, "hevc": 51, "vp9": 63}


def reencode(frames: Sequence[np.ndarray], codec: str = "h264", crf: int = 23,
             fps: int = 25) -> list[np.ndarray]:
    """Encode RGB uint8 frames (all one size) as a `codec` stream at constant rate factor
    `crf` (yuv420p, so odd sides are padded by edge replication and cropped back) and decode
    them again. The first frame is intra-coded, later ones predicted from it, as in a video."""
    import av

    if codec not in CODECS:
        raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
    if not 0 <= int(crf) <= MAX_CRF[codec]:
        raise ValueError(f"crf for {codec} must lie in [0, {MAX_CRF[codec]}], got {crf}")
    if not frames:
        raise ValueError("no frames to encode")
    h, w = frames[0].shape[:2]
    ph, pw = h + h % 2, w + w % 2
    encoder, container_format, options = CODECS[codec]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format) as out:
        stream = out.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.options = {**options, "crf": str(int(crf))}
        for img in frames:
            if img.shape[:2] != (h, w) or img.dtype != np.uint8:
                raise ValueError("frames must be uint8 RGB arrays of one size")
            padded = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r") as src:
        decoded = [f.to_ndarray(format="rgb24")[:h, :w] for f in src.decode(video=0)]
    if len(decoded) != len(frames):
        raise RuntimeError(f"{codec} returned {len(decoded)} of {len(frames)} frames")
    return decoded


def reencode_still(image: np.ndarray, codec: str = "h264", crf: int = 23,
                   motion_px: int = 2) -> np.ndarray:
    """One image as it looks in a compressed video: encoded as the last of three frames that
    shift by `motion_px` pixels each (so it is a predicted frame, like most of a video's),
    decoded, and shifted back."""
    frames = [np.roll(image, (k * motion_px, k * motion_px), axis=(0, 1)) for k in range(3)]
    last = reencode(frames, codec, crf)[-1]
    return np.roll(last, (-2 * motion_px, -2 * motion_px), axis=(0, 1))
