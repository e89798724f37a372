"""Firing statistics of every spiking layer, gathered with forward hooks (no change to the model)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hhlif.neurons import Neuron


@dataclass
class LayerSpikes:
    """Per-unit firing rates of one layer over everything seen since the last reset.

    ``rates[i]`` = spikes of unit i / (samples × time steps), in [0, 1]. Each spike train of a multi-output
    unit (the four sub-neurons of s-LIF2HH) counts as a unit.
    """

    rates: torch.Tensor

    @property
    def rate_mean(self) -> float:
        return float(self.rates.mean())

    @property
    def silent_fraction(self) -> float:
        """Fraction of units that never fired."""
        return float((self.rates == 0).float().mean())

    @property
    def saturated_fraction(self) -> float:
        """Fraction of units that fired at every step of every sample."""
        return float((self.rates == 1).float().mean())

    def scalars(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/rate_mean": self.rate_mean, f"{prefix}/silent_frac": self.silent_fraction,
                f"{prefix}/saturated_frac": self.saturated_fraction}


class SpikeMonitor:
    """Accumulates per-unit spike counts of every :class:`Neuron` in ``model`` while ``enabled``.

    Layers are named by their module path without the trailing ``.neuron`` (``layer``, ``layer1``, ...).
    """

    def __init__(self, model: nn.Module):
        self.enabled = False
        self._counts: dict[str, torch.Tensor] = {}
        self._steps: dict[str, int] = {}
        self._handles = []
        for name, module in model.named_modules():
            if isinstance(module, Neuron):
                layer = name.removesuffix(".neuron").removesuffix("neuron") or "neuron"
                self._handles.append(module.register_forward_hook(self._hook(layer)))

    def _hook(self, layer: str):
        def hook(module, inputs, output):
            if not self.enabled:
                return
            with torch.no_grad():
                counts = output.detach().sum(dim=(0, 1)).flatten().double()
            if layer in self._counts:
                self._counts[layer] += counts
            else:
                self._counts[layer] = counts
            self._steps[layer] = self._steps.get(layer, 0) + output.shape[0] * output.shape[1]
        return hook

    def reset(self) -> None:
        self._counts.clear()
        self._steps.clear()

    def layers(self) -> dict[str, LayerSpikes]:
        """Statistics per layer since the last :meth:`reset`."""
        return {name: LayerSpikes((c / self._steps[name]).float().cpu()) for name, c in self._counts.items()}

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
