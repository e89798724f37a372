"""The paper's convolutional multi-task family: two spiking conv layers with 2×2 average pooling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hhlif.errors import ConfigError, require_positive
from hhlif.networks.heads import MultiTaskHead
from hhlif.networks.layers import SpikingConv2d, avg_pool_maps


class ConvNet(nn.Module):
    """image ``[B, 1, H, W]`` → SpikingConv2d(C) → avgpool 2 → SpikingConv2d(C) → avgpool 2 → firing rate
    (mean over T) → flatten ``(C, H/4, W/4(, k))`` → MultiTaskHead.  C = ``channels·width_factor``.

    Pooling is applied to spikes, so the second layer sees values in {0, ¼, ½, ¾, 1}. The first layer's
    current is computed once (static image); the second layer's currents for all T steps in one batched
    convolution.
    """

    def __init__(self, *, neuron: Mapping[str, Any], input_shape: tuple[int, ...], tasks: int, classes: int,
                 channels: int = 10, width_factor: int = 1, time_steps: int = 15, readout: int = 50,
                 bias_per_submap: bool = True, weight_scale: float = 1.0):
        super().__init__()
        for key, value in (("channels", channels), ("width_factor", width_factor),
                           ("time_steps", time_steps), ("readout", readout)):
            require_positive(f"network.{key}", value, integer=True)
        require_positive("network.weight_scale", weight_scale)
        cin, h, w = input_shape
        if h % 4 or w % 4:
            raise ConfigError(f"network=conv needs image sides divisible by 4 (two 2×2 poolings); got {h}×{w}.")
        c = channels * width_factor
        self.time_steps = time_steps
        self.layer1 = SpikingConv2d(cin, c, (h, w), neuron, weight_scale=weight_scale)
        k = self.layer1.neuron.outputs_per_unit
        self.layer2 = SpikingConv2d(c, c, (h // 2, w // 2), neuron, in_submaps=k, bias_per_submap=bias_per_submap,
                                    weight_scale=weight_scale, shared=self.layer1.neuron.shared_modules())
        self.k_out = self.layer2.neuron.outputs_per_unit
        self.head = MultiTaskHead(c * (h // 4) * (w // 4) * self.k_out, hidden=readout, tasks=tasks,
                                  classes=classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.layer1.pooled(x, self.time_steps)  # 2×2 average of spikes: exact
        rate = avg_pool_maps(self.layer2.rate(s1), self.k_out)
        return self.head(rate.flatten(1))

    def spike_fanout(self) -> dict[str, int]:
        """Synapses one spike of each spiking layer reaches (read by the SynOps count); a layer-1 spike enters
        one pooled cell, which feeds a 3×3 window of every output map of layer 2 (image borders ignored)."""
        conv = self.layer2.synapse
        return {"layer1": conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1],
                "layer2": self.head.shared.out_features}

    def dense_macs(self) -> int:
        """Multiply-accumulates per sample of the first convolution (fed by the image, computed once)."""
        conv, shape = self.layer1.synapse, self.layer1.neuron.shape
        return conv.in_channels * conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1] * shape[-2] * shape[-1]
