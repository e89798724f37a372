"""``hhlif <command> [hydra overrides]``.

Before Hydra starts a run (and creates its output directory), the CLI composes the configuration of every
job the command line asks for and validates it, so a bad configuration exits with status 2, a message and
no traceback, and writes nothing. It also picks an output directory that no earlier run uses. Then Hydra
runs the command as usual (``--help``, ``--cfg job``, ``-m`` and launchers all work). A job that fails
leaves ``failed.json`` (message, error type, exit status) in its run directory, which ``hhlif report`` reads.

A command module that defines ``main(argv) -> int`` (``hhlif report``, which reads earlier runs and makes no
run of its own) is called with the rest of the command line instead, without Hydra; its user errors are
reported the same way.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import re
import signal
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

from omegaconf import OmegaConf

from hhlif import __version__
from hhlif.commands import COMMANDS, declared
from hhlif.config import compose, config_file
from hhlif.errors import STOP_SIGNALS, ConfigError, HhlifError, Interrupted, RunError, shorten
from hhlif.experiment import finished
from hhlif.plugins import GROUPS, TargetError, entry_points
from hhlif.resume import (
    CHECKPOINT,
    check_compatible,
    check_writable,
    config_of,
    find_previous,
    run_dir_of,
    wants_resume,
)
from hhlif.rundir import claim, claim_fresh, holds_run

log = logging.getLogger("hhlif")
MAX_VALIDATED_JOBS = 256


def _usage() -> str:
    lines = [f"hhlif {__version__}: spiking networks with internal complexity (HH, LIF, s-LIF2HH).", "",
             "Usage: hhlif <command> [group=option ...] [key=value ...] [-m] [--help] [--cfg job]", "",
             "Commands:"]
    for name, path in COMMANDS.items():
        lines.append(f"  {name:<10} {declared(name).get('SUMMARY') or importlib.import_module(path).SUMMARY}")
    lines += ["", "Run 'hhlif <command> --help' for its config groups and options.",
              "Example: hhlif train neuron=hh task=multimnist trainer.max_epochs=1"]
    return "\n".join(lines)


def report(command: str, error: HhlifError) -> None:
    """Print a user error the one way hhlif does: on stderr, without traceback."""
    print(f"hhlif {command}: error: {shorten(str(error))}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if "--version" in argv[:argv.index("--")] if "--" in argv else "--version" in argv:  # also hhlif train --version
        print(f"hhlif {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"hhlif: error: unknown command {name!r}. Commands: {', '.join(COMMANDS)}. "
              "Run 'hhlif --help'.", file=sys.stderr)
        return 2
    command = _command(name, rest)
    with _signals_stop():
        try:
            if hasattr(command, "main"):  # a command without a Hydra config of its own (hhlif report)
                return command.main(rest)
            rest = _prepare(command, rest)
            if rest is None:  # printed what was asked (the configs of a sweep's jobs)
                return 0
            return _run_hydra(name, command, rest)
        except HhlifError as error:
            report(name, error)
            return error.exit_code
        except Stopped as stop:
            error = stop.error(name)
            report(name, error)
            return error.exit_code
        except OSError as exc:  # a path the command line names that the system refuses (too long, no access)
            error = os_error(exc, ConfigError)
            report(name, error)
            return error.exit_code


def os_error(exc: OSError, kind: type[HhlifError] = RunError) -> HhlifError:
    """A user error for an OSError that reached the command: the system's reason and the file it concerns."""
    where = f": {exc.filename}" if exc.filename else ""
    return kind(f"{exc.strerror or exc}{where}. Check the paths given (data.root, task.pickle, hydra.run.dir...) "
                "and their permissions.")


class Stopped(BaseException):
    """SIGINT or SIGTERM outside a training loop (which saves and stops on its own, ``hhlif.runtime.GracefulStop``).

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way (Hydra's included)
    swallows it; every ``finally`` on the way runs, so no temporary file is left."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    def error(self, command: str) -> Interrupted:
        advice = (" Run the same command with resume=true to continue from its last checkpoint, if it wrote one."
                  if command == "train" else " Run the command again.")
        return Interrupted(self.signum, f"stopped by {signal.Signals(self.signum).name}; nothing half-written was "
                           f"left behind and earlier results are intact.{advice}")


class _signals_stop:
    """While active (in the main thread), SIGINT and SIGTERM raise :class:`Stopped` (exit status 130 / 143)."""

    def __enter__(self):
        import threading

        self.saved = {}
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self.saved[sig] = signal.signal(getattr(signal, sig), self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):  # noqa: ARG004
        raise Stopped(signum)

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(getattr(signal, sig), handler)
        return False


#: Hydra's options that only print (help, config, info): they need the command's config, not its code
INFO_OPTIONS = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "-sc", "--shell-completion")


def _command(name: str, argv: list[str]) -> ModuleType | SimpleNamespace:
    """The module of command ``name``; for ``--help``, ``--cfg``... of a Hydra command, only its config name
    (importing the module imports torch, which takes seconds)."""
    found = declared(name)
    if "main" not in found and "CONFIG_NAME" in found and any(a.split("=")[0] in INFO_OPTIONS for a in argv):
        return SimpleNamespace(CONFIG_NAME=found["CONFIG_NAME"])
    return importlib.import_module(COMMANDS[name])


# -- validation before Hydra runs -----------------------------------------------------------------------
def _prepare(command: ModuleType, argv: list[str]) -> list[str] | None:
    """Compose and validate every job of ``argv``; return ``argv`` with its output directory added: a fresh
    one, or the earlier run's when resuming. ``-m --cfg job`` prints each job's config and returns None."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)
    for group in GROUPS:  # two installed packages claiming one name: refuse, naming both
        entry_points(group)
    info_only = bool(args.help or args.hydra_help or args.cfg or args.info or args.shell_completion)
    overrides = list(args.overrides)
    _check_preset(command, overrides)
    jobs = _sweep_jobs(command, overrides) if args.multirun else [overrides]
    if args.multirun and args.cfg:  # Hydra shows one config; a sweep has one per job
        _show_jobs(command, jobs, args)
        return None
    first = None
    for job in jobs[:MAX_VALIDATED_JOBS]:
        cfg = compose(command.CONFIG_NAME, job, with_hydra=True)
        first = first or cfg
        if not info_only:
            try:
                command.validate(_without_hydra(cfg))
            except TargetError as error:  # say which file named the class
                raise ConfigError(f"{error} (in {config_file(cfg, error.section)})") from None
    if info_only or first is None:
        return argv
    if args.multirun:  # the jobs' directory names show only the overrides that differ between them
        argv = [*argv, _shared_overrides(first, jobs)]
    key = "hydra.sweep.dir" if args.multirun else "hydra.run.dir"
    given = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key]
    if given and not given[-1].strip():
        raise ConfigError(f"{key}= is empty: it would write the run into the working directory. Give a directory "
                          f"(e.g. {key}=outputs/my-run), or leave it out for a new time-stamped one.")
    resume = OmegaConf.select(first, "resume", default=False)
    if wants_resume(resume):
        target = _resume_target(first, key, resume, overrides, args.multirun, given)
        claim(target, key)  # refused while another process runs (or resumes) it
        return [*argv, _path_override(key, target)] if not given else argv
    if given:
        _refuse_taken(key, given[-1])  # before the claim, which would touch the earlier run's lock file
        check_writable(Path(given[-1]))
        claim(Path(given[-1]), key)
        _refuse_taken(key, given[-1])  # written between the check and the claim by a process now gone
        return argv
    base = Path(str(OmegaConf.select(first, key)))
    check_writable(base)
    return [*argv, _path_override(key, claim_fresh(base, key))]


def _show_jobs(command: ModuleType, jobs: list[list[str]], args) -> None:
    """``hhlif <command> -m ... --cfg job|hydra|all [--resolve] [-p PACKAGE]``: the config of every job."""
    for num, job in enumerate(jobs):
        cfg = compose(command.CONFIG_NAME, job, with_hydra=args.cfg != "job")
        if args.cfg == "hydra":
            cfg = OmegaConf.create({"hydra": cfg.hydra})
        if args.package:
            cfg = OmegaConf.select(cfg, args.package)
        text = OmegaConf.to_yaml(cfg, resolve=args.resolve) if OmegaConf.is_config(cfg) else f"{cfg}\n"
        print(f"# job {num}: {' '.join(job) or '(no overrides)'}\n{text}")


def _path_override(key: str, path) -> str:
    """``key=path`` as a Hydra override, quoted when the path holds a character the override grammar reserves
    (a user's directory template may)."""
    path = str(path)
    if not re.search(r"[=,\[\]{}()'\"\s\\]", path):
        return f"{key}={path}"
    return f"{key}='{path}'" if "'" not in path else f'{key}="{path}"'


def _shared_overrides(cfg, jobs: list[list[str]]) -> str:
    """The override adding the keys every job of a sweep sets alike to those left out of the jobs' directory
    names (``hydra.job.config.override_dirname.exclude_keys``, read by ``${hhlif.overrides:}``)."""
    key = "hydra.job.config.override_dirname.exclude_keys"
    values: dict[str, set[str]] = {}
    for job in jobs:
        for override in job:
            name, _, value = override.partition("=")
            values.setdefault(name.lstrip("+~"), set()).add(value)
    shared = [k for k, v in values.items() if len(v) == 1 and all(any(o.partition("=")[0].lstrip("+~") == k
                                                                       for o in job) for job in jobs)]
    excluded = list(OmegaConf.select(cfg, key, default=None) or ()) + sorted(set(shared))
    return f"{key}=[{','.join(dict.fromkeys(excluded))}]"


def _refuse_taken(key: str, given: str) -> None:
    if holds_run(Path(given)):
        raise ConfigError(f"{key}={given} already holds a run. Add resume=true to continue it, or choose another "
                          "directory: nothing of an earlier run is overwritten.")


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
            from hhlif.checkpoint import load_checkpoint

            saved = load_checkpoint(checkpoint).get("config", {})
            check_compatible(saved, OmegaConf.to_container(current, resolve=True), checkpoint)
    return target


def _check_preset(command: ModuleType, overrides: list[str]) -> None:
    """Refuse a preset of another command (``hhlif simulate experiment=fig4c_fc``) before composing it."""
    from importlib.resources import files

    names = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "experiment"]
    for name in (n for value in names for n in value.split(",")):
        path = files("hhlif.conf") / "experiment" / f"{name.strip()}.yaml"
        if not path.is_file():
            continue  # composing it reports the unknown choice with the valid ones
        owner = OmegaConf.select(OmegaConf.create(path.read_text()), "preset.command")
        if owner and owner != command.CONFIG_NAME:
            raise ConfigError(f"experiment={name} is a preset of 'hhlif {owner}', not of 'hhlif {command.CONFIG_NAME}'."
                              f" Run: hhlif {owner} experiment={name}")


def _sweep_jobs(command: ModuleType, overrides: list[str]) -> list[list[str]]:
    """The override list of each job of a sweep: the sweep of the config (``hydra.sweeper.params``, e.g. of a
    preset) combined with the command line's, where the command line wins (``a=1,2 b=x,y`` → four jobs).
    For another sweeper than Hydra's basic one (Optuna), only the fixed overrides: it checks its own syntax."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except Exception as exc:
        raise ConfigError(f"cannot parse the overrides {overrides}: {exc}") from None
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    cfg = compose(command.CONFIG_NAME, fixed, with_hydra=True)
    if OmegaConf.select(cfg, "hydra.sweeper._target_") != "hydra._internal.core_plugins.basic_sweeper.BasicSweeper":
        return [fixed]
    params = cfg.hydra.sweeper.params
    params = OmegaConf.to_container(params, resolve=True) if params is not None else {}
    try:
        swept = parser.parse_overrides([f"{k}={v}" for k, v in params.items()] + overrides)
        batches = BasicSweeper.split_arguments(swept, max_batch_size=None)
    except Exception as exc:
        raise ConfigError(f"cannot expand the sweep {params} {overrides}: {exc}") from None
    return [list(job) for batch in batches for job in batch]


def _without_hydra(cfg):
    from omegaconf import open_dict

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


# -- the run ----------------------------------------------------------------------------------------------
def _run_hydra(name: str, command: ModuleType, argv: list[str]) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    def task(cfg):
        from hhlif.logger import clear_failure
        from hhlif.runtime import GracefulStop, hand_over

        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        multirun = hc.mode == RunMode.MULTIRUN
        try:  # a sweep's job (perhaps in another process); a single run holds its claim already
            claim(run_dir)
        except HhlifError as error:  # another process owns the directory: write nothing into it
            report(name, error)
            raise SystemExit(error.exit_code) from None
        try:
            if multirun:
                finished = _finished_job(cfg, run_dir)
                if finished is not None:
                    log.info("job %d already finished in %s: skipped", hc.job.num, run_dir)
                    return _objective(cfg, finished)
                cfg = _continue_requeued(cfg, run_dir)
            objective = _objective(cfg, command.run(cfg, run_dir))
        except Interrupted as error:
            _mark_failed(name, run_dir, error, error.exit_code)
            report(name, error)
            if signal.Signals(error.signum).name in GracefulStop.HOOKED:
                hand_over(error.signum)  # submitit: requeue the job, which then continues its checkpoint
            raise SystemExit(error.exit_code) from None
        except (HhlifError, OSError) as error:
            error = os_error(error) if isinstance(error, OSError) else error
            _mark_failed(name, run_dir, error, error.exit_code)
            report(name, error)
            if not multirun:
                raise SystemExit(error.exit_code) from None
            return None
        except Stopped as stop:  # a signal outside the training loop
            error = stop.error(name)
            _mark_failed(name, run_dir, error, error.exit_code)
            raise
        except Exception as error:  # a bug in hhlif: recorded too, then shown with its traceback
            _mark_failed(name, run_dir, error, 1)
            raise
        clear_failure(run_dir)  # an earlier attempt of this run (resume=true) may have failed
        return objective

    saved = sys.argv
    sys.argv = [f"hhlif-{name}", *argv]
    helping = any(a in ("-h", "--help", "--hydra-help") for a in argv)
    try:
        with _one_search_for_help() if helping else contextlib.nullcontext():
            hydra.main(config_path="pkg://hhlif.conf", config_name=command.CONFIG_NAME, version_base="1.3")(task)()
    finally:
        sys.argv = saved
    _print_sweep_summary(argv)
    failures = _failed_jobs(argv)
    if failures:
        print(f"hhlif {name}: {len(failures)} job(s) failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _one_search_for_help():
    """While Hydra writes a command's help: search the config path once, not once per config group it lists
    (Hydra 1.3 builds a fresh config repository for each of its ~130 look-ups: 3 of the 4 seconds of help)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl._parse_overrides_and_create_caching_repo
    found: dict = {}

    def once(self, config_name, overrides):
        key = (id(self), config_name, tuple(overrides))
        if key not in found:
            found[key] = original(self, config_name, overrides)
        return found[key]

    ConfigLoaderImpl._parse_overrides_and_create_caching_repo = once
    try:
        yield
    finally:
        ConfigLoaderImpl._parse_overrides_and_create_caching_repo = original


def _finished_job(cfg, run_dir: Path) -> dict | None:
    """The metrics of a sweep job that already finished in ``run_dir`` (a resumed sweep skips it), or None.
    A job that finished with another configuration is refused (ConfigError), like a resumed run."""
    metrics = run_dir / "metrics.json"
    if not wants_resume(cfg.get("resume", False)) or not metrics.is_file():
        return None
    checkpoint = run_dir / CHECKPOINT
    if checkpoint.is_file():
        from hhlif.checkpoint import load_checkpoint

        saved = load_checkpoint(checkpoint).get("config", {})
        check_compatible(saved, OmegaConf.to_container(cfg, resolve=True), checkpoint)
    done = json.loads(metrics.read_text())
    return done if finished(cfg, done) else None


def _continue_requeued(cfg, run_dir: Path):
    """A sweep job whose directory already holds a checkpoint was requeued (SLURM pre-emption or time limit):
    only this sweep can have written it, as a new sweep always gets a fresh directory. It continues."""
    if wants_resume(cfg.get("resume", False)) or not (run_dir / CHECKPOINT).is_file() or "resume" not in cfg:
        return cfg
    log.info("%s holds this job's checkpoint (the job was requeued): continuing it", run_dir)
    cfg = cfg.copy()
    cfg.resume = True
    return cfg


def _objective(cfg, metrics: dict | None) -> float | None:
    """What a sweep job returns to its sweeper: ``cfg.objective`` (a metrics.json key, e.g. test/acc_mean for
    the Optuna sweeper of hparams_search), or None."""
    key = cfg.get("objective")
    if not key or metrics is None:
        return None
    if key not in metrics:
        raise ConfigError(f"objective={key!r} is not a metric of this run. Metrics: {', '.join(sorted(metrics))}.")
    return float(metrics[key])


def _sweep_dir(argv: list[str]) -> Path | None:
    """The sweep directory of a ``-m`` command line (the CLI always sets it), or None for a single run."""
    given = [a.split("=", 1)[1] for a in argv if a.split("=", 1)[0] == "hydra.sweep.dir"]
    if "-m" not in argv and "--multirun" not in argv or not given:
        return None
    value = given[-1]
    quoted = len(value) > 1 and value[0] == value[-1] and value[0] in "'\""  # as _path_override writes it
    return Path(value[1:-1] if quoted else value)


def _print_sweep_summary(argv: list[str]) -> None:
    """After a sweep: its jobs' status and main metric, and the ``hhlif report`` command (stdout)."""
    sweep = _sweep_dir(argv)
    if sweep is None or any(a.split("=")[0] in INFO_OPTIONS for a in argv):
        return
    from hhlif.report.summary import sweep_summary

    text = sweep_summary(sweep)
    if text:
        print(text, flush=True)


def _failed_jobs(argv: list[str]) -> list[str]:
    """The jobs of this sweep that left ``failed.json`` (whichever launcher ran them, in whatever process)."""
    sweep = _sweep_dir(argv)
    if sweep is None:
        return []
    out = []
    for marker in sorted(sweep.glob("*/failed.json")):
        try:
            message = json.loads(marker.read_text()).get("error", "")
        except (OSError, ValueError):
            message = "(unreadable failed.json)"
        out.append(f"{marker.parent}: {message}")
    return out


def _mark_failed(name: str, run_dir: Path, error: BaseException, exit_status: int) -> None:
    """Leave ``failed.json`` in the job's run directory; a failure to write it must not hide ``error``."""
    from hhlif.logger import write_failure

    try:
        write_failure(run_dir, error, exit_status, name)
    except (OSError, HhlifError) as exc:  # a full disk, most often: the error itself says so
        log.warning("could not record the failure in %s: %s", run_dir, exc)


if __name__ == "__main__":
    raise SystemExit(main())
