"""The table that ends a sweep (``hhlif <command> -m ...``): each job's status and main metric, and the
``hhlif report`` command that makes the sweep's tables and figures."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from hhlif.logger import FAILURE_FILE
from hhlif.report.build import format_stat, kind_of
from hhlif.report.runs import FAILED, INCOMPLETE, OK, Stat, load_run

MESSAGE_WIDTH = 70


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job directories of a sweep (``<num>-...`` holding ``.hydra/``), in job order."""
    def number(path: Path) -> tuple[int, str]:
        found = re.match(r"\d+", path.name)
        return (int(found[0]) if found else 1 << 30, path.name)

    if not sweep_dir.is_dir():
        return []
    return sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=number)


def _job_row(path: Path) -> tuple[str, str, str, bool]:
    """(status, model key, main metric or why it failed, is a training run) of one job directory."""
    run = load_run(path)
    if run is None:  # another command's job (flops, simulate...): finished or failed
        failure = _failure_message(path)
        return (FAILED, "", failure, False) if failure is not None else (OK, "", "", False)
    if run.status == FAILED:
        return FAILED, run.model, _clip(run.error or ""), True
    if run.status == INCOMPLETE:
        return INCOMPLETE, run.model, "no metrics.json (still running, or killed)", True
    key = kind_of(run.kind).primary
    if not key or key not in run.metrics:
        return OK, run.model, "", True
    value = run.metrics[key]  # accuracies as fractions, as the training console prints them
    shown = f"{value:.4f}" if key.split("/")[-1].startswith("acc") else format_stat(Stat.of([value]), "num", 1)
    return OK, run.model, f"{key} {shown}", True


def _failure_message(path: Path) -> str | None:
    try:
        return _clip(str(json.loads((path / FAILURE_FILE).read_text()).get("error", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return f"({FAILURE_FILE} cannot be read)"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_WIDTH else text[:MESSAGE_WIDTH - 1] + "…"


def sweep_summary(sweep_dir: Path) -> str:
    """The end-of-sweep table: one line per job (directory, status, main metric or error), a count, and the
    command that reports the sweep. Empty when ``sweep_dir`` holds no job."""
    jobs = job_dirs(sweep_dir)
    if not jobs:
        return ""
    rows = [(path.name, *_job_row(path)) for path in jobs]
    counts = {s: sum(r[1] == s for r in rows) for s in (OK, FAILED, INCOMPLETE)}
    shown = _shown(sweep_dir)
    width, model = max(len(r[0]) for r in rows), max(len(r[2]) for r in rows)
    lines = [f"Sweep {shown}: {len(rows)} jobs, {counts[OK]} finished"
             + "".join(f", {n} {s}" for s, n in counts.items() if n and s != OK)]
    lines += [f"  {name:<{width}}  {status:<10}  {key:<{model}}  {detail}".rstrip()
              for name, status, key, detail, _ in rows]
    if any(train for *_, train in rows):
        lines.append(f"Report (tables, figures): hhlif report {shlex.quote(shown)}")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except ValueError:
        return str(path)
