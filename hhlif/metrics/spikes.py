"""Firing statistics of every spiking layer, gathered with forward hooks (no change to the model), and the
step-by-step record of a few samples (:func:`record_layers`) that the TensorBoard rasters and voltage traces
show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hhlif.neurons import Neuron


@dataclass
class LayerSpikes:
    """Firing of one layer over everything seen since the last reset.

    ``rates[i]`` = spikes of unit i / (samples × time steps), in [0, 1]; ``per_step[t]`` = mean rate of the
    layer at step t. Each spike train of a multi-output unit (the four sub-neurons of s-LIF2HH) counts as a unit.
    """

    rates: torch.Tensor
    per_step: torch.Tensor

    @property
    def time_steps(self) -> int:
        return int(self.per_step.numel())

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

    @property
    def spikes_per_sample(self) -> float:
        """Spikes the whole layer emits for one sample (over the window)."""
        return float(self.rates.sum()) * self.time_steps

    def scalars(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/rate_mean": self.rate_mean, f"{prefix}/silent_frac": self.silent_fraction,
                f"{prefix}/saturated_frac": self.saturated_fraction,
                f"{prefix}/spikes_per_sample": self.spikes_per_sample}


def spiking_layers(model: nn.Module) -> list[tuple[str, Neuron]]:
    """Every :class:`Neuron` of ``model`` with its layer name: the module path without the trailing ``.neuron``
    (``layer``, ``layer1``, ...; ``neuron`` for a model that is one population)."""
    return [(name.removesuffix(".neuron").removesuffix("neuron") or "neuron", module)
            for name, module in model.named_modules() if isinstance(module, Neuron)]


@dataclass
class LayerTrace:
    """What one spiking layer did for a few samples, step by step: ``spikes`` ``[T, B, U]`` and ``voltage``
    ``[T, B, U']`` (:meth:`Neuron.voltage <hhlif.neurons.base.Neuron.voltage>`; None for a model without
    state), with every spike train (U) and voltage (U') of the layer flattened; ``threshold`` is the neuron's."""

    spikes: torch.Tensor
    voltage: torch.Tensor | None
    threshold: float


def record_layers(model: nn.Module, run: Callable[[], Any]) -> dict[str, LayerTrace]:
    """Call ``run()`` (the model on a few samples) keeping the input currents of every spiking layer of
    ``model``, then replay each layer's own :meth:`step <hhlif.neurons.base.Neuron.step>` loop from its
    ``initial_state`` over those currents, recording spikes and voltage at every step. The model's forward
    (fused windows included) is not changed; this works for any neuron model. A layer called more than once
    by ``run`` is recorded at its first call."""
    layers = spiking_layers(model)
    currents: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module, inputs, output):
            currents.setdefault(name, inputs[0].detach())
        return hook

    handles = [neuron.register_forward_hook(keep(name)) for name, neuron in layers]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    out = {}
    with torch.no_grad():
        for name, neuron in layers:
            if name not in currents:
                continue
            c = currents[name]
            state = neuron.initial_state(c.shape[1], c.device, c.dtype)
            spikes, volts = [], []
            for current in c.unbind(0):
                s, state = neuron.step(current, state)
                v = neuron.voltage(state)
                spikes.append(s.flatten(1).float().cpu())
                # a diverged value (±inf) is drawn as a gap, like NaN
                volts.append(None if v is None else v.flatten(1).float().cpu().nan_to_num(nan=torch.nan,
                                                                                             posinf=torch.nan,
                                                                                             neginf=torch.nan))
            out[name] = LayerTrace(torch.stack(spikes), None if volts[0] is None else torch.stack(volts),
                                   neuron.threshold)
    return out


class SpikeMonitor:
    """Accumulates per-unit and per-step spike counts of every :class:`Neuron` in ``model`` while ``enabled``.

    Layers are named by their module path without the trailing ``.neuron`` (``layer``, ``layer1``, ...).
    """

    def __init__(self, model: nn.Module):
        self._units: dict[str, torch.Tensor] = {}
        self._steps: dict[str, torch.Tensor] = {}
        self._samples: dict[str, int] = {}
        self._handles = []
        self._neurons = spiking_layers(model)

    @property
    def enabled(self) -> bool:
        return bool(self._handles)

    @enabled.setter
    def enabled(self, on: bool) -> None:
        """Hooks are attached only while enabled: a population with no hook may skip materialising its spikes
        (see :meth:`Neuron.pooled <hhlif.neurons.base.Neuron.pooled>`)."""
        if on and not self._handles:
            self._handles = [module.register_forward_hook(self._hook(layer)) for layer, module in self._neurons]
        elif not on:
            self.remove()

    def _hook(self, layer: str):
        def hook(module, inputs, output):
            with torch.no_grad():
                spikes = output.detach()
                per_unit = spikes.sum(dim=(0, 1)).flatten().double()
                per_step = spikes.flatten(2).sum(dim=(1, 2)).double()
            if layer in self._units:
                self._units[layer] += per_unit
                self._steps[layer] += per_step
            else:
                self._units[layer], self._steps[layer] = per_unit, per_step
            self._samples[layer] = self._samples.get(layer, 0) + output.shape[1]
        return hook

    def reset(self) -> None:
        self._units.clear()
        self._steps.clear()
        self._samples.clear()

    def layers(self) -> dict[str, LayerSpikes]:
        """Statistics per layer since the last :meth:`reset`."""
        out = {}
        for name, units in self._units.items():
            n, steps = self._samples[name], self._steps[name]
            out[name] = LayerSpikes(rates=(units / (n * steps.numel())).float().cpu(),
                                    per_step=(steps / (n * units.numel())).float().cpu())
        return out

    def state_dict(self) -> dict:
        """The counts accumulated since the last :meth:`reset` (a trainer checkpoints them mid-way)."""
        return {"units": dict(self._units), "steps": dict(self._steps), "samples": dict(self._samples)}

    def load_state_dict(self, state: dict) -> None:
        self._units, self._steps, self._samples = (dict(state[k]) for k in ("units", "steps", "samples"))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
