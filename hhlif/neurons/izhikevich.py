r"""The Izhikevich neuron: Izhikevich (2003), *Simple model of spiking neurons*, IEEE Trans. Neural Networks
14(6):1569–1572.

Two state variables: the membrane potential v (mV) and the recovery variable u (mV/ms, the same units as the
input), time in ms. With input I = ``input_gain`` · (synaptic current) (the paper's dimensionless current, in
mV/ms):

.. math::
    \frac{dv}{dt} = 0.04 v^2 + 5 v + 140 - u + I, \qquad \frac{du}{dt} = a (b v - u), \qquad
    v \ge v_{peak} \;\Rightarrow\; \text{spike},\; v \leftarrow c,\; u \leftarrow u + d

with v_peak = 30 mV. Parameter sets of the paper's Fig. 2 (a, b, c, d): regular spiking RS (0.02, 0.2, −65, 8;
the default), intrinsically bursting IB (0.02, 0.2, −55, 4), chattering CH (0.02, 0.2, −50, 2), fast spiking FS
(0.1, 0.2, −65, 2), low-threshold spiking LTS (0.02, 0.25, −65, 2). Initial state v = ``v_init`` (−65 mV),
u = b·v, as in the paper's code.

**Network form** (one step of ``dt`` ms, forward Euler from the previous state, the input held constant)::

    v' = v + dt (0.04 v² + 5 v + 140 − u + I),   u' = u + dt a (b v − u)
    s = H(v' − v_peak),   v ← v' + s (c − v'),   u ← u' + d s

The stored state is after the reset. The spike uses hhlif's surrogate gradient (a boxcar of half-width
``half_width`` mV around v_peak); ``detach_reset`` (default true) stops the gradient through the reset: the spike's
effect on the state is a constant in the backward. With it on, one epoch on 2,000 Multi-Fashion samples (fc) learns;
with the gradient through the reset it stayed at chance for ALIF and Izhikevich (the reset's factor multiplies the
surrogate by the reset's size: ϑ, or v − c ≈ 95 mV). The quadratic term makes forward Euler unstable for large steps
or very large inputs. The default step is 0.05 ms, not the 0.5 ms of Izhikevich's own code: at 0.5 ms the
subthreshold step multiplies the membrane's gradient by 1 + dt (0.08 v + 5), above 2 in a tenth of the steps, so
a few samples carry most of each batch's gradient, and the network trained worse than LIF; see
docs/explanation/ladder.md#izhikevichs-time-step.

**Simulation form**: :meth:`Izhikevich.rhs` (the right-hand side for ``scipy.integrate.solve_ivp``),
:meth:`Izhikevich.spike_event` and :meth:`Izhikevich.reset` for one unit.
"""

from __future__ import annotations

import torch

from hhlif.errors import bad_value, require_in_range
from hhlif.neurons import ladder_fused
from hhlif.neurons.base import Neuron, State
from hhlif.neurons.gain import gain_repr, register_input_gain
from hhlif.neurons.ladder_fused import IzhikevichKernel

#: the gain before calibration is NOMINAL_CHARGE / dt: a unit synaptic current moves v by 0.5 mV per network step
#: whatever dt is, as a unit of Izhikevich's current (mV/ms; RS rheobase ≈ 3.8) does at his 0.5 ms step
NOMINAL_CHARGE = 0.5
#: the published parameter sets (a, b, c, d) of Izhikevich (2003), Fig. 2
PATTERNS = {"RS": (0.02, 0.2, -65.0, 8.0), "IB": (0.02, 0.2, -55.0, 4.0), "CH": (0.02, 0.2, -50.0, 2.0),
            "FS": (0.1, 0.2, -65.0, 2.0), "LTS": (0.02, 0.25, -65.0, 2.0)}


class Izhikevich(Neuron):
    """Izhikevich population (module docstring)."""

    # (MUL, ADD) per unit and step as hhlif.testing.measured_ops counts them: MUL gain·I, 0.04·v, ·v, 5·v, dt·(…),
    # b·v, a·(…), dt·(…), s·(c − v'), d·s; ADD the four sums of dv/dt, v + dt·…, b v − u, u + dt·…, v' − v_peak, the
    # spike's comparison, c − v', the two resets
    ops_per_step = (10, 12)

    def __init__(self, shape, *, a: float = 0.02, b: float = 0.2, c: float = -65.0, d: float = 8.0,
                 v_peak: float = 30.0, v_init: float = -65.0, dt: float = 0.05, input_gain: float | str = "auto",

                 detach_reset: bool = True, fused: bool = True,
                 surrogate: str = "boxcar", half_width: float = 10.0):
        super().__init__(shape, threshold=v_peak, surrogate=surrogate, half_width=half_width)
        require_in_range("neuron.a", a, 1e-6, 10.0)
        require_in_range("neuron.b", b, -10.0, 10.0)
        require_in_range("neuron.d", d, -100.0, 1000.0)
        require_in_range("neuron.dt", dt, 1e-6, 2.0)
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not -200.0 <= c < v_peak:
            raise bad_value("neuron.c", c, f"a reset potential in [-200, {v_peak}) mV, below neuron.v_peak")
        if isinstance(v_init, bool) or not isinstance(v_init, (int, float)) or not -200.0 <= v_init < v_peak:
            raise bad_value("neuron.v_init", v_init, f"a potential in [-200, {v_peak}) mV, below neuron.v_peak")
        self.a, self.b, self.c, self.d = float(a), float(b), float(c), float(d)
        self.v_init, self.dt = float(v_init), float(dt)
        self.detach_reset = bool(detach_reset)
        self.fused = bool(fused)
        register_input_gain(self, input_gain, NOMINAL_CHARGE / self.dt)

    def initial_state(self, batch, device=None, dtype=None) -> State:
        v = torch.full((batch, *self.shape), self.v_init, device=device, dtype=dtype)
        return v, torch.full_like(v, self.b * self.v_init)

    def step(self, current: torch.Tensor, state: State):
        v, u = state
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + self.input_gain * current
        u = u + self.dt * (self.a * (self.b * v - u))
        v = v + self.dt * dv
        s = self.spike(v - self.threshold)
        r = s.detach() if self.detach_reset else s
        return s, (v + r * (self.c - v), u + self.d * r)

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        return ladder_fused.window(self, Izhikevich, IzhikevichKernel, currents, self.detach_reset)

    # -- simulation form (one unit, physical time) ------------------------------------------------------------
    def rhs(self, t: float, y, current: float):
        """dy/dt of ``y = (v, u)`` at input ``current`` (model units, after the gain): for ``solve_ivp``."""
        v, u = y
        return [0.04 * v * v + 5.0 * v + 140.0 - u + current, self.a * (self.b * v - u)]

    def spike_event(self, t: float, y, current: float) -> float:
        return y[0] - self.threshold

    def reset(self, y):
        return [self.c, y[1] + self.d]

    def rest_state(self):
        return [self.v_init, self.b * self.v_init]

    def divergence_hint(self) -> str:
        return (f"Forward Euler of the quadratic membrane diverges for large steps or inputs: lower neuron.dt "
                f"(now {self.dt}; try {self.dt / 4:.3g}) or neuron.input_gain (now {float(self.input_gain):.4g}).")

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, a={self.a}, b={self.b}, c={self.c}, d={self.d}, dt={self.dt}, "
                f"{gain_repr(self)}")
