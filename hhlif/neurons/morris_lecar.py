r"""The Morris–Lecar neuron: Morris & Lecar (1981), *Voltage oscillations in the barnacle giant muscle fiber*,
Biophys. J. 35:193–213, in the two-variable form and with the parameters of Rinzel & Ermentrout (1989),
*Analysis of neural excitability and oscillations* (Methods in Neuronal Modeling, MIT Press).

A conductance-based model with two state variables: the membrane potential V (mV) and the fraction w of open
potassium channels; the calcium channels are at their steady state. Time in ms, C in µF/cm², conductances in
mS/cm², input I = ``input_gain`` · (synaptic current) in µA/cm²:

.. math::
    C \frac{dV}{dt} = I - g_L (V - V_L) - g_{Ca} m_\infty(V) (V - V_{Ca}) - g_K w (V - V_K), \qquad
    \frac{dw}{dt} = \phi\,(w_\infty(V) - w) \cosh\frac{V - V_3}{2 V_4} \\
    m_\infty = \tfrac12 \left(1 + \tanh\frac{V - V_1}{V_2}\right), \qquad
    w_\infty = \tfrac12 \left(1 + \tanh\frac{V - V_3}{V_4}\right)

Defaults: the class-I set (a saddle-node on the invariant circle: firing starts at an arbitrarily low frequency)
C 20, V_L −60, V_Ca 120, V_K −84 mV, g_L 2, g_Ca 4, g_K 8, V1 −1.2, V2 18, V3 12, V4 17.4 mV, φ 1/15. The
class-II set (a Hopf bifurcation: firing starts at a finite frequency): g_Ca 4.4, V3 2, V4 30, φ 0.04. The
initial state is the resting state for I = 0 (the lowest fixed point, found once at construction).

**Network form** (one step of ``dt`` ms, forward Euler from the previous state, the input held constant)::

    V' = V + (dt/C) (I − g_L (V − V_L) − g_Ca m∞(V) (V − V_Ca) − g_K w (V − V_K))
    w' = w∞(V) + (w − w∞(V)) exp(−dt φ cosh((V − V_3)/(2 V_4))),        s = H(V' − θ)

The potassium gate takes the exact step towards its steady state at the step's V (exponential Euler, as
:class:`~hhlif.neurons.hh_textbook.HHTextbook`'s gates): it stays in [0, 1] for any dt and any input, so the
conductances stay bounded and the membrane's Euler step is stable whenever dt < 2C/(g_L + g_Ca + g_K); the cosh's
argument is clipped at ±``COSH_MAX`` (V beyond a few volts, reachable only by an enormous input). No reset: as the
paper's network HH, the neuron emits a spike at every step its potential is above θ (``threshold``, 0 mV), so an
action potential of a few ms gives a few spikes. The spike uses hhlif's surrogate gradient (a boxcar of half-width
``half_width`` mV around θ). The bound on dt is 2C / (g_L + g_Ca + g_K) (2.9 ms for the defaults); parameters asking
for more are refused.

**Simulation form**: :meth:`MorrisLecar.rhs` (the right-hand side for ``scipy.integrate.solve_ivp``) for one unit.
"""

from __future__ import annotations

import math

import torch

from hhlif.errors import require_in_range, require_positive
from hhlif.neurons import ladder_fused
from hhlif.neurons.base import Neuron, State
from hhlif.neurons.gain import gain_repr, register_input_gain
from hhlif.neurons.ladder_fused import MorrisLecarKernel

#: the gain before calibration (µA/cm² per unit of synaptic current): the class-I rheobase is ≈ 40 µA/cm²
NOMINAL_GAIN = 10.0
#: Rinzel & Ermentrout (1989): the parameters that differ between the two classes of excitability
CLASS_I = {"g_ca": 4.0, "v3": 12.0, "v4": 17.4, "phi": 1.0 / 15.0}
CLASS_II = {"g_ca": 4.4, "v3": 2.0, "v4": 30.0, "phi": 0.04}
#: the largest |argument| of the gate's cosh (cosh 80 ≈ 3e34 < float32's largest)
COSH_MAX = 80.0


class MorrisLecar(Neuron):
    """Morris–Lecar population (module docstring)."""

    # (MUL, ADD) per unit and step as hhlif.testing.measured_ops counts them (tanh and cosh not counted, as
    # exponentials): MUL gain·I, the three (·)/V2, /V4, /(2V4) scalings, 0.5·(…) twice, g_L·, g_Ca·m∞·, g_K·w·,
    # dt/C·, dtφ·cosh, (w − w∞)·e; ADD V − V1, V − V3 (twice), 1 + tanh (twice), V − V_L, V − V_Ca, V − V_K, the
    # two sums of the ionic current, I − I_ion, V + …, w − w∞, w∞ + …, V' − θ, the spike's comparison
    ops_per_step = (14, 16)

    def __init__(self, shape, *, threshold: float = 0.0, c_m: float = 20.0, g_l: float = 2.0, g_ca: float = 4.0,
                 g_k: float = 8.0, v_l: float = -60.0, v_ca: float = 120.0, v_k: float = -84.0, v1: float = -1.2,
                 v2: float = 18.0, v3: float = 12.0, v4: float = 17.4, phi: float = 1.0 / 15.0, dt: float = 1.0,
                 input_gain: float | str = "auto", surrogate: str = "boxcar", half_width: float = 10.0,
                 fused: bool = True):
        super().__init__(shape, threshold=threshold, surrogate=surrogate, half_width=half_width)
        for key, value in (("c_m", c_m), ("v2", v2), ("v4", v4), ("phi", phi), ("dt", dt)):
            require_positive(f"neuron.{key}", value)
        for key, value in (("g_l", g_l), ("g_ca", g_ca), ("g_k", g_k)):
            require_in_range(f"neuron.{key}", value, 0.0, 1000.0)
        for key, value in (("threshold", threshold), ("v_l", v_l), ("v_ca", v_ca), ("v_k", v_k), ("v1", v1),
                           ("v3", v3)):
            require_in_range(f"neuron.{key}", value, -200.0, 200.0)
        require_in_range("neuron.dt", dt, 1e-6, 2.0 * c_m / (g_l + g_ca + g_k))
        self.c_m, self.g_l, self.g_ca, self.g_k = float(c_m), float(g_l), float(g_ca), float(g_k)
        self.v_l, self.v_ca, self.v_k = float(v_l), float(v_ca), float(v_k)
        self.v1, self.v2, self.v3, self.v4 = float(v1), float(v2), float(v3), float(v4)
        self.phi, self.dt = float(phi), float(dt)
        self.v_rest = self._resting_potential()
        self.fused = bool(fused)
        register_input_gain(self, input_gain, NOMINAL_GAIN)

    def initial_state(self, batch, device=None, dtype=None) -> State:
        v = torch.full((batch, *self.shape), self.v_rest, device=device, dtype=dtype)
        return v, torch.full_like(v, self._w_inf(self.v_rest))

    def step(self, current: torch.Tensor, state: State):
        v, w = state
        m_inf = 0.5 * (1.0 + torch.tanh((v - self.v1) * (1.0 / self.v2)))
        w_inf = 0.5 * (1.0 + torch.tanh((v - self.v3) * (1.0 / self.v4)))
        rate = torch.cosh(torch.clamp((v - self.v3) * (0.5 / self.v4), -COSH_MAX, COSH_MAX))
        i_ion = self.g_l * (v - self.v_l) + self.g_ca * m_inf * (v - self.v_ca) + self.g_k * w * (v - self.v_k)
        v_new = v + (self.dt / self.c_m) * (self.input_gain * current - i_ion)
        w_new = w_inf + (w - w_inf) * torch.exp(-(self.dt * self.phi) * rate)
        return self.spike(v_new - self.threshold), (v_new, w_new)

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        return ladder_fused.window(self, MorrisLecar, MorrisLecarKernel, currents)

    # -- simulation form (one unit, physical time) ------------------------------------------------------------
    def _w_inf(self, v: float) -> float:
        return 0.5 * (1.0 + math.tanh((v - self.v3) / self.v4))

    def _ionic(self, v: float, w: float) -> float:
        m_inf = 0.5 * (1.0 + math.tanh((v - self.v1) / self.v2))
        return self.g_l * (v - self.v_l) + self.g_ca * m_inf * (v - self.v_ca) + self.g_k * w * (v - self.v_k)

    def rhs(self, t: float, y, current: float):
        """dy/dt of ``y = (V, w)`` at input ``current`` (µA/cm², after the gain): for ``solve_ivp``."""
        v, w = y
        return [(current - self._ionic(v, w)) / self.c_m,
                self.phi * (self._w_inf(v) - w) * math.cosh(min(COSH_MAX, abs(v - self.v3) / (2.0 * self.v4)))]

    def rest_state(self):
        return [self.v_rest, self._w_inf(self.v_rest)]

    def _resting_potential(self) -> float:
        """The lowest V with no net current at w = w∞(V) and I = 0 (scanned from V_K up, then bisected)."""
        def net(v: float) -> float:
            return -self._ionic(v, self._w_inf(v))

        lo = min(self.v_k, self.v_l)
        step = 0.25
        while net(lo + step) > 0 and lo < self.v_ca:
            lo += step
        hi = lo + step
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if net(mid) > 0 else (lo, mid)
        return 0.5 * (lo + hi)

    def divergence_hint(self) -> str:
        fastest = self.c_m / (self.g_l + self.g_ca + self.g_k)
        return (f"Forward Euler diverges when dt is not small against the membrane's time constant C/(g_L + g_Ca + "
                f"g_K) = {fastest:.3g} ms: lower neuron.dt (now {self.dt}; try {min(self.dt / 4, fastest / 4):.3g}) "
                f"or neuron.input_gain (now {float(self.input_gain):.4g}).")

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, g_Ca={self.g_ca}, V3={self.v3}, V4={self.v4}, phi={self.phi:.4g}, "
                f"dt={self.dt}, {gain_repr(self)}")
