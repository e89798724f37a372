"""The one way hhlif reports a problem the user can fix.

Every user-facing failure is an :class:`HhlifError`. The CLI prints its message (no traceback) and exits with
its ``exit_code``: 2 for a bad configuration (:class:`ConfigError`), 1 for a failure at run time
(:class:`DataError`, :class:`RunError`), 128 + N when signal N stopped the run (:class:`Interrupted`).
Messages say what was wrong, the value given, what is allowed and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

LONG = 200  # a word of a message longer than this is shortened (:func:`shorten`)


class HhlifError(Exception):
    """A problem the user can act on; printed without a traceback."""

    exit_code = 1


class ConfigError(HhlifError):
    """The configuration asks for something invalid (exit status 2)."""

    exit_code = 2


class DataError(HhlifError):
    """A data file is missing, corrupt or cannot be fetched (exit status 1)."""


class RunError(HhlifError):
    """A run failed for a reason other than its configuration (exit status 1)."""


class ShapeError(HhlifError, ValueError):
    """A tensor given to hhlif's library API has the wrong shape (the message gives the expected one)."""


class NonFiniteState(RunError):
    """A neuron's state became NaN or infinite (e.g. an HH integration step ``dt`` that is too large)."""

    def __init__(self, neuron: Any, step: int, value: float):
        self.neuron, self.step, self.value = neuron, step, value
        super().__init__(f"non-finite state ({value}) in a {type(neuron).__name__} layer at time step {step}")


#: the signals that stop hhlif with a message (exit status 128 + the signal's number)
STOP_SIGNALS = ("SIGINT", "SIGTERM")


class Interrupted(HhlifError):
    """SIGINT/SIGTERM stopped a run after it saved a checkpoint (exit status 128 + signal number)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + int(signum)


def bad_value(key: str, value: Any, allowed: str, hint: str | None = None) -> ConfigError:
    """Build the standard message for a config value outside its allowed range."""
    msg = f"{key}={value!r} is not allowed: expected {allowed}."
    if hint:
        msg += f" {hint}"
    return ConfigError(msg)


def unknown_choice(key: str, value: Any, choices: Iterable[str]) -> ConfigError:
    """Build the standard message for a name that is not one of the valid choices."""
    valid = ", ".join(sorted(choices))
    return ConfigError(f"{key}={value!r} is not a known choice. Valid choices: {valid}.")


def require_positive(key: str, value: Any, *, integer: bool = False) -> None:
    """Raise a ConfigError unless ``value`` is a positive number (an integer if asked)."""
    kind = "a positive integer" if integer else "a positive number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not value > 0:
        raise bad_value(key, value, kind)


def require_in_range(key: str, value: Any, low: float, high: float) -> None:
    """Raise a ConfigError unless ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_value(key, value, f"a number in [{low}, {high}]")


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message (at most ``limit`` characters), or its type's name if it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def shorten(message: str, limit: int = LONG) -> str:
    """``message`` on one line, with every value or word longer than ``limit`` characters (a pasted value, a long
    path) cut in the middle: ``seed='9x9x…x9x9' (6000 characters)``."""
    keep = limit // 2 - 4

    def cut(text: str) -> str:
        return f"{text[:keep]}…{text[-keep:]}"

    message = " ".join(str(message).split())
    message = re.sub(rf"'([^'\s]{{{limit + 1},}})'", lambda m: f"'{cut(m[1])}' ({len(m[1])} characters)", message)
    return re.sub(rf"[^\s']{{{limit + 1},}}", lambda m: f"{cut(m[0])} ({len(m[0])} characters)", message)
