"""The textbook Hodgkin–Huxley (1952) neuron in NumPy, as the paper's MATLAB simulations integrate it.

Membrane potential v (mV), gating variables n, m, h; C_m = 1 µF/cm², currents in µA/cm², time in ms.
The rate functions are those of Hodgkin & Huxley (1952) written in the depolarisation from rest
u = v − v_rest (ms⁻¹):

    α_n = 0.01 (10 − u) / (exp((10 − u)/10) − 1)     β_n = 0.125 exp(−u/80)
    α_m = 0.1 (25 − u) / (exp((25 − u)/10) − 1)      β_m = 4 exp(−u/18)
    α_h = 0.07 exp(−u/20)                            β_h = 1 / (1 + exp((30 − u)/10))

    C dv/dt = I − ḡ_Na m³h (v − E_Na) − ḡ_K n⁴ (v − E_K) − g_L (v − E_L)
    dx/dt = α_x(u) (1 − x) − β_x(u) x,  x ∈ {n, m, h}

Two conventions appear in the paper's code (docs/explanation/authors-code.md#matlab-simulations): rest at 0 with
E_Na = 115, E_K = −12, E_L = 10.613 (:data:`REST0`, Fig. 3d) and rest at −65 mV with E_Na = 50, E_K = −77, E_L = −54.387
(:data:`REST65`, Supp. Fig. 2). They are the same model shifted by 65 mV.

:func:`euler_step` is the MATLAB update: forward Euler on all four variables from the previous state, and it
also returns the conductances ḡ_Na m³h, ḡ_K n⁴, g_L *of the previous state* (the MATLAB globals that the
tv-LIF2HH neurons read). The removable singularities of α_n and α_m (u = 10, u = 25) take their limits
(0.1 and 1) where MATLAB would produce NaN. Everything is vectorised over any array shape of neurons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HHConstants:
    """Reversal potentials (mV), maximal conductances (mS/cm²), capacitance (µF/cm²) and the resting
    potential v_rest that the rate functions are written relative to."""

    v_rest: float
    e_na: float
    e_k: float
    e_l: float
    g_na: float = 120.0
    g_k: float = 36.0
    g_l: float = 0.3
    c_m: float = 1.0


#: Rest at 0 mV (Hodgkin & Huxley's sign-flipped original; the paper's Fig. 3d, simplified_simulation/).
REST0 = HHConstants(v_rest=0.0, e_na=115.0, e_k=-12.0, e_l=10.613)
#: Rest at −65 mV (the modern convention; the paper's Supp. Fig. 2, time_varied_simulation/).
REST65 = HHConstants(v_rest=-65.0, e_na=50.0, e_k=-77.0, e_l=-54.387)


# rates(u) use exp(K·u + C) for (α_n, α_m, α_h, β_n, β_m, β_h): one exponential call for all six
_K = np.array([-0.1, -0.1, -1.0 / 20.0, -1.0 / 80.0, -1.0 / 18.0, -0.1])
_C = np.array([1.0, 2.5, 0.0, 0.0, 0.0, 3.0])


def rates(v: np.ndarray, c: HHConstants = REST65) -> tuple[np.ndarray, ...]:
    """(α_n, β_n, α_m, β_m, α_h, β_h) in ms⁻¹ at membrane potential ``v`` (any shape)."""
    u = np.asarray(v, dtype=np.float64) - c.v_rest
    z = np.multiply.outer(_K, u) + _C.reshape((6,) + (1,) * u.ndim)
    e = np.exp(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        lin = z[:2] / (e[:2] - 1.0)  # x / (exp(x) − 1) for α_n (x = (10 − u)/10) and α_m (x = (25 − u)/10)
    if not np.isfinite(lin).all():  # exactly at the removable singularity: the limit 1 − x/2
        lin = np.where(np.abs(z[:2]) < 1e-7, 1.0 - 0.5 * z[:2], lin)
    return 0.1 * lin[0], 0.125 * e[3], lin[1], 4.0 * e[4], 0.07 * e[2], 1.0 / (1.0 + e[5])


def steady_gates(v: np.ndarray, c: HHConstants = REST65) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n∞, m∞, h∞) = α/(α + β) at ``v``."""
    a_n, b_n, a_m, b_m, a_h, b_h = rates(v, c)
    return a_n / (a_n + b_n), a_m / (a_m + b_m), a_h / (a_h + b_h)


def derivatives(v, n, m, h, current, c: HHConstants = REST65) -> tuple[np.ndarray, ...]:
    """(dv/dt, dn/dt, dm/dt, dh/dt) of the textbook model (also the right-hand side for scipy's solve_ivp)."""
    a_n, b_n, a_m, b_m, a_h, b_h = rates(v, c)
    i_ion = c.g_na * m**3 * h * (v - c.e_na) + c.g_k * n**4 * (v - c.e_k) + c.g_l * (v - c.e_l)
    return ((current - i_ion) / c.c_m, a_n * (1.0 - n) - b_n * n, a_m * (1.0 - m) - b_m * m,
            a_h * (1.0 - h) - b_h * h)


def euler_step(v, n, m, h, current, dt: float, c: HHConstants = REST65):
    """One forward-Euler step of every neuron (the MATLAB ``hh_model``).

    Returns ``(v, n, m, h)`` after the step and ``(g_na, g_k, g_l)``: the conductances of the state *before*
    the step (g_l as an array of the neurons' shape).
    """
    a_n, b_n, a_m, b_m, a_h, b_h = rates(v, c)
    g_na = c.g_na * m**3 * h
    g_k = c.g_k * n**4
    i_ion = g_na * (v - c.e_na) + g_k * (v - c.e_k) + c.g_l * (v - c.e_l)
    new = (v + dt * (current - i_ion) / c.c_m,
           n + dt * (a_n * (1.0 - n) - b_n * n),
           m + dt * (a_m * (1.0 - m) - b_m * m),
           h + dt * (a_h * (1.0 - h) - b_h * h))
    return new, (g_na, g_k, np.full_like(g_na, c.g_l))
