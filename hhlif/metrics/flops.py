"""Analytic ADD/MUL counts of one forward of one sample, by the rules of the paper's Fig. 5b.

The paper (He et al. 2024, ``calculate_flops/``) counts dense operations, independent of the input and of
spike sparsity. For a network run over T time steps on a static input:

* synapse ``Linear(n_in → n_out)``: MUL = n_in·n_out, ADD = (n_in − 1)·n_out per use;
* synapse ``Conv2d``: for each output value, MUL = C_in·k_h·k_w and ADD = C_in·k_h·k_w − 1 per use
  (so MUL = C_in·C_out·S²·k², ADD = (C_in·k² − 1)·C_out·S² for an S×S output map);
* a spiking layer's synapse is used once per time step (the paper re-applies it to the repeated input);
  a unit that takes k currents (s-LIF2HH: k = 3) has a synapse with k·units outputs, i.e. k projections;
* a neuron population costs ``ops_per_step`` (MUL, ADD) per unit per time step (the neuron class attribute:
  LIF (3, 3), HH (23, 16), s-LIF2HH unit (15, 14) with its Linear(3, 1) mixer not counted on top);
  ``None`` means the model is not counted (binary ANN/CNN units);
* the read-out ``Linear(features → 50)`` is used once per forward; biases, pooling, the sum over the
  sub-maps of an s-LIF2HH layer before the next convolution and the task heads are not counted.

**The paper's bug** (``paper_bug=True``): in ``SCNN_Model_LIF_hh`` the model total adds the *ADD* counter of
its second s-LIF2HH layer where that layer's *MUL* counter belongs (``mul_op += lif_4_2.add_op``). That layer
is the one that convolves the summed sub-maps of the previous s-LIF2HH layer. Here the bug is a property of
a layer: a convolutional spiking layer whose input arrives as sub-maps (``in_submaps > 1``) reports its
synaptic ADD count as its synaptic MUL count. Its neuron MULs are counted correctly. For the paper's model
this gives MUL 22,032,000 instead of 22,177,800.

**Other networks, by the same rules.** A Linear layer that reads the firing rate (after the time window) is
used once per forward, like the read-out:

* ``network=vib``: the spiking layer, then the statistics layer ``Linear(features → 2K)`` once; the sampling of
  z and the per-task decoders (task heads) are not counted;
* ``network=policy`` (the SAC actor, one forward per decision): T = ``window``·``repeat`` steps; the spiking
  layer's synapse ``Linear(obs → units·k_in)`` once per step (the actor projects every step of its repeated
  window) and its neurons per step; then the three Linear layers of each of the two ReLU branches (mean and
  log-std), once. ReLU, the clamp of log σ, the temporal mean and the tanh-squashed Gaussian head (sampling,
  scaling to the action bounds) are not counted, as pooling and activations are not in the paper's rules.

Counts are read from the built model (synapse sizes, the neurons' shapes and ``ops_per_step``, the
network's ``time_steps``, or ``window``·``repeat`` for the actor); the model may live on the ``meta`` device.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from hhlif.networks.heads import MultiTaskHead
from hhlif.neurons.base import Neuron


@dataclass(frozen=True)
class Ops:
    """A number of multiplications and additions."""

    mul: int = 0
    add: int = 0

    def __add__(self, other: Ops) -> Ops:
        return Ops(self.mul + other.mul, self.add + other.add)

    def __mul__(self, times: int) -> Ops:
        return Ops(self.mul * times, self.add * times)

    __rmul__ = __mul__


def linear_ops(layer: nn.Linear) -> Ops:
    """One use of ``layer`` on one sample (bias not counted)."""
    n_in, n_out = layer.in_features, layer.out_features
    return Ops(mul=n_in * n_out, add=(n_in - 1) * n_out)


def conv2d_ops(layer: nn.Conv2d, out_size: tuple[int, int]) -> Ops:
    """One use of ``layer`` producing ``out_size`` (H, W) maps for one sample (bias not counted)."""
    kh, kw = layer.kernel_size
    per_output = layer.in_channels // layer.groups * kh * kw
    outputs = layer.out_channels * out_size[0] * out_size[1]
    return Ops(mul=outputs * per_output, add=outputs * (per_output - 1))


@dataclass
class LayerCount:
    """The count of one layer for one forward of one sample.

    ``synapse`` is the count of all ``uses`` of the synapse; ``neuron`` the count of all units over all steps
    (None when the neuron model is not counted). ``paper_bug`` marks a layer whose MUL is reported as the
    paper counted it (synaptic ADD in place of synaptic MUL).
    """

    name: str
    kind: str  # "spiking" (synapse per step + neurons) or "readout" (a Linear on the firing rate, once)
    synapse_desc: str
    uses: int
    synapse: Ops
    neuron_name: str | None = None
    units: int = 0
    ops_per_step: tuple[int, int] | None = None
    neuron: Ops | None = None
    paper_bug: bool = False

    @property
    def correct(self) -> Ops:
        return self.synapse + (self.neuron or Ops())

    @property
    def reported(self) -> Ops:
        """The count as reported: with the paper's bug applied where ``paper_bug``."""
        synapse = Ops(mul=self.synapse.add, add=self.synapse.add) if self.paper_bug else self.synapse
        return synapse + (self.neuron or Ops())

    def to_dict(self) -> dict[str, Any]:
        rep, cor = self.reported, self.correct
        out: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "synapse": self.synapse_desc, "uses": self.uses,
            "synapse_add": self.synapse.add, "synapse_mul": self.synapse.mul,
            "add": rep.add, "mul": rep.mul, "paper_bug": self.paper_bug,
        }
        if self.kind == "spiking":
            out.update(neuron=self.neuron_name, units=self.units,
                       ops_per_step=list(self.ops_per_step) if self.ops_per_step else None,
                       neuron_add=self.neuron.add if self.neuron else None,
                       neuron_mul=self.neuron.mul if self.neuron else None)
        if self.paper_bug:
            out["mul_correct"] = cor.mul
        return out


@dataclass
class ModelCount:
    """Per-layer and total counts of one model; ``add``/``mul`` as reported, ``mul_correct`` without the bug."""

    time_steps: int
    layers: list[LayerCount] = field(default_factory=list)

    @property
    def add(self) -> int:
        return sum(layer.reported.add for layer in self.layers)

    @property
    def mul(self) -> int:
        return sum(layer.reported.mul for layer in self.layers)

    @property
    def mul_correct(self) -> int:
        return sum(layer.correct.mul for layer in self.layers)

    @property
    def paper_bug_applied(self) -> bool:
        return any(layer.paper_bug for layer in self.layers)

    @property
    def uncounted_neurons(self) -> list[str]:
        """Names of the spiking layers whose neuron model is not counted."""
        return [layer.name for layer in self.layers if layer.kind == "spiking" and layer.neuron is None]


def _is_spiking_layer(module: nn.Module) -> bool:
    return isinstance(getattr(module, "neuron", None), Neuron) and isinstance(
        getattr(module, "synapse", None), (nn.Linear, nn.Conv2d))


def _spiking_layer(name: str, layer: nn.Module, steps: int, paper_bug: bool) -> LayerCount:
    neuron: Neuron = layer.neuron
    synapse = layer.synapse
    if isinstance(synapse, nn.Linear):
        per_use = linear_ops(synapse)
        desc = f"Linear({synapse.in_features}->{synapse.out_features})"
        bug = False
    else:
        size = neuron.shape[-2:]
        per_use = conv2d_ops(synapse, size)
        kh, kw = synapse.kernel_size
        desc = f"Conv2d({synapse.in_channels}->{synapse.out_channels}, {kh}x{kw}) -> {size[0]}x{size[1]}"
        bug = paper_bug and getattr(layer, "in_submaps", 1) > 1
    ops = neuron.ops_per_step
    neuron_ops = Ops(mul=ops[0], add=ops[1]) * (neuron.num_units * steps) if ops is not None else None
    return LayerCount(name=name, kind="spiking", synapse_desc=desc, uses=steps, synapse=per_use * steps,
                      neuron_name=type(neuron).__name__, units=neuron.num_units,
                      ops_per_step=tuple(ops) if ops is not None else None, neuron=neuron_ops, paper_bug=bug)


def _once_per_forward(model: nn.Module) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Name prefixes of the Linear layers on the firing rate that ``model`` uses once per forward, and of its
    task heads (not counted), beyond the MultiTaskHead of the classification networks: what the network declares
    in ``flops_readouts`` and ``flops_uncounted``."""
    return tuple(getattr(model, "flops_readouts", ())), tuple(getattr(model, "flops_uncounted", ()))


def _walk(model: nn.Module) -> Iterator[tuple[str, str, nn.Module]]:
    """(kind, name, module) of every counted part, in forward order; unknown synapses are an error."""
    once, heads = _once_per_forward(model)
    skip: list[str] = list(heads)
    for name, module in model.named_modules():
        if any(name.startswith(prefix) for prefix in skip):
            continue
        if _is_spiking_layer(module):
            skip.append(f"{name}.")
            yield "spiking", name, module
        elif isinstance(module, MultiTaskHead):
            skip.append(f"{name}.")
            yield "readout", f"{name}.shared", module.shared
        elif isinstance(module, nn.Linear) and any(name == p or (p.endswith(".") and name.startswith(p))
                                                   for p in once):
            yield "readout", name, module
        elif isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            raise ValueError(f"cannot count {name} ({type(module).__name__}): the FLOPs rules cover synapses of "
                             "spiking layers and the Linear layers on the firing rate only")


def model_time_steps(model: nn.Module) -> int | None:
    """T of one forward: the network's ``time_steps`` (the SAC actor's is ``window``·``repeat``)."""
    return getattr(model, "time_steps", None)


def count_model(model: nn.Module, *, paper_bug: bool = True) -> ModelCount:
    """Count the operations of one forward of one sample of ``model`` (a network with ``time_steps``, or the
    SAC actor: one decision over its window)."""
    steps = model_time_steps(model)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"{type(model).__name__} has no positive integer time_steps; cannot count its FLOPs")
    result = ModelCount(time_steps=steps)
    for kind, name, module in _walk(model):
        if kind == "spiking":
            result.layers.append(_spiking_layer(name, module, steps, paper_bug))
        else:
            result.layers.append(LayerCount(name=name, kind="readout", uses=1, synapse=linear_ops(module),
                                            synapse_desc=f"Linear({module.in_features}->{module.out_features})"))
    return result


def millions(value: int) -> str:
    """``value``/10⁶ as the shortest exact decimal (6,893,100 → '6.8931', 22,032,000 → '22.032')."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(int(value)), 10**6)
    text = f"{whole}.{frac:06d}".rstrip("0").rstrip(".")
    return sign + text
