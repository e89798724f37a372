"""The five input currents of the paper's Fig. 3d (docs/explanation/authors-code.md#fig-3d-chain), in µA/cm², t in ms.

With period f = 8.5:

* ``const``:    x(t) = 9
* ``sine``:     x(t) = 11.5 − 19 sin(1.2 t)
* ``square``:   x(t) = 9 − 15.5 sign(mod(⌊t⌋, f) − (f − 1)/2 − 0.001), i.e. 24.5 while mod(⌊t⌋, 8.5) < 3.751,
  else −6.5 (the MATLAB default)
* ``sawtooth``: x(t) = 6.5 + (11/f) |t − ⌊t/f⌋ f + f/2|
* ``triangle``: x(t) = 7 + (7/f) |t − ⌊t/f⌋ f − f/2|

(Within each period the "sawtooth" rises from 12 to 23 and drops back; the "triangle" falls from 10.5
to 7 and rises back to 10.5.) The s-LIF2HH chain is driven by the mean of x over each coarse step,
:func:`block_means` (the MATLAB ``integral(x1, a, b)/dt``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PERIOD = 8.5


def const(t):
    return np.full_like(np.asarray(t, dtype=np.float64), 9.0)


def sine(t):
    return 11.5 - 19.0 * np.sin(1.2 * np.asarray(t, dtype=np.float64))


def square(t):
    phase = np.mod(np.floor(np.asarray(t, dtype=np.float64)), PERIOD) - (PERIOD - 1.0) / 2.0 - 0.001
    return 9.0 - 15.5 * np.sign(phase)


def sawtooth(t):
    t = np.asarray(t, dtype=np.float64)
    return 6.5 + 11.0 / PERIOD * np.abs(t - np.floor(t / PERIOD) * PERIOD + PERIOD / 2.0)


def triangle(t):
    t = np.asarray(t, dtype=np.float64)
    return 7.0 + 7.0 / PERIOD * np.abs(t - np.floor(t / PERIOD) * PERIOD - PERIOD / 2.0)


WAVEFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "const": const, "sine": sine, "square": square, "sawtooth": sawtooth, "triangle": triangle,
}


def block_means(fn: Callable[[np.ndarray], np.ndarray], blocks: int, width: float, samples: int = 4000) -> np.ndarray:
    """Mean of ``fn`` over each interval [k·width, (k+1)·width), k = 0..blocks−1 (composite midpoint rule with
    ``samples`` points per interval: exact for the piecewise-constant square wave, error ≤ jump/samples at a
    jump of the sawtooth/triangle, O(samples⁻²) elsewhere)."""
    offsets = (np.arange(samples) + 0.5) / samples * width
    t = np.arange(blocks)[:, None] * width + offsets[None, :]
    return fn(t).mean(axis=1)
