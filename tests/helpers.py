"""Shared test helpers: compose hhlif configs exactly as the CLI does, run the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hhlif.config import compose

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def compose_config(overrides: list[str], config_name: str = "train"):
    """The composed config (without the ``hydra`` node) for ``overrides``, as the CLI composes it."""
    return compose(config_name, overrides)


def run_cli(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m hhlif ARGS`` in ``cwd``; returns the completed process (text output)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "hhlif", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def sigterm_at(proc: subprocess.Popen, marker: str, within: float = 5.0) -> str:
    """Send SIGTERM to ``proc`` once a line of its stdout contains ``marker``; check that it stops with status
    143 within ``within`` seconds, and return its stderr."""
    import signal
    import time

    for line in proc.stdout:
        if marker in line:
            break
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < within, f"{time.monotonic() - sent:.1f}s after SIGTERM"
    assert proc.returncode == 128 + signal.SIGTERM, err
    return err
