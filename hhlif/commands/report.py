"""``hhlif report PATH [PATH ...]``: tables and figures from earlier runs of ``hhlif train``.

PATH is a run directory, a sweep directory, or any folder holding them (``outputs/``). The report reads every
run's ``.hydra/config.yaml`` and ``metrics.json`` (or ``failed.json``), groups the runs by task, model
(``HH_fc``, ``4LIF_fc``) and swept setting, averages over seeds, and writes ``report.md``, ``report.csv``,
``runs.csv`` and the figures into ``PATH/report/`` (the common parent's for several paths; ``report-1``,
``report-2``... when taken, so an earlier report is never overwritten). See :mod:`hhlif.report`.

**Why not Hydra.** The other commands each make a run, and Hydra gives them their config tree, overrides,
sweeps and a fresh run directory. A report makes no run: it reads directories given as positional paths,
which Hydra's ``key=value`` grammar cannot take without a rewrite. So this module defines ``main(argv)`` (an
:mod:`argparse` command line) instead of ``CONFIG_NAME``/``validate``/``run``; :func:`hhlif.cli.main` calls it
directly, and reports its :class:`~hhlif.errors.ConfigError` (no such path, nothing to report, an output
directory that holds files) like any other command: a message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

SUMMARY = "tables and figures (mean ± std over seeds) of earlier runs: hhlif report PATH [PATH ...]"
EPILOG = """examples:
  hhlif report outputs/multirun/train/2026-01-31_12-00-00      a sweep → <sweep>/report/
  hhlif report outputs                                         every run → outputs/report/
  hhlif report outputs/multirun/train/A outputs/multirun/train/B --out fig4c
  hhlif report outputs --scalars                               also every TensorBoard scalar → scalars.csv

files: report.md (tables, failed runs, figures), report.csv (per group: mean:/std: of every number of
metrics.json), runs.csv (per run), accuracy.png (Fig. 4c), rewards.png (Fig. 4d), sweep-<key>.png (e.g.
accuracy against task.noise.amplitude, Fig. 4h), flops.png, cost.png, information.png (Fig. 5d)."""


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of steps, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of steps ≥ 0, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hhlif report", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a run directory, a sweep directory or a folder holding runs (searched recursively)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where to write the report (default: PATH/report, or report-1, -2... if taken); it must "
                        "be empty or new unless --force")
    p.add_argument("--force", action="store_true",
                   help="replace the report in --out (or in PATH/report) instead of refusing or choosing a new "
                        "directory")
    p.add_argument("--scalars", action="store_true",
                   help="also export every TensorBoard scalar of every run to scalars.csv")
    p.add_argument("--smooth", type=_non_negative, default=1000, metavar="STEPS",
                   help="average the SAC training reward over this many steps, as the paper's Fig. 4d (default "
                        "1000; 0: as logged)")
    return p


def main(argv: list[str]) -> int:
    """Run ``hhlif report`` with the arguments ``argv``; returns the exit status."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad command line (2, argparse printed why)
        return int(exc.code or 0)
    from hhlif.report.build import format_stat as fmt
    from hhlif.report.build import kind_of, make_report

    command = shlex.join(["hhlif", "report", *argv])
    report = make_report(args.paths, args.out, force=args.force, scalars=args.scalars, smooth=args.smooth,
                         command=command)
    finished = sum(r.status == "ok" for r in report.runs)
    print(f"hhlif report: {len(report.runs)} runs ({finished} finished), {len(report.groups)} groups")
    for g in report.groups:
        key = kind_of(g.kind).primary
        value = fmt(g.stat(key), "acc" if key and key.startswith("test/acc") else "num", len(g.ok)) if key else ""
        problems = ", ".join(f"{n} {what}" for n, what in ((len(g.failed), "failed"),
                                                           (len(g.incomplete), "incomplete")) if n)
        print(f"  {g.task:<26} {g.label:<28} n={len(g.ok):<3} {key or ''} {value}"
              + (f"  ({problems})" if problems else ""))
    print(f"wrote {report.out / 'report.md'} and {len(report.files) - 1} more files in {report.out}")
    return 0

