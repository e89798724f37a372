"""``hhlif train``: train a model on a task; the task's trainer does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from hhlif.errors import ConfigError, HhlifError, bad_value, require_positive
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
    check_neuron_runs(cfg.neuron)


_CHECKED: set[str] = set()


def check_neuron_runs(neuron: DictConfig) -> None:
    """Run a tiny population of the neuron once (:func:`hhlif.testing.check_runs`), so that a model breaking the
    neuron contract is reported, with its class and method, before anything is trained (once per config)."""
    from omegaconf import OmegaConf

    from hhlif.neurons import build_neuron
    from hhlif.testing import ContractError, check_runs

    key = OmegaConf.to_yaml(neuron)
    if key in _CHECKED:
        return
    try:
        check_runs(lambda shape: build_neuron(neuron, shape))
    except ContractError as error:
        raise ConfigError(f"neuron={neuron.get('name')} breaks the neuron contract: {error}. Run 'hhlif check "
                          f"neuron={neuron.get('name')}' for every check.") from None
    except HhlifError:
        raise
    except Exception as error:  # the model's own code failed on a tiny input
        raise ConfigError(f"neuron={neuron.get('name')} ({neuron.get('_target_')}) failed on a population of 3: "
                          f"{type(error).__name__}: {error}. Run 'hhlif check neuron={neuron.get('name')}'.") from None
    _CHECKED.add(key)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    if cfg.threads is not None:
        torch.set_num_threads(int(cfg.threads))
    return trainer_of(cfg).run(cfg, run_dir)
