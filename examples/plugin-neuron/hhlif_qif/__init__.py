r"""Quadratic integrate-and-fire (QIF) neurons for hhlif: an example of a neuron plugin.

The QIF neuron is the normal form of a class-I excitable membrane near its saddle-node bifurcation
(Ermentrout & Kopell 1986; Latham et al. 2000). In dimensionless form, with membrane v and input current I,

.. math::
    \tau\,\frac{dv}{dt} = v^2 + I, \qquad v \ge v_{peak} \;\Rightarrow\; \text{spike},\; v \leftarrow v_{reset}

integrated here with forward Euler, one network step of ``dt``: v' = v + (dt/τ)(v² + I·gain). A neuron with a
constant I > 0 fires with a period that shrinks like π·τ/√I; with I < 0 it rests at v = −√(−I). The spike uses
hhlif's surrogate (a boxcar around v_peak), and the reset is applied after a spike, as in hhlif's LIF.

This package knows hhlif only through its public contract: subclass :class:`hhlif.Neuron`, define
``initial_state`` and ``step``, declare ``ops_per_step``, and register the class under the entry-point group
``hhlif.neurons`` (see ``pyproject.toml``). Check it with ``hhlif check neuron=qif``.
"""

from __future__ import annotations

import torch

from hhlif import Neuron
from hhlif.errors import bad_value, require_positive


class QIF(Neuron):
    """Quadratic integrate-and-fire population (module docstring)."""

    # (MUL, ADD) per unit and step, as hhlif.testing.measured_ops counts them: MUL v·v, gain·I, ·dt/τ, s·v_reset,
    # (1 − s)·v; ADD v² + gI, v + Δv, v − v_peak, the comparison of the spike, 1 − s, the sum of the reset
    ops_per_step = (5, 6)

    def __init__(self, shape, *, tau: float = 5.0, dt: float = 1.0, gain: float = 1.0, v_reset: float = -1.0,
                 v_peak: float = 1.0, half_width: float = 0.5, surrogate: str = "boxcar"):
        super().__init__(shape, threshold=v_peak, surrogate=surrogate, half_width=half_width)
        require_positive("neuron.tau", tau)
        require_positive("neuron.dt", dt)
        if v_reset >= v_peak:
            raise bad_value("neuron.v_reset", v_reset, f"a value below neuron.v_peak ({v_peak})")
        self.tau, self.dt, self.gain, self.v_reset = float(tau), float(dt), float(gain), float(v_reset)

    def initial_state(self, batch, device=None, dtype=None):
        v = torch.full((batch, *self.shape), self.v_reset, device=device, dtype=dtype)
        return (v,)

    def step(self, current, state):
        (v,) = state
        v = v + (self.dt / self.tau) * (v * v + self.gain * current)
        s = self.spike(v - self.threshold)
        v = s * self.v_reset + (1 - s) * v  # reset where it spiked
        return s, (v,)

    def divergence_hint(self) -> str:
        return f"v² grows fast: lower neuron.dt (now {self.dt}) or neuron.gain (now {self.gain})."
