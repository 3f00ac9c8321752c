"""Frame sampling strategies: which frames of a video a caller wants.

A strategy only names frames (by index in presentation order); `media.decode` decides how to
get them while decoding as little as possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np


@dataclass(frozen=True)
class UniformSampling:
    """`n` frames spread evenly from the first to the last frame.

    With `circular_pad`, a video shorter than `n` frames is repeated from its start until there
    are `n` (seed 004 samples T=32 this way), so batches keep a fixed length.
    """

    n: int = 32
    circular_pad: bool = True

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"uniform sampling needs n >= 1, got {self.n}")

    def indices(self, frame_count: int) -> list[int]:
        if frame_count <= 0:
            return []
        if frame_count >= self.n:
            return np.linspace(0, frame_count - 1, self.n).round().astype(int).tolist()
        if not self.circular_pad:
            return list(range(frame_count))
        return [i % frame_count for i in range(self.n)]

    def __str__(self) -> str:
        return f"uniform:{self.n}" + ("" if self.circular_pad else ":nopad")


@dataclass(frozen=True)
class EveryKSampling:
    """Frames 0, k, 2k, ...: the "grab every 10th frame" of seed 001."""

    k: int

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"every-k sampling needs k >= 1, got {self.k}")

    def indices(self, frame_count: int) -> list[int]:
        return list(range(0, max(frame_count, 0), self.k))

    def __str__(self) -> str:
        return f"every:{self.k}"


@dataclass(frozen=True)
class KeyframeSampling:
    """Only the frames the encoder stored as keyframes: the cheapest possible decode."""

    def __str__(self) -> str:
        return "keyframes"


@dataclass(frozen=True)
class AllFrames:
    """Every frame. Memory grows with the video; prefer the other strategies for long inputs."""

    def __str__(self) -> str:
        return "all"


@dataclass(frozen=True)
class WindowSampling:
    """`windows` runs of `length` frames, `step` frames apart, spread evenly from the first
    to the last frame: what a sequence detector (seed 003: 10 frames, 1 in 7) or a clip
    detector (seed 004: consecutive frames) needs, and nothing else is decoded.

    A video shorter than one run gives the frames it has (every `step`-th); runs that overlap
    in a short video share their frames (each index is listed once). `window_of` maps a frame
    index back to its runs."""

    windows: int = 4
    length: int = 10
    step: int = 1

    def __post_init__(self) -> None:
        if self.windows < 1 or self.length < 1 or self.step < 1:
            raise ValueError(f"window sampling needs windows, length, step >= 1, got {self}")

    @property
    def span(self) -> int:
        """Video frames one run covers."""
        return (self.length - 1) * self.step + 1

    def runs(self, frame_count: int) -> list[list[int]]:
        """The frame indices of each run, in order."""
        if frame_count <= 0:
            return []
        if frame_count < self.span:
            return [list(range(0, frame_count, self.step))]
        last = frame_count - self.span
        starts = np.linspace(0, last, self.windows).round().astype(int) if self.windows > 1 else [last // 2]
        starts = list(dict.fromkeys(int(s) for s in starts))
        return [list(range(s, s + self.span, self.step)) for s in starts]

    def indices(self, frame_count: int) -> list[int]:
        return sorted({i for run in self.runs(frame_count) for i in run})

    def __str__(self) -> str:
        return f"windows:{self.windows}:{self.length}:{self.step}"


Sampling = Union[UniformSampling, EveryKSampling, KeyframeSampling, AllFrames, WindowSampling]


def parse_sampling(spec: str | Sampling) -> Sampling:
    """Parse "uniform:32", "uniform:32:nopad", "uniform", "every:10", "keyframes", "all" or
    "windows:K:F:S" (K runs of F frames, S apart)."""
    if isinstance(spec, (UniformSampling, EveryKSampling, KeyframeSampling, AllFrames,
                         WindowSampling)):
        return spec
    parts = str(spec).strip().lower().split(":")
    name, args = parts[0], parts[1:]
    if name == "uniform" and len(args) <= 2 and (len(args) < 2 or args[1] in ("pad", "nopad")):
        n = _int(args[0], spec) if args else UniformSampling.n
        return UniformSampling(n=n, circular_pad=not (len(args) == 2 and args[1] == "nopad"))
    if name == "every" and len(args) == 1:
        return EveryKSampling(k=_int(args[0], spec))
    if name in ("keyframes", "keyframe", "key") and not args:
        return KeyframeSampling()
    if name == "all" and not args:
        return AllFrames()
    if name == "windows" and len(args) == 3:
        k, f, s = (_int(a, spec) for a in args)
        return WindowSampling(windows=k, length=f, step=s)
    raise ValueError(f"bad sampling {spec!r}; use uniform:N[:nopad], every:K, keyframes, all "
                     "or windows:K:F:S")


def _int(text: str, spec: object) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"bad sampling {spec!r}: {text!r} is not an integer") from None
