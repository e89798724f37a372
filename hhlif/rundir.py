"""A run directory belongs to one process: it is claimed before anything is written into it.

The claim is an exclusive ``flock`` on ``<run dir>/.hhlif.lock``, taken without waiting and held until the
process ends (the kernel releases it when the process dies, even by SIGKILL, so a killed run never blocks the
next one). A second process that names the same directory is refused with the first one's process id. A
directory hhlif chooses itself (the default, time-stamped name) is created with an exclusive ``mkdir``: two runs
started in the same second get ``<name>`` and ``<name>-1``. Once a directory is claimed, the temporary files a
killed writer left there are removed (:func:`hhlif.files.remove_stale_temps`): no live process can be writing
them. A directory that holds anything but the lock file is never taken as fresh (:func:`holds_run`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from hhlif.errors import ConfigError
from hhlif.files import remove_stale_temps, write_failed

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: directories are still created exclusively
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".hhlif.lock"
_HELD: dict[Path, IO] = {}  # directory → its open, locked lock file (held for the life of the process)


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds anything an earlier run (or anyone) wrote: any entry but the lock file."""
    path = Path(path)
    return path.is_dir() and any(entry.name != LOCK_NAME for entry in path.iterdir())


def claim(path: Path, key: str = "hydra.run.dir") -> Path:
    """Create ``path`` if needed and take its lock for the life of this process; ConfigError if another process
    holds it. Claiming a directory this process already holds is a no-op."""
    path = Path(path).absolute()
    if path in _HELD:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = open(path / LOCK_NAME, "a+")  # noqa: SIM115 - held open until the process ends
    except OSError as exc:
        raise write_failed(path / LOCK_NAME, exc, "the run directory's lock file", "Choose a writable directory "
                           f"({key}=...), or fix its permissions.") from None
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise ConfigError(f"{key}={path} is in use by another hhlif process (pid {owner}): two runs never share "
                              "a directory. Choose another directory, or wait until that run ends (then add "
                              "resume=true to continue it).") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _HELD[path] = handle
    remove_stale_temps(path)
    return path


def claim_fresh(base: Path, key: str = "hydra.run.dir") -> Path:
    """Create and claim a new directory: ``base``, or ``base-1``, ``base-2``... if it exists (exclusive ``mkdir``:
    two processes never get the same one)."""
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        path = base if n == 0 else Path(f"{base}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            n += 1
            continue
        return claim(path, key)


def release(path: Path) -> None:
    """Give up the claim on ``path`` (the lock file stays; it marks nothing)."""
    handle = _HELD.pop(Path(path).absolute(), None)
    if handle is not None:
        handle.close()
