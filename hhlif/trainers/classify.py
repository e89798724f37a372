"""Multi-task classification (the paper's Fig. 4c/4h protocol).

Per batch: forward, loss = Σ_tasks CE(logits_k, y_k) (mean over the batch each), backward, Adam step.
MultiStepLR once per epoch; evaluation on the test set after every epoch. TensorBoard's step is the number of
optimiser steps (batches) so far: the epoch's metrics at the end of each epoch, the training loss also every
``trainer.log_every_n_steps`` batches within it (``train/batch_loss``). The trainer's whole state
(model, optimiser, scheduler, epoch, progress within the epoch, best result, every RNG) is one dict, written
atomically after every epoch and when SIGINT/SIGTERM stops the run, so ``resume=true`` continues exactly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm import tqdm

from hhlif.calibration import calibrate_run
from hhlif.checkpoint import rng_state, set_rng_state
from hhlif.errors import (
    ConfigError,
    RunError,
    bad_value,
    require_in_range,
    require_positive,
    unknown_choice,
)
from hhlif.logger import best_tag, build_logger
from hhlif.metrics.cost import count_flops, energy_nj, peak_memory_mb, synops_per_sample
from hhlif.metrics.figures import layer_figures
from hhlif.metrics.flops import count_model
from hhlif.metrics.spikes import LayerTrace, SpikeMonitor, record_layers
from hhlif.metrics.tasks import TaskSplit
from hhlif.networks import build_network, count_parameters
from hhlif.neurons.base import NonFiniteState
from hhlif.resume import wants_resume
from hhlif.runtime import require_memory, seed_everything
from hhlif.tasks.batches import ImageBatches, Noise
from hhlif.tasks.multitask import DATASETS, check_labels, load_multitask
from hhlif.tasks.sources import DOWNLOAD_CHOICES
from hhlif.trainers.base import PROGRESS, Trainer, adam, load_optimizer, validate_loop

log = logging.getLogger(__name__)
NOISE_MODES = ("fixed", "per_sample")
RECORDED_SAMPLES = 4  # test samples whose spikes and voltages are drawn at every evaluation (TensorBoard images)


#: (metrics.json key, trainer key): how far a run got, and where it stops
RUN_LENGTH = ("epoch", "max_epochs")


def build_classifier(cfg: DictConfig) -> nn.Module:
    """The network of ``cfg`` sized for its task."""
    task = cfg.task
    return build_network(cfg.network, cfg.neuron, input_shape=tuple(task.input_shape), tasks=task.tasks,
                         classes=task.classes)


build_model = build_classifier


def trained_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's weights in a checkpoint of this trainer."""
    return state["model"]


def validate(cfg: DictConfig) -> None:
    """Check every value this trainer reads; raise ConfigError on the first bad one."""
    validate_run(cfg)
    t, task = cfg.trainer, cfg.task
    ms = list(t.scheduler.milestones)
    if any(not isinstance(m, int) or m <= 0 for m in ms) or ms != sorted(ms):
        raise bad_value("trainer.scheduler.milestones", ms, "increasing positive epoch numbers")
    require_in_range("trainer.scheduler.gamma", t.scheduler.gamma, 0.0, 1.0)
    selectable = ["test/acc_mean", *(f"test/acc_task{k + 1}" for k in range(task.tasks))]
    if t.select not in selectable:
        raise unknown_choice("trainer.select", t.select, selectable)
    with torch.device("meta"):
        check_memory(cfg, build_classifier(cfg))


def check_memory(cfg: DictConfig, model: nn.Module) -> None:
    """Refuse a number of time steps whose training batch cannot fit in memory: the backward pass keeps at least
    a spike and a membrane value (4 bytes each) per spiking unit, sample and step."""
    from hhlif.neurons.base import Neuron

    units = sum(math.prod(m.shape) for m in model.modules() if isinstance(m, Neuron))
    steps, batch = cfg.network.time_steps, max(cfg.trainer.batch_size, cfg.trainer.eval_batch_size)
    require_memory("network.time_steps", steps, 8.0 * steps * batch * units,
                   f"a batch of {batch} samples over {steps} steps of {units} spiking units",
                   "Lower network.time_steps (the paper uses 15) or trainer.batch_size.")


def validate_run(cfg: DictConfig) -> None:
    """The checks shared by the trainers built on :class:`ClassifyTrainer`: loop, optimiser, data."""
    t, task = cfg.trainer, cfg.task
    if task.get("dataset") not in DATASETS:
        raise ConfigError(f"trainer={t.name} trains on an image dataset, and task={task.get('name')!r} is not one "
                          f"(image tasks: {', '.join(DATASETS)}). Control tasks use trainer=sac, which they select "
                          "themselves: drop the trainer override.")
    require_positive("trainer.max_epochs", t.max_epochs, integer=True)
    require_positive("trainer.log_every_n_steps", t.log_every_n_steps, integer=True)
    require_positive("trainer.batch_size", t.batch_size, integer=True)
    require_positive("trainer.eval_batch_size", t.eval_batch_size, integer=True)
    require_positive("trainer.optimizer.lr", t.optimizer.lr)
    if not isinstance(t.optimizer.weight_decay, (int, float)) or t.optimizer.weight_decay < 0:
        raise bad_value("trainer.optimizer.weight_decay", t.optimizer.weight_decay, "a number ≥ 0")
    for i, b in enumerate(t.optimizer.betas):
        require_in_range(f"trainer.optimizer.betas[{i}]", b, 0.0, 0.999999)
    validate_loop(t, "optimizer.fused")
    for key in ("limit_train", "limit_test"):
        if task[key] is not None:
            require_positive(f"task.{key}", task[key], integer=True)
    require_positive("task.pixel_max", task.pixel_max)
    if not isinstance(task.noise.amplitude, (int, float)) or task.noise.amplitude < 0:
        raise bad_value("task.noise.amplitude", task.noise.amplitude, "a number ≥ 0 (pixel units; paper: 25/50/75)")
    if task.noise.mode not in NOISE_MODES:
        raise unknown_choice("task.noise.mode", task.noise.mode, NOISE_MODES)
    if task.download not in DOWNLOAD_CHOICES:
        raise bad_value("task.download", task.download, "true, false or retry")


class ClassifyTrainer(Trainer):
    """Owns the data, model, optimiser and logger of one classification run.

    A trainer built on this one (``trainers/vib.py``) changes the model, schedule, loss, prediction, per-step
    update, extra per-sample metrics and FLOPs count through the methods of the section below ``__init__``.
    """

    def __init__(self, cfg: DictConfig, run_dir: Path):
        super().__init__(cfg, run_dir)
        t, task = cfg.trainer, cfg.task
        seed_everything(cfg.seed, cfg.deterministic)

        self.data = load_multitask(task.dataset, cfg.data.root, pickle=task.pickle, download=task.download)
        check_labels(self.data, int(task.classes))
        noise = Noise(float(task.noise.amplitude), task.noise.mode, cfg.seed) if task.noise.amplitude > 0 else None
        common = dict(pixel_max=float(task.pixel_max), noise=noise, device=self.device, seed=cfg.seed)
        self.train_batches = ImageBatches(self.data.train_x, self.data.train_y, t.batch_size, shuffle=True,
                                          limit=task.limit_train, **common)
        self.test_batches = ImageBatches(self.data.test_x, self.data.test_y, t.eval_batch_size, shuffle=False,
                                         limit=task.limit_test, noise_stream=1, **common)

        self.model = self.build_model().to(self.device)
        first = next(self.train_batches.iterate())[0]  # neuron.input_gain=auto: calibrated on the first batch
        self.calibration = calibrate_run(cfg, self.model, self.build_model, lambda model: model(first))
        self.guard(self.model, bool(t.check_finite))
        self.optimizer = adam(self.model.parameters(), lr=t.optimizer.lr, betas=tuple(t.optimizer.betas),
                              weight_decay=t.optimizer.weight_decay, fused=t.optimizer.fused)
        self.scheduler = self.build_scheduler()
        self.monitor = SpikeMonitor(self.model)
        self.task_split = TaskSplit(self.model)
        self.epoch = 0  # epochs completed
        self.progress = _EpochProgress()  # the epoch under way
        self.best: dict[str, Any] = {}
        self.last: dict[str, float] = {}  # the metrics of the last epoch (kept in checkpoints: metrics.json's)
        self.last_per_step: dict[str, list[float]] = {}  # and its firing rate per time step, per layer
        self.trainable, self.frozen = count_parameters(self.model)
        self.logger = None  # the run's RunLogger while fit() runs
        self.layers: dict = {}  # firing statistics of the last evaluation, per spiking layer
        self.traces: dict[str, LayerTrace] = {}  # a few test samples of the last evaluation, step by step

    # -- what a trainer built on this one may change -------------------------------------------------------
    def build_model(self, cfg: DictConfig | None = None) -> nn.Module:
        """The model to train (moved to the run's device by the caller); of ``cfg`` instead of the run's if given
        (the LIF network of :mod:`hhlif.calibration`)."""
        return build_classifier(cfg or self.cfg)

    def build_scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        """The learning-rate schedule, stepped once after every training epoch."""
        s = self.cfg.trainer.scheduler
        return torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(s.milestones), gamma=s.gamma)

    def compute_loss(self, output: Any, y: torch.Tensor) -> torch.Tensor:
        """The optimised loss of a batch: Σ_tasks CE(logits_k, y_k), each the mean over the batch."""
        return sum(F.cross_entropy(output[:, k], y[:, k]) for k in range(y.shape[1]))

    def predict(self, output: Any) -> torch.Tensor:
        """The logits ``[B, tasks, classes]`` in the model's output (accuracy is their argmax)."""
        return output

    def after_step(self) -> None:
        """Called after every optimiser step."""

    def batch_sums(self, output: Any, y: torch.Tensor) -> dict[str, float]:
        """Extra per-sample quantities of a batch, summed over its samples; the epoch reports their mean per sample
        as ``<split>/<name>`` (kept in mid-epoch checkpoints)."""
        return {}

    def paper_flops(self) -> dict[str, float]:
        """The paper's analytic ADD/MUL counts of the model (Fig. 5b rules)."""
        paper = count_model(self.model)
        return {"cost/flops_paper_add": paper.add, "cost/flops_paper_mul": paper.mul}

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: the data order and noise are functions of (seed, epoch)."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": self.epoch, "progress": vars(self.progress),
                "best": self.best, "last": self.last, "last_per_step": self.last_per_step, "rng": rng_state(),
                "config": OmegaConf.to_container(self.cfg, resolve=True)}

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise RunError(f"checkpoint {source} does not fit this model: {str(exc).splitlines()[0]}") from None
        load_optimizer(self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best = state["epoch"], state["best"]
        self.last, self.last_per_step = dict(state.get("last", {})), dict(state.get("last_per_step", {}))
        self.progress = _EpochProgress(**state["progress"])
        set_rng_state(state["rng"])

    def position(self) -> str:
        where = f"epoch {self.epoch + 1}, batch {self.progress.batches + 1}" if self.progress.batches else \
            f"epoch {self.epoch + 1}"
        return f"{where} (of {self.cfg.trainer.max_epochs} epochs)"

    # -- loops ---------------------------------------------------------------------------------------
    def _progress(self, batches, desc: str, start: int = 0):
        mode = self.cfg.trainer.progress
        disable = PROGRESS[mode]
        return tqdm(batches.iterate(start), desc=desc, disable=disable, leave=False, dynamic_ncols=True,
                    unit="batch", total=len(batches), initial=start)

    def _forward(self, x: torch.Tensor, y: torch.Tensor, where: str) -> tuple[Any, torch.Tensor] | None:
        """Model output and loss; None when a non-finite value was met and trainer.on_nonfinite=skip."""
        problem = None
        try:
            output = self.model(x)
            loss = self.compute_loss(output, y)
            if not bool(torch.isfinite(loss)):
                problem = f"the loss is {loss.item()} at {where}"
        except NonFiniteState as exc:
            problem = self.describe(self.model, exc, where)
        if problem is None:
            return output, loss
        self.non_finite(problem, "batches")
        return None

    def _run_epoch(self, batches: ImageBatches, train: bool, desc: str) -> dict[str, float]:
        self.model.train(train)
        tasks = self.cfg.task.tasks
        acc_state = self.progress if train else _EpochProgress()
        correct = torch.tensor(acc_state.correct or [0] * tasks, dtype=torch.long)
        first = acc_state.batches  # > 0 when resuming in the middle of an epoch
        bar = self._progress(batches, desc, first)
        start = time.perf_counter()
        every = -(-len(batches) // 10)  # without a progress bar (not a terminal): a log line per 10 % (at most 10)
        window = [0.0, 0]  # loss sum and samples since the last train/batch_loss point
        with torch.set_grad_enabled(train):
            for i, (x, y) in enumerate(bar, first + 1):
                out = self._forward(x, y, f"epoch {self.epoch + 1}, batch {i}")
                if out is not None:
                    output, loss = out
                    if train:
                        self.optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        self.optimizer.step()
                        self.after_step()
                    acc_state.loss_sum += loss.item() * y.shape[0]
                    window = [window[0] + loss.item() * y.shape[0], window[1] + y.shape[0]]
                    correct += (self.predict(output).argmax(-1) == y).sum(0).cpu()
                    for key, value in self.batch_sums(output, y).items():
                        acc_state.sums[key] = acc_state.sums.get(key, 0.0) + value
                    acc_state.seen += y.shape[0]
                else:
                    acc_state.skipped += 1
                acc_state.batches = i
                acc_state.correct = correct.tolist()
                if train and self.logger is not None and self.global_step % self.cfg.trainer.log_every_n_steps == 0:
                    if window[1]:
                        self.logger.scalars({"train/batch_loss": window[0] / window[1]}, self.global_step)
                    window = [0.0, 0]
                seen = max(acc_state.seen, 1)
                acc = correct.double() / seen
                postfix = {"loss": f"{acc_state.loss_sum / seen:.4f}",
                           **{f"acc{k + 1}": f"{a:.3f}" for k, a in enumerate(acc)}}
                bar.set_postfix(postfix)
                if bar.disable and train and (i % every == 0 or i == len(batches)):
                    spent = time.perf_counter() - start
                    eta = spent / (i - first) * (len(batches) - i)
                    log.info("%s  %3d%% (%d/%d batches)  %s  %.0fs, ETA %.0fs", desc, 100 * i // len(batches), i,
                             len(batches), "  ".join(f"{k} {v}" for k, v in postfix.items()), spent, eta)
                if train and self.stop.signum is not None and i < len(batches):
                    self.interrupt(f"during epoch {self.epoch + 1} (batch {i} of {len(batches)})")
        elapsed = time.perf_counter() - start
        split, phase = ("train", "train") if train else ("test", "eval")
        seen = max(acc_state.seen, 1)
        acc = (correct.double() / seen).tolist()
        out = {f"{split}/loss": acc_state.loss_sum / seen, f"{split}/acc_mean": sum(acc) / len(acc),
               f"cost/{phase}_samples_per_s": acc_state.seen / elapsed, f"cost/{phase}_epoch_s": elapsed,
               f"cost/{phase}_step_ms": 1000 * elapsed / len(batches), f"{split}/skipped_batches": acc_state.skipped}
        out.update({f"{split}/acc_task{k + 1}": a for k, a in enumerate(acc)})
        out.update({f"{split}/{key}": total / seen for key, total in acc_state.sums.items()})
        return out

    @property
    def global_step(self) -> int:
        """Optimiser steps (training batches) so far: TensorBoard's step."""
        return self.epoch * len(self.train_batches) + self.progress.batches

    def evaluate(self, record: bool = False) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """Test-set metrics, firing statistics of every spiking layer (kept in :attr:`layers`), the per-task
        split of the read-out and the event-driven cost (SynOps, energy estimate); also the tensors to log as
        histograms. ``record``: also record :data:`RECORDED_SAMPLES` test samples step by step
        (:attr:`traces`, :func:`~hhlif.metrics.spikes.record_layers`)."""
        monitors = (self.monitor, self.task_split)
        for m in monitors:
            m.reset()
            m.enabled = True
        try:
            with torch.inference_mode():
                metrics = self._run_epoch(self.test_batches, train=False, desc="test")
        finally:
            for m in monitors:
                m.enabled = False
        self.layers = layers = self.monitor.layers()
        if record:
            self.traces = self.record()
        histograms = {f"spikes/{name}/rates": stats.rates for name, stats in layers.items()}
        for name, stats in layers.items():
            metrics.update(stats.scalars(f"spikes/{name}"))
        split, preference = self.task_split.summary()
        metrics.update(split)
        if preference.numel():
            histograms["tasks/preference"] = preference
        synops = synops_per_sample(layers, self.model.spike_fanout())
        metrics["cost/synops_per_sample"] = synops
        metrics["cost/energy_nj_per_sample"] = energy_nj(self.model.dense_macs(), synops)
        metrics["cost/peak_memory_mb"] = peak_memory_mb(self.device)
        return metrics, histograms

    def record(self) -> dict[str, LayerTrace]:
        """The spikes and voltages of every spiking layer for the first test samples (noise-free), step by step,
        in evaluation mode; the random streams of the run are left as they were."""
        x = self.test_batches.sample(RECORDED_SAMPLES)
        state = rng_state()
        self.model.eval()
        self.guard(self.model, False)  # a picture of a diverged state shows it; the loop reports it
        try:
            return record_layers(self.model, lambda: self.model(x))
        finally:
            self.guard(self.model, bool(self.cfg.trainer.check_finite))
            set_rng_state(state)

    def measure_flops(self, samples: int = 8) -> dict[str, float]:
        """FLOPs per sample that actually run (forward; forward + backward), and the paper's analytic count."""
        x = self.test_batches.sample(samples)
        y = torch.zeros(x.shape[0], self.cfg.task.tasks, dtype=torch.long, device=x.device)
        self.guard(self.model, False)  # counting only: divergence is reported by the training loop, with its context
        self.model.eval()
        with torch.no_grad():
            forward = count_flops(lambda: self.model(x))
        self.model.train()
        train_step = count_flops(lambda: self.compute_loss(self.model(x), y).backward())
        self.model.zero_grad(set_to_none=True)
        self.guard(self.model, bool(self.cfg.trainer.check_finite))
        n = x.shape[0]
        return {"cost/flops_forward": forward["total"] / n,
                "cost/flops_forward_elementwise": forward["elementwise"] / n,
                "cost/flops_train_step": train_step["total"] / n, **self.paper_flops(),
                "cost/dense_macs": self.model.dense_macs()}

    def fit(self) -> dict[str, Any]:
        """Train until ``trainer.max_epochs`` epochs are done; returns the content written to ``metrics.json``."""
        cfg, t = self.cfg, self.cfg.trainer
        if self.epoch >= t.max_epochs and (self.run_dir / "metrics.json").is_file():
            log.info("%s already finished its %d epochs; nothing to do", self.run_dir, t.max_epochs)
            return json.loads((self.run_dir / "metrics.json").read_text())
        step = self.global_step
        self.logger = logger = build_logger(cfg, self.run_dir, purge_step=step + 1 if step else None)
        self._announce()
        metrics: dict[str, float] = dict(self.last)  # killed after its last checkpoint: the results it saved
        logger.logged.update(metrics)
        logger.last_step = step
        try:
            flops = self.measure_flops()
            params = {"params/trainable": self.trainable, "params/frozen": self.frozen}
            logger.constants(params)  # HParams columns, not one-point charts
            logger.constants(flops, hparams=False)  # in metrics.json only
            paper = (f"; paper count ADD {flops['cost/flops_paper_add'] / 1e6:.5g} M, MUL "
                     f"{flops['cost/flops_paper_mul'] / 1e6:.5g} M" if "cost/flops_paper_add" in flops else "")
            log.info("cost: %.3g FLOPs per sample forward (%.3g element-wise), %.3g forward+backward%s",
                     flops["cost/flops_forward"], flops["cost/flops_forward_elementwise"],
                     flops["cost/flops_train_step"], paper)
            with self.stop:
                while self.epoch < t.max_epochs:
                    epoch = self.epoch
                    lr = self.optimizer.param_groups[0]["lr"]
                    self.train_batches.set_epoch(epoch)
                    train = self._run_epoch(self.train_batches, train=True, desc=f"epoch {epoch + 1}/{t.max_epochs}")
                    self.scheduler.step()
                    test, histograms = self.evaluate(record=logger.images)
                    self.epoch, self.progress = epoch + 1, _EpochProgress()
                    metrics = self.last = {**train, **test, **flops, "train/lr": lr}
                    self.last_per_step = {f"spikes/{name}/rate_per_step": s.per_step.tolist()
                                          for name, s in self.layers.items()}
                    improved = not self.best or metrics[t.select] > self.best[t.select]
                    if improved:
                        self.best = {**metrics, "epoch": self.epoch}
                    self.save("last.pt", *(("best.pt",) if improved else ()))
                    self._log_evaluation(logger, metrics, histograms)
                    log.info(self._epoch_line(metrics))
                    if self.stop.signum is not None and self.epoch < t.max_epochs:
                        self.interrupt(f"after epoch {self.epoch}")
            result = {**metrics, **self.last_per_step, "epoch": self.epoch, "best": dict(self.best), **params,
                      "meta": self._meta(), **self.calibration}
            path = logger.write_metrics(result)
        finally:
            logger.close()
            self.logger = None
        log.info("results in %s (metrics.json, checkpoints/, tensorboard/)", self.run_dir)
        log.info("metrics: %s", path)
        return result

    def _log_evaluation(self, logger, metrics: Mapping[str, float], histograms: Mapping[str, torch.Tensor]) -> None:
        """The epoch's scalars (the constants are HParams columns instead), the best value so far of
        ``trainer.select``, the histograms and each spiking layer's figures, at the epoch's last step."""
        step, select = self.global_step, self.cfg.trainer.select
        logger.scalars(metrics, step)
        logger.scalars({best_tag(select): self.best[select]}, step)
        for tag, values in histograms.items():
            logger.histogram(tag, values, step)
        for tag, draw in layer_figures(self.layers, self.traces).items():
            logger.figure(tag, draw, step)

    def _announce(self) -> None:
        d = self.data
        log.info("data: %s (%s), %d train / %d test samples used", self.cfg.task.dataset, d.variant,
                 self.train_batches.num_samples, self.test_batches.num_samples)
        log.info("model: neuron=%s network=%s, %d trainable parameters (+%d frozen), device %s",
                 self.cfg.neuron.name, self.cfg.network.name, self.trainable, self.frozen, self.device)

    def _epoch_line(self, m: Mapping[str, float]) -> str:
        tasks = range(1, self.cfg.task.tasks + 1)
        tr = "/".join(f"{m[f'train/acc_task{k}']:.3f}" for k in tasks)
        te = "/".join(f"{m[f'test/acc_task{k}']:.3f}" for k in tasks)
        return (f"epoch {self.epoch}/{self.cfg.trainer.max_epochs}  train loss {m['train/loss']:.4f} acc {tr}  "
                f"test loss {m['test/loss']:.4f} acc {te}  ({m['cost/train_epoch_s']:.1f}s)")

    def _meta(self) -> dict[str, Any]:
        return {"data.variant": self.data.variant, "data.info": self.data.info,
                "data.train_samples": self.train_batches.num_samples,
                "data.test_samples": self.test_batches.num_samples, "device": str(self.device),
                "torch": torch.__version__}


@dataclass
class _EpochProgress:
    """Running totals of the training epoch under way (saved in mid-epoch checkpoints)."""

    batches: int = 0
    seen: int = 0
    loss_sum: float = 0.0
    correct: list[int] = field(default_factory=list)
    skipped: int = 0  # batches skipped for non-finite values (trainer.on_nonfinite=skip)
    sums: dict[str, float] = field(default_factory=dict)  # of batch_sums()


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train and evaluate one classification model in ``run_dir`` (continuing its checkpoint with resume)."""
    trainer = ClassifyTrainer(cfg, run_dir)
    if wants_resume(cfg.resume):
        trainer.resume()
    return trainer.fit()
