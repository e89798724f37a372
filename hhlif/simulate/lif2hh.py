"""The LIF circuits that stand in for an HH neuron in the paper's MATLAB simulations
(docs/explanation/authors-code.md#matlab-simulations).

**s-LIF2HH** (simplified, constant parameters; Fig. 3d). Four LIF sub-neurons k = 1..4 per unit, each

    u ← u + dt [−(u − U_rest)(1 − λ)/C + I/C]      (λ = 0.9, U_rest = 0, C = 1, dt = 1: u ← 0.9 u + I)

Sub-neurons 1–3 take the unit's input; sub-neuron 4 takes u₁ + u₂ + u₃ of *this* step. A sub-neuron is
"above" when u_k > θ (a level test); the unit fires only when **all four** are above θ, and then all four
are reset to U_rest. The per-sub-neuron levels are outputs too (the next unit of the Fig. 3d chain reads them).

**tv-LIF2HH** (time-varying conductances; Supp. Fig. 2). Three LIF sub-neurons, one per ionic branch
(E = E_Na, E_K, E_L), driven by I/g_s with g_s = g_Na + g_K + g_L, where g_Na(t), g_K(t), g_L are the
conductances of the HH neuron at the same position (of its state before its update at this step):

    u_k ← u_k + dt [−(u_k − E_k) + I/g_s]               k = 1, 2, 3 (C = 1)
    f_k ← f_k + g_k (u_k^new − u_k^old)                  (accumulators)
    u₄ ← u₄ + dt g_s [I₄ − u₄],  I₄ = −(f₁ + f₂ + f₃)^new + (g_Na u₁ + g_K u₂ + g_L u₃)^old / g_s
    V  = (f₁ + f₂ + f₃)^new + u₄^old,   spike = V > θ (level)

(u₄ is a LIF with C = 1/g_s and U_rest = 0.) Summing the updates gives dV/dt = I − Σ_k g_k (V − E_k): V follows
the HH membrane equation for the same conductances. Initial state u₁ = u₂ = u₃ = 0, u₄ = −70, f = 0. There is
no reset anywhere. All functions are vectorised over the trailing (neuron) axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hhlif.simulate.hh import REST65, HHConstants


# -- s-LIF2HH -------------------------------------------------------------------------------------------------
def lif_update(u, current, *, decay: float = 0.9, u_rest: float = 0.0, c: float = 1.0, dt: float = 1.0):
    """One step of the simplified LIF sub-neuron (MATLAB ``lif_simplified``)."""
    return u + dt * (-(u - u_rest) * (1.0 - decay) / c + current / c)


def slif2hh_step(u: np.ndarray, inputs: np.ndarray, *, threshold: float, decay: float = 0.9,
                 u_rest: float = 0.0, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of s-LIF2HH units.

    ``u``: sub-neuron potentials ``[4, ...]``; ``inputs``: the currents of sub-neurons 1–3 ``[3, ...]`` (sub-neuron
    4 reads u₁ + u₂ + u₃ after their update). Returns ``(fired [...], above [4, ...], u_pre [4, ...], u_new
    [4, ...])``: ``u_pre`` are the potentials compared with θ, ``above`` = u_pre > θ (the sub-neurons' level
    outputs), ``fired`` = all four above θ, and ``u_new`` = u_pre with every sub-neuron of a fired unit reset to
    ``u_rest``.
    """
    pre = np.empty(np.shape(u), dtype=np.float64)
    pre[:3] = lif_update(u[:3], inputs, decay=decay, u_rest=u_rest, dt=dt)
    pre[3] = lif_update(u[3], pre[:3].sum(axis=0), decay=decay, u_rest=u_rest, dt=dt)
    above = pre > threshold
    fired = above.all(axis=0)
    new = np.where(fired, u_rest, pre)
    return fired, above, pre, new


# -- tv-LIF2HH ------------------------------------------------------------------------------------------------
U4_INIT = -70.0


@dataclass
class TVState:
    """State of tv-LIF2HH neurons: branch potentials ``u`` [3, ...], combining potential ``u4`` [...] and
    accumulators ``f`` [3, ...]."""

    u: np.ndarray
    u4: np.ndarray
    f: np.ndarray

    @classmethod
    def initial(cls, shape: tuple[int, ...], u4: float = U4_INIT) -> TVState:
        """u₁ = u₂ = u₃ = 0, f = 0 and u₄ = ``u4`` (the HH neuron's initial potential, −70 in MATLAB), so that
        V starts where the HH membrane does."""
        shape = tuple(shape)
        return cls(u=np.zeros((3, *shape)), u4=np.full(shape, float(u4)), f=np.zeros((3, *shape)))


def tv_step(state: TVState, current, conductances, dt: float, c: HHConstants = REST65) -> tuple[TVState, np.ndarray]:
    """One step of tv-LIF2HH neurons driven by ``current`` with the HH conductances ``(g_Na, g_K, g_L)``.

    Returns the new state and the output potential V = f₁ + f₂ + f₃ (after this step's increments) + u₄ (before
    its update), the value the MATLAB code compares with θ.
    """
    g = np.stack(np.broadcast_arrays(*conductances))  # [3, ...]
    g_s = g.sum(axis=0)
    reversal = np.array([c.e_na, c.e_k, c.e_l]).reshape((3,) + (1,) * (g.ndim - 1))
    u_new = state.u + dt * (-(state.u - reversal) + current / g_s)
    f_new = state.f + g * (u_new - state.u)
    f_sum = f_new.sum(axis=0)
    drive = -f_sum + (g * state.u).sum(axis=0) / g_s
    u4_new = state.u4 + dt * g_s * (drive - state.u4)
    return TVState(u_new, u4_new, f_new), f_sum + state.u4
