"""The deep variational information bottleneck (VIB) model of the paper's Fig. 5d, with a spiking encoder.

image ``[B, 1, H, W]`` → flatten → SpikingLinear(hidden) over T steps (the same input at every step) →
``Linear(features, 2K)`` of the spikes of each step, averaged over T → statistics ``[B, 2K]`` →
``μ = stats[:, :K]``, ``σ = softplus(stats[:, K:] − std_shift)`` → ``z = μ + σ·ε`` (ε ~ N(0, I)) → one
``Linear(K, classes)`` per task → logits ``[B, tasks, classes]``.

The per-step projection followed by the temporal mean is computed as the projection of the firing rate (the
mean of the spikes over T): the two are equal because the projection is linear. The encoder is built from any
neuron config; only the initialisation of its synapse is a choice (``init``: PyTorch's default, or
xavier-uniform with gain 1 and zero bias, as the paper's LIF and HH encoders), applied to the spiking layer's
synapse alone. The statistics layer and the heads keep PyTorch's default initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hhlif.errors import bad_value, require_positive, unknown_choice
from hhlif.networks.layers import SpikingLinear

INITS = ("default", "xavier")
#: the axis the multi-shot softmax normalises: ``classes`` (correct) or ``batch`` (the paper's code)
SOFTMAX_AXES = ("classes", "batch")


@dataclass
class VIBOutput:
    """One-shot output of :class:`VIBNet`: the posterior ``N(mu, std²)`` of z and the logits of one sample of z."""

    mu: torch.Tensor  # [B, K]
    std: torch.Tensor  # [B, K]
    logits: torch.Tensor  # [B, tasks, classes]


def kl_to_standard_normal(mu: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) per sample, in nats: ``−½ Σ_k (1 + 2 log σ_k − μ_k² − σ_k²)``.

    σ is clamped at the smallest positive normal number before the logarithm, so that a σ that underflowed to 0
    gives a large finite value instead of infinity.
    """
    log_std = std.clamp_min(torch.finfo(std.dtype).tiny).log()
    return -0.5 * (1 + 2 * log_std - mu.pow(2) - std.pow(2)).sum(-1)


def izy_bound_bits(ce_nats: torch.Tensor, classes: int, tasks: int) -> torch.Tensor:
    """The variational lower bound of I(Z;Y) in bits from the cross-entropy (nats) of the task heads.

    ``ce_nats`` holds Σ over tasks of each sample's cross-entropy. With Y = (Y_1, …, Y_tasks) and uniform labels,
    ``I(Z;Y) ≥ H(Y) − CE = tasks·log2(classes) − CE/ln 2``: ``tasks·log2(classes)`` for a perfect classifier, 0 at
    chance. The paper's code subtracts the summed CE from a single ``log2(classes)``: that is this value minus
    ``(tasks − 1)·log2(classes)`` (see :func:`izy_bound_bits_paper`).
    """
    return tasks * math.log2(classes) - ce_nats / math.log(2)


def izy_bound_bits_paper(ce_nats: torch.Tensor, classes: int) -> torch.Tensor:
    """I(Z;Y) as the paper's code reports it: ``log2(classes) − CE/ln 2`` with CE summed over the tasks."""
    return math.log2(classes) - ce_nats / math.log(2)


def multishot_probabilities(logits: torch.Tensor, softmax_over: str = "classes") -> torch.Tensor:
    """Average prediction of ``n`` samples of z: logits ``[n, B, tasks, classes]`` → probabilities ``[B, tasks,
    classes]``.

    ``softmax_over="classes"`` normalises each sample's logits over the classes, then averages the samples.
    ``"batch"`` reproduces the paper's code, whose softmax runs over the batch axis (upstream VIB code had no
    task axis, so its ``dim=2`` was the class axis; with the task axis inserted it became the batch axis): the
    prediction of a sample then depends on the other samples of its batch.
    """
    if softmax_over not in SOFTMAX_AXES:
        raise unknown_choice("trainer.multishot_softmax", softmax_over, SOFTMAX_AXES)
    return F.softmax(logits, dim=-1 if softmax_over == "classes" else 1).mean(0)


class VIBNet(nn.Module):
    """Spiking VIB encoder + one linear decoder per task (see the module docstring)."""

    #: for the FLOPs count (hhlif.metrics.flops): the Linear on the firing rate (used once per forward), and the
    #: task decoders, which are not counted
    flops_readouts = ("stats",)
    flops_uncounted = ("heads.",)

    def __init__(self, *, neuron: Mapping[str, Any], input_shape: tuple[int, ...], tasks: int, classes: int,
                 k: int = 256, hidden: int = 512, time_steps: int = 15, std_shift: float = 5.0,
                 init: str = "default"):
        super().__init__()
        for key, value in (("k", k), ("hidden", hidden), ("time_steps", time_steps)):
            require_positive(f"network.{key}", value, integer=True)
        if isinstance(std_shift, bool) or not isinstance(std_shift, (int, float)):
            raise bad_value("network.std_shift", std_shift, "a number")
        if init not in INITS:
            raise unknown_choice("network.init", init, INITS)
        in_features = math.prod(input_shape)
        self.k, self.time_steps, self.std_shift = k, time_steps, float(std_shift)
        self.layer = SpikingLinear(in_features, hidden, neuron)
        if init == "xavier":
            nn.init.xavier_uniform_(self.layer.synapse.weight, gain=1.0)
            nn.init.zeros_(self.layer.synapse.bias)
        self.stats = nn.Linear(self.layer.out_features, 2 * k)
        self.heads = nn.ModuleList(nn.Linear(k, classes) for _ in range(tasks))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and σ of the posterior of z for images ``x``."""
        stats = self.stats(self.layer.rate(x.flatten(1), self.time_steps))  # = mean over T of the per-step projection
        mu, pre_std = stats.split(self.k, dim=-1)
        return mu, F.softplus(pre_std - self.std_shift)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[..., tasks, classes]`` of codes ``z [..., K]``."""
        return torch.stack([head(z) for head in self.heads], dim=-2)

    @staticmethod
    def sample(mu: torch.Tensor, std: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """``z = μ + σ·ε``: one sample ``[B, K]``, or ``n`` samples ``[n, B, K]``."""
        shape = std.shape if n is None else (n, *std.shape)
        return mu + std * torch.randn(shape, dtype=std.dtype, device=std.device)

    def forward(self, x: torch.Tensor) -> VIBOutput:
        mu, std = self.encode(x)
        return VIBOutput(mu, std, self.decode(self.sample(mu, std)))

    def multishot(self, mu: torch.Tensor, std: torch.Tensor, samples: int,
                  softmax_over: str = "classes") -> torch.Tensor:
        """Probabilities ``[B, tasks, classes]`` averaged over ``samples`` draws of z (see
        :func:`multishot_probabilities`)."""
        return multishot_probabilities(self.decode(self.sample(mu, std, samples)), softmax_over)

    def spike_fanout(self) -> dict[str, int]:
        """Synapses one spike of each spiking layer reaches (read by the SynOps count)."""
        return {"layer": self.stats.out_features}

    def dense_macs(self) -> int:
        """Multiply-accumulates per sample of synapses fed by the (non-spike) input, computed once."""
        return self.layer.synapse.in_features * self.layer.synapse.out_features
