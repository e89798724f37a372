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

from hhlif.errors import RunError
from hhlif.neurons.surrogate import Spike

State = tuple[torch.Tensor, ...]


class NonFiniteState(RunError):
    """A neuron's state became NaN or infinite (e.g. an HH integration step ``dt`` that is too large)."""

    def __init__(self, neuron: Neuron, step: int, value: float):
        self.neuron, self.step, self.value = neuron, step, value
        super().__init__(f"non-finite state ({value}) in a {type(neuron).__name__} layer at time step {step}")


class Neuron(nn.Module):
    """Base class of every neuron model (see the module docstring for the contract)."""

    inputs_per_unit: int = 1
    outputs_per_unit: int = 1
    #: when True, the state is checked for NaN/inf after every step and :class:`NonFiniteState` raised
    check_finite: bool = False
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
        for t, current in enumerate(currents.unbind(0)):  # one backward node for all steps (indexing: T)
            s, state = self.step(current, state)
            if self.check_finite:
                self.assert_finite(state, t + 1)
            spikes.append(s)
        return torch.stack(spikes)

    def divergence_hint(self) -> str:
        """What to change when this neuron's state diverges (models override with their own advice)."""
        return "Check the neuron's constants (neuron.*) and the scale of its input."

    def assert_finite(self, state: State, step: int) -> None:
        """Raise :class:`NonFiniteState` if any tensor of ``state`` holds NaN or ±inf (``step`` counts from 1)."""
        for x in state:
            finite = torch.isfinite(x)
            if not bool(finite.all()):
                raise NonFiniteState(self, step, float(x.detach()[~finite].flatten()[0]))

    def extra_repr(self) -> str:
        return f"shape={self.shape}, threshold={self.threshold}, {self.spike}"

    def _zeros(self, batch: int, device: torch.device, dtype: torch.dtype, k: int = 1) -> torch.Tensor:
        shape = (batch, *self.shape) + ((k,) if k > 1 else ())
        return torch.zeros(shape, device=device, dtype=dtype)
