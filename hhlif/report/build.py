"""A report: read the runs under some paths, write the tables and figures into a fresh directory.

Files (see docs/reference/commands.md#hhlif-report): ``report.md`` (tables per kind of run, failed and incomplete
runs, the figures), ``report.csv`` (one row per group: mean, std and n of every number of ``metrics.json``),
``runs.csv`` (one row per run), the PNG figures, and with ``scalars=True`` ``scalars.csv`` (every TensorBoard
scalar of every run, long format). Every file is written through a temporary file and a rename. Paths inside
the report are relative to the report directory, so the report can be moved together with the runs.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hhlif import __version__
from hhlif.errors import ConfigError
from hhlif.files import safe_name, write_text_atomic
from hhlif.report import ladder, plots
from hhlif.report.curves import Series, read_scalars
from hhlif.report.runs import (
    FAILED,
    INCOMPLETE,
    OK,
    Group,
    Run,
    Stat,
    find_run_dirs,
    format_value,
    group_runs,
    load_run,
    short,
)

REPORT_FILES = ("report.md", "report.csv", "runs.csv", "scalars.csv")
CURVE_TAGS = ("train/reward_mean", "eval/return_mean", "test/acc_mean")


@dataclass(frozen=True)
class Column:
    """A number of ``metrics.json`` shown in the tables: key, header, format (acc, num, big, int)."""

    key: str
    header: str
    style: str = "num"


@dataclass(frozen=True)
class Kind:
    """How the report shows the runs of one trainer."""

    title: str
    primary: str | None = None  # the metric figures compare (accuracy, return)
    columns: tuple[Column, ...] = ()
    flops: str | None = None  # measured FLOPs per sample or action
    synops: str | None = None


KINDS = {
    "classify": Kind(
        "Multi-task classification (Fig. 4c, 4h)", "test/acc_mean",
        (Column("test/acc_task1", "acc task 1", "acc"), Column("test/acc_task2", "acc task 2", "acc"),
         Column("test/acc_mean", "acc mean", "acc"), Column("best/test/acc_mean", "best acc mean", "acc"),
         Column("cost/flops_forward", "FLOPs/sample", "big"), Column("cost/synops_per_sample", "SynOps/sample", "big"),
         Column("cost/energy_nj_per_sample", "energy nJ/sample"), Column("params/trainable", "params", "int")),
        "cost/flops_forward", "cost/synops_per_sample"),
    "sac": Kind(
        "Control with SAC (Fig. 4d, 4i)", "eval/return_mean",
        (Column("eval/return_mean", "eval return"), Column("best/eval/return_mean", "best eval return"),
         Column("steps_to_solve", "steps to solve"), Column("cost/flops_actor_forward", "FLOPs/action", "big"),
         Column("cost/synops_per_action", "SynOps/action", "big"),
         Column("cost/energy_nj_per_action", "energy nJ/action"),
         Column("params/trainable", "actor params", "int")),
        "cost/flops_actor_forward", "cost/synops_per_action"),
    "vib": Kind(
        "Mutual information with a VIB (Fig. 5d)", "test/acc_multishot",
        (Column("test/izx_bits", "I(Z;X) bits"), Column("test/izy_bits", "I(Z;Y) bits"),
         Column("test/izy_bits_paper", "I(Z;Y) bits (paper)"), Column("test/acc_multishot", "acc multi-shot", "acc"),
         Column("test/acc_oneshot", "acc one-shot", "acc"), Column("best/test/acc_multishot", "best multi-shot", "acc"),
         Column("cost/flops_forward", "FLOPs/sample", "big"), Column("cost/synops_per_sample", "SynOps/sample", "big"),
         Column("params/trainable", "params", "int")),
        "cost/flops_forward", "cost/synops_per_sample"),
}


def kind_of(name: str) -> Kind:
    return KINDS.get(name) or Kind(f"Runs of trainer={name}")


@dataclass
class Report:
    """What :func:`make_report` read and wrote."""

    out: Path
    runs: list[Run]
    groups: list[Group]
    swept: dict[str, list[str]]  # trainer → its swept settings
    files: list[Path] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    sections: list[str] = field(default_factory=list)  # further markdown sections (hhlif.report.ladder)


# -- the output directory ----------------------------------------------------------------------------------------
def output_dir(paths: Sequence[Path], out: Path | None, force: bool) -> Path:
    """Where the report goes, created: ``out``, or ``<PATH>/report`` (the common parent of several paths),
    with ``-1``, ``-2``... appended when taken. An earlier report is replaced only with ``force``."""
    if out is None:
        base = Path(os.path.commonpath([str(p.resolve()) for p in paths])) if len(paths) > 1 else paths[0]
        base = base if base.is_dir() else base.parent
        out, n = base / "report", 0
        if not force:
            while out.exists():
                n += 1
                out = base / f"report-{n}"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory. Choose another --out.")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ConfigError(f"--out {out} is not empty (an earlier report?). Nothing is overwritten: choose "
                              "another --out, or add --force to replace the report in it.")
        if not (out / "report.md").is_file():
            raise ConfigError(f"--force replaces an earlier report only, and {out} holds files but no report.md. "
                              "Choose another --out.")
        for name in REPORT_FILES:
            (out / name).unlink(missing_ok=True)
        for png in out.glob("*.png"):
            png.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the report directory {out}: {exc.strerror or exc}. Choose a writable "
                          "directory with --out.") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the report directory {out}: permission denied. Choose another --out.")
    return out


# -- the report ----------------------------------------------------------------------------------------------------
def make_report(paths: Sequence[Path], out: Path | None = None, *, force: bool = False, scalars: bool = False,
                smooth: int = 1000, command: str = "hhlif report") -> Report:
    """Read every run under ``paths`` and write the report (see the module docstring); returns what it did."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        what = "not a directory" if all(Path(m).exists() for m in missing) else "no such directory"
        raise ConfigError(f"{what}: {', '.join(missing)}. Give run directories, sweep directories or a folder "
                          "holding them (e.g. outputs/).")
    runs = [run for d in find_run_dirs(paths) if (run := load_run(d)) is not None]
    if not runs:
        raise ConfigError(f"nothing to report under {', '.join(str(p) for p in paths)}: no run of hhlif train "
                          "found (a run directory holds .hydra/config.yaml with trainer, neuron, network and task "
                          "sections).")
    groups, swept = group_runs(runs)
    out = output_dir(paths, out, force)
    report = Report(out, runs, groups, swept)

    need = [r for r in runs if scalars or (r.status == OK and r.kind in ("sac", "classify"))]
    series = {r.path: read_scalars(r.path, None if scalars else CURVE_TAGS) for r in need}
    _figures(report, series, smooth)
    ladder.extend(report)
    every = list(dict.fromkeys(k for keys in swept.values() for k in keys))
    _write(out / "report.csv", _csv(group_rows(groups, every, out)), report)
    _write(out / "runs.csv", _csv(run_rows(runs, every, out)), report)
    if scalars:
        _write(out / "scalars.csv", _csv(scalar_rows(runs, series, out)), report)
    _write(out / "report.md", markdown(report, paths, command), report)
    return report


def _write(path: Path, text: str, report: Report) -> None:
    write_text_atomic(path, text, what="report file")
    report.files.append(path)


def _figures(report: Report, series: dict[Path, dict[str, Series]], smooth: int) -> None:
    groups, out = report.groups, report.out
    style = plots.Style.of(groups)
    by_kind = {name: [g for g in groups if g.kind == name] for name in dict.fromkeys(g.kind for g in groups)}

    def add(name: str, caption: str, drawn: bool) -> None:
        if drawn:
            report.figures.append((name, caption))
            report.files.append(out / name)

    add("accuracy.png", "Test accuracy per task and model, mean ± std over seeds (Fig. 4c).",
        plots.accuracy_bars(by_kind.get("classify", []), out / "accuracy.png", style))
    add("test_accuracy.png", "Test accuracy (the mean of the tasks) at each evaluation, against the optimiser step, "
        "mean ± std over seeds.",
        plots.curves(by_kind.get("classify", []), series, "test/acc_mean", out / "test_accuracy.png", style,
                     window=0, ylabel="test accuracy (mean of tasks)"))
    sac = by_kind.get("sac", [])
    over = f"averaged over {smooth:,} steps" if smooth else "as logged (the mean over trainer.log_every steps)"
    add("rewards.png", f"Training reward per step, {over}, mean ± std over seeds (Fig. 4d).",
        plots.curves(sac, series, "train/reward_mean", out / "rewards.png", style, window=smooth,
                     ylabel="average reward"))
    add("eval_returns.png", "Return of the deterministic evaluation episodes, mean ± std over seeds.",
        plots.curves(sac, series, "eval/return_mean", out / "eval_returns.png", style, window=0,
                     ylabel="evaluation return"))

    def primary(g: Group) -> str | None:
        key = kind_of(g.kind).primary
        return None if key is None or g.stat(key) is None else key

    for key in dict.fromkeys(k for keys in report.swept.values() for k in keys):
        name = f"sweep-{safe_name(key)}.png"  # a key read from a run's files: never a path
        add(name, f"{kind_of('classify').primary} / {kind_of('sac').primary} against {key}, mean ± std over "
            "seeds (Fig. 4h for task.noise.amplitude).", plots.against_setting(groups, key, primary, out / name,
                                                                               style))
    add("flops.png", "Operations per sample (classification, VIB) or per action (SAC): measured FLOPs of the "
        "forward pass and the paper's analytic ADD/MUL counts (Fig. 5b).",
        plots.flops_bars(_flops_panels(groups, style), out / "flops.png"))
    rows = []
    for name, members in by_kind.items():
        kind = kind_of(name)
        costs = [(key, label) for key, label in ((kind.flops, "FLOPs"), (kind.synops, "SynOps")) if key]
        if kind.primary and costs:
            rows.append((kind.title, kind.primary, [(k, f"{label} ({k})") for k, label in costs], members))
    add("cost.png", "Accuracy (or return) against cost per sample (or action): measured FLOPs and SynOps, "
        "mean ± std over seeds.", plots.against_cost(rows, out / "cost.png", style))
    add("information.png", "Information bounds of the VIB runs (Fig. 5d).",
        plots.information_bars(by_kind.get("vib", []), out / "information.png", style))


def _flops_panels(groups: list[Group], style: plots.Style) -> dict[str, list]:
    """FLOPs per model (its cost does not depend on the task, the seed or a training setting): the measured
    count and the paper's ADD and MUL counts, over all runs of the model with the same network and neuron
    settings."""
    panels: dict[str, dict[str, list[Run]]] = {}
    colour: dict[str, str] = {}
    per_sample = [name for kind, name in (("classify", "classification"), ("vib", "VIB"))
                  if any(g.kind == kind and g.ok for g in groups)]  # the title says what is drawn
    for g in groups:
        kind = kind_of(g.kind)
        if not kind.flops:
            continue
        title = "control (SAC actor)" if g.kind == "sac" else " and ".join(per_sample) or "classification"
        cost_keys = [(k, v) for k, v in g.variant if k.startswith(("network.", "neuron."))]
        label = " ".join([g.model, *(f"{short(k)}={format_value(v)}" for k, v in cost_keys)])
        panels.setdefault(title, {}).setdefault(label, []).extend(g.ok)
        colour[label] = style.colour(g)
    out: dict[str, list] = {}
    for title, models in panels.items():
        entries = []
        for label, runs in models.items():
            counts = {}
            for name, key in (("measured FLOPs", None), ("paper ADD", "cost/flops_paper_add"),
                              ("paper MUL", "cost/flops_paper_mul")):
                keys = {kind_of(r.kind).flops for r in runs} if key is None else {key}
                stat = Stat.of(r.metrics[k] for r in runs for k in keys if k in r.metrics)
                if stat is not None:
                    counts[name] = stat
            if counts:
                entries.append((label, colour[label], counts))
        out[title] = entries
    return out


# -- tables ---------------------------------------------------------------------------------------------------------
def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return format_value(tuple(value))
    return value


def _metric_order(groups_or_runs: Sequence[Any], metrics: set[str]) -> list[str]:
    curated = [c.key for g in groups_or_runs for c in kind_of(g.kind).columns]
    return list(dict.fromkeys(k for k in curated if k in metrics)) + sorted(metrics - set(curated))


def _rel(path: Path, out: Path) -> str:
    return os.path.relpath(path, out)


def seeds_text(group: Group) -> str:
    """The seeds of the finished runs, ``1 2 3``; a seed run more than once as ``1×2``."""
    counts: dict[str, int] = {}
    for seed in group.seeds:
        counts[format_value(seed)] = counts.get(format_value(seed), 0) + 1
    return " ".join(seed if n == 1 else f"{seed}×{n}" for seed, n in counts.items())


def failures_text(group: Group, out: Path) -> str:
    return " | ".join(f"seed {format_value(r.seed)} ({_rel(r.path, out)}, exit {format_value(r.exit_status)}): "
                      f"{r.error}" for r in group.failed)


def group_rows(groups: list[Group], swept: list[str], out: Path) -> list[dict[str, Any]]:
    """``report.csv``: per group its identity, n, seeds, failures, and mean/std (n when it differs) of every
    number of its runs' ``metrics.json``."""
    metrics = _metric_order(groups, {k for g in groups for k in g.metric_keys()})
    partial = {k for g in groups for k in metrics if (s := g.stat(k)) is not None and s.n < len(g.ok)}
    rows = []
    for g in groups:
        variant = dict(g.variant)
        row: dict[str, Any] = {"kind": g.kind, "task": g.task, "model": g.model, "label": g.label}
        row.update({k: variant.get(k) for k in swept})
        row.update({"n": len(g.ok), "seeds": seeds_text(g), "failed": len(g.failed),
                    "incomplete": len(g.incomplete), "failures": failures_text(g, out)})
        for key in metrics:
            stat = g.stat(key)
            row[f"mean:{key}"] = stat.mean if stat else None
            row[f"std:{key}"] = stat.std if stat else None
            if key in partial:
                row[f"n:{key}"] = stat.n if stat else 0
        rows.append(row)
    return rows


def run_rows(runs: list[Run], swept: list[str], out: Path) -> list[dict[str, Any]]:
    """``runs.csv``: per run its path, status, identity, error, and every number of its ``metrics.json``."""
    metrics = _metric_order(runs, {k for r in runs for k in r.metrics})
    rows = []
    for r in sorted(runs, key=lambda r: str(r.path)):
        row: dict[str, Any] = {"path": _rel(r.path, out), "status": r.status, "kind": r.kind, "task": r.task,
                               "model": r.model}
        row.update({k: r.flat.get(k) for k in swept})
        row.update({"seed": r.seed, "exit_status": r.exit_status, "error": r.error})
        row.update({k: r.metrics.get(k) for k in metrics})
        rows.append(row)
    return rows


def scalar_rows(runs: list[Run], series: dict[Path, dict[str, Series]], out: Path) -> list[dict[str, Any]]:
    """``scalars.csv``: one row per (run, tag, step) of the runs' TensorBoard scalars."""
    rows = []
    for r in sorted(runs, key=lambda r: str(r.path)):
        for tag, s in series.get(r.path, {}).items():
            for step, wall, value in zip(s.steps, s.wall_times, s.values, strict=True):
                rows.append({"path": _rel(r.path, out), "status": r.status, "task": r.task, "model": r.model,
                             "seed": r.seed, "tag": tag, "step": int(step), "wall_time": float(wall),
                             "value": float(value)})
    return rows


def format_stat(stat: Stat | None, style: str, total: int) -> str:
    """``mean ± std`` (accuracy as a fraction, large counts in k/M/G), with ``(n/total)`` when some runs lack it."""
    if stat is None:
        return "—"

    def fmt(v: float) -> str:
        if style == "acc":
            return f"{v:.4f}"
        if style == "big":
            return _big(v)
        if style == "int":
            return f"{v:,.0f}"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"

    text = fmt(stat.mean) + (f" ± {fmt(stat.std)}" if stat.std is not None else "")
    return text + (f" ({stat.n}/{total})" if stat.n < total else "")


def _big(v: float) -> str:
    for scale, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= scale:
            return f"{v / scale:.4g}{unit}"
    return f"{v:.4g}"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def clean(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(clean(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return lines


def markdown(report: Report, paths: Sequence[Path], command: str) -> str:
    runs, groups, swept, out = report.runs, report.groups, report.swept, report.out
    counts = {s: sum(r.status == s for r in runs) for s in (OK, FAILED, INCOMPLETE)}
    lines = ["# hhlif report", "",
             f"`{command}` — hhlif {__version__}, {time.strftime('%Y-%m-%d %H:%M:%S')}.", "",
             f"Read {len(runs)} runs ({counts[OK]} finished, {counts[FAILED]} failed, {counts[INCOMPLETE]} "
             f"incomplete) under {', '.join(f'`{p}`' for p in paths)}, in {len(groups)} groups.", "",
             "A group is the runs of one task, model and setting; its numbers are the mean ± sample standard "
             "deviation (n − 1) over its finished runs (n of them, seeds listed) of each run's final "
             "`metrics.json` value; `best …` is each run's best evaluation. A count in brackets (k/n) says "
             "that only k runs have that number (e.g. runs that solved the task); a seed run more than once with "
             "the same setting shows as `1×2`."]
    for name in dict.fromkeys(g.kind for g in groups):
        kind, keys = kind_of(name), swept.get(name, [])
        members = [g for g in groups if g.kind == name]
        header = ["task", "model", *(short(k) for k in keys), "n", "seeds",
                  *(c.header for c in kind.columns), "failed", "incomplete"]
        rows = []
        for g in members:
            variant = dict(g.variant)
            rows.append([g.task, g.model, *(format_value(variant.get(k)) for k in keys), str(len(g.ok)),
                         seeds_text(g) or "—",
                         *(format_stat(g.stat(c.key), c.style, len(g.ok)) for c in kind.columns),
                         str(len(g.failed)), str(len(g.incomplete))])
        lines += ["", f"## {kind.title}", ""]
        if keys:
            lines += ["Swept settings (runs of one task and model differ in them): "
                      + ", ".join(f"`{k}`" for k in keys) + ".", ""]
        lines += _md_table(header, rows)
    for section in report.sections:
        lines += ["", section]
    failed = [r for r in runs if r.status == FAILED]
    if failed:
        lines += ["", "## Failed runs", "", *_md_table(
            ["run", "task", "model", "seed", "exit status", "error"],
            [[f"[{_rel(r.path, out)}]({_rel(r.path, out)})", r.task, r.model, format_value(r.seed),
              format_value(r.exit_status), r.error or ""] for r in failed])]
    incomplete = [r for r in runs if r.status == INCOMPLETE]
    if incomplete:
        lines += ["", "## Incomplete runs", "",
                  "No `metrics.json` and no failure record: still running, killed, or stopped before hhlif "
                  "recorded failures. A run with a checkpoint continues with the same command and `resume=true`.",
                  "", *_md_table(["run", "task", "model", "seed", "checkpoint"],
                                 [[f"[{_rel(r.path, out)}]({_rel(r.path, out)})", r.task, r.model,
                                   format_value(r.seed),
                                   "yes" if (r.path / "checkpoints" / "last.pt").is_file() else "no"]
                                  for r in incomplete])]
    if report.figures:
        lines += ["", "## Figures"]
        for name, caption in report.figures:
            lines += ["", f"**{name}**: {caption}", "", f"![{name}]({name})"]
    lines += ["", "## Files", "",
              "- `report.csv`: one row per group: `mean:<metric>`, `std:<metric>` (and `n:<metric>` where some "
              "runs lack it) of every number in `metrics.json`, failures with their errors;",
              "- `runs.csv`: one row per run: path, status, seed, error and every number of its `metrics.json`;"]
    if any(p.name == "scalars.csv" for p in report.files):
        lines += ["- `scalars.csv`: every TensorBoard scalar of every run (path, tag, step, wall time, value);"]
    lines += ["- the figures above (PNG)."]
    return "\n".join(lines) + "\n"
