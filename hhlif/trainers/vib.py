"""Variational information bottleneck: the paper's Fig. 5d protocol (reference spec §4) for any neuron model.

The model (``network=vib``, :class:`~hhlif.networks.vib.VIBNet`) encodes an image with a spiking layer into
a Gaussian posterior N(μ, σ²) of a code z of size K and decodes one sample of z with one linear head per
task. Training is the classification loop of :class:`~hhlif.trainers.classify.ClassifyTrainer` (data,
resume, signals, numerical guards, checkpoints, cost metrics, logging) with these differences:

* loss: Σ_tasks CE (nats), as the paper's code optimises; with ``trainer.beta_in_loss=true`` the VIB
  objective Σ_tasks CE + β·KL(N(μ, σ²) ‖ N(0, I)) instead;
* after every optimiser step, an exponential moving average of every entry of the model's state:
  ``ema ← decay·ema + (1 − decay)·weights`` (initialised equal to the model);
* learning rate × γ after every ``scheduler.every``-th epoch (the paper: ExponentialLR(0.97) stepped after
  every even epoch);
* after every epoch the **EMA weights** are evaluated on the test set: per sample
  ``I(Z;X) ≤ KL/ln 2`` and ``I(Z;Y) ≥ tasks·log2(classes) − Σ_tasks CE/ln 2`` bits, averaged over the test set;
  one-shot accuracy (one z per image) and multi-shot accuracy (``trainer.samples`` draws of z, softmax
  probabilities averaged). ``*/izy_bits_paper`` is I(Z;Y) as the paper's code computes it, with a single
  ``log2(classes)`` for both tasks; it is ``izy_bits − (tasks − 1)·log2(classes)``.

The epoch with the highest ``trainer.select`` (the multi-shot test accuracy, strictly greater, as the paper)
fills ``best`` in ``metrics.json``. The same quantities of the training model on the training batches are
logged as ``train/*``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from hhlif.checkpoint import rng_state, set_rng_state
from hhlif.errors import ConfigError, RunError, bad_value, require_in_range, require_positive, unknown_choice
from hhlif.networks import build_network
from hhlif.networks.vib import (
    SOFTMAX_AXES,
    VIBNet,
    VIBOutput,
    izy_bound_bits,
    izy_bound_bits_paper,
    kl_to_standard_normal,
)
from hhlif.resume import wants_resume
from hhlif.trainers.classify import ClassifyTrainer, check_memory, validate_run

log = logging.getLogger(__name__)
LN2 = math.log(2)


#: (metrics.json key, trainer key): how far a run got, and where it stops
RUN_LENGTH = ("epoch", "max_epochs")


def build_vib(cfg: DictConfig) -> VIBNet:
    """The VIB model of ``cfg`` sized for its task."""
    task = cfg.task
    return build_network(cfg.network, cfg.neuron, input_shape=tuple(task.input_shape), tasks=task.tasks,
                         classes=task.classes)


build_model = build_vib


def trained_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights the VIB trainer evaluates: the exponential moving average of the model's (its ``ema``)."""
    return {**state["model"], **state["ema"]}


def selectable(tasks: int) -> list[str]:
    """Metrics ``trainer.select`` may name (higher is better)."""
    return ["test/acc_multishot", "test/acc_oneshot", "test/acc_mean", "test/izy_bits",
            *(f"test/acc_task{k + 1}" for k in range(tasks))]


def validate(cfg: DictConfig) -> None:
    """Check every value this trainer reads; raise ConfigError on the first bad one."""
    if cfg.network.name != "vib":
        raise ConfigError(f"trainer=vib trains the VIB model only (network=vib), but network={cfg.network.name} was "
                          "given. Leave network= out: trainer=vib selects it (hhlif train trainer=vib neuron=hh).")
    validate_run(cfg)
    t = cfg.trainer
    require_positive("trainer.scheduler.every", t.scheduler.every, integer=True)
    require_in_range("trainer.scheduler.gamma", t.scheduler.gamma, 0.0, 1.0)
    require_in_range("trainer.ema", t.ema, 0.0, 1.0)
    if isinstance(t.beta, bool) or not isinstance(t.beta, (int, float)) or t.beta < 0:
        raise bad_value("trainer.beta", t.beta, "a number ≥ 0 (paper: 1e-3)")
    if not isinstance(t.beta_in_loss, bool):
        raise bad_value("trainer.beta_in_loss", t.beta_in_loss, "true or false")
    require_positive("trainer.samples", t.samples, integer=True)
    if t.multishot_softmax not in SOFTMAX_AXES:
        raise unknown_choice("trainer.multishot_softmax", t.multishot_softmax, SOFTMAX_AXES)
    if t.select not in selectable(cfg.task.tasks):
        raise unknown_choice("trainer.select", t.select, selectable(cfg.task.tasks))
    with torch.device("meta"):
        check_memory(cfg, build_vib(cfg))


class VIBTrainer(ClassifyTrainer):
    """The classification trainer with the VIB model, loss, EMA, schedule and bounds (module docstring)."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        super().__init__(cfg, run_dir)
        self.ema = {key: value.detach().clone() for key, value in self.model.state_dict().items()}

    # -- what differs from classification ----------------------------------------------------------------
    def build_model(self, cfg: DictConfig | None = None) -> nn.Module:
        return build_vib(cfg or self.cfg)

    def build_scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        # StepLR(every, γ) stepped once per epoch = ExponentialLR(γ) stepped after epochs every, 2·every, ...
        s = self.cfg.trainer.scheduler
        return torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=s.every, gamma=s.gamma)

    def compute_loss(self, output: VIBOutput, y: torch.Tensor) -> torch.Tensor:
        loss = super().compute_loss(output.logits, y)
        if self.cfg.trainer.beta_in_loss:
            loss = loss + self.cfg.trainer.beta * kl_to_standard_normal(output.mu, output.std).mean()
        return loss

    def predict(self, output: VIBOutput) -> torch.Tensor:
        return output.logits

    def after_step(self) -> None:
        update_ema(self.ema, self.model, self.cfg.trainer.ema)

    def batch_sums(self, output: VIBOutput, y: torch.Tensor) -> dict[str, float]:
        """Per-sample bounds (bits), VIB objective and multi-shot accuracy, summed over the batch."""
        t = self.cfg.trainer
        with torch.no_grad():
            tasks, classes = output.logits.shape[-2:]
            ce = F.cross_entropy(output.logits.flatten(0, 1).double(), y.flatten(), reduction="none")
            ce = ce.view_as(y).sum(1)  # nats, summed over the tasks
            kl = kl_to_standard_normal(output.mu.double(), output.std.double())
            probs = self.model.multishot(output.mu, output.std, t.samples, t.multishot_softmax)
            multishot = (probs.argmax(-1) == y).double().mean(1)  # per sample, mean over the tasks
            return {"izx_bits": float((kl / LN2).sum()), "izy_bits": float(izy_bound_bits(ce, classes, tasks).sum()),
                    "izy_bits_paper": float(izy_bound_bits_paper(ce, classes).sum()),
                    "vib_loss_bits": float(((ce + t.beta * kl) / LN2).sum()), "acc_multishot": float(multishot.sum())}

    def _run_epoch(self, batches, train: bool, desc: str) -> dict[str, float]:
        out = super()._run_epoch(batches, train, desc)
        split = "train" if train else "test"
        out[f"{split}/acc_oneshot"] = out[f"{split}/acc_mean"]
        return out

    def evaluate(self, record: bool = False) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """:meth:`ClassifyTrainer.evaluate` of the EMA weights (the training weights are put back after)."""
        with self._ema_weights():
            return super().evaluate(record)

    @contextmanager
    def _ema_weights(self) -> Iterator[None]:
        live = {key: value.detach().clone() for key, value in self.model.state_dict().items()}
        self.model.load_state_dict(self.ema)
        try:
            yield
        finally:
            self.model.load_state_dict(live)

    def measure_flops(self, samples: int = 8) -> dict[str, float]:
        # the counting passes draw z: keep the random stream of the run as it was (exact resume)
        state = rng_state()
        try:
            return super().measure_flops(samples)
        finally:
            set_rng_state(state)

    def paper_flops(self) -> dict[str, float]:
        return {}  # the paper's Fig. 5b count covers its classification networks only

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ema": self.ema}

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        super().load_state_dict(state, source)
        ema = state.get("ema")
        if ema is None or set(ema) != set(self.ema):
            raise RunError(f"checkpoint {source} holds no EMA weights of this model; it was not written by "
                           "trainer=vib. Start a new run instead.")
        self.ema = {key: value.to(self.device) for key, value in ema.items()}

    # -- console -------------------------------------------------------------------------------------
    def _announce(self) -> None:
        super()._announce()
        t = self.cfg.trainer
        log.info("VIB: K=%d, loss %s, EMA %g, multi-shot %d samples with softmax over the %s", self.cfg.network.k,
                 f"CE + {t.beta:g}·KL" if t.beta_in_loss else "CE only (as the paper; beta_in_loss=false)", t.ema,
                 t.samples, "classes" if t.multishot_softmax == "classes" else "batch axis (the paper's defect)")

    def _epoch_line(self, m: Mapping[str, float]) -> str:
        return (f"epoch {self.epoch}/{self.cfg.trainer.max_epochs}  train loss {m['train/loss']:.4f}  "
                f"test I(Z;X) {m['test/izx_bits']:.2f} bits  I(Z;Y) {m['test/izy_bits']:.2f} bits  "
                f"acc one-shot {m['test/acc_oneshot']:.3f} multi-shot {m['test/acc_multishot']:.3f}  "
                f"({m['cost/train_epoch_s']:.1f}s)")


def update_ema(ema: dict[str, torch.Tensor], model: nn.Module, decay: float) -> None:
    """``ema ← decay·ema + (1 − decay)·weights`` for every trainable parameter of ``model``, in place; the other
    entries of its state (frozen parameters such as HH gating rates, buffers) are copied."""
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if key in trainable:
                ema[key].mul_(decay).add_(value, alpha=1 - decay)
            else:
                ema[key].copy_(value)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train the VIB model in ``run_dir`` (continuing its checkpoint with resume) and report its bounds."""
    trainer = VIBTrainer(cfg, run_dir)
    if wants_resume(cfg.resume):
        trainer.resume()
    return trainer.fit()
