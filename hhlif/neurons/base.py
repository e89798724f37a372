"""The neuron contract shared by every neuron model.

A neuron model is a population of spiking units of a fixed ``shape`` (e.g. ``(512,)`` for a fully connected
layer, ``(10, 36, 36)`` for a convolutional one). It is defined by

* ``initial_state(batch_shape)``: the state record at t = 0 (a tuple of tensors);
* ``step(current, state) -> (spikes, new_state)``: one time step, the equations in each model's docstring;
* ``forward(currents)``: the whole window, currents ``[T, B, *shape(, k_in)]`` to spikes
  ``[T, B, *shape(, k_out)]``.

``k_in = inputs_per_unit`` synaptic currents drive each unit and ``k_out = outputs_per_unit`` spike trains
leave it; when a count is 1 that trailing axis is absent. (The s-LIF2HH unit takes 3 currents and emits 4
spike trains.) A network computes the synaptic currents for all steps at once and hands them over; when the
input is the same at every step it passes one current expanded along T (a view, no copy), so the synapses are
evaluated once. Everything neuron-specific (constants, per-neuron parameters) lives in the module; networks,
trainers and metrics only rely on this contract.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hhlif.neurons.surrogate import Spike

State = tuple[torch.Tensor, ...]


class Neuron(nn.Module):
    """Base class of every neuron model (see the module docstring for the contract)."""

    inputs_per_unit: int = 1
    outputs_per_unit: int = 1
    #: (MUL, ADD) of one unit's own update per time step in the paper's FLOPs count; None = not counted.
    ops_per_step: tuple[int, int] | None = None

    def __init__(self, shape: Sequence[int], *, threshold: float, surrogate: str = "boxcar",
                 half_width: float = 0.5):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.threshold = float(threshold)
        self.spike = Spike(surrogate, half_width)

    @property
    def num_units(self) -> int:
        """Number of units (neurons) in the population."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> State:
        """The state at t = 0 for a batch of ``batch`` samples."""
        raise NotImplementedError

    def step(self, current: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Advance one time step; returns the spikes of this step and the new state."""
        raise NotImplementedError

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        """Run the window: currents ``[T, B, ...]`` to spikes ``[T, B, ...]``."""
        state = self.initial_state(currents.shape[1], currents.device, currents.dtype)
        spikes = []
        for current in currents.unbind(0):  # one backward node for all steps (indexing makes T of them)
            s, state = self.step(current, state)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, threshold={self.threshold}, {self.spike}"

    def _zeros(self, batch: int, device: torch.device, dtype: torch.dtype, k: int = 1) -> torch.Tensor:
        shape = (batch, *self.shape) + ((k,) if k > 1 else ())
        return torch.zeros(shape, device=device, dtype=dtype)
