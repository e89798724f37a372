"""Finding the run a ``resume`` continues, and refusing what would damage an earlier run.

``resume=true`` continues the newest earlier run of *the same command*: the same overrides, apart from the
keys a resumed run may change (:data:`MAY_CHANGE`). A single run continues in its own directory; a sweep
(``-m``) continues in its sweep directory, where each job resumes its own directory and jobs that finished are
skipped. ``resume=PATH`` continues the run in directory PATH (or the run a checkpoint file belongs to).
The configuration must match the earlier run's, except for :data:`MAY_CHANGE`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hhlif.config import flatten
from hhlif.errors import ConfigError, first_line

log = logging.getLogger(__name__)

#: keys a resumed run may set differently from the run it continues
MAY_CHANGE = ("resume", "trainer.max_epochs", "trainer.total_steps", "trainer.progress", "trainer.checkpoint_every",
              "trainer.log_every_n_steps", "logger",
              "trainer.on_nonfinite", "trainer.optimizer.fused", "trainer.fused_adam", "device", "data.root",
              "trainer.record_every_n_evals")
CHECKPOINT = Path("checkpoints") / "last.pt"
MIN_FREE_MB = 64


def wants_resume(value: Any) -> bool:
    return value not in (False, None, "false", "False", "")


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def essential(overrides: list[str]) -> list[str]:
    """The overrides that define a run (not those a resume may change, nor Hydra's own)."""
    return sorted(o for o in overrides if _key(o) not in MAY_CHANGE and not _key(o).startswith("hydra."))


def find_previous(base: Path, overrides: list[str], multirun: bool) -> Path | None:
    """The newest directory under ``base`` (a run's or a sweep's) made by the same command."""
    if not base.is_dir():
        return None
    wanted = essential(overrides)
    candidates = []
    for path in base.iterdir():
        saved = path / ("multirun.yaml" if multirun else ".hydra/overrides.yaml")
        if not saved.is_file():
            continue
        try:
            loaded = OmegaConf.load(saved)
            previous = [str(o) for o in (loaded.hydra.overrides.task if multirun else loaded)]
        except Exception as exc:  # noqa: BLE001 - a damaged file in another run's folder: not this run
            log.warning("resume: skipping %s, whose %s cannot be read (%s)", path, saved.name, first_line(exc, 120))
            continue
        if essential(previous) == wanted:
            candidates.append(path)
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def run_dir_of(path: Path) -> Path:
    """The run directory ``resume=PATH`` names: PATH itself, or the run a checkpoint file belongs to."""
    path = path.expanduser()
    if path.is_file() and path.parent.name == "checkpoints":
        return path.parent.parent
    if path.is_dir() and (path / CHECKPOINT).is_file():
        return path
    raise ConfigError(f"resume={str(path)!r}: expected a run directory holding {CHECKPOINT} or a checkpoint file "
                      "in a run's checkpoints/ folder; nothing to resume there.")


def config_of(run_dir: Path) -> dict[str, Any]:
    """The configuration saved with the run in ``run_dir``."""
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"cannot resume {run_dir}: its configuration ({saved}) is missing.")
    try:
        return OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
    except Exception as exc:  # noqa: BLE001 - a damaged file: say which, continue nothing
        raise ConfigError(f"cannot resume {run_dir}: its configuration ({saved}) cannot be read "
                          f"({first_line(exc, 160)}). "
                          "Restore the file, or start a new run.") from None


def check_compatible(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    """Raise ConfigError if ``current`` differs from the ``saved`` config outside :data:`MAY_CHANGE`."""
    saved, current = flatten(saved), flatten(current)
    changed = sorted((k for k in set(saved) | set(current)
                      if saved.get(k, "<absent>") != current.get(k, "<absent>")
                      and not any(k == m or k.startswith(m + ".") for m in MAY_CHANGE)),
                     key=lambda k: (not k.endswith(".name"), k))  # a different neuron/network/task first
    if changed:
        shown = ", ".join(f"{k}: {saved.get(k, '<absent>')!r} → {current.get(k, '<absent>')!r}" for k in changed[:6])
        more = f" (and {len(changed) - 6} more)" if len(changed) > 6 else ""
        raise ConfigError(f"cannot resume {where} with a different configuration: {shown}{more}. Only "
                          f"{', '.join(MAY_CHANGE[1:])} may change on resume; start a new run instead.")


def check_writable(path: Path) -> None:
    """Raise ConfigError unless the run directory ``path`` can be created and written, with some free space."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"cannot create the run directory {path}: {probe} is a file, not a directory. "
                          "Choose another hydra.run.dir (or hydra.sweep.dir).")
    import os

    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the run directory {path}: {probe} is not writable. "
                          "Choose another hydra.run.dir (or hydra.sweep.dir), or fix its permissions.")
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < MIN_FREE_MB:
        raise ConfigError(f"only {free_mb:.0f} MB free where the run directory {path} would be written "
                          f"(at least {MIN_FREE_MB} MB needed for checkpoints and logs). Free some space or "
                          "choose another hydra.run.dir.")
