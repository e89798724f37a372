"""The machinery under every fused window: spike functions with their surrogate, cached scalars, chunking of
the batch, per-step storage, static currents, the finiteness guard, and the C allocator's setting.

A fused window runs a neuron model's whole time loop as one autograd node with a hand-derived backward
(backpropagation through time written out): a few in-place tensor operations per step on preallocated buffers,
no graph, and only what the backward needs kept. Each model's window lives beside the model
(:mod:`hhlif.neurons.lif_fused`, :mod:`hhlif.neurons.hh_fused`); what they share is here. This package imports
no neuron model.

Every loop works on preallocated buffers with in-place operations: a fresh ``[T, B, ...]`` tensor costs more in
page faults than the arithmetic done on it, so only the outputs and the saved trajectory are allocated per call
(see also :func:`keep_freed_memory`). On a CPU the batch is cut into chunks of about ``CPU_CHUNK_ELEMENTS``
values, each run through all T steps, so that a chunk's per-step temporaries stay in cache.
A current that is the same at every step (a stride-0 expansion along T, as the networks pass a static input)
is used once (:func:`split_static`), and its gradient is summed over T inside the backward without
materialising ``[T, B, ...]``. The finiteness guard (``check_finite``) sums the last step of each state
trajectory once per forward (a NaN or ±inf never leaves a membrane once there) and only then scans the
trajectory for the first step holding one, as the eager loop would report it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from hhlif.errors import NonFiniteState

if TYPE_CHECKING:  # the contract only, for annotations: no neuron model is imported
    from hhlif.neurons.base import Neuron


def keep_freed_memory() -> bool:
    """Ask the C library's allocator (glibc) to keep freed memory for reuse; True if it was applied.

    A fresh ``[T, B, ...]`` tensor on a CPU costs a page fault per 4 KiB the first time it is written, and
    glibc hands every block larger than 32 MiB (a conv layer's spike train: T·B·C·H·W floats) back to the
    kernel when it is freed, so each training step pays the faults again: on this project's 2-core test machine
    that took more time than the arithmetic of a fused conv layer. With the mmap threshold raised to 1 GiB and
    no trimming, freed blocks are reused and the resident size stays at the peak of a step. This is a
    process-wide setting, so it is the application's call (``hhlif bench`` makes it; the PyTorch equivalent
    with CUDA is its caching allocator). No effect and False on other C libraries.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


# -- spike non-linearity ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpikeFn:
    """The spike's value ``s(x)`` and surrogate derivative ``σ(x)``, each written into a given buffer.

    ``heaviside``: s is the 0/1 step ``x > 0``. Tests substitute a smooth stand-in (any differentiable s with
    its derivative) so that ``torch.autograd.gradcheck`` can check the fused backward against finite
    differences.
    """

    value: Callable[[torch.Tensor, torch.Tensor], None]
    derivative: Callable[[torch.Tensor, torch.Tensor], None]
    heaviside: bool = False

    def complement(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """``out = 1 − s(x)``."""
        zero, one = scalars(x, 0.0, 1.0)
        if self.heaviside:
            torch.le(x, zero, out=out)
        else:
            self.value(x, out)
            torch.sub(one, out, out=out)


def boxcar(half_width: float) -> SpikeFn:
    """Heaviside forward, boxcar surrogate ``1[|x| < half_width]`` (the eager :class:`Spike` ``boxcar``)."""
    w = float(half_width)

    def value(x: torch.Tensor, out: torch.Tensor) -> None:
        torch.gt(x, scalars(x, 0.0)[0], out=out)

    def derivative(x: torch.Tensor, out: torch.Tensor) -> None:
        torch.abs(x, out=out)
        torch.lt(out, scalars(x, w)[0], out=out)

    return SpikeFn(value, derivative, heaviside=True)


_SCALARS: dict = {}


def scalars(like: torch.Tensor, *values: float) -> list[torch.Tensor]:
    """0-dim tensors of ``values`` with ``like``'s dtype and device (cached): an operation given a Python number
    wraps it into a tensor at every call, which costs as much as the arithmetic on a small chunk. The value is
    rounded to the dtype exactly as the wrapped number would be, so results are unchanged."""
    out = []
    for v in values:
        key = (v, like.dtype, like.device)
        if key not in _SCALARS:
            if len(_SCALARS) > 256:
                _SCALARS.clear()
            _SCALARS[key] = torch.tensor(v, dtype=like.dtype, device=like.device)
        out.append(_SCALARS[key])
    return out


def spike_of(neuron: Neuron, model: type[Neuron]) -> SpikeFn | None:
    """The fused form of ``neuron``'s spike function when the fused window of ``model`` applies to it: fusion
    switched on (``fused``), the model's own ``step`` (a subclass that changes the step runs its eager loop) and
    a surrogate with a fused form; else None (the eager loop runs)."""
    if not getattr(neuron, "fused", False) or type(neuron).step is not model.step:
        return None
    if neuron.spike.name == "boxcar":
        return boxcar(neuron.spike.half_width)
    return None


# -- shared plumbing ---------------------------------------------------------------------------------------------
def split_static(currents: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(current, static)``: for a current expanded along T (stride 0), its one step ``[B, ...]`` and True.

    The step is taken straight from the tensor the expansion views (``as_strided`` on its base), so that its
    gradient flows back without a ``[T, B, ...]`` buffer of zeros (which indexing step 0 would allocate).
    """
    if currents.dim() < 2 or currents.shape[0] < 2 or currents.stride(0) != 0:
        return currents, False
    step = currents[0]
    base = currents._base
    if base is not None and all(st != 0 or sz == 1 for sz, st in zip(step.shape, step.stride(), strict=True)):
        step = base.as_strided(step.shape, step.stride(), step.storage_offset())
    return step, True


def needs_backward(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def assert_finite_trajectory(neuron: Neuron, *trajectories: torch.Tensor) -> None:
    """Raise :class:`NonFiniteState` for the first step (from 1) at which any ``[T, ...]`` trajectory holds
    a NaN or ±inf.

    A non-finite membrane or gating variable stays non-finite at every later step in each model's update (NaN
    propagates, and inf meets 0·inf or inf − inf within a step), so a trajectory whose last step sums to a finite
    number is finite throughout: one reduction over one step per trajectory when everything is finite; the
    whole trajectory is scanned only otherwise (a sum that merely overflows is scanned and passes)."""
    first, value = None, None
    for traj in trajectories:
        if math.isfinite(float(traj[-1].sum())):
            continue
        finite = torch.isfinite(traj)
        if bool(finite.all()):
            continue
        t = int((~finite.reshape(traj.shape[0], -1).all(1)).nonzero()[0])
        if first is None or t < first:
            first, value = t, float(traj[t][~finite[t]].flatten()[0])
    if first is not None:
        raise NonFiniteState(neuron, first + 1, value)


#: On a CPU the batch is processed in chunks of about this many values, each chunk through all T steps before
#: the next: a chunk's per-step temporaries stay in the core's cache instead of streaming ``[B, ...]`` through
#: memory at every operation (the eager loop's cost on large populations). On a GPU one chunk holds everything.
#: 2^18 was the fastest of 2^15 … 2^23 for every paper model's training step on the 2-core test machine (1 MiB
#: of L2 cache per core): 4–6 % faster than 2^17 on the LIF and s-LIF2HH convolutional models, about the same
#: on the others.
CPU_CHUNK_ELEMENTS = 1 << 18


def chunks(shape, device: torch.device) -> list[slice]:
    """Slices of the batch axis (the first of ``shape`` = ``[B, ...]``) processed together."""
    batch = shape[0]
    row = 1
    for n in shape[1:]:
        row *= n
    rows = batch if device.type != "cpu" else max(1, CPU_CHUNK_ELEMENTS // max(row, 1))
    return [slice(b, min(b + rows, batch)) for b in range(0, batch, rows)]


class Steps:
    """Per-step storage: the steps of a ``[T, ...]`` tensor when the trajectory is kept (its views made in one
    ``unbind``, not one indexing operation per step), else two alternating buffers of one step."""

    def __init__(self, store: torch.Tensor | None, shape, like: torch.Tensor):
        self.store = store
        self.views = store.unbind(0) if store is not None else (like.new_empty(shape), like.new_empty(shape))

    def __getitem__(self, t: int) -> torch.Tensor:
        return self.views[t % len(self.views)]
