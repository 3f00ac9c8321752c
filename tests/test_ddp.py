"""Two-process DistributedDataParallel smoke test on CPU (gloo): both ranks end with the same
weights, each saw half of the data, and rank 0 alone wrote the run folder."""

from __future__ import annotations

import pytest
import torch
from train_factory import tiny_overrides, write_crops

from fakescope.train import ddp
from fakescope.train.config import config_from_dict, load_config
from fakescope.train.trainer import Trainer

pytestmark = pytest.mark.slow


def _train_rank(rank: int, world_size: int, config: dict, out: str) -> None:
    """One DDP process: train, then save what this rank ended with."""
    trainer = Trainer(config_from_dict(config), progress=False)
    result = trainer.fit()
    torch.save({"state": trainer.model.state_dict(), "steps": trainer.steps_per_epoch,
                "world": trainer.dist.world_size, "history": result.history,
                "bundle": str(result.bundle_path) if result.bundle_path else None},
               f"{out}/rank{rank}.pt")


def test_two_cpu_processes_train_in_lockstep(tmp_path):
    table = write_crops(tmp_path / "crops", n_train=24, n_val=12)
    cfg = load_config(None, tiny_overrides(table, tmp_path / "run", {
        "epochs": 1, "device": "cpu", "data.cache_dir": str(tmp_path / "cache"),
    }))
    ddp.spawn(_train_rank, 2, args=(cfg.to_dict(), str(tmp_path)), device="cpu")

    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    assert r0["steps"] == r1["steps"] == 2  # 24 crops / 2 ranks / batch 8 → 2 steps each
    for key, value in r0["state"].items():  # parameters and (synced) BatchNorm statistics
        assert torch.equal(value, r1["state"][key]), key
    def metrics(history):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in history]

    assert metrics(r0["history"]) == metrics(r1["history"])  # reduced/gathered over both ranks

    init = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert torch.equal(init["model"]["head.weight"], r0["state"]["head.weight"])
    assert init["world_size"] == 2
    assert r0["bundle"] is not None and r1["bundle"] is None  # only rank 0 exports
    assert (tmp_path / "run" / "detector.pt").is_file()
