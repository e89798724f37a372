"""``hhlif <command> [hydra overrides]``.

Before Hydra starts a run (and creates its output directory), the CLI composes the configuration of every
job the command line asks for and validates it, so a bad configuration exits with status 2, a message and
no traceback, and writes nothing. It also picks an output directory that no earlier run uses. Then Hydra
runs the command as usual (``--help``, ``--cfg job``, ``-m`` and launchers all work).
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from pathlib import Path
from types import ModuleType

from hhlif import __version__
from hhlif.commands import COMMANDS
from hhlif.errors import ConfigError, HhlifError

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
    """Compose and validate every job of ``argv``; return ``argv`` with a fresh output directory added."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)
    info_only = bool(args.help or args.hydra_help or args.cfg or args.info or args.shell_completion)
    overrides = list(args.overrides)
    jobs = _expand_sweep(overrides) if args.multirun else [overrides]
    first = None
    for job in jobs[:MAX_VALIDATED_JOBS]:
        cfg = _compose(command.CONFIG_NAME, job)
        first = first or cfg
        if not info_only:
            command.validate(_without_hydra(cfg))
    if info_only or first is None:
        return argv
    key = "hydra.sweep.dir" if args.multirun else "hydra.run.dir"
    if any(o.split("=", 1)[0].lstrip("+~") == key for o in overrides):
        return argv
    return [*argv, f"{key}={_fresh_dir(first, key)}"]


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


def _compose(config_name: str, overrides: list[str]):
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module="hhlif.conf", version_base="1.3"):
            return compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    except MissingConfigException as exc:
        found = re.search(r"Could not find '(.+)/([^/']+)'", str(exc))
        if exc.options and found:
            raise ConfigError(f"{found[1]}={found[2]!r} is not a known choice. "
                              f"Valid choices: {', '.join(sorted(exc.options))}.") from None
        raise ConfigError(str(exc).split("\nConfig search path")[0]) from None
    except (HydraException, OmegaConfBaseException) as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise ConfigError(f"{exc}{cause}".replace("\n", " ")) from None


def _without_hydra(cfg):
    from omegaconf import open_dict

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def _fresh_dir(cfg, key: str) -> str:
    """The configured output directory, with ``-1``, ``-2``... appended if an earlier run already uses it."""
    from omegaconf import OmegaConf

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
