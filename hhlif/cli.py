"""``hhlif <command> [hydra overrides]``.

Before Hydra starts a run (and creates its output directory), the CLI composes the configuration of every
job the command line asks for and validates it, so a bad configuration exits with status 2, a message and
no traceback, and writes nothing. It also picks an output directory that no earlier run uses. Then Hydra
runs the command as usual (``--help``, ``--cfg job``, ``-m`` and launchers all work).
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from types import ModuleType

from omegaconf import OmegaConf

from hhlif import __version__
from hhlif.checkpoint import load_checkpoint
from hhlif.commands import COMMANDS
from hhlif.config import compose
from hhlif.errors import ConfigError, HhlifError
from hhlif.resume import (
    CHECKPOINT,
    check_compatible,
    check_writable,
    config_of,
    find_previous,
    holds_run,
    run_dir_of,
    wants_resume,
)

log = logging.getLogger("hhlif")
MAX_VALIDATED_JOBS = 256


def _usage() -> str:
    lines = [f"hhlif {__version__}: spiking networks with internal complexity (HH, LIF, s-LIF2HH).", "",
             "Usage: hhlif <command> [group=option ...] [key=value ...] [-m] [--help] [--cfg job]", "",
             "Commands:"]
    for name, path in COMMANDS.items():
        lines.append(f"  {name:<10} {importlib.import_module(path).SUMMARY}")
    lines += ["", "Run 'hhlif <command> --help' for its config groups and options.",
              "Example: hhlif train neuron=hh task=multimnist trainer.max_epochs=1"]
    return "\n".join(lines)


def report(command: str, error: HhlifError) -> None:
    """Print a user error the one way hhlif does: on stderr, without traceback."""
    print(f"hhlif {command}: error: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(f"hhlif {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"hhlif: error: unknown command {name!r}. Commands: {', '.join(COMMANDS)}. "
              "Run 'hhlif --help'.", file=sys.stderr)
        return 2
    command = importlib.import_module(COMMANDS[name])
    try:
        rest = _prepare(command, rest)
    except HhlifError as error:
        report(name, error)
        return error.exit_code
    return _run_hydra(name, command, rest)


# -- validation before Hydra runs -----------------------------------------------------------------------
def _prepare(command: ModuleType, argv: list[str]) -> list[str]:
    """Compose and validate every job of ``argv``; return ``argv`` with its output directory added: a fresh
    one, or the earlier run's when resuming."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)
    info_only = bool(args.help or args.hydra_help or args.cfg or args.info or args.shell_completion)
    overrides = list(args.overrides)
    jobs = _expand_sweep(overrides) if args.multirun else [overrides]
    first = None
    for job in jobs[:MAX_VALIDATED_JOBS]:
        cfg = compose(command.CONFIG_NAME, job, with_hydra=True)
        first = first or cfg
        if not info_only:
            command.validate(_without_hydra(cfg))
    if info_only or first is None:
        return argv
    key = "hydra.sweep.dir" if args.multirun else "hydra.run.dir"
    given = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key]
    resume = OmegaConf.select(first, "resume", default=False)
    if wants_resume(resume):
        target = _resume_target(first, key, resume, overrides, args.multirun, given)
        return [*argv, f"{key}={target}"] if not given else argv
    if given:
        if holds_run(Path(given[0])):
            raise ConfigError(f"{key}={given[0]} already holds a run. Add resume=true to continue it, or choose "
                              "another directory: nothing of an earlier run is overwritten.")
        check_writable(Path(given[0]))
        return argv
    fresh = _fresh_dir(first, key)
    check_writable(Path(fresh))
    return [*argv, f"{key}={fresh}"]


def _resume_target(cfg, key: str, resume, overrides: list[str], multirun: bool, given: list[str]) -> Path:
    """The directory a resumed run (or sweep) continues in; checks the config against the earlier run's."""
    if str(resume).lower() == "true":
        if given:
            target = Path(given[0])
        else:
            base = Path(str(OmegaConf.select(cfg, key))).parent
            target = find_previous(base, overrides, multirun)
            if target is None:
                raise ConfigError(f"resume=true: no earlier {'sweep' if multirun else 'run'} of this command under "
                                  f"{base}/ (runs are matched by their overrides). Run it without resume, or "
                                  "name the run with resume=PATH.")
    elif multirun:
        raise ConfigError("resume=PATH continues one run; a sweep continues with resume=true (same command).")
    else:
        target = run_dir_of(Path(str(resume)))
    if not multirun:
        current = _without_hydra(cfg)
        check_compatible(config_of(target), OmegaConf.to_container(current, resolve=False), target)
        checkpoint = target / CHECKPOINT
        if checkpoint.is_file():  # the checkpoint itself may come from elsewhere
            saved = load_checkpoint(checkpoint).get("config", {})
            check_compatible(saved, OmegaConf.to_container(current, resolve=True), checkpoint)
    return target


def _expand_sweep(overrides: list[str]) -> list[list[str]]:
    """The override list of each job of a basic sweep (``a=1,2 b=x,y`` → four jobs)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    except Exception as exc:  # a sweep syntax for another sweeper (e.g. Optuna's interval()): Hydra checks it
        raise ConfigError(f"cannot parse the overrides {overrides}: {exc}") from None
    return [list(job) for batch in batches for job in batch]


def _without_hydra(cfg):
    from omegaconf import open_dict

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def _fresh_dir(cfg, key: str) -> str:
    """The configured output directory, with ``-1``, ``-2``... appended if an earlier run already uses it."""
    base = str(OmegaConf.select(cfg, key))
    path, n = Path(base), 0
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    return str(path)


# -- the run ----------------------------------------------------------------------------------------------
def _run_hydra(name: str, command: ModuleType, argv: list[str]) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    failures: list[str] = []

    def task(cfg) -> None:
        hc = HydraConfig.get()
        try:
            command.run(cfg, Path(hc.runtime.output_dir))
        except HhlifError as error:
            report(name, error)
            if hc.mode != RunMode.MULTIRUN:
                raise SystemExit(error.exit_code) from None
            failures.append(f"job {hc.job.num} ({hc.runtime.output_dir}): {error}")

    saved = sys.argv
    sys.argv = [f"hhlif-{name}", *argv]
    try:
        hydra.main(config_path="conf", config_name=command.CONFIG_NAME, version_base="1.3")(task)()
    finally:
        sys.argv = saved
    if failures:
        print(f"hhlif {name}: {len(failures)} job(s) failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
