"""What every trainer shares: its checkpoint files, resuming, stopping on a signal, and the non-finite guard.

A trainer (classification, VIB, SAC) is a :class:`Trainer` that defines

- ``state_dict()`` / ``load_state_dict(state, source)``: its whole state, enough to continue exactly;
- ``position()``: where it is, in words ("epoch 2, batch 31 (of 3 epochs)", "step 150 of 300");

and gets from this class:

- ``resume()``: load ``checkpoints/last.pt`` of the run directory, if there is one;
- ``save(*names)``: write the state atomically to ``checkpoints/<name>`` (a full disk is a clear error);
- ``stop``: a :class:`~hhlif.runtime.GracefulStop` the loop holds while it runs; ``interrupt(where)`` saves
  and raises :class:`~hhlif.errors.Interrupted` (exit status 128 + signal number);
- ``guard(model)``: turn the neurons' per-step finiteness check on or off; ``non_finite(problem)``: stop with
  the problem and advice, or (``trainer.on_nonfinite=skip``) log it and let the caller skip the batch.

Every trainer's optimiser is :func:`adam`, and its state is restored with :func:`load_optimizer`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from hhlif.checkpoint import load_checkpoint, save_checkpoint
from hhlif.errors import Interrupted, RunError, bad_value, unknown_choice
from hhlif.neurons.base import Neuron, NonFiniteState
from hhlif.resume import CHECKPOINT, check_compatible
from hhlif.runtime import GracefulStop, resolve_device

log = logging.getLogger(__name__)
ON_NONFINITE = ("stop", "skip")
PROGRESS = {"auto": None, "always": False, "never": True}  # trainer.progress → tqdm's `disable` (None: a terminal)


def validate_loop(t: DictConfig, fused_key: str) -> None:
    """Check the options every trainer's loop reads: ``trainer.progress``, ``check_finite``, ``on_nonfinite`` and
    the optimiser's ``fused`` switch (at ``trainer.<fused_key>``)."""
    if not isinstance(OmegaConf.select(t, fused_key), bool):
        raise bad_value(f"trainer.{fused_key}", OmegaConf.select(t, fused_key), "true or false")
    if t.progress not in PROGRESS:
        raise unknown_choice("trainer.progress", t.progress, list(PROGRESS))
    if not isinstance(t.check_finite, bool):
        raise bad_value("trainer.check_finite", t.check_finite, "true or false")
    if t.on_nonfinite not in ON_NONFINITE:
        raise unknown_choice("trainer.on_nonfinite", t.on_nonfinite, ON_NONFINITE)


#: optimiser settings that choose an implementation, not the update: a resumed run keeps its own (MAY_CHANGE)
IMPLEMENTATION_FLAGS = ("fused", "foreach")


def adam(params, *, fused: bool, **settings) -> torch.optim.Adam:
    """``torch.optim.Adam(params, **settings)``. ``fused``: PyTorch's fused implementation, one kernel for all
    parameters on a CPU or GPU instead of a dozen small operations per parameter tensor (the training default:
    the same update up to rounding, and the step of a small network several times faster)."""
    return torch.optim.Adam(params, fused=fused, **settings)


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load a saved optimiser ``state``, keeping ``optimizer``'s implementation flags (:data:`IMPLEMENTATION_FLAGS`):
    a checkpoint written with or without ``fused`` continues with what the resumed run's config says."""
    groups = [{**saved, **{k: own[k] for k in IMPLEMENTATION_FLAGS if k in own}}
              for saved, own in zip(state["param_groups"], optimizer.param_groups, strict=True)]
    optimizer.load_state_dict({**state, "param_groups": groups})


class Trainer:
    """The plumbing of one run in ``run_dir``; subclasses own the model, data and loop."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.device = resolve_device(cfg.device)
        self.stop = GracefulStop()

    # -- what a trainer defines ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        raise NotImplementedError

    def position(self) -> str:
        raise NotImplementedError

    # -- checkpoints -----------------------------------------------------------------------------------------
    def check_checkpoint(self, state: dict[str, Any], source: Path) -> None:
        """Refuse a checkpoint written with a configuration this run may not continue."""
        check_compatible(state["config"], OmegaConf.to_container(self.cfg, resolve=True), source)

    def resume(self) -> bool:
        """Load ``checkpoints/last.pt`` of the run directory if there is one; True if a run was resumed."""
        path = self.run_dir / CHECKPOINT
        if not path.is_file():
            log.warning("resume: %s has no checkpoint yet; starting from the beginning", self.run_dir)
            return False
        state = load_checkpoint(path, self.device)
        self.check_checkpoint(state, path)
        self.load_state_dict(state, path)
        log.info("resumed %s: continuing at %s", self.run_dir, self.position())
        return True

    def save(self, *names: str) -> None:
        """Write the state to ``checkpoints/<name>`` for each name (atomically: a reader never sees half a file)."""
        state = self.state_dict()
        for name in names:  # a failed write raises WriteError and keeps the previous file (hhlif.files)
            save_checkpoint(self.run_dir / "checkpoints" / name, state)

    def interrupt(self, where: str) -> None:
        """Save ``last.pt`` and stop for the signal :attr:`stop` received."""
        self.save("last.pt")
        raise Interrupted(self.stop.signum, f"stopped by {self.stop.name} {where}; checkpoint written to "
                          f"{self.run_dir / CHECKPOINT}. Continue with the same command and resume=true.")

    # -- non-finite values -----------------------------------------------------------------------------------
    @staticmethod
    def guard(model: nn.Module, enabled: bool) -> None:
        """Turn the per-step finiteness check of every neuron of ``model`` on or off."""
        for module in model.modules():
            if isinstance(module, Neuron):
                module.check_finite = enabled

    @staticmethod
    def describe(model: nn.Module, exc: NonFiniteState, where: str) -> str:
        """The layer, time step and value of a neuron state that became non-finite, with the neuron's advice."""
        layer = next((n for n, m in model.named_modules() if m is exc.neuron), "?").removesuffix(".neuron")
        return (f"the state of layer '{layer}' ({type(exc.neuron).__name__}) became {exc.value} at time step "
                f"{exc.step}, {where}. {exc.neuron.divergence_hint()}")

    def non_finite(self, problem: str, skipped: str = "batches") -> None:
        """Stop the run for ``problem`` (``trainer.on_nonfinite=stop``), or log it and return so that the caller
        skips what went wrong (``skip``; ``skipped`` names what is skipped, in the plural)."""
        if self.cfg.trainer.on_nonfinite == "skip":
            log.warning("skipping (trainer.on_nonfinite=skip): %s", problem)
            return
        raise RunError(f"training stopped: {problem} Lower the learning rate, or set trainer.on_nonfinite=skip to "
                       f"skip such {skipped}.")
