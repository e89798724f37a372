"""The one way a run records its results: TensorBoard events plus ``metrics.json`` under the same names.

Console messages go through the standard ``logging`` module (Hydra also writes them to ``<run>/<command>.log``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=_jsonable)
        f.write("\n")
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class RunLogger:
    """Scalars and histograms to TensorBoard (``<run_dir>/tensorboard``); final numbers to ``metrics.json``."""

    def __init__(self, run_dir: Path, *, name: str = "tensorboard", histograms: bool = True,
                 flush_secs: int = 10, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        self.histograms = histograms
        # purge_step (when resuming): TensorBoard drops earlier events at steps ≥ purge_step, which a killed run
        # may have logged after its last checkpoint
        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), flush_secs=flush_secs,
                                    purge_step=purge_step)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log every finite scalar of ``values`` (tag → number) at ``step``."""
        for tag, value in values.items():
            value = float(value)
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, step)

    def histogram(self, tag: str, values: torch.Tensor, step: int, bins: Any = "auto") -> None:
        """Log a histogram of ``values`` (e.g. per-neuron firing rates)."""
        if self.histograms and values.numel():
            self.writer.add_histogram(tag, values.detach().float().cpu(), step, bins=bins)

    def text(self, tag: str, text: str) -> None:
        self.writer.add_text(tag, text)

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        """Write ``metrics.json`` in the run directory and return its path."""
        path = self.run_dir / "metrics.json"
        write_json_atomic(path, dict(metrics))
        return path

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def build_logger(cfg: Mapping[str, Any], run_dir: Path, purge_step: int | None = None) -> RunLogger:
    """The logger named by ``cfg['name']`` (only ``tensorboard`` today)."""
    from hhlif.registry import build

    return build({"tensorboard": RunLogger}, "logger", cfg, run_dir, purge_step=purge_step)
