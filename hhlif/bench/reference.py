"""The reference formulation: the authors' computation order on a model's own modules
(docs/explanation/authors-code.md#classification).

At every time step the (repeated) image is projected again by the layer's synapse, and the neuron advances
one step with its eager ``step`` arithmetic (one autograd node per operation); the second conv layer
convolves each incoming sub-map separately, adding its bias each time, as the paper's s-LIF2HH code does.
It runs on the modules of the model it wraps (same weights, buffers and rates), so its logits and spikes can
be compared with the fast path's and its cost measured on identical parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hhlif.networks.conv import ConvNet
from hhlif.networks.fc import FCNet


def avg_pool_maps(spikes: torch.Tensor, k: int) -> torch.Tensor:
    """The authors' pooling: ``F.avg_pool2d(·, 2)`` of ``[B, C, H, W]`` maps, each of k sub-maps separately."""
    if k > 1:
        return torch.stack([avg_pool_maps(m, 1) for m in spikes.unbind(-1)], -1)
    return F.avg_pool2d(spikes, 2)


def _blocks_last(current: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, k·units, ...]`` → ``[B, units, ..., k]`` (block j feeds input j of every unit)."""
    if k == 1:
        return current
    return current.reshape(current.shape[0], k, current.shape[1] // k, *current.shape[2:]).movedim(1, -1)


class ReferenceFormulation(nn.Module):
    """Per-step projection of the repeated input and eager per-step neuron arithmetic over ``model``'s modules.

    ``forward(x)`` returns the logits; ``spikes`` then holds each spiking layer's spike trains ``[T, B, ...]``
    of that call (when ``record`` is set), keyed like the fast model's neuron modules.
    """

    def __init__(self, model: nn.Module, record: bool = False):
        super().__init__()
        if not isinstance(model, (FCNet, ConvNet)):
            raise TypeError(f"no reference formulation for {type(model).__name__}")
        self.model = model
        self.record = record
        self.spikes: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.spikes = {}
        if isinstance(self.model, FCNet):
            return self._fc(x)
        return self._conv(x)

    def _keep(self, name: str, trains: list[torch.Tensor]) -> None:
        if self.record:
            self.spikes[name] = torch.stack([s.detach() for s in trains])

    def _fc(self, x: torch.Tensor) -> torch.Tensor:
        model = self.model
        layer, neuron = model.layer, model.layer.neuron
        flat = x.flatten(1)
        state = neuron.initial_state(x.shape[0], x.device, x.dtype)
        total, trains = 0, []
        for _ in range(model.time_steps):
            current = _blocks_last(layer.synapse(flat), neuron.inputs_per_unit)  # projected again every step
            s, state = neuron.step(current, state)
            total = total + s.flatten(1)
            trains.append(s)
        self._keep("layer.neuron", trains)
        return model.head(total / model.time_steps)

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        model = self.model
        l1, l2 = model.layer1, model.layer2
        n1, n2 = l1.neuron, l2.neuron
        st1 = n1.initial_state(x.shape[0], x.device, x.dtype)
        st2 = n2.initial_state(x.shape[0], x.device, x.dtype)
        total, trains1, trains2 = 0, [], []
        for _ in range(model.time_steps):
            s1, st1 = n1.step(_blocks_last(l1.synapse(x), n1.inputs_per_unit), st1)
            pooled = avg_pool_maps(s1, n1.outputs_per_unit)
            maps = pooled.unbind(-1) if n1.outputs_per_unit > 1 else (pooled,)
            c2 = sum(l2.synapse(m) for m in maps)  # each sub-map convolved separately, bias added each time
            if not l2.extra_bias and len(maps) > 1:  # bias_per_submap=false: the bias once
                c2 = c2 - (len(maps) - 1) * l2.synapse.bias.view(-1, 1, 1)
            s2, st2 = n2.step(_blocks_last(c2, n2.inputs_per_unit), st2)
            total = total + avg_pool_maps(s2, n2.outputs_per_unit)
            trains1.append(s1)
            trains2.append(s2)
        self._keep("layer1.neuron", trains1)
        self._keep("layer2.neuron", trains2)
        return model.head((total / model.time_steps).flatten(1))
