"""Measurements of ``hhlif bench``: interleaved step timings, peak memory of a step, spike/logit agreement.

Peak memory is the largest amount of tensor memory allocated *during* one call above what was allocated before
it (parameters, optimiser state and inputs excluded), so it counts activations, saved tensors, gradients and
temporaries. On CUDA it is read from the caching allocator's peak statistics. On CPU there is no allocator
statistic: the call runs under ``torch.profiler`` with ``profile_memory=True``, which records every tensor
allocation and free of the CPU allocator with its size; the peak of the running sum over the call is the
result. (The process's resident set size is far too coarse: it holds the interpreter, libraries and freed
pages the C library keeps.)
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from hhlif.neurons.base import Neuron


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> Callable:
    """One training step as the classify trainer runs it: zero_grad, forward, Σ_tasks CE, backward, Adam."""

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = sum(F.cross_entropy(logits[:, k], y[:, k]) for k in range(y.shape[1]))
        loss.backward()
        optimizer.step()

    return step


def eval_step(model: nn.Module, x: torch.Tensor) -> Callable:
    """One evaluation forward (inference mode)."""

    def step() -> None:
        with torch.inference_mode():
            model(x)

    return step


def interleaved_times(fns: dict[str, Callable], warmup: int, steps: int, device: torch.device,
                      block: int = 1) -> dict[str, list]:
    """Seconds per call of each function, run in turn (a, b, a, b, ...) so that both see the same machine
    load; ``warmup`` calls of each first, not timed. With ``block`` > 1 each turn is that many consecutive calls
    (a×block, b×block, ...), each timed: a call then follows calls of its own kind, as in a training loop,
    instead of running in the caches the other function left."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    done = dict.fromkeys(fns, 0)
    while any(n < warmup + steps for n in done.values()):
        for name, fn in fns.items():
            for _ in range(min(block, warmup + steps - done[name])):
                synchronize(device)
                start = time.perf_counter()
                fn()
                synchronize(device)
                if done[name] >= warmup:
                    times[name].append(time.perf_counter() - start)
                done[name] += 1
    return times


def median_ms(times: list[float]) -> float:
    return 1000.0 * statistics.median(times)


def peak_bytes(fn: Callable, device: torch.device) -> int:
    """Peak tensor memory allocated during ``fn()`` above the memory allocated before it (see module doc)."""
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    from torch.profiler import ProfilerActivity, profile

    # the profiler's C++ side prints lines at start and stop, and the allocator warns once about blocks
    # allocated before profiling (their frees are not counted: the peak is of what the call allocates)
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and e.device_type()
              == torch.autograd.DeviceType.CPU]
    running = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return int(peak)


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 (C/C++ writers included) for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class SpikeRecorder:
    """Records the output spikes of every neuron module of a model (forward hooks), keyed by module name."""

    def __init__(self, model: nn.Module):
        self.spikes: dict[str, torch.Tensor] = {}
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in model.named_modules()
                        if isinstance(module, Neuron)]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.spikes[name] = output.detach()

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def compare(fast: nn.Module, reference: nn.Module, x: torch.Tensor) -> dict:
    """Logits and spikes of both formulations on ``x``: whether every spike agrees, the number that differ,
    and the largest absolute logit difference. ``reference`` is a ReferenceFormulation with ``record``."""
    recorder = SpikeRecorder(fast)
    try:
        with torch.no_grad():
            logits_fast = fast(x)
            logits_ref = reference(x)
    finally:
        recorder.remove()
    mismatched, total = 0, 0
    for name, ref_spikes in reference.spikes.items():
        fast_spikes = recorder.spikes[name].expand_as(ref_spikes)
        mismatched += int((fast_spikes != ref_spikes).sum())
        total += ref_spikes.numel()
    diff = float((logits_fast - logits_ref).abs().max())
    return {"spikes_match": mismatched == 0, "spikes_mismatched": mismatched, "spikes_compared": total,
            "logits_max_abs_diff": diff, "logits_match": diff <= 1e-5}
