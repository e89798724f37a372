"""Finding the training runs under some paths, reading each one, grouping them, and their statistics.

A **run** is a directory holding ``.hydra/config.yaml`` whose config has ``trainer``, ``neuron``, ``network``
and ``task`` sections, made by ``hhlif train`` (runs of ``flops``, ``bench`` or ``simulate`` are skipped). Its
**status**:

- ``ok``: it wrote ``metrics.json``;
- ``failed``: no ``metrics.json``, but ``failed.json`` (written by the CLI when a run or a sweep's job fails:
  the message and the exit status);
- ``incomplete``: neither (still running, killed, or from a version of hhlif that wrote no failure record).

A **group** is the runs of one setting, whose seeds are averaged: the same trainer, task, model key
(:func:`~hhlif.report.naming.model_key`) and the same value of every *swept* setting. A setting is swept (for
the runs of one trainer) when two runs of the same task and model differ in it (``task.noise.amplitude``,
``trainer.optimizer.lr``...), the seed and the run-only keys of :data:`~hhlif.report.naming.RUN_ONLY_KEYS`
aside. So a noise sweep gives one group per amplitude, and runs of different sweeps with the same setting are
averaged together.

The statistics of a group are over its ``ok`` runs: the mean, the sample standard deviation (n − 1; none for a
single run) and n, for every number of ``metrics.json`` (top-level numbers, and ``best/<tag>`` for those of
``best``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hhlif.config import flatten
from hhlif.logger import FAILURE_FILE
from hhlif.report.naming import is_run_only, model_key, model_order

log = logging.getLogger(__name__)
OK, FAILED, INCOMPLETE = "ok", "failed", "incomplete"
SECTIONS = ("trainer", "neuron", "network", "task")
TASK_ORDER = ("multimnist", "multifashion", "multifashion_mnist", "inverted_pendulum", "inverted_double_pendulum")


@dataclass
class Run:
    """One run directory and what it holds."""

    path: Path
    config: dict[str, Any]
    flat: dict[str, Any]
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    exit_status: int | None = None

    @property
    def kind(self) -> str:
        return str(self.flat.get("trainer.name"))

    @property
    def task(self) -> str:
        return str(self.flat.get("task.name"))

    @property
    def model(self) -> str:
        return model_key(self.config)

    @property
    def seed(self) -> Any:
        return self.flat.get("seed")


@dataclass
class Stat:
    """Mean, sample standard deviation (None for n < 2) and count of one number over a group's runs."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat | None:
        values = [float(v) for v in values]
        if not values:
            return None
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        return cls(mean, std, n)


@dataclass
class Group:
    """The runs of one setting: task, model and the values of the swept settings (``variant``)."""

    kind: str
    task: str
    model: str
    variant: tuple[tuple[str, Any], ...]
    runs: list[Run]

    @property
    def ok(self) -> list[Run]:
        return [r for r in self.runs if r.status == OK]

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if r.status == FAILED]

    @property
    def incomplete(self) -> list[Run]:
        return [r for r in self.runs if r.status == INCOMPLETE]

    @property
    def seeds(self) -> list[Any]:
        return sorted((r.seed for r in self.ok), key=_sortable)

    @property
    def label(self) -> str:
        """The model key, with the swept values when there are any (``HH_fc amplitude=25``)."""
        return " ".join([self.model, *(f"{short(k)}={format_value(v)}" for k, v in self.variant)])

    def stat(self, key: str) -> Stat | None:
        return Stat.of(r.metrics[key] for r in self.ok if key in r.metrics)

    def metric_keys(self) -> list[str]:
        return sorted({k for r in self.ok for k in r.metrics})


# -- finding and reading runs ---------------------------------------------------------------------------
def find_run_dirs(paths: Iterable[Path]) -> list[Path]:
    """Every directory under ``paths`` (or one of them) holding ``.hydra/config.yaml``, each once, in order."""
    found: dict[Path, None] = {}
    for root in paths:
        for current, dirs, _ in os.walk(root):
            here = Path(current)
            if (here / ".hydra" / "config.yaml").is_file():
                found.setdefault(here.resolve(), None)
                dirs[:] = []  # a run's own sub-directories hold no runs
            else:
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return list(found)


def load_run(path: Path) -> Run | None:
    """The run in ``path``; None when it is not a training run: another command's (Hydra's job name in
    ``.hydra/hydra.yaml``), or a config without trainer/neuron/network/task sections."""
    if _job_name(path) not in (None, "train"):
        return None
    try:
        loaded = OmegaConf.load(path / ".hydra" / "config.yaml")
    except Exception as exc:  # unreadable YAML: report the others
        log.warning("skipping %s: its .hydra/config.yaml cannot be read (%s)", path, exc)
        return None
    try:
        config = OmegaConf.to_container(loaded, resolve=True)
    except Exception:  # an interpolation that cannot be resolved here (e.g. an unset environment variable)
        config = OmegaConf.to_container(loaded, resolve=False)
    if not isinstance(config, dict) or not all(isinstance(config.get(s), dict) for s in SECTIONS):
        return None
    run = Run(path=path, config=config, flat=flatten(config), status=INCOMPLETE)
    metrics_file, failure_file = path / "metrics.json", path / FAILURE_FILE
    if metrics_file.is_file():
        try:
            metrics = json.loads(metrics_file.read_text())
        except (OSError, ValueError) as exc:
            run.status, run.error = FAILED, f"metrics.json cannot be read: {exc}"
        else:
            if isinstance(metrics, Mapping):
                run.status, run.metrics = OK, numbers_of(metrics)
            else:
                run.status, run.error = FAILED, (f"metrics.json holds a {type(metrics).__name__}, not the "
                                                 "object of names and numbers a run writes")
    elif failure_file.is_file():
        run.status = FAILED
        try:
            failure = json.loads(failure_file.read_text())
            run.error, run.exit_status = str(failure.get("error", "")), failure.get("exit_status")
        except (OSError, ValueError, AttributeError) as exc:
            run.error = f"{FAILURE_FILE} cannot be read: {exc}"
    return run


def _job_name(path: Path) -> str | None:
    """The Hydra job name recorded with the run (the command: train, flops...), if it can be read."""
    try:
        return OmegaConf.select(OmegaConf.load(path / ".hydra" / "hydra.yaml"), "hydra.job.name")
    except Exception:  # missing or unreadable: decided by the config's sections
        return None


def numbers_of(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a ``metrics.json``: top-level numbers under their names, those of ``best`` as
    ``best/<name>``; nulls (e.g. ``steps_to_solve`` of a run that never solved its task) are left out."""
    out: dict[str, float] = {}
    for prefix, values in (("", metrics), ("best/", metrics.get("best") or {})):
        if not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                out[prefix + key] = float(value)
    return out


# -- grouping ---------------------------------------------------------------------------------------------
def swept_keys(runs: list[Run]) -> list[str]:
    """The settings in which two runs of the same task and model differ (seed and run-only keys aside)."""
    buckets: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        buckets.setdefault((run.task, run.model), []).append(run)
    swept: set[str] = set()
    for members in buckets.values():
        keys = {k for r in members for k in r.flat if not is_run_only(k)}
        for key in keys:
            if len({_hashable(r.flat.get(key, _ABSENT)) for r in members}) > 1:
                swept.add(key)
    return sorted(swept)


def group_runs(runs: list[Run]) -> tuple[list[Group], dict[str, list[str]]]:
    """The groups of ``runs`` in the paper's order (tasks, then models, then swept values), and the swept keys
    of each kind of run (trainer)."""
    kinds = sorted({r.kind for r in runs})
    swept = {kind: swept_keys([r for r in runs if r.kind == kind]) for kind in kinds}
    groups: dict[tuple, Group] = {}
    for run in runs:
        variant = tuple((k, run.flat.get(k)) for k in swept[run.kind])
        key = (run.kind, run.task, run.model, tuple(_hashable(v) for _, v in variant))
        if key not in groups:
            groups[key] = Group(run.kind, run.task, run.model, variant, [])
        groups[key].runs.append(run)
    for group in groups.values():
        group.runs.sort(key=lambda r: (_sortable(r.seed), str(r.path)))

    def order(group: Group) -> tuple:
        first = group.runs[0]
        return (_index(TASK_ORDER, group.task), group.task, model_order(first.config), group.model,
                tuple(_sortable(v) for _, v in group.variant))

    return sorted(groups.values(), key=order), swept


# -- formatting -------------------------------------------------------------------------------------------
def short(key: str) -> str:
    """The last part of a dotted key (``task.noise.amplitude`` → ``amplitude``)."""
    return key.rsplit(".", 1)[-1]


def format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


_ABSENT = object()


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, (list, dict)) else json.dumps(value, sort_keys=True)


def _sortable(value: Any) -> tuple:
    """Numbers before text, numbers numerically; None first."""
    if value is None or value is _ABSENT:
        return (0, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def _index(order: tuple[str, ...], value: Any) -> int:
    return order.index(value) if value in order else len(order)
