"""Multi-process data-parallel training (DistributedDataParallel).

Two ways in, one code path:

* ``torchrun --nproc_per_node=N -m fakescope.cli.main train CONFIG`` — torchrun sets RANK,
  WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT; :func:`init_from_env` joins the group.
* ``fakescope train CONFIG --nproc N`` — :func:`spawn` starts N local processes with
  torch.multiprocessing and a free port.

Backend: NCCL when the process drives a CUDA device, gloo otherwise (CPU works everywhere).
Each process gets `batch_size` samples per step, so the global batch is N × batch_size.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def current() -> DistInfo:
    """The process group this process is in (single process when none)."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local)
    return DistInfo()


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device: torch.device, timeout_s: float = 1800.0) -> DistInfo:
    """Join the group described by torchrun's environment variables (no-op without them)."""
    if env_world_size() <= 1:
        return DistInfo()
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(
            backend=backend_for(device), timeout=datetime.timedelta(seconds=timeout_s)
        )
    return current()


def local_device(device: torch.device, info: DistInfo) -> torch.device:
    """Each process drives its own GPU (cuda:LOCAL_RANK); CPU stays CPU."""
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(fn: Callable[..., Any], nprocs: int, args: tuple = (), device: str | None = None,
          port: int | None = None) -> None:
    """Run ``fn(rank, world_size, *args)`` in `nprocs` processes of one process group.

    `fn` must be importable (a module-level function). The group is created before `fn` runs
    and destroyed after; an exception in any process is raised here.
    """
    if nprocs < 1:
        raise ValueError("nprocs must be >= 1")
    port = port or free_port()
    mp.spawn(_entry, args=(nprocs, port, device, fn, args), nprocs=nprocs, join=True)


def _entry(rank: int, world_size: int, port: int, device: str | None,
           fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
    )
    from fakescope.device import resolve_device

    init_from_env(resolve_device(device))
    try:
        fn(rank, world_size, *args)
    finally:
        shutdown()


def shutdown() -> None:
    """Leave the process group, if this process is in one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum numbers over processes (identity in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order ([obj] in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
