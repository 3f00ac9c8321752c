"""One place that decides where tensors go, so no module hard-codes a device.

torch is imported only when a device is really resolved: a scan that runs its models with
ONNX Runtime on the CPU asks `cpu_without_torch` first and never pays torch's import."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """`None` or ``"auto"`` picks CUDA when present, else CPU; anything else is taken as given."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _no_cuda_driver() -> bool:
    """True when this machine certainly has no CUDA device: Linux without the NVIDIA driver
    (no /proc/driver/nvidia, no /dev/nvidiactl). Elsewhere we cannot tell without torch."""
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return True
    return not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists())


def cpu_without_torch(device: object = None) -> bool:
    """Whether `resolve_device(device)` would give the CPU, answered without importing torch
    where that is certain (an explicit ``"cpu"``, or auto on a machine with no CUDA driver)."""
    if "torch" in sys.modules:
        return resolve_device(device).type == "cpu"  # already paid for: ask it
    if device is None or device == "auto":
        return _no_cuda_driver()
    return str(device) == "cpu"


def autocast(device: torch.device, enabled: bool = True):
    """Mixed precision on CUDA (fp16); a no-op context on CPU, where fp16 autocast does not help."""
    if enabled and device.type == "cuda":
        import torch

        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()
