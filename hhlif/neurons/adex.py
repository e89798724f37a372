r"""The adaptive exponential integrate-and-fire neuron (AdEx): Brette & Gerstner (2005), *Adaptive exponential
integrate-and-fire model as an effective description of neuronal activity*, J. Neurophysiol. 94:3637–3642;
firing patterns in Naud, Marcille, Clopath & Gerstner (2008), Biol. Cybern. 99:335–347.

Two state variables: the membrane potential V (mV) and the adaptation current w (pA), time in ms; capacitance
C (pF), conductances g_L, a (nS), input I = ``input_gain`` · (synaptic current) in pA:

.. math::
    C \frac{dV}{dt} = -g_L (V - E_L) + g_L \Delta_T e^{(V - V_T)/\Delta_T} - w + I, \qquad
    \tau_w \frac{dw}{dt} = a (V - E_L) - w, \qquad
    V \ge V_{peak} \;\Rightarrow\; \text{spike},\; V \leftarrow V_r,\; w \leftarrow w + b

Defaults: Brette & Gerstner's regular-spiking cell (C 281 pF, g_L 30 nS, E_L −70.6 mV, V_T −50.4 mV,
Δ_T 2 mV, τ_w 144 ms, a 4 nS, b 80.5 pA, V_r −70.6 mV) with their cut V_peak = V_T + 5 Δ_T = −40.4 mV. Naud et
al.'s Table 1 gives the patterns (tonic, adapting, initial burst, regular bursting, …; V_peak 0 mV there).
Initial state V = E_L, w = 0.

**Network form** (one step of ``dt`` ms, forward Euler from the previous state, the input held constant)::

    V' = V + (dt/C) (−g_L (V − E_L) + g_L Δ_T e^{(min(V, V_peak) − V_T)/Δ_T} − w + I)
    w' = w + (dt/τ_w) (a (V − E_L) − w)
    s = H(V' − V_peak),   V ← V' + s (V_r − V'),   w ← w' + b s

The exponential is evaluated at min(V, V_peak): the stored V never exceeds V_peak (it is reset), so this only guards
against overflow for an input that jumps V far past V_peak in one step. The spike uses hhlif's surrogate gradient (a
boxcar of half-width ``half_width`` mV around V_peak); ``detach_reset`` (default true) stops the gradient through
the reset: the spike's effect on the state is a constant in the backward. With it on, one epoch on 2,000
Multi-Fashion samples (fc) learns; with the gradient through the reset it stayed at chance for ALIF and Izhikevich
(the reset's factor multiplies the surrogate by the reset's size: ϑ, or v − c ≈ 95 mV).

**Simulation form**: :meth:`AdEx.rhs` (the right-hand side for ``scipy.integrate.solve_ivp``),
:meth:`AdEx.spike_event` and :meth:`AdEx.reset` for one unit.
"""

from __future__ import annotations

import math

import torch

from hhlif.errors import bad_value, require_in_range, require_positive
from hhlif.neurons import ladder_fused
from hhlif.neurons.base import Neuron, State
from hhlif.neurons.gain import gain_repr, register_input_gain
from hhlif.neurons.ladder_fused import AdExKernel

#: the gain before calibration (pA per unit of synaptic current): the default cell's rheobase is ≈ 0.4 nA
NOMINAL_GAIN = 100.0
#: Naud et al. (2008), Table 1: (C pF, g_L nS, E_L mV, V_T mV, Δ_T mV, τ_w ms, a nS, b pA, V_r mV, I pA)
PATTERNS = {
    "tonic": (200.0, 10.0, -70.0, -50.0, 2.0, 30.0, 2.0, 0.0, -58.0, 500.0),
    "adapting": (200.0, 12.0, -70.0, -50.0, 2.0, 300.0, 2.0, 60.0, -58.0, 500.0),
    "initial_burst": (130.0, 18.0, -58.0, -50.0, 2.0, 150.0, 4.0, 120.0, -50.0, 400.0),
    "regular_bursting": (200.0, 10.0, -58.0, -50.0, 2.0, 120.0, 2.0, 100.0, -46.0, 210.0),
}
PATTERN_KEYS = ("c_m", "g_l", "e_l", "v_t", "delta_t", "tau_w", "a", "b", "v_r")


class AdEx(Neuron):
    """AdEx population (module docstring)."""

    # (MUL, ADD) per unit and step as hhlif.testing.measured_ops counts them: MUL gain·I, g_L·(V − E_L),
    # ·(1/Δ_T), g_LΔ_T·e, dt/C·(…), a·(V − E_L), dt/τ_w·(…), s·(V_r − V'), b·s; ADD V − E_L (once, used
    # twice), − V_T, the three sums of dV/dt, V + …, a(V − E_L) − w, w + …, V' − V_peak, the spike's comparison,
    # V_r − V', the two resets
    ops_per_step = (9, 13)

    def __init__(self, shape, *, c_m: float = 281.0, g_l: float = 30.0, e_l: float = -70.6, v_t: float = -50.4,
                 delta_t: float = 2.0, tau_w: float = 144.0, a: float = 4.0, b: float = 80.5, v_r: float = -70.6,
                 v_peak: float = -40.4, dt: float = 0.5, input_gain: float | str = "auto",
                 detach_reset: bool = True, fused: bool = True,
                 surrogate: str = "boxcar", half_width: float = 10.0):
        super().__init__(shape, threshold=v_peak, surrogate=surrogate, half_width=half_width)
        for key, value in (("c_m", c_m), ("g_l", g_l), ("delta_t", delta_t), ("tau_w", tau_w), ("dt", dt)):
            require_positive(f"neuron.{key}", value)
        require_in_range("neuron.a", a, -1000.0, 1000.0)
        require_in_range("neuron.b", b, -10000.0, 10000.0)
        require_in_range("neuron.e_l", e_l, -200.0, 100.0)
        require_in_range("neuron.v_t", v_t, -200.0, 100.0)
        ceiling = v_t + 30.0 * delta_t  # e^30 ≈ 1e13: the exponential stays finite in float32
        if isinstance(v_peak, bool) or not isinstance(v_peak, (int, float)) or not v_t < v_peak <= ceiling:
            raise bad_value("neuron.v_peak", v_peak, f"a potential in ({v_t}, {ceiling}] mV: above neuron.v_t and "
                            "at most 30 neuron.delta_t above it")
        if isinstance(v_r, bool) or not isinstance(v_r, (int, float)) or not -200.0 <= v_r < v_peak:
            raise bad_value("neuron.v_r", v_r, f"a reset potential in [-200, {v_peak}) mV, below neuron.v_peak")
        self.c_m, self.g_l, self.e_l, self.v_t = float(c_m), float(g_l), float(e_l), float(v_t)
        self.delta_t, self.tau_w, self.a, self.b = float(delta_t), float(tau_w), float(a), float(b)
        self.v_r, self.dt = float(v_r), float(dt)
        self.detach_reset = bool(detach_reset)
        self.fused = bool(fused)
        register_input_gain(self, input_gain, NOMINAL_GAIN)

    def initial_state(self, batch, device=None, dtype=None) -> State:
        v = torch.full((batch, *self.shape), self.e_l, device=device, dtype=dtype)
        return v, torch.zeros_like(v)

    def step(self, current: torch.Tensor, state: State):
        v, w = state
        leak = v - self.e_l
        spike_current = (self.g_l * self.delta_t) * torch.exp((torch.clamp(v, max=self.threshold) - self.v_t)
                                                              * (1.0 / self.delta_t))
        dv = spike_current - self.g_l * leak - w + self.input_gain * current
        w = w + (self.dt / self.tau_w) * (self.a * leak - w)
        v = v + (self.dt / self.c_m) * dv
        s = self.spike(v - self.threshold)
        r = s.detach() if self.detach_reset else s
        return s, (v + r * (self.v_r - v), w + self.b * r)

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        return ladder_fused.window(self, AdEx, AdExKernel, currents, self.detach_reset)

    # -- simulation form (one unit, physical time) ------------------------------------------------------------
    def rhs(self, t: float, y, current: float):
        """dy/dt of ``y = (V, w)`` at input ``current`` (pA, after the gain): for ``solve_ivp``."""
        v, w = y
        ex = self.g_l * self.delta_t * math.exp((min(v, self.threshold) - self.v_t) / self.delta_t)
        return [(-self.g_l * (v - self.e_l) + ex - w + current) / self.c_m, (self.a * (v - self.e_l) - w) / self.tau_w]

    def spike_event(self, t: float, y, current: float) -> float:
        return y[0] - self.threshold

    def reset(self, y):
        return [self.v_r, y[1] + self.b]

    def rest_state(self):
        return [self.e_l, 0.0]

    def divergence_hint(self) -> str:
        stable = min(self.c_m / self.g_l, self.tau_w)
        return (f"Forward Euler diverges when dt is not small against the membrane and adaptation time constants "
                f"({stable:.3g} ms here): lower neuron.dt (now {self.dt}; try {min(self.dt / 4, stable / 10):.3g}).")

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, C={self.c_m}, g_L={self.g_l}, tau_w={self.tau_w}, a={self.a}, b={self.b}, "
                f"dt={self.dt}, {gain_repr(self)}")
