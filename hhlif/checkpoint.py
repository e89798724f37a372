"""Checkpoints: written atomically (a unique temporary file, then a rename), read back with clear errors.

A checkpoint is read with ``torch.load(weights_only=True)``: only tensors, NumPy arrays (allow-listed:
:data:`NUMPY_GLOBALS`), plain containers, strings and numbers are rebuilt. A file that names anything else (a
function, a class) is refused before anything in it runs, so a checkpoint from someone else cannot run code.
"""

from __future__ import annotations

import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hhlif.errors import RunError, first_line
from hhlif.files import atomic_write

#: what a checkpoint may hold besides tensors and plain values: NumPy arrays (a pendulum's state, NumPy's RNG)
NUMPY_GLOBALS = [np._core.multiarray._reconstruct, np.ndarray, np.dtype,
                 *(type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG")]


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Save ``state`` to ``path`` so that a reader never sees a partial file; a failed write raises
    :class:`~hhlif.files.WriteError` and leaves the previous file at ``path`` intact."""
    return atomic_write(Path(path), lambda tmp: torch.save(state, tmp), what="checkpoint",
                        advice="Free some space or fix the directory's permissions, then continue with resume=true.")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only``: no code from the file runs)."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} does not exist.")
    try:
        with torch.serialization.safe_globals(NUMPY_GLOBALS):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if not found:  # not a refusal: bytes that are no pickle at all
            raise _unreadable(path, exc) from None
        raise RunError(f"refusing checkpoint {path}: it names {found[1]}, which an hhlif checkpoint never holds "
                       "(only tensors, arrays and plain values are loaded; nothing in the file was run). Delete it "
                       "if you did not make it, or point to another checkpoint.") from None
    except Exception as exc:  # a truncated or foreign file
        raise _unreadable(path, exc) from None
    if not isinstance(state, dict):
        raise RunError(f"checkpoint {path} holds a {type(state).__name__}, not an hhlif checkpoint (a dict with "
                       "the run's state). Point to another one.")
    return state


def _unreadable(path: Path, exc: BaseException) -> RunError:
    return RunError(f"checkpoint {path} cannot be read ({first_line(exc)}). It may be truncated or not an hhlif "
                    "checkpoint; delete it or point to another one.")


def rng_state() -> dict[str, Any]:
    """Every global random state a run depends on."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
