"""Writing files so that nothing half-written is ever read, and a failed write is a clear error.

Every file hhlif writes into a run directory (checkpoints, ``metrics.json``, ``failed.json``, reports) goes
through :func:`atomic_write`: the content is written to a temporary file with a unique name in the same folder
(``.<name>.<random>.tmp``, so two writers never share one), then renamed onto the destination. A reader sees the
old file or the new one, never a part. When the write fails (a full disk, a read-only file system; PyTorch's
writer raises ``RuntimeError`` rather than ``OSError``), the temporary file is removed, the destination is left
as it was and :class:`WriteError` says which file, how much space is free and what to do.
A writer killed outright (SIGKILL) leaves its temporary file behind: :func:`remove_stale_temps` clears them
when the run directory is next claimed (:mod:`hhlif.rundir`), which no other process can then be writing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hhlif.errors import RunError

TEMP_SUFFIX = ".tmp"
_TORCH_PREFIX = re.compile(r"^\[enforce fail at [^\]]*\]\s*\.?\s*")  # of PyTorch's writer's messages


class WriteError(RunError):
    """A file could not be written (full disk, read-only file system, permissions): exit status 1."""


def free_bytes(path: Path) -> int | None:
    """The free space of the file system holding ``path`` (or its nearest existing parent), or None."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def write_failed(path: Path, exc: BaseException, what: str = "file", advice: str = "") -> WriteError:
    """The error for a failed write of ``path``: the file, the reason, the free space there and what to do."""
    free = free_bytes(path.parent)
    lines = str(exc).strip().splitlines()
    reason = getattr(exc, "strerror", None) or (lines[-1].strip() if lines else type(exc).__name__)
    if isinstance(exc, RuntimeError):  # PyTorch's writer: "[enforce fail at ...] . file write failed"
        reason = f"the write failed ({_TORCH_PREFIX.sub('', reason)})"
        if free is not None and free < 2**26:
            reason += ", most likely because the disk is full"
    space = ("unknown free space" if free is None else
             f"{free / 2**20:.0f} MB free" if free < 2**30 else f"{free / 2**30:.1f} GB free")
    advice = advice or "Free some space or choose a writable directory, then run the command again."
    return WriteError(f"cannot write {what} {path}: {reason} ({space} there). Nothing earlier was damaged. "
                      f"{advice}")


def atomic_write(path: Path, write: Callable[[Path], None], *, what: str = "file", advice: str = "") -> Path:
    """Call ``write(tmp)`` to fill a unique temporary file beside ``path``, then rename it onto ``path``.

    A failure removes the temporary file, leaves ``path`` as it was and raises :class:`WriteError`."""
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        os.replace(tmp, path)
        tmp = None
    except (OSError, RuntimeError) as exc:
        raise write_failed(path, exc, what, advice) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path, text: str, **kwargs) -> Path:
    """:func:`atomic_write` of a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text), **kwargs)


def safe_name(text: str, limit: int = 120) -> str:
    """``text`` (a config key, a model name: something read from a file or a command line) as one file name:
    every character but letters, digits, ``.``, ``_``, ``-`` and ``=`` becomes ``_``, no leading dot, at most
    ``limit`` characters. ``a/../../b`` → ``a_.._.._b``: it can never name another folder."""
    name = re.sub(r"[^A-Za-z0-9._=-]", "_", str(text)).lstrip(".") or "_"
    return name[:limit]


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files (``.<name>.<random>.tmp``) writers killed outright left in ``folder`` and its
    sub-folders; call it only while no other process writes there (the run directory's claim held)."""
    removed = []
    for tmp in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
