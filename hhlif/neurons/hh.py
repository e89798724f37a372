"""The Hodgkin–Huxley neuron as the paper's networks use it (constant, per-neuron gating rates)."""

from __future__ import annotations

import torch
from torch import nn

from hhlif.errors import require_positive, unknown_choice
from hhlif.kernels.window import spike_of
from hhlif.neurons import hh_fused
from hhlif.neurons.base import Neuron, State

RATE_NAMES = ("a_n", "b_n", "a_m", "b_m", "a_h", "b_h")
RATE_SHARING = ("neuron", "last_axis")


class HH(Neuron):
    r"""Four-variable Hodgkin–Huxley neuron with voltage-independent gating rates (the paper's network HH).

    State: membrane potential v (mV, rest-at-0 convention) and gating variables n, m, h, all 0 at t = 0.
    Forward Euler from the previous state, with input current I (µA/cm², C_m = 1 µF/cm²):

    .. math::
        g_{Na} = \bar g_{Na} h m^3,\quad g_K = \bar g_K n^4 \\
        v' = v + dt\,[I - g_{Na}(v - E_{Na}) - g_K (v - E_K) - g_L (v - E_L)] \\
        x' = x + dt\,[\alpha_x (1 - x) - \beta_x x], \quad x \in \{n, m, h\} \\
        s = H(v' - \theta)

    E_Na = 115, E_K = −12, E_L = 10.6 mV; ḡ_Na = 120, ḡ_K = 36, g_L = 0.3 mS/cm². The six rates
    α_n, β_n, α_m, β_m, α_h, β_h are constants drawn once as ``rate_scale``·U(0, 1) for each neuron (frozen
    unless ``learnable_rates``); with ``rate_sharing: last_axis`` one set of rates is shared by all neurons with
    the same index on the last axis (the paper's convolutional HH, where neurons of an image column share
    rates). There is no reset: the neuron spikes at every step its potential is above θ. With zero input and
    rates ≪ 1, v_t ≈ E_L(1 − (1 − g_L dt)^t), so the paper's fully connected HH (dt 0.01, θ 0.2) first spikes
    at step 7. ``detach_ionic`` stops gradients through the three ionic currents.

    ``dt_spread``: instead of one ``dt`` for the population, each neuron gets its own time step, drawn once
    at construction as ``dt``·U(0, 1) (the paper's DRL actors, dt = 0.2·U(0, 1)). It is kept in the buffer
    ``dt_values`` (shape ``shape``), so it is saved with the model's ``state_dict`` (the paper's code does not
    save it).

    ``fused`` (default): the gating trajectories are computed once per neuron (they do not depend on the input)
    and the membrane window runs as one autograd node with a hand-derived backward (:mod:`hhlif.neurons.hh_fused`);
    false runs the eager loop of :meth:`step`. Same spikes either way.
    """

    ops_per_step = (23, 16)  # (MUL, ADD) per neuron per step in the paper's FLOPs count (Fig. 5b)

    def __init__(self, shape, *, threshold: float = 0.2, dt: float = 0.01, rate_scale: float = 0.01,
                 learnable_rates: bool = False, rate_sharing: str = "neuron", detach_ionic: bool = False,
                 e_na: float = 115.0, e_k: float = -12.0, e_l: float = 10.6, g_na: float = 120.0,
                 g_k: float = 36.0, g_l: float = 0.3, surrogate: str = "boxcar", half_width: float = 0.3,
                 dt_spread: bool = False, fused: bool = True):
        super().__init__(shape, threshold=threshold, surrogate=surrogate, half_width=half_width)
        require_positive("neuron.dt", dt)
        require_positive("neuron.rate_scale", rate_scale)
        if rate_sharing not in RATE_SHARING:
            raise unknown_choice("neuron.rate_sharing", rate_sharing, RATE_SHARING)
        self.dt = float(dt)
        self.rate_sharing = rate_sharing
        self.detach_ionic = bool(detach_ionic)
        self.e_na, self.e_k, self.e_l = float(e_na), float(e_k), float(e_l)
        self.g_na, self.g_k, self.g_l = float(g_na), float(g_k), float(g_l)
        rate_shape = self.shape if rate_sharing == "neuron" else self.shape[-1:]
        rates = rate_scale * torch.rand(len(RATE_NAMES), *rate_shape)
        if learnable_rates:
            self.rates = nn.Parameter(rates)
        else:
            self.register_buffer("rates", rates)
        self.dt_spread = bool(dt_spread)
        if self.dt_spread:
            self.register_buffer("dt_values", self.dt * torch.rand(*self.shape))
        self.fused = bool(fused)

    def initial_state(self, batch, device=None, dtype=None) -> State:
        z = self._zeros(batch, device, dtype)
        return z, z, z, z

    def step(self, current: torch.Tensor, state: State):
        v, n, m, h = state
        a_n, b_n, a_m, b_m, a_h, b_h = self.rates
        dt = self.dt_values if self.dt_spread else self.dt
        i_na = self.g_na * h * m**3 * (v - self.e_na)
        i_k = self.g_k * n**4 * (v - self.e_k)
        i_l = self.g_l * (v - self.e_l)
        if self.detach_ionic:
            i_na, i_k, i_l = i_na.detach(), i_k.detach(), i_l.detach()
        v_new = v + dt * (current - i_na - i_k - i_l)
        n_new = n + dt * (a_n * (1 - n) - b_n * n)
        m_new = m + dt * (a_m * (1 - m) - b_m * m)
        h_new = h + dt * (a_h * (1 - h) - b_h * h)
        s = self.spike(v_new - self.threshold)
        return s, (v_new, n_new, m_new, h_new)

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        spike = spike_of(self, HH)
        return super().window(currents) if spike is None else hh_fused.hh_forward(self, currents, spike)

    def divergence_hint(self) -> str:
        return f"Forward Euler diverges when the step is too large: lower neuron.dt (now {self.dt})."

    def extra_repr(self) -> str:
        spread = "·U(0,1) per neuron" if self.dt_spread else ""
        return f"{super().extra_repr()}, dt={self.dt}{spread}, rate_sharing={self.rate_sharing}"
