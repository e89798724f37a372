"""``hhlif train``: train a model on a task; the task's trainer does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hhlif.registry import lookup
from hhlif.runtime import resolve_device
from hhlif.trainers import classify, sac, vib

CONFIG_NAME = "train"
SUMMARY = "train a spiking network on a task (multi-task classification, or SAC control of MuJoCo pendulums)"
TRAINERS = {"classify": classify, "sac": sac, "vib": vib}


def validate(cfg: DictConfig) -> None:
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        from hhlif.errors import bad_value

        raise bad_value("seed", cfg.seed, "a non-negative integer")
    resolve_device(cfg.device)
    lookup(TRAINERS, "trainer", cfg.trainer).validate(cfg)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    return lookup(TRAINERS, "trainer", cfg.trainer).run(cfg, run_dir)
