"""Training: config, trainer, schedules, checkpoints, compression, multi-process (DDP).

`Trainer`/`TrainResult` are imported on first use, so that reading a config or a checkpoint
does not pull in the data and augmentation stack.
"""

from fakescope.train.config import ConfigError, TrainConfig, load_config

__all__ = ["ConfigError", "TrainConfig", "TrainResult", "Trainer", "load_config"]


def __getattr__(name: str):
    if name in ("Trainer", "TrainResult"):
        from fakescope.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'fakescope.train' has no attribute {name!r}")
