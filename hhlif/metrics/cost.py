"""Measured cost of a run: FLOPs that actually ran, synaptic operations triggered by spikes, an energy
estimate, and memory.

* **FLOPs** are counted with :class:`torch.utils.flop_counter.FlopCounterMode` over real forward (and
  forward + backward) passes. PyTorch registers only matrix products and convolutions (a multiply-accumulate
  is 2 FLOPs); hhlif also registers the element-wise arithmetic of the neuron models (one FLOP per output
  element of add, sub, mul, div, pow, neg, comparisons, abs, ReLU, exp, clamp, where) and reductions (one per
  input element of sum, mean, average pooling), so that HH's gating maths is not counted as zero.
* **SynOps** (synaptic operations) = Σ over spiking layers of (spikes emitted) × (fan-out of one spike): the
  accumulates an event-driven implementation performs (Merolla et al., Science 2014; Sengupta et al., Front.
  Neurosci. 2019). Fan-outs come from the network (``spike_fanout()``).
* **Energy** (45 nm CMOS, Horowitz, ISSCC 2014; used for SNNs by e.g. Rathi & Roy, IEEE TNNLS 2021):
  E = 4.6 pJ × dense MACs + 0.9 pJ × SynOps, where the dense MACs are those of synapses fed by non-spike
  input (the image; ``dense_macs()`` of the network). A rough, hardware-agnostic comparison, not a measurement.
* **Peak memory**: on CUDA the allocator's peak; on CPU the process's peak resident set size (which includes
  the dataset held in memory).
"""

from __future__ import annotations

import math
import resource
import sys
from collections.abc import Callable, Mapping

import torch
from torch.utils.flop_counter import FlopCounterMode

from hhlif.metrics.spikes import LayerSpikes

aten = torch.ops.aten
ENERGY_PJ_PER_MAC = 4.6
ENERGY_PJ_PER_AC = 0.9


def _out_numel(*args, out_shape=None, **kwargs) -> int:
    return math.prod(out_shape) if out_shape is not None else 0


def _in_numel(x_shape, *args, **kwargs) -> int:
    return math.prod(x_shape)


_ELEMENTWISE = [aten.add, aten.sub, aten.rsub, aten.mul, aten.div, aten.neg, aten.pow, aten.gt, aten.lt, aten.ge,
                aten.le, aten.abs, aten.relu, aten.exp, aten.clamp, aten.where, aten.threshold_backward, aten.tanh,
                aten.addcmul, aten.lerp,
                # in-place variants are operators of their own (``out=`` variants share the operator above)
                aten.add_, aten.sub_, aten.mul_, aten.div_, aten.neg_, aten.pow_, aten.abs_, aten.relu_, aten.exp_,
                aten.clamp_, aten.addcmul_, aten.lerp_]
_REDUCTIONS = [aten.sum, aten.mean, aten.avg_pool2d, aten.avg_pool2d_backward]

#: FLOP formulas hhlif adds to PyTorch's (which count only matrix products and convolutions), keyed by
#: operator (all overloads, in-place ones included).
NEURON_ARITHMETIC: dict = {**{op: _out_numel for op in _ELEMENTWISE}, **{op: _in_numel for op in _REDUCTIONS}}


def count_flops(fn: Callable[[], object]) -> dict[str, int]:
    """FLOPs of everything ``fn()`` runs: ``total``, ``matmul_conv`` (PyTorch's own formulas) and
    ``elementwise`` (hhlif's additions)."""
    with FlopCounterMode(display=False, custom_mapping=NEURON_ARITHMETIC) as counter:
        fn()
    by_op = counter.get_flop_counts().get("Global", {})
    extra = sum(v for op, v in by_op.items() if op in NEURON_ARITHMETIC)
    total = counter.get_total_flops()
    return {"total": int(total), "elementwise": int(extra), "matmul_conv": int(total - extra)}


def synops_per_sample(layers: Mapping[str, LayerSpikes], fanout: Mapping[str, int]) -> float:
    """Σ_layers spikes per sample × fan-out per spike (layers without a known fan-out are skipped)."""
    return float(sum(stats.spikes_per_sample * fanout[name] for name, stats in layers.items() if name in fanout))


def energy_nj(dense_macs: float, synops: float) -> float:
    """E = 4.6 pJ · dense MACs + 0.9 pJ · SynOps, in nanojoules."""
    return (ENERGY_PJ_PER_MAC * dense_macs + ENERGY_PJ_PER_AC * synops) / 1000.0


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: CUDA allocator peak on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
