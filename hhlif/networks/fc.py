"""The paper's fully connected multi-task family: one spiking hidden layer, rate read-out, two heads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hhlif.errors import require_positive
from hhlif.networks.heads import MultiTaskHead
from hhlif.networks.layers import SpikingLinear


class FCNet(nn.Module):
    """image ``[B, 1, H, W]`` → flatten → SpikingLinear(hidden·width_factor) over T steps → firing rate
    (mean of the spikes over T) → MultiTaskHead.

    The image is the same at every step (direct current injection), so the synaptic current is computed once.
    ``weight_scale`` multiplies the initial synaptic weights (not the biases).
    """

    def __init__(self, *, neuron: Mapping[str, Any], input_shape: tuple[int, ...], tasks: int, classes: int,
                 hidden: int = 512, width_factor: int = 1, time_steps: int = 15, readout: int = 50,
                 weight_scale: float = 1.0):
        super().__init__()
        for key, value in (("hidden", hidden), ("width_factor", width_factor), ("time_steps", time_steps),
                           ("readout", readout)):
            require_positive(f"network.{key}", value, integer=True)
        require_positive("network.weight_scale", weight_scale)
        in_features = 1
        for s in input_shape:
            in_features *= s
        self.time_steps = time_steps
        self.layer = SpikingLinear(in_features, hidden * width_factor, neuron, weight_scale=weight_scale)
        self.head = MultiTaskHead(self.layer.out_features, hidden=readout, tasks=tasks, classes=classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer.rate(x.flatten(1), self.time_steps))

    def spike_fanout(self) -> dict[str, int]:
        """Synapses one spike of each spiking layer reaches (read by the SynOps count)."""
        return {"layer": self.head.shared.out_features}

    def dense_macs(self) -> int:
        """Multiply-accumulates per sample of synapses fed by the (non-spike) input, computed once."""
        return self.layer.synapse.in_features * self.layer.synapse.out_features
