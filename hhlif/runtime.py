"""Seeding and device selection, the same for every command."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from hhlif.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask cuDNN for deterministic kernels."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed={seed!r} is not allowed: expected a non-negative integer.")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


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
