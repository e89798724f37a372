"""``hhlif train``: train a model on a task; the task's trainer does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from hhlif.errors import bad_value, require_positive
from hhlif.experiment import trainer_of
from hhlif.runtime import resolve_device

CONFIG_NAME = "train"
SUMMARY = "train a spiking network on a task (multi-task classification, or SAC control of MuJoCo pendulums)"


def validate(cfg: DictConfig) -> None:
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise bad_value("seed", cfg.seed, "a non-negative integer")
    if cfg.threads is not None:
        require_positive("threads", cfg.threads, integer=True)
    if cfg.objective is not None and not isinstance(cfg.objective, str):
        raise bad_value("objective", cfg.objective, "a key of metrics.json (e.g. test/acc_mean) or null")
    resolve_device(cfg.device)
    trainer_of(cfg).validate(cfg)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    if cfg.threads is not None:
        torch.set_num_threads(int(cfg.threads))
    return trainer_of(cfg).run(cfg, run_dir)
