"""Leaky integrate-and-fire neuron in the STBP form used by the paper's networks."""

from __future__ import annotations

import torch

from hhlif.errors import require_in_range
from hhlif.kernels.window import spike_of
from hhlif.neurons import lif_fused
from hhlif.neurons.base import Neuron, State


class LIF(Neuron):
    r"""LIF neuron with multiplicative leak and a hard reset applied at the next step.

    Per time step t, with synaptic current :math:`I_t`, membrane :math:`u` and spike :math:`s`
    (both 0 at t = 0):

    .. math::
        u_t = \lambda\, u_{t-1}\,(1 - s_{t-1}) + I_t, \qquad s_t = H(u_t - \theta)

    ``decay`` = λ ∈ [0, 1], ``threshold`` = θ (dimensionless, same units as the current). The stored
    membrane is the pre-reset value; there is no refractory period and no explicit dt. Gradients flow through
    the reset term unless ``detach_reset``.

    ``fused`` (default): the window runs as one autograd node with a hand-derived backward
    (:mod:`hhlif.neurons.lif_fused`); false runs the readable eager loop of :meth:`step`. Same spikes either way.
    """

    ops_per_step = (3, 3)  # (MUL, ADD) per neuron per step in the paper's FLOPs count (Fig. 5b)

    def __init__(self, shape, *, threshold: float = 0.3, decay: float = 0.2, detach_reset: bool = False,
                 surrogate: str = "boxcar", half_width: float = 0.5, fused: bool = True):
        super().__init__(shape, threshold=threshold, surrogate=surrogate, half_width=half_width)
        require_in_range("neuron.decay", decay, 0.0, 1.0)
        self.decay = float(decay)
        self.detach_reset = bool(detach_reset)
        self.fused = bool(fused)

    def initial_state(self, batch, device=None, dtype=None) -> State:
        z = self._zeros(batch, device, dtype)
        return z, z

    def step(self, current: torch.Tensor, state: State):
        u, s = state
        if self.detach_reset:
            s = s.detach()
        u = self.decay * u * (1.0 - s) + current
        s = self.spike(u - self.threshold)
        return s, (u, s)

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        spike = spike_of(self, LIF)
        return super().window(currents) if spike is None else lif_fused.lif_forward(self, currents, spike)

    def rate(self, currents: torch.Tensor) -> torch.Tensor:
        self.check_currents(currents)
        spike = spike_of(self, LIF)
        if spike is None or self.observed():
            return super().rate(currents)
        return lif_fused.lif_rate_forward(self, currents, spike)  # spikes counted as they are made

    def pooled(self, currents: torch.Tensor) -> torch.Tensor:
        self.check_currents(currents)
        spike = spike_of(self, LIF)
        if spike is None or self.observed():
            return super().pooled(currents)
        return lif_fused.lif_pooled_forward(self, currents, spike)  # each step's spikes pooled as they are made

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, decay={self.decay}"
