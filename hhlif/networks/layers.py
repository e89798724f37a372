"""Spiking layers: a synapse (Linear or Conv2d) feeding a neuron population, run over a time window.

Currents are computed for every step at once: a static input ``[B, ...]`` is projected once and the
current expanded along T (a view); a time-varying input ``[T, B, ...]`` is projected in one batched call.
A unit that takes k > 1 currents (s-LIF2HH) gets one synapse with k blocks of outputs, block j feeding
input j of every unit.

The neuron of a layer is a config section (``{_target_: hhlif.neurons.hh.HH, threshold: 0.2}``) or any factory
``shape → Neuron`` (``hhlif.HH``, ``functools.partial(hhlif.LIF, decay=0.5)``). The time axis of an input is
explicit: a layer takes a static input ``[B, ...]`` with ``steps`` given, or a time-varying one ``[T, B, ...]``
without; anything else is a :class:`~hhlif.errors.ShapeError`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from hhlif.errors import ShapeError
from hhlif.kernels.conv import conv2d_steps
from hhlif.neurons import NeuronSpec, build_neuron


def _units_last(current: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Split axis ``dim`` (k blocks of units) and move the block index to the end."""
    if k == 1:
        return current
    shape = current.shape
    blocks = current.reshape(*shape[:dim], k, shape[dim] // k, *shape[dim + 1:])
    return blocks.movedim(dim, -1)


def _over_time(fn, x: torch.Tensor, steps: int | None, item_dims: int) -> torch.Tensor:
    """Apply ``fn`` to a static input once (expanded to ``steps``) or to all steps of ``[T, B, ...]`` at once;
    ``item_dims`` is the number of axes of one sample (1 for features, 3 for images)."""
    wanted = item_dims + (1 if steps is not None else 2)
    if x.dim() != wanted:
        form = "[B, ...] with steps=T" if steps is not None else "[T, B, ...] (time first), or [B, ...] with steps=T"
        raise ShapeError(f"expected an input of {wanted} axes, {form} (one sample has {item_dims}); got "
                         f"{list(x.shape)}.")
    if steps is not None:
        y = fn(x)
        return y.unsqueeze(0).expand(steps, *y.shape)
    t, b = x.shape[:2]
    y = fn(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])


class SpikingLinear(nn.Module):
    """``Linear(in_features, units·k_in)`` → neuron population of ``units``; output spikes ``[T, B, units·k_out]``."""

    def __init__(self, in_features: int, units: int, neuron: NeuronSpec, *, weight_scale: float = 1.0,
                 shared: Mapping[str, nn.Module] | None = None):
        super().__init__()
        self.neuron = build_neuron(neuron, (units,), **(shared or {}))
        self.synapse = nn.Linear(in_features, units * self.neuron.inputs_per_unit)
        if weight_scale != 1.0:
            with torch.no_grad():
                self.synapse.weight.mul_(weight_scale)
        self.out_features = units * self.neuron.outputs_per_unit

    def forward(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """``x``: static ``[B, in]`` with ``steps`` given, or time-varying ``[T, B, in]``."""
        current = _over_time(self.synapse, x, steps, 1)
        spikes = self.neuron(_units_last(current, self.neuron.inputs_per_unit, 2))
        return spikes.flatten(2)

    def rate(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """The firing rate ``[B, units·k_out]`` of :meth:`forward`'s spikes (:meth:`Neuron.rate
        <hhlif.neurons.base.Neuron.rate>`)."""
        current = _over_time(self.synapse, x, steps, 1)
        return self.neuron.rate(_units_last(current, self.neuron.inputs_per_unit, 2)).flatten(1)


class SpikingConv2d(nn.Module):
    """``Conv2d(cin, channels·k_in, 3, padding 1)`` → neurons ``[channels, H, W]``; spikes ``[T, B, C, H, W(, k_out)]``.

    An input with k sub-maps per channel (``[..., C, H, W, k]``, the output of an s-LIF2HH layer) is summed
    over its sub-maps before the convolution; ``bias_per_submap`` then adds the bias once per sub-map, as the
    paper's code does by convolving each sub-map separately.
    """

    def __init__(self, in_channels: int, channels: int, size: tuple[int, int], neuron: NeuronSpec, *,
                 in_submaps: int = 1, bias_per_submap: bool = False, weight_scale: float = 1.0,
                 shared: Mapping[str, nn.Module] | None = None):
        super().__init__()
        self.neuron = build_neuron(neuron, (channels, *size), **(shared or {}))
        self.synapse = nn.Conv2d(in_channels, channels * self.neuron.inputs_per_unit, 3, padding=1)
        if weight_scale != 1.0:
            with torch.no_grad():
                self.synapse.weight.mul_(weight_scale)
        self.in_submaps = in_submaps
        self.extra_bias = in_submaps - 1 if bias_per_submap else 0

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_submaps > 1:
            x = x.sum(-1)
        y = conv2d_steps(self.synapse, x)
        if self.extra_bias:
            y = y + self.extra_bias * self.synapse.bias.view(-1, 1, 1)
        return y

    def forward(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        current = _over_time(self._project, x, steps, 3 + (self.in_submaps > 1))
        return self.neuron(_units_last(current, self.neuron.inputs_per_unit, 2))

    def rate(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """The firing rate ``[B, C, H, W(, k_out)]`` of :meth:`forward`'s spikes."""
        current = _over_time(self._project, x, steps, 3 + (self.in_submaps > 1))
        return self.neuron.rate(_units_last(current, self.neuron.inputs_per_unit, 2))

    def pooled(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """:meth:`forward`'s spikes, 2×2 average-pooled (:meth:`Neuron.pooled <hhlif.neurons.base.Neuron.pooled>`)."""
        current = _over_time(self._project, x, steps, 3 + (self.in_submaps > 1))
        return self.neuron.pooled(_units_last(current, self.neuron.inputs_per_unit, 2))


def avg_pool_maps(spikes: torch.Tensor, k: int) -> torch.Tensor:
    """2×2 average pooling of ``[..., C, H, W]`` (or ``[..., C, H, W, k]`` sub-maps) spike maps."""
    if k > 1:
        return avg_pool_maps(spikes.movedim(-1, -4), 1).movedim(-4, -1)
    lead = spikes.shape[:-3]
    pooled = nn.functional.avg_pool2d(spikes.reshape(-1, *spikes.shape[-3:]), 2)
    return pooled.reshape(*lead, *pooled.shape[-3:])
