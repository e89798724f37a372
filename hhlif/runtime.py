"""Seeding and device selection, the same for every command."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from hhlif.errors import STOP_SIGNALS, ConfigError


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask cuDNN for deterministic kernels; with
    ``deterministic`` every operation must be deterministic (bit-exact GPU runs, slower; see docs/how-to/gpu.md)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed={seed!r} is not allowed: expected a non-negative integer.")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def memory_bytes() -> int:
    """This machine's physical memory, in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2**40


def in_bytes(n: float) -> str:
    """``n`` bytes in words: 3.2 GB, 1.4 PB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1000 or unit == "EB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return ""  # pragma: no cover


def require_memory(key: str, value: object, needed: float, what: str, advice: str) -> None:
    """Refuse ``key=value`` (ConfigError) when ``what`` would need more than this machine's memory: such a run can
    only exhaust the memory or never end. ``needed`` is a lower bound, in bytes."""
    total = memory_bytes()
    if needed > total:
        raise ConfigError(f"{key}={value} is too large: {what} would need at least {in_bytes(needed)} of memory, more "
                          f"than this machine's {in_bytes(total)}. {advice}")


def resolve_device(spec: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``; ``cuda`` / ``cuda:N`` (must be available)."""
    spec = str(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={spec!r} asks for a GPU, but torch sees no CUDA device on this machine. "
                              "Use device=cpu or device=auto.")
        index = torch.device(spec).index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device={spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s).")
        return torch.device(spec)
    raise ConfigError(f"device={spec!r} is not allowed: expected auto, cpu, cuda or cuda:N.")


class GracefulStop:
    """While active, SIGINT and SIGTERM only set ``signum``; the loop finishes its step, saves and stops.

    SIGUSR2 too when a scheduler hooked it (submitit, for SLURM pre-emption and time limits): the run saves
    first, then :func:`hand_over` passes the signal to the scheduler's handler, which requeues the job.
    A second signal restores the previous handlers and interrupts at once.
    """

    SIGNALS = STOP_SIGNALS
    HOOKED = ("SIGUSR2",)  # caught only when a handler other than the default one is installed

    def __init__(self):
        self.signum: int | None = None
        self._saved: dict = {}

    def _handle(self, signum, frame):  # noqa: ARG002
        import signal

        if self.signum is not None:
            self.__exit__()
            signal.raise_signal(signum)
        self.signum = signum

    def __enter__(self) -> GracefulStop:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS + self.HOOKED:
                sig = getattr(signal, name, None)
                if sig is None or (name in self.HOOKED and not callable(signal.getsignal(sig))):
                    continue
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.signum).name if self.signum else ""


def hand_over(signum: int) -> None:
    """Pass ``signum`` to the handler a scheduler installed for it (after the run saved its checkpoint): submitit
    requeues the job and exits. Nothing happens when no such handler is installed."""
    import signal

    handler = signal.getsignal(signum)
    if callable(handler):
        handler(signum, None)
