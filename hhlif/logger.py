"""The one way a run records its results: TensorBoard events plus ``metrics.json`` under the same names, and
``failed.json`` when a run fails.

**HParams.** Each run also writes its hyper-parameters (:func:`hhlif.report.naming.hparams_of`: the model key
and every leaf of the resolved config that defines the run) as a TensorBoard *session start* summary into its
own event file, and a *session end* (success) summary with ``metrics.json``. TensorBoard's HParams tab then
shows one row per run, named like the run, whose metric columns are the last values of the run's scalars.
Unlike ``SummaryWriter.add_hparams``, this writes no second run in a sub-directory (which would show as a
separate run next to the real one) and no *experiment* summary: TensorBoard uses one arbitrary run's
experiment summary for all runs when there are several, while without one it builds the table from every
run's own hyper-parameters, listing those that differ between the runs first. ``write_metrics`` also logs the
numbers of ``metrics.json`` that were not scalars yet (``steps_to_solve``, parameter counts; the test or
evaluation entries of ``best`` as ``best/<tag>``) at the run's last step, so they are columns of that table too.

Console messages go through the standard ``logging`` module (Hydra also writes them to ``<run>/<command>.log``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from hhlif.files import write_text_atomic

log = logging.getLogger(__name__)
FAILURE_FILE = "failed.json"  # written in a run directory when the run fails (hhlif.cli), read by hhlif report
BEST_PREFIXES = ("test/", "eval/")  # the entries of metrics.json's `best` that are also logged, as best/<tag>


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename (never half-written); a failed
    write raises :class:`~hhlif.files.WriteError` (the file, the free space, what to do)."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n"
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
    """Scalars and histograms to TensorBoard (``<run_dir>/tensorboard``); final numbers to ``metrics.json``;
    ``hparams`` (name → str/int/float/bool) to TensorBoard's HParams tab (see the module docstring)."""

    def __init__(self, run_dir: Path, *, name: str = "tensorboard", histograms: bool = True,
                 flush_secs: int = 10, purge_step: int | None = None,
                 hparams: Mapping[str, str | int | float | bool] | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        self.histograms = histograms
        # purge_step (when resuming): TensorBoard drops earlier events at steps ≥ purge_step, which a killed run
        # may have logged after its last checkpoint
        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), flush_secs=flush_secs,
                                    purge_step=purge_step)
        self.logged: set[str] = set()  # scalar tags logged by this logger
        self.last_step = 0
        self.hparams = dict(hparams or {})
        if self.hparams:
            self.writer._get_file_writer().add_summary(self._hparams_summaries()[0])

    def _hparams_summaries(self):
        """TensorBoard's session start (the hyper-parameters) and session end (success) summaries."""
        from torch.utils.tensorboard.summary import hparams

        values = {k: str(v).lower() if isinstance(v, bool) else v for k, v in self.hparams.items()}
        _, start, end = hparams(values, {})  # the experiment summary is left out on purpose (module docstring)
        return start, end

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log every finite scalar of ``values`` (tag → number) at ``step``."""
        for tag, value in values.items():
            value = float(value)
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, step)
                self.logged.add(tag)
                self.last_step = max(self.last_step, step)

    def histogram(self, tag: str, values: torch.Tensor, step: int, bins: Any = "auto") -> None:
        """Log a histogram of ``values`` (e.g. per-neuron firing rates)."""
        if self.histograms and values.numel():
            self.writer.add_histogram(tag, values.detach().float().cpu(), step, bins=bins)

    def text(self, tag: str, text: str) -> None:
        self.writer.add_text(tag, text)

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        """Write ``metrics.json`` in the run directory and return its path. Its numbers that were not logged as
        scalars, and the test/evaluation entries of ``best`` as ``best/<tag>``, are logged at the last step; the
        run's HParams session is marked as finished."""
        path = self.run_dir / "metrics.json"
        write_json_atomic(path, dict(metrics))
        final = {k: v for k, v in _numbers(metrics).items() if k not in self.logged}
        best = _numbers(metrics.get("best") or {})
        final.update({f"best/{k}": v for k, v in best.items() if k.startswith(BEST_PREFIXES) or "/" not in k})
        self.scalars(final, self.last_step)
        if self.hparams:
            self.writer._get_file_writer().add_summary(self._hparams_summaries()[1])
        return path

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


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
