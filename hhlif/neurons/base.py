"""The neuron contract shared by every neuron model.

A neuron model is a population of spiking units of a fixed ``shape`` (an int or a tuple: ``512`` or ``(512,)``
for a fully connected layer, ``(10, 36, 36)`` for a convolutional one). It is defined by

* ``initial_state(batch, device=None, dtype=None)``: the state record at t = 0 (a tuple of tensors);
* ``step(current, state) -> (spikes, new_state)``: one time step, the equations in each model's docstring
  (for users who own their time loop, as with ``torch.nn.RNNCell``);
* ``forward(currents)``: the whole window, currents ``[T, B, *shape(, k_in)]`` to spikes
  ``[T, B, *shape(, k_out)]``. The time axis comes first and is never guessed: an input of another shape is a
  :class:`~hhlif.errors.ShapeError` (:meth:`Neuron.check_currents`). A model changes how the window runs by
  overriding :meth:`Neuron.window` (a fused window), not ``forward``;
* ``rate(currents)`` and ``pooled(currents)``: the firing rate over the window, and (convolutional layers) the
  2×2-pooled spikes. Both default to :meth:`forward` followed by the reduction; a model may override them to
  reduce as it goes, but only while no forward hook observes its spikes (:meth:`Neuron.observed`).

``k_in = inputs_per_unit`` synaptic currents drive each unit and ``k_out = outputs_per_unit`` spike trains
leave it; when a count is 1 that trailing axis is absent. (The s-LIF2HH unit takes 3 currents and emits 4
spike trains.) A network computes the synaptic currents for all steps at once and hands them over; when the
input is the same at every step it passes one current expanded along T (a view, no copy), so the synapses are
evaluated once. Everything neuron-specific (constants, per-neuron parameters) lives in the module; networks,
trainers and metrics only rely on this contract. A module a network may share between its layers (the s-LIF2HH
mixer) is offered by :meth:`Neuron.shared_modules` and handed by the network to its next layer's constructor.

Optional declarations: ``ops_per_step`` (the arithmetic of one unit's step, for ``hhlif flops``) and
:meth:`Neuron.divergence_hint`. :mod:`hhlif.testing` checks a model against this contract.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hhlif.errors import NonFiniteState, ShapeError  # noqa: F401  (NonFiniteState: re-exported)
from hhlif.neurons.surrogate import Spike

State = tuple[torch.Tensor, ...]


def firing_rate(spikes: torch.Tensor) -> torch.Tensor:
    """The mean of ``[T, B, ...]`` spikes over T, bitwise ``spikes.mean(0)``. As a sum and a division, its
    gradient reaches the spikes as a stride-0 expansion instead of a ``[T, B, ...]`` tensor of quotients."""
    return spikes.sum(0).div_(spikes.shape[0])


class Neuron(nn.Module):
    """Base class of every neuron model (see the module docstring for the contract)."""

    inputs_per_unit: int = 1
    outputs_per_unit: int = 1
    #: when True, the state is checked for NaN/inf after every step and :class:`NonFiniteState` raised
    check_finite: bool = False
    #: (MUL, ADD) of one unit's own update per time step in the paper's FLOPs count; None = not counted.
    ops_per_step: tuple[int, int] | None = None

    def __init__(self, shape: int | Sequence[int], *, threshold: float, surrogate: str = "boxcar",
                 half_width: float = 0.5):
        super().__init__()
        self.shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
        self.threshold = float(threshold)
        self.spike = Spike(surrogate, half_width)

    @property
    def num_units(self) -> int:
        """Number of units (neurons) in the population."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype | None = None) -> State:
        """The state at t = 0 for a batch of ``batch`` samples (torch's default device and dtype when None)."""
        raise NotImplementedError

    def step(self, current: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Advance one time step: ``current`` ``[B, *shape(, k_in)]``; returns this step's spikes and the new
        state."""
        raise NotImplementedError

    def voltage(self, state: State) -> torch.Tensor | None:
        """The membrane potential (or the model's voltage-like variable) in ``state``, shaped like the spikes
        ``[B, *shape(, k_out)]``: what the voltage traces in TensorBoard show. By default the first tensor of the
        state (v of HH, u of LIF); None for a model without state. A model whose voltage is elsewhere overrides
        this."""
        return state[0] if state else None

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        """Run the window: currents ``[T, B, *shape(, k_in)]`` to spikes ``[T, B, *shape(, k_out)]``."""
        self.check_currents(currents)
        return self.window(currents)

    def check_currents(self, currents: torch.Tensor) -> None:
        """Raise :class:`~hhlif.errors.ShapeError` unless ``currents`` is ``[T, B, *shape(, k_in)]``."""
        unit = self.shape + ((self.inputs_per_unit,) if self.inputs_per_unit > 1 else ())
        if currents.dim() != len(unit) + 2 or tuple(currents.shape[2:]) != unit:
            expected = ", ".join(["T", "B", *map(str, unit)])
            raise ShapeError(f"{type(self).__name__} of shape {self.shape} takes currents [{expected}] (time first); "
                             f"got {list(currents.shape)}. For one time step use step(current, state); to repeat "
                             "a static input over T steps, pass current.unsqueeze(0).expand(T, *current.shape).")

    def shared_modules(self) -> dict[str, nn.Module]:
        """Modules the network may share with its next layer of this model, as keyword arguments of its
        constructor (none by default)."""
        return {}

    def window(self, currents: torch.Tensor) -> torch.Tensor:
        """The window of checked currents, by the eager loop of :meth:`step` (a model may override it with a
        fused window giving the same spikes)."""
        state = self.initial_state(currents.shape[1], currents.device, currents.dtype)
        spikes = []
        for t, current in enumerate(currents.unbind(0)):  # one backward node for all steps (indexing: T)
            s, state = self.step(current, state)
            if self.check_finite:
                self.assert_finite(state, t + 1)
            spikes.append(s)
        return torch.stack(spikes)

    def rate(self, currents: torch.Tensor) -> torch.Tensor:
        """The firing rate ``[B, ...]`` (the mean of the spikes over T). As :meth:`pooled`, a model may compute it
        without storing the spike train when no hook observes the spikes."""
        return firing_rate(self(currents))

    def pooled(self, currents: torch.Tensor) -> torch.Tensor:
        """The spikes of a convolutional population ``[T, B, C, H, W(, k)]``, 2×2 average-pooled (exact on
        spikes). A model may compute them without storing the whole spike train, but only when nothing observes
        its spikes: with a forward hook attached (a spike monitor, a recorder) the spikes go through
        :meth:`forward` and the hook."""
        from hhlif.kernels.pool import avg_pool_2x2

        return avg_pool_2x2(self(currents), self.outputs_per_unit)

    def observed(self) -> bool:
        """Whether a forward hook reads this population's spikes."""
        return bool(self._forward_hooks or self._forward_pre_hooks)

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

    def _zeros(self, batch: int, device: torch.device | None, dtype: torch.dtype | None, k: int = 1) -> torch.Tensor:
        shape = (batch, *self.shape) + ((k,) if k > 1 else ())
        return torch.zeros(shape, device=device, dtype=dtype)
