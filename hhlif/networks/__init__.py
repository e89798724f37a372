"""Networks: synapses and neuron layers composed into models, built from a ``network`` config section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from hhlif.networks.conv import ConvNet
from hhlif.networks.fc import FCNet


def build_network(cfg: Mapping[str, Any], neuron: Mapping[str, Any], **task: Any) -> nn.Module:
    """Build the network ``cfg`` (its ``_target_`` and parameters) of ``neuron`` units for a task's shapes."""
    from hhlif.plugins import build

    return build(cfg, "network", neuron=neuron, **task)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, frozen) numbers of values: frozen counts parameters without gradient and buffers."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    frozen += sum(b.numel() for b in model.buffers())
    return trainable, frozen


__all__ = ["build_network", "count_parameters", "FCNet", "ConvNet"]
