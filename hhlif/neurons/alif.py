r"""Adaptive leaky integrate-and-fire neuron (ALIF): a LIF membrane whose threshold rises with every spike and
relaxes back (threshold adaptation), as in Bellec et al. (2018), *Long short-term memory and learning-to-learn
in networks of spiking neurons*, NeurIPS 31 (their LSNN's adaptive neurons).

Two state variables: the membrane v and the adaptation a (both dimensionless, v in units where the resting
potential is 0; the baseline threshold ``threshold`` = θ₀ sets the scale), time in ms. With input current
I = ``input_gain`` · (synaptic current):

.. math::
    \tau_m \frac{dv}{dt} = -v + I, \qquad \tau_a \frac{da}{dt} = -a, \qquad
    \vartheta = \theta_0 + \beta a, \qquad v \ge \vartheta \;\Rightarrow\; \text{spike},\;
    v \leftarrow v - \vartheta,\; a \leftarrow a + 1

The reset subtracts the current threshold (Bellec et al.'s reset by subtraction), and each spike raises the
threshold by β θ₀-units that decay with τ_a: under a constant input the inter-spike intervals lengthen.

**Network form** (one step of ``dt`` ms, the input held constant over it): the exact solution of the linear
equations between spikes (exponential Euler, α = e^{−dt/τ_m}, ρ = e^{−dt/τ_a}), then the spike and the reset::

    v ← α v + (1 − α) I,   a ← ρ a,   ϑ = θ₀ + β a,   s = H(v − ϑ),   v ← v − s ϑ,   a ← a + s

The stored state is after the reset; both start at 0. The spike uses hhlif's surrogate gradient (a boxcar of
half-width ``half_width`` around ϑ), and gradients flow through the threshold. ``detach_reset`` (default true) stops
the gradient through the reset: the spike's effect on the state is a constant in the backward. With it on, one epoch
on 2,000 Multi-Fashion samples (fc) learns; with the gradient through the reset it stayed at chance for ALIF and
Izhikevich (the reset's factor multiplies the surrogate by the reset's size: ϑ, or v − c ≈ 95 mV).

**Simulation form**: :meth:`ALIF.rhs` (the right-hand side for ``scipy.integrate.solve_ivp``),
:meth:`ALIF.spike_event` and :meth:`ALIF.reset` for one unit.
"""

from __future__ import annotations

import math

import torch

from hhlif.errors import bad_value, require_positive
from hhlif.neurons import ladder_fused
from hhlif.neurons.base import Neuron, State
from hhlif.neurons.gain import gain_repr, register_input_gain
from hhlif.neurons.ladder_fused import ALIFKernel

#: the gain before calibration: a unit synaptic current drives v to θ₀ (the scale of the paper's LIF)
NOMINAL_GAIN = 1.0


class ALIF(Neuron):
    """Adaptive LIF population (module docstring)."""

    # (MUL, ADD) per unit and step as hhlif.testing.measured_ops counts them: MUL gain·I, α·v, (1−α)·I, ρ·a,
    # β·a, s·ϑ; ADD the two sums of v and of ϑ, v − ϑ, the spike's comparison, the reset's subtraction, a + s
    ops_per_step = (6, 6)

    def __init__(self, shape, *, threshold: float = 1.0, tau_m: float = 20.0, tau_a: float = 200.0,
                 beta: float = 0.5, dt: float = 1.0, input_gain: float | str = "auto",
                 detach_reset: bool = True, fused: bool = True,
                 surrogate: str = "boxcar",
                 half_width: float = 0.5):
        super().__init__(shape, threshold=threshold, surrogate=surrogate, half_width=half_width)
        for key, value in (("threshold", threshold), ("tau_m", tau_m), ("tau_a", tau_a), ("dt", dt)):
            require_positive(f"neuron.{key}", value)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < float("inf"):
            raise bad_value("neuron.beta", beta, "a number >= 0 (the threshold's rise per spike, in units of the "
                            "baseline threshold; 0 is a plain LIF with reset by subtraction)")
        self.tau_m, self.tau_a, self.beta, self.dt = float(tau_m), float(tau_a), float(beta), float(dt)
        self.alpha = math.exp(-self.dt / self.tau_m)
        self.rho = math.exp(-self.dt / self.tau_a)
        self.detach_reset = bool(detach_reset)
        self.fused = bool(fused)
        register_input_gain(self, input_gain, NOMINAL_GAIN)

    def initial_state(self, batch, device=None, dtype=None) -> State:
        z = self._zeros(batch, device, dtype)
        return z, z

    def step(self, current: torch.Tensor, state: State):
        v, a = state
        v = self.alpha * v + (1.0 - self.alpha) * (self.input_gain * current)
        a = self.rho * a
        theta = self.beta * a + self.threshold
        s = self.spike(v - theta)
        r = s.detach() if self.detach_reset else s
        return s, (v - r * theta, a + r)

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        return ladder_fused.window(self, ALIF, ALIFKernel, currents, self.detach_reset)

    # -- simulation form (one unit, physical time) ------------------------------------------------------------
    def rhs(self, t: float, y, current: float):
        """dy/dt of ``y = (v, a)`` at input ``current`` (in model units, after the gain): for ``solve_ivp``."""
        v, a = y
        return [(current - v) / self.tau_m, -a / self.tau_a]

    def spike_event(self, t: float, y, current: float) -> float:
        """Zero when v reaches the adaptive threshold (a terminal event of ``solve_ivp``, upwards)."""
        return y[0] - (self.threshold + self.beta * y[1])

    def reset(self, y):
        """The state just after a spike at ``y``."""
        return [y[0] - (self.threshold + self.beta * y[1]), y[1] + 1.0]

    def rest_state(self):
        return [0.0, 0.0]

    def divergence_hint(self) -> str:
        return ("The adaptive LIF's step is exact for any dt, so a non-finite state comes from the input: lower "
                f"neuron.input_gain (now {float(self.input_gain):.4g}) or check the data for NaN/inf.")

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, tau_m={self.tau_m}, tau_a={self.tau_a}, beta={self.beta}, dt={self.dt}, "
                f"{gain_repr(self)}")
