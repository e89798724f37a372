"""The s-LIF2HH unit: four LIF sub-neurons standing in for one HH neuron (the paper's LIF_hh)."""

from __future__ import annotations

import torch
from torch import nn

from hhlif.errors import require_in_range
from hhlif.kernels.window import spike_of
from hhlif.neurons import lif_fused
from hhlif.neurons.base import Neuron, State


class LIFHH(Neuron):
    r"""s-LIF2HH unit of four LIF sub-neurons k = 0..3 (three ionic branches and a combining one).

    Sub-neurons 0, 1, 2 are driven by three separate synaptic projections :math:`I^{(0..2)}_t` of the layer
    input (the unit takes ``inputs_per_unit = 3`` currents). Sub-neuron 3 is driven by a learned linear
    combination of the previous-step (pre-reset) membranes of the other three:

    .. math::
        I^{(3)}_t = w_0 u^{(0)}_{t-1} + w_1 u^{(1)}_{t-1} + w_2 u^{(2)}_{t-1} + b \\
        u^{(k)}_t = \lambda\, u^{(k)}_{t-1} (1 - s^{(k)}_{t-1}) + I^{(k)}_t, \qquad s^{(k)}_t = H(u^{(k)}_t - \theta)

    All four spike trains are outputs (``outputs_per_unit = 4``), so the next layer sees four times as many
    features. ``(w, b)`` is one ``Linear(3, 1)`` (the *mixer*) shared by every unit of the layer; with
    ``share_mixer`` the layer offers it to the network (:meth:`shared_modules`), which hands it to its next
    s-LIF2HH layer as ``mixer``: one mixer for the whole network (the paper's convolutional model).
    ``mixer_abs_init`` makes the initial mixer weights non-negative (the paper's fully connected model).
    ``fused`` (default): the window runs as one autograd node with a hand-derived backward
    (:mod:`hhlif.neurons.lif_fused`); false runs the eager loop of :meth:`step`.
    """

    inputs_per_unit = 3
    outputs_per_unit = 4
    ops_per_step = (15, 14)  # (MUL, ADD) per 4-sub-neuron unit per step (paper's Fig. 5b); mixer not extra

    def __init__(self, shape, *, threshold: float = 2.0, decay: float = 0.5, mixer_abs_init: bool = True,
                 share_mixer: bool = False, surrogate: str = "boxcar", half_width: float = 0.4,
                 fused: bool = True, mixer: nn.Linear | None = None):
        super().__init__(shape, threshold=threshold, surrogate=surrogate, half_width=half_width)
        require_in_range("neuron.decay", decay, 0.0, 1.0)
        self.decay = float(decay)
        self.fused = bool(fused)
        self.share_mixer = bool(share_mixer)
        if mixer is not None and self.share_mixer:
            self.mixer = mixer
        else:
            self.mixer = nn.Linear(3, 1)
            if mixer_abs_init:
                with torch.no_grad():
                    self.mixer.weight.abs_()

    def shared_modules(self) -> dict[str, nn.Module]:
        return {"mixer": self.mixer} if self.share_mixer else {}

    def initial_state(self, batch, device=None, dtype=None) -> State:
        z = self._zeros(batch, device, dtype, k=4)
        return z, z

    def step(self, current: torch.Tensor, state: State):
        u, s = state
        drive = torch.cat([current, self.mixer(u[..., :3])], dim=-1)
        u = self.decay * u * (1.0 - s) + drive
        s = self.spike(u - self.threshold)
        return s, (u, s)

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        spike = spike_of(self, LIFHH)
        return super().window(currents) if spike is None else lif_fused.lif_hh_forward(self, currents, spike)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, decay={self.decay}"
