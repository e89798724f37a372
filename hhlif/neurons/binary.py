"""Binary step unit: the paper's "ANN"/"CNN" baselines (no memory, one pass)."""

from __future__ import annotations

import torch

from hhlif.neurons.base import Neuron, State


class Binary(Neuron):
    r"""Stateless binary unit: :math:`s = H(\mathrm{ReLU}(I) - \theta)`.

    The surrogate gradient is a boxcar around θ on the ReLU output (θ 0.5, half-width 0.5 gives the window
    (0, 1) of the paper's baselines), times ReLU's own derivative. The unit has no state, so on an input that
    is constant over the window it is evaluated once and its output repeated.
    """

    ops_per_step = None  # not counted: ReLU + step are comparisons, and Fig. 5b has no ANN/CNN

    def __init__(self, shape, *, threshold: float = 0.5, surrogate: str = "boxcar", half_width: float = 0.5):
        super().__init__(shape, threshold=threshold, surrogate=surrogate, half_width=half_width)

    def initial_state(self, batch, device=None, dtype=None) -> State:
        return ()

    def step(self, current: torch.Tensor, state: State):
        return self.spike(torch.relu(current) - self.threshold), state

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        if currents.shape[0] > 1 and currents.stride(0) == 0:  # the same current at every step
            return self.step(currents[0], ())[0].unsqueeze(0).expand_as(currents)
        return super().window(currents)
