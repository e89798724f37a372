"""Scalar series from a run's TensorBoard event files, and the paper's smoothing of the reward curve.

SAC runs log ``train/reward_mean`` every ``trainer.log_every`` counted steps: the mean reward per step over
those steps. The paper (Fig. 4d, ``draw_picture.py``) averages the per-step reward over 1,000 steps. With
``log_every`` = 1,000 (the default) the logged points are exactly those averages, one every 1,000 steps; with
a smaller ``log_every`` that divides the window, :func:`smooth` takes the trailing mean of ``window /
log_every`` consecutive points, which is again the mean over the last ``window`` steps. The value at step s is
the mean over steps s − window + 1 … s (the paper plots the same mean at its first step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: how many events of each kind EventAccumulator keeps (0: all); only scalars are read here
SIZE_GUIDANCE = {"scalars": 0, "histograms": 1, "compressedHistograms": 1, "images": 1, "audio": 1, "tensors": 1}


@dataclass
class Series:
    """One scalar tag of one run: steps, values, wall times."""

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray


def read_scalars(run_dir: Path, tags: Iterable[str] | None = None) -> dict[str, Series]:
    """The scalars of ``<run_dir>/tensorboard`` (all its event files, in order, with TensorBoard's handling of a
    resumed run's purged steps); only ``tags`` if given. Empty when the run has no event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    directory = Path(run_dir) / "tensorboard"
    if not directory.is_dir():
        return {}
    events = EventAccumulator(str(directory), size_guidance=SIZE_GUIDANCE)
    events.Reload()
    wanted = set(events.Tags().get("scalars", []))
    if tags is not None:
        wanted &= set(tags)
    out = {}
    for tag in sorted(wanted):
        last = {p.step: p for p in events.Scalars(tag)}  # a step logged twice: its last value
        points = [last[step] for step in sorted(last)]
        out[tag] = Series(np.array([p.step for p in points], dtype=np.int64),
                          np.array([p.value for p in points], dtype=np.float64),
                          np.array([p.wall_time for p in points], dtype=np.float64))
    return out


def smooth(steps: Sequence[int], values: Sequence[float], window: int) -> np.ndarray:
    """The trailing mean of ``values`` over ``window`` steps, for points logged every ``steps[1] − steps[0]``
    steps (each the mean over its own interval): the mean of the last ``round(window / interval)`` points, or
    of all points so far at the start. No change when the interval is already ``window`` or longer, or when
    ``window`` is 0."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 0 or len(values) < 2:
        return values.copy()
    interval = float(np.median(np.diff(np.asarray(steps, dtype=np.float64))))
    k = int(round(window / interval)) if interval > 0 else 1
    if k <= 1:
        return values.copy()
    total = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - k, 0)
    return (total[ends] - total[starts]) / (ends - starts)


@dataclass
class Band:
    """A curve averaged over runs: steps, mean, sample std (0 for one run) and the number of runs."""

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: int


def average(series: list[Series], window: int = 0) -> Band | None:
    """Mean ± sample std over runs of the (smoothed) series, at the steps that every run logged."""
    series = [s for s in series if len(s.steps)]
    if not series:
        return None
    common = series[0].steps
    for s in series[1:]:
        common = np.intersect1d(common, s.steps)
    if not len(common):
        return None
    rows = []
    for s in series:
        smoothed = smooth(s.steps, s.values, window)
        rows.append(smoothed[np.searchsorted(s.steps, common)])
    stack = np.vstack(rows)
    std = stack.std(axis=0, ddof=1) if len(rows) > 1 else np.zeros(len(common))
    return Band(common, stack.mean(axis=0), std, len(rows))
