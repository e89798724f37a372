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
