"""The roofline column of ``hhlif bench``: how close a fast training step comes to this machine's limits.

Two limits are measured in the same run, at the run's thread count:

* the **matrix-multiply peak** (GFLOP/s): the best of several ``torch.mm`` of two ``MATMUL_SIZE``² float32
  matrices (2 n³ FLOPs each);
* the **memory-copy bandwidth** (GB/s): the best of several copies of a ``COPY_BYTES`` float32 tensor into
  another (each copy reads and writes it: 2 × its bytes).

A step's **floor** is the time it would take at those limits: its matrix-multiply and convolution FLOPs (as
:func:`hhlif.metrics.cost.count_flops` counts them, forward and backward) at the peak, plus the bytes its
element-wise work must move at the bandwidth. Those bytes are counted, not declared: every tensor the step
creates (an operation's fresh output, not a view nor an in-place or ``out=`` write into existing memory, and
not a matrix product's, whose traffic the peak covers) is written once and read at least once (2 × its bytes),
and the optimiser reads the parameters, their gradients and its two moments and writes three of them back
(7 × the parameters' bytes). What a fused window keeps in cache-sized buffers is not counted: only what leaves
it ([T, B, ...] spikes, saved trajectories, gradients). The ratio floor / measured is the share of the limit
reached; the remainder is time spent on what the floor does not count (per-operation overhead of the eager
steps, element-wise passes over cache-resident buffers, the Python loop over time steps).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from hhlif.bench.measure import quiet_stderr
from hhlif.metrics.cost import count_flops

MATMUL_SIZE = 1024
COPY_BYTES = 64 * 2**20
REPEATS = 5
_MATMUL_OPS = {"mm", "addmm", "bmm", "matmul", "convolution", "convolution_backward", "_convolution", "linear",
               "addmv", "mv"}
_NO_DATA = {"view", "_unsafe_view", "as_strided", "expand", "t", "transpose", "permute", "select", "slice",
            "unbind", "squeeze", "unsqueeze", "alias", "detach", "split", "split_with_sizes", "_reshape_alias",
            "reshape", "unfold", "diagonal", "lift_fresh", "empty_like", "empty", "empty_strided", "new_empty",
            "new_empty_strided"}


def _best(fn: Callable[[], None], device: torch.device) -> float:
    fn()
    best = float("inf")
    for _ in range(REPEATS):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        began = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - began)
    return best


def machine_limits(device: torch.device) -> dict[str, float]:
    """The matrix-multiply peak (GFLOP/s) and memory-copy bandwidth (GB/s) at the current thread count."""
    n = MATMUL_SIZE
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    out = torch.empty(n, n, device=device)
    mm = _best(lambda: torch.mm(a, b, out=out), device)
    src = torch.rand(COPY_BYTES // 4, device=device)
    dst = torch.empty_like(src)
    copy = _best(lambda: dst.copy_(src), device)
    return {"matmul_gflops": 2 * n**3 / mm / 1e9, "copy_gbs": 2 * COPY_BYTES / copy / 1e9,
            "threads": torch.get_num_threads()}


class _Traffic(TorchDispatchMode):
    """Bytes of the fresh tensors element-wise operations create (see the module docstring)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if name in _MATMUL_OPS or name in _NO_DATA or name.endswith("_") or "out" in kwargs:
            return out
        storages = {a.untyped_storage().data_ptr() for a in args if torch.is_tensor(a) and a.numel()}
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if torch.is_tensor(t) and t.numel() and t.untyped_storage().data_ptr() not in storages:
                self.bytes += t.numel() * t.element_size()
        return out


def step_floor(step: Callable[[], None], parameters, limits: dict[str, float]) -> dict[str, float]:
    """The floor of one call of ``step`` (a training step) at ``limits`` (see the module docstring)."""
    flops = count_flops(step)["matmul_conv"]
    with _Traffic() as traffic:
        step()
    optimiser = 7 * sum(p.numel() * p.element_size() for p in parameters)
    moved = 2 * traffic.bytes + optimiser
    matmul_ms = 1000 * flops / (limits["matmul_gflops"] * 1e9)
    memory_ms = 1000 * moved / (limits["copy_gbs"] * 1e9)
    return {"matmul_flops": float(flops), "elementwise_bytes": float(moved), "matmul_ms": matmul_ms,
            "memory_ms": memory_ms, "floor_ms": matmul_ms + memory_ms}


#: below this share of the floor, the bench says where the step's time goes
EXPLAIN_BELOW = 0.5


def where_time_goes(step: Callable[[], None], top: int = 5) -> list[tuple[str, float]]:
    """The operators taking most of one call of ``step`` (self CPU time, ms, by ``torch.profiler``), after a
    warm call."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:  # the profiler's C++ start/stop lines
        step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / 1000) for e in rows[:top]]
