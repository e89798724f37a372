"""The one way a run records its results: TensorBoard events plus ``metrics.json`` under the same names, and
``failed.json`` when a run fails. Every tag, its unit and when it is logged: docs/reference/tensorboard.md.

**Tags.** Scalars are grouped by their first path component, which TensorBoard shows as one section each:
``train/`` and ``test/`` (SAC: ``eval/``) say whether the model learns, ``spikes/<layer>/`` how each spiking
layer fires (with its images), ``cost/`` what it costs. Accuracies are fractions in [0, 1] everywhere
(TensorBoard, ``metrics.json``, the console). A counter that is still 0 (:data:`COUNTERS`, such as
``train/skipped_batches``) is not logged, so no flat zero chart sits among the curves.

**HParams.** Each run writes its hyper-parameters (:func:`hhlif.report.naming.hparams_of`: the model key
and every leaf of the resolved config that defines the run) and the parameter counts (declared with
:meth:`RunLogger.constants`) as a TensorBoard *session start* summary into its own event file, once, before
its first event (TensorBoard keeps a run's first one); ``write_metrics`` adds a *session end* (success)
summary. TensorBoard's HParams tab then shows one row per run, named like the run, whose metric columns are
the last values of the run's scalars. The trainers log the best value so far of the metric that selects
``best.pt`` as a curve (``test/best_acc_mean``, ``eval/best_return_mean``), so it is a column too. The FLOPs
counts are constants that are not columns: TensorBoard lists the columns that differ between runs first,
alphabetically, and they would push the model key aside. Unlike ``SummaryWriter.add_hparams``, this writes
no second run in a sub-directory (which would show as a separate run next to the real one) and no
*experiment* summary: TensorBoard uses one arbitrary run's experiment summary for all runs when there are
several, while without one it builds the table from every run's own hyper-parameters.

**metrics.json** lists the final metrics first (``test/``, ``eval/``, ``train/``), then ``best`` (the metrics of
the best evaluation), then the rest (counters, parameters, cost) and ``meta``.

Console messages go through the standard ``logging`` module (Hydra also writes them to ``<run>/<command>.log``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hhlif.files import write_text_atomic

log = logging.getLogger(__name__)
FAILURE_FILE = "failed.json"  # written in a run directory when the run fails (hhlif.cli), read by hhlif report
#: tags (their last component) of counters logged only once they are non-zero
COUNTERS = ("skipped_batches", "skipped_updates")
#: metrics.json: the groups of final metrics written first, in this order (then `best`, the rest, `meta`)
FINAL_GROUPS = ("test/", "eval/", "train/")


def best_tag(tag: str) -> str:
    """The tag of the best-so-far curve of ``tag``: ``test/acc_mean`` → ``test/best_acc_mean``."""
    group, _, name = tag.rpartition("/")
    return f"{group}/best_{name}" if group else f"best_{name}"


def ordered_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` in the order of ``metrics.json``: the final metrics (:data:`FINAL_GROUPS`, each sorted), then
    ``best``, then every other key sorted, ``meta`` last."""
    def rank(key: str) -> tuple:
        group = next((i for i, g in enumerate(FINAL_GROUPS) if key.startswith(g)), None)
        if group is not None:
            return (0, group, key)
        return (1 if key == "best" else 3 if key == "meta" else 2, 0, key)

    return {k: metrics[k] for k in sorted(metrics, key=rank)}


def write_json_atomic(path: Path, data: Any, sort_keys: bool = True) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename (never half-written); with
    ``sort_keys=False`` in the order of ``data``. A failed write raises :class:`~hhlif.files.WriteError` (the file,
    the free space, what to do)."""
    text = json.dumps(data, indent=2, sort_keys=sort_keys, default=_jsonable) + "\n"
    write_text_atomic(Path(path), text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_failure(run_dir: Path, error: BaseException, exit_status: int, command: str) -> Path:
    """Record in ``<run_dir>/failed.json`` (atomically) that the run failed: the message, the error's type and
    the exit status. A run that later succeeds (``resume=true``) removes it (:func:`clear_failure`)."""
    path = Path(run_dir) / FAILURE_FILE
    write_json_atomic(path, {"error": str(error), "type": type(error).__name__, "exit_status": int(exit_status),
                             "command": command, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return path


def clear_failure(run_dir: Path) -> None:
    """Remove the failure record of an earlier attempt of this run, if any."""
    (Path(run_dir) / FAILURE_FILE).unlink(missing_ok=True)


class RunLogger:
    """Scalars, histograms and figures to TensorBoard (``<run_dir>/tensorboard``); final numbers to
    ``metrics.json``; ``hparams`` (name → str/int/float/bool) to TensorBoard's HParams tab (module docstring).
    ``histograms`` and ``images`` (the figures of :meth:`figure`) may be turned off (``logger.histograms``,
    ``logger.images``)."""

    def __init__(self, run_dir: Path, *, name: str = "tensorboard", histograms: bool = True, images: bool = True,
                 flush_secs: int = 10, purge_step: int | None = None,
                 hparams: Mapping[str, str | int | float | bool] | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        self.histograms = histograms
        self.images = images
        # purge_step (when resuming): TensorBoard drops earlier events at steps ≥ purge_step, which a killed run
        # may have logged after its last checkpoint
        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), flush_secs=flush_secs,
                                    purge_step=purge_step)
        self.logged: set[str] = set()  # scalar tags logged by this logger
        self.last_step = 0
        self.hparams = dict(hparams or {})
        self._started = False  # whether the HParams session start summary is written
        self._constants: set[str] = set()  # tags declared constant: HParams columns, never scalars

    def constants(self, values: Mapping[str, Any], hparams: bool = True) -> None:
        """Numbers that stay the same for the whole run (parameter counts, FLOPs per sample): never charted by
        :meth:`scalars` (they are in ``metrics.json``); with ``hparams``, columns of the HParams table. Columns
        are declared before the first event (TensorBoard keeps a run's first hyper-parameters)."""
        numbers = _numbers(values)
        self._constants.update(numbers)
        if hparams and not self._started:
            self.hparams.update(numbers)

    def _start(self) -> None:
        """Write the HParams session start summary once, before the first event that needs it."""
        if not self._started:
            self._started = True
            if self.hparams:
                self.writer._get_file_writer().add_summary(self._hparams_summaries()[0])

    def _hparams_summaries(self):
        """TensorBoard's session start (the hyper-parameters) and session end (success) summaries."""
        from torch.utils.tensorboard.summary import hparams

        values = {k: str(v).lower() if isinstance(v, bool) else v for k, v in self.hparams.items()}
        _, start, end = hparams(values, {})  # the experiment summary is left out on purpose (module docstring)
        return start, end

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log every finite scalar of ``values`` (tag → number) at ``step``, except the run's
        :meth:`constants`, and a counter (:data:`COUNTERS`) only when it is not 0."""
        self._start()
        for tag, value in values.items():
            value = float(value)
            if (not math.isfinite(value) or tag in self._constants
                    or (value == 0 and tag.rpartition("/")[2] in COUNTERS)):
                continue
            self.writer.add_scalar(tag, value, step)
            self.logged.add(tag)
            self.last_step = max(self.last_step, step)

    def histogram(self, tag: str, values: torch.Tensor, step: int, bins: Any = "auto") -> None:
        """Log a histogram of ``values`` (e.g. per-neuron firing rates)."""
        if self.histograms and values.numel():
            self._start()
            self.writer.add_histogram(tag, values.detach().float().cpu(), step, bins=bins)

    def figure(self, tag: str, draw: Callable[[], Any], step: int) -> None:
        """Log the matplotlib figure ``draw()`` returns as an image (drawn only when ``images`` is on)."""
        if self.images:
            self._start()
            self.writer.add_image(tag, figure_image(draw()), step, dataformats="HWC")

    def text(self, tag: str, text: str) -> None:
        self._start()
        self.writer.add_text(tag, text)

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        """Write ``metrics.json`` in the run directory (in the order of :func:`ordered_metrics`, ``best`` too)
        and return its path; the run's HParams session is marked as finished."""
        path = self.run_dir / "metrics.json"
        metrics = ordered_metrics(metrics)
        if isinstance(metrics.get("best"), Mapping):
            metrics["best"] = ordered_metrics(metrics["best"])
        write_json_atomic(path, metrics, sort_keys=False)
        self._start()
        if self.hparams:
            self.writer._get_file_writer().add_summary(self._hparams_summaries()[1])
        return path

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def figure_image(fig: Any) -> np.ndarray:
    """The pixels ``[H, W, 3]`` (uint8) of a matplotlib figure, rendered with the Agg backend (no display, no
    pyplot state: the figure is released after)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite real numbers among ``values`` (no booleans, no nested entries)."""
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def build_logger(run_cfg: Any, run_dir: Path, purge_step: int | None = None) -> RunLogger:
    """The logger named by the run config's ``logger.name`` (only ``tensorboard`` today), recording the run's
    hyper-parameters (:func:`hhlif.report.naming.hparams_of`) for TensorBoard's HParams tab."""
    from omegaconf import OmegaConf

    from hhlif.plugins import build
    from hhlif.report.naming import hparams_of

    hparams = hparams_of(OmegaConf.to_container(run_cfg, resolve=True))
    return build(run_cfg.logger, "logger", run_dir, purge_step=purge_step, hparams=hparams)
