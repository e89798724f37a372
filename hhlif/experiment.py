"""One place that builds an experiment from its config: the trainer of its kind, the model, the task.

Every command and the library use it: ``hhlif train`` validates and runs through :func:`trainer_of`, ``flops``
and ``bench`` build models with :func:`build_model`, a resumed sweep asks :func:`finished`, and
:func:`load_run` gives a trained model back to the user's own code.

A trainer module (``hhlif.trainers.<name>``, chosen by ``trainer.name``) defines

- ``validate(cfg)``: raise ConfigError for anything it cannot run, before anything is written;
- ``run(cfg, run_dir) -> metrics``: train (and continue, with ``resume``);
- ``build_model(cfg)``: the model it trains (for SAC, the spiking actor), from ``network`` and ``neuron``;
- ``trained_weights(checkpoint_state)``: that model's weights in one of its checkpoints;
- ``RUN_LENGTH = (metrics key, trainer key)``: how far a run got and where it stops (epochs, steps).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from hhlif.errors import RunError, unknown_choice

TRAINERS = {"classify": "hhlif.trainers.classify", "vib": "hhlif.trainers.vib", "sac": "hhlif.trainers.sac"}
CHECKPOINTS = ("best", "last")


def trainer_of(cfg: Mapping[str, Any]) -> ModuleType:
    """The trainer module of ``cfg`` (``trainer.name``)."""
    trainer = cfg.get("trainer") or {}
    name = trainer.get("name")
    if name not in TRAINERS:
        raise unknown_choice("trainer.name", name, TRAINERS)
    return importlib.import_module(TRAINERS[name])


def build_model(cfg: Mapping[str, Any]):
    """The model the run of ``cfg`` trains, freshly initialised (on torch's current default device)."""
    return trainer_of(cfg).build_model(cfg)


def finished(cfg: Mapping[str, Any], metrics: Mapping[str, Any]) -> bool:
    """Whether ``metrics`` (a run's metrics.json) records a run of ``cfg`` that went its whole length."""
    key, limit_key = trainer_of(cfg).RUN_LENGTH
    limit, reached = cfg["trainer"].get(limit_key), metrics.get(key)
    return limit is None or reached is None or reached >= limit


@dataclass
class Run:
    """A trained run, loaded back (:func:`load_run`)."""

    run_dir: Path
    cfg: Any  #: the run's configuration as it ran (a DictConfig, interpolations resolved)
    model: Any  #: the trained model (the classifier, VIB model, or SAC actor), in eval mode
    which: str  #: "best" or "last"
    checkpoint: Path
    metrics: dict[str, Any] = field(default_factory=dict)  #: the run's metrics.json ({} for an unfinished run)


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> Run:
    """The model of a finished or interrupted hhlif run, with its configuration.

    ``checkpoint``: ``best`` (the best evaluation; falls back to ``last`` for a run that has not evaluated
    yet) or ``last`` (where the run stopped). The model is rebuilt from the saved configuration and its weights
    loaded; it is ready to evaluate, or to train further in your own loop (``model.train()``)."""
    import json

    import torch
    from omegaconf import OmegaConf

    from hhlif.checkpoint import load_checkpoint

    run_dir = Path(run_dir).expanduser()
    if checkpoint not in CHECKPOINTS:
        raise unknown_choice("checkpoint", checkpoint, CHECKPOINTS)
    folder = run_dir / "checkpoints"
    path = folder / f"{checkpoint}.pt"
    if not path.is_file() and checkpoint == "best":
        path = folder / "last.pt"
    if not path.is_file():
        raise RunError(f"{run_dir} holds no checkpoint ({folder}/best.pt or last.pt): is it an hhlif run "
                       "directory? Runs are in outputs/<command>/... by default.")
    state = load_checkpoint(path, device)
    if "config" not in state:
        raise RunError(f"checkpoint {path} holds no configuration; it was not written by hhlif.")
    cfg = OmegaConf.create(state["config"])
    trainer = trainer_of(cfg)
    with torch.device(device):
        model = trainer.build_model(cfg)
    try:
        model.load_state_dict(trainer.trained_weights(state))
    except (KeyError, RuntimeError) as exc:
        raise RunError(f"checkpoint {path} does not fit the model of its configuration: "
                       f"{str(exc).splitlines()[0]}") from None
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    return Run(run_dir, cfg, model.eval(), path.stem, path, metrics)

