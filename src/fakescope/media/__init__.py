"""fakescope.media: open, probe, hash and sample frames from videos and images.

Everything returns RGB uint8 arrays with rotation (display matrix / EXIF) applied, and every
failure is a MediaError naming the file and the cause.
"""

from fakescope.media.decode import (
    DecodeStats,
    frame_to_rgb,
    iter_frames,
    no_frames_error,
    read_frames,
)
from fakescope.media.files import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    check_file,
    is_image,
    is_media,
    is_video,
    iter_media_files,
)
from fakescope.media.hashing import sha256_file
from fakescope.media.images import read_image, to_rgb8
from fakescope.media.probe import probe
from fakescope.media.sampling import (
    AllFrames,
    EveryKSampling,
    KeyframeSampling,
    Sampling,
    UniformSampling,
    WindowSampling,
    parse_sampling,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "AllFrames",
    "DecodeStats",
    "EveryKSampling",
    "KeyframeSampling",
    "Sampling",
    "UniformSampling",
    "WindowSampling",
    "check_file",
    "frame_to_rgb",
    "is_image",
    "is_media",
    "is_video",
    "iter_frames",
    "no_frames_error",
    "iter_media_files",
    "parse_sampling",
    "probe",
    "read_frames",
    "read_image",
    "sha256_file",
    "to_rgb8",
]
