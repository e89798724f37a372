r"""Fused time loops: each neuron model's whole window as one autograd node with a hand-derived backward.

The eager loop of :meth:`Neuron.forward <hhlif.neurons.base.Neuron.forward>` records a dozen autograd nodes per
step and keeps every intermediate. The functions here run the same recurrence without building a graph (a few
in-place tensor operations per step on preallocated buffers, no Python work per neuron) and keep only what
their backward needs; the backward is backpropagation through time written out by hand. The forward performs
the eager loop's floating-point operations in the same order, so spikes and membranes are bitwise those of
the eager loop (the tests check it); the backward gives autograd's gradients up to rounding.

Notation: ``x_t = u_t − θ``, ``s_t = H(x_t)``, surrogate ``σ_t = ∂s_t/∂u_t`` (boxcar: ``1[|x_t| < w]``), ``g·``
the gradient of the loss with respect to ``·``, ``gs_t`` the gradient arriving at the spikes.

**LIF** ``u_t = λ u_{t−1}(1 − s_{t−1}) + I_t``. Backward, from t = T down to 1 (``gu_{T+1} = 0``)::

    gu_t = (gs_t − λ u_t gu_{t+1}) σ_t + λ (1 − s_t) gu_{t+1}  =  P_t + Q_t gu_{t+1}
    P_t = gs_t σ_t,   Q_t = −λ u_t σ_t + λ (1 − s_t)     (Q_t = λ(1 − s_t) with ``detach_reset``)
    gI_t = gu_t

Saved: the membrane ``u`` ``[T, B, ...]``; σ, s and Q are recomputed from it step by step in the backward.

**HH** (gating variables n, m, h do not depend on the input: they are one trajectory per neuron, computed on
the rates' shape by :func:`hh_gating`, and the conductances ``G_t = ḡ_Na h m³``, ``K_t = ḡ_K n⁴`` enter the
membrane function as ``[T, *rate shape]`` inputs)::

    v_t = v_{t−1} + dt [I_t − G_t (v_{t−1} − E_Na) − K_t (v_{t−1} − E_K) − g_L (v_{t−1} − E_L)]
    gv_t = gs_t σ_t + A_{t+1} gv_{t+1},   A_t = 1 − dt (G_t + K_t + g_L)   (A_t = 1 with ``detach_ionic``)
    gI_t = dt gv_t,   gG_t = −dt Σ_batch gv_t (v_{t−1} − E_Na),   gK_t = −dt Σ_batch gv_t (v_{t−1} − E_K)

Saved: the surrogate mask σ ``[T, B, ...]`` when no conductance needs a gradient (the membranes are kept in
its buffer during the window and turned into σ by one pass at the end), else the membrane ``v``; and the
conductances ``[T, *rate shape]``. Learnable rates get their gradient by ordinary autograd
through the small gating trajectory (``[T, *rate shape]``).

**s-LIF2HH** (four LIF sub-neurons k = 0..3; sub-neuron 3 is driven by ``D_t = w·u_{t−1}[0:3] + b``)::

    gu_t = P_t + Q_t gu_{t+1} + [k < 3] w_k gu_{t+1}[3]        (P, Q as for LIF, reset not detached)
    gw_k = Σ_t Σ gu_t[3] u_{t−1}[k],   gb = Σ_t Σ gu_t[3],   gI_t = gu_t[0:3]

Saved: the membranes ``u`` ``[T, B, ..., 4]``.

Every loop works on preallocated buffers with in-place operations: a fresh ``[T, B, ...]`` tensor costs more in
page faults than the arithmetic done on it, so only the outputs and the saved trajectory are allocated per call
(see also :func:`keep_freed_memory`). On a CPU the batch is cut into chunks of about ``CPU_CHUNK_ELEMENTS``
values, each run through all T steps, so that a chunk's per-step temporaries stay in cache.
No ``torch.compile``: compiling the LIF window took 86 s cold on the 2-core CPU this was tuned on and ran only
1.4× faster than this loop once warm, so a compiled path would not pay for itself within a training run there;
the HH window at the SAC actor's size (T 15, batch 64, 128 neurons) compiled in 7 s but its generated kernel ran
about 2× slower than this loop (the same spikes, bit for bit).
Fewer operations per step are not available without changing the rounding: the fused forms PyTorch offers
(``addcmul``, ``add(alpha=)``) contract into fused multiply-adds on this CPU, and the spikes must stay those of
the eager loop. What is exact is used: HH's three ionic terms of a step are one subtraction and one
multiplication on a ``[3, B, ...]`` buffer; its spikes (no reset) are one comparison over the kept window; and its
backward for a time-varying input forms gs_t σ_t for the whole window before the one ``addcmul`` per step.
Saving σ and Q instead of u (3 backward operations per LIF step instead of 9) was measured
slower on large layers, where the extra ``[T, B, ...]`` traffic costs more than the operations saved.
A current that is the same at every step (a stride-0 expansion along T, as the networks pass a static input)
is used once, and its gradient is summed over T inside the backward without materialising ``[T, B, ...]``.
The finiteness guard (``check_finite``) sums the last step of each state trajectory once per forward (a NaN or
±inf never leaves a membrane once there) and only then scans the trajectory for the first step holding one,
as the eager loop would report it. :func:`avg_pool_2x2` is the 2×2 pooling of spike maps for the convolutional
networks: exact on 0/1 values, several times faster than ``F.avg_pool2d`` forward and backward on a CPU.
:class:`LIFPooledFunction` and :class:`LIFRateFunction` fold that pooling, or the firing rate, into the LIF
window, for a population nothing observes (:meth:`Neuron.pooled <hhlif.neurons.base.Neuron.pooled>`,
:meth:`Neuron.rate <hhlif.neurons.base.Neuron.rate>`): the spike train then never exists whole.
:func:`conv2d_steps` is the convolution of those pooled spike maps over all steps, whose backward runs in the
channels-last layout on a CPU (its forward, and so every spike, is unchanged).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hhlif.neurons.base import Neuron, NonFiniteState


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
        zero, one = _scalars(x, 0.0, 1.0)
        if self.heaviside:
            torch.le(x, zero, out=out)
        else:
            self.value(x, out)
            torch.sub(one, out, out=out)


def boxcar(half_width: float) -> SpikeFn:
    """Heaviside forward, boxcar surrogate ``1[|x| < half_width]`` (the eager :class:`Spike` ``boxcar``)."""
    w = float(half_width)

    def value(x: torch.Tensor, out: torch.Tensor) -> None:
        torch.gt(x, _scalars(x, 0.0)[0], out=out)

    def derivative(x: torch.Tensor, out: torch.Tensor) -> None:
        torch.abs(x, out=out)
        torch.lt(out, _scalars(x, w)[0], out=out)

    return SpikeFn(value, derivative, heaviside=True)


_SCALARS: dict = {}


def _scalars(like: torch.Tensor, *values: float) -> list[torch.Tensor]:
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


def _needs_backward(*tensors: torch.Tensor) -> bool:
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


def _chunks(shape, device: torch.device) -> list[slice]:
    """Slices of the batch axis (the first of ``shape`` = ``[B, ...]``) processed together."""
    batch = shape[0]
    row = 1
    for n in shape[1:]:
        row *= n
    rows = batch if device.type != "cpu" else max(1, CPU_CHUNK_ELEMENTS // max(row, 1))
    return [slice(b, min(b + rows, batch)) for b in range(0, batch, rows)]


class _Steps:
    """Per-step storage: the steps of a ``[T, ...]`` tensor when the trajectory is kept (its views made in one
    ``unbind``, not one indexing operation per step), else two alternating buffers of one step."""

    def __init__(self, store: torch.Tensor | None, shape, like: torch.Tensor):
        self.store = store
        self.views = store.unbind(0) if store is not None else (like.new_empty(shape), like.new_empty(shape))

    def __getitem__(self, t: int) -> torch.Tensor:
        return self.views[t % len(self.views)]


# -- LIF and s-LIF2HH --------------------------------------------------------------------------------------------
def _lif_forward(current: torch.Tensor, static: bool, steps: int, decay: float, threshold: float,
                 spike: SpikeFn, keep_states: bool, mixer: tuple[torch.Tensor, torch.Tensor] | None = None):
    """Spikes and (if ``keep_states``) membranes ``[T, B, ...]`` of ``u_t = λ u_{t−1}(1 − s_{t−1}) + I_t``,
    u_0 = 0, with the eager loop's rounding. With ``mixer = (w, b)`` (s-LIF2HH), the input has 3 currents per
    unit and a fourth sub-neuron is driven by ``Linear(3, 1)`` of the previous membranes 0..2."""
    shape = tuple(current.shape if static else current.shape[1:])
    if mixer is not None:
        shape = (*shape[:-1], 4)
    spikes = current.new_empty((steps, *shape))
    u = current.new_empty((steps, *shape)) if keep_states else None
    for part in _chunks(shape, current.device):
        _lif_forward_chunk(current[part] if static else current[:, part], static, steps, decay, threshold, spike,
                           spikes[:, part], None if u is None else u[:, part], mixer)
    return spikes, u


def _lif_forward_chunk(current, static, steps, decay, threshold, spike, spikes, u_store, mixer,
                       collect: Callable[[int, torch.Tensor], None] | None = None) -> None:
    """The window of a chunk into ``spikes`` ``[T, b, ...]``; or, with ``spikes`` None, into two step buffers,
    each step's spikes handed to ``collect(t, s_t)`` as they are made (pooled, or summed into a rate)."""
    shape = tuple(current.shape if static else current.shape[1:])
    if mixer is not None:
        shape = (*shape[:-1], 4)
    if spikes is None:
        spikes = _Steps(None, shape, current)
    u = _Steps(u_store, shape, current)
    keep = current.new_empty(shape)  # λ(1 − s_{t−1}): 0 or λ
    x = keep if spike.heaviside else current.new_empty(shape)
    theta, lam, one = _scalars(current, threshold, decay, 1.0)
    if mixer is not None:
        drive = current.new_empty(shape)
        if static:
            drive[..., :3].copy_(current)
        prev = current.new_zeros(shape)
    for t in range(steps):
        if mixer is None:
            inp = current if static else current[t]
        else:
            if not static:
                drive[..., :3].copy_(current[t])
            # the eager step's own call: Linear(3, 1) of the previous (pre-reset) membranes 0..2
            drive[..., 3:].copy_(F.linear(prev[..., :3], *mixer))
            inp = drive
        if t == 0:  # u_1 = λ·0·(1 − 0) + I_1 = I_1
            u[0].copy_(inp)
        else:  # (λ u)(1 − s): the factor is 0 or 1, so u·{0, λ} rounds alike
            torch.mul(u[t - 1], keep, out=u[t])
            u[t].add_(inp)
        if spike.heaviside:
            torch.gt(u[t], theta, out=spikes[t])  # u > θ ⇔ fl(u − θ) > 0
        else:
            torch.sub(u[t], theta, out=x)
            spike.value(x, spikes[t])
        if collect is not None:
            collect(t, spikes[t])
        if t + 1 < steps:
            torch.sub(one, spikes[t], out=keep)
            keep.mul_(lam)
        prev = u[t]


def _lif_backward(u: torch.Tensor, grad_spikes: torch.Tensor, static: bool, decay: float, threshold: float,
                  spike: SpikeFn, detach_reset: bool, weight: torch.Tensor | None = None):
    """BPTT of :func:`_lif_forward`: ``gu_t = gs_t σ_t + Q_t gu_{t+1} (+ w gu_{t+1}[3])`` from t = T down.

    Returns the gradient of the current (``[B, ...]`` summed over T when ``static``, else ``[T, B, ...]``) and,
    with a mixer ``weight``, the mixer's ``(gw, gb)``."""
    grad = u.new_empty(u.shape[1:] if static else u.shape)
    mixer_grads = (u.new_zeros(3), u.new_zeros(1)) if weight is not None else None
    for part in _chunks(u.shape[1:], u.device):
        _lif_backward_chunk(u[:, part], grad_spikes[:, part], grad[part] if static else grad[:, part], static,
                            decay, threshold, spike, detach_reset, weight, mixer_grads)
    if weight is None:
        return grad, None
    return grad[..., :3], (mixer_grads[0].reshape_as(weight), mixer_grads[1])


def _lif_backward_chunk(u, grad_spikes, grad, static, decay, threshold, spike, detach_reset, weight,
                        mixer_grads) -> None:
    steps, shape = u.shape[0], u.shape[1:]
    x, sig, q = (u.new_empty(shape) for _ in range(3))
    theta, lam = _scalars(u, threshold, decay)
    grads = _Steps(None if static else grad, shape, u)
    if weight is not None:
        w = weight.reshape(3)
        gw, gb = u.new_zeros((*shape[:-1], 3)), u.new_zeros((*shape[:-1], 1))
    nxt = None
    for t in range(steps - 1, -1, -1):
        torch.sub(u[t], theta, out=x)
        spike.derivative(x, sig)  # σ_t
        cur = grads[t]
        if isinstance(grad_spikes, _PooledGrad):
            grad_spikes.times(t, sig, cur)
        else:
            torch.mul(grad_spikes[t], sig, out=cur)  # gs_t σ_t
        if nxt is not None:
            spike.complement(x, q)
            q.mul_(lam)  # λ (1 − s_t)
            if not detach_reset:
                q.addcmul_(u[t], sig, value=-decay)  # − λ u_t σ_t: the reset's path through s_t
            cur.addcmul_(nxt, q)
            if weight is not None:  # membranes 0..2 drive sub-neuron 3 of the next step
                cur[..., :3].addcmul_(nxt[..., 3:], w)
        if weight is not None:
            gb.add_(cur[..., 3:])
            if t > 0:
                gw.addcmul_(u[t - 1][..., :3], cur[..., 3:])
        if static:
            grad.add_(cur) if nxt is not None else grad.copy_(cur)
        nxt = cur
    if weight is not None:
        mixer_grads[0].add_(gw.reshape(-1, 3).sum(0))
        mixer_grads[1].add_(gb.sum())


class LIFFunction(torch.autograd.Function):
    """Fused LIF window: ``(current, …) → spikes [T, B, ...]``; ``current`` is ``[T, B, ...]`` or, when
    ``static``, one step ``[B, ...]`` used at every step."""

    @staticmethod
    def forward(ctx, current, static: bool, steps: int, decay: float, threshold: float, spike: SpikeFn,
                detach_reset: bool, save: bool, guard: Neuron | None):
        spikes, u = _lif_forward(current, static, steps, decay, threshold, spike, save or guard is not None)
        _lif_keep(ctx, u, save, guard, (static, decay, threshold, spike, detach_reset))
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        return _lif_grad(ctx, grad_spikes, lambda g, u: g)


class _PooledGrad:
    """The gradient of a step's spikes when the layer's output is their 2×2 average: a quarter of each pooled
    cell's gradient on each of its four cells, spread into one step's buffer at a time (never the window's)."""

    def __init__(self, grad_pooled: torch.Tensor):
        self.grad = grad_pooled  # [T, b, ..., H/2, W/2]

    def __getitem__(self, index) -> _PooledGrad:
        return _PooledGrad(self.grad[index])

    def times(self, t: int, sig: torch.Tensor, out: torch.Tensor) -> None:
        """``out = gs_t σ_t``, bitwise the pooling's backward (:func:`_unpool_into`) followed by the product."""
        _unpool_into(self.grad[t], out)
        out.mul_(sig)


def _lif_grad(ctx, grad_out: torch.Tensor | None, spread) -> tuple:
    """The backward of the LIF functions: ``spread(grad_out, u)`` gives the gradient at each step's spikes (the
    output's own, or that of a reduction of them), then BPTT through the kept membranes ``u``."""
    if grad_out is None:
        return (None,) * 9
    (u,) = ctx.saved_tensors
    grad, _ = _lif_backward(u, spread(grad_out, u), *ctx.args)
    return (grad,) + (None,) * 8


def _lif_reduced_window(ctx, current, static: bool, steps: int, decay: float, threshold: float, spike: SpikeFn,
                        detach_reset: bool, save: bool, guard: Neuron | None, collector) -> None:
    """The forward of a LIF window whose spikes are reduced as they are made: each chunk's steps go to
    ``collector(part)`` (a ``collect(t, s_t)``); the membranes are kept for the backward, as :class:`LIFFunction`
    keeps them."""
    shape = tuple(current.shape if static else current.shape[1:])
    u = current.new_empty((steps, *shape)) if save or guard is not None else None
    for part in _chunks(shape, current.device):
        _lif_forward_chunk(current[part] if static else current[:, part], static, steps, decay, threshold, spike,
                           None, None if u is None else u[:, part], None, collector(part))
    _lif_keep(ctx, u, save, guard, (static, decay, threshold, spike, detach_reset))


def _lif_keep(ctx, u: torch.Tensor | None, save: bool, guard: Neuron | None, args: tuple) -> None:
    """The end of a LIF window's forward: the finiteness guard on the membranes, and what the backward needs."""
    if guard is not None:
        assert_finite_trajectory(guard, u)
    if save:
        ctx.save_for_backward(u)
    ctx.args = args
    ctx.set_materialize_grads(False)


class LIFPooledFunction(torch.autograd.Function):
    """Fused LIF window of a convolutional layer and the 2×2 average pooling of its spikes: ``current`` (one
    step ``[B, C, H, W]`` when ``static``) → pooled spikes ``[T, B, C, H/2, W/2]``. Each step's spikes are pooled
    as they are made and never stored whole; the backward spreads the pooled gradient over the 2×2 blocks step by
    step (see :class:`_PooledGrad`). Values and gradients are those of :class:`LIFFunction` followed by
    :func:`avg_pool_2x2`."""

    @staticmethod
    def forward(ctx, current, static, steps, decay, threshold, spike, detach_reset, save, guard):
        *lead, h, w = current.shape if static else current.shape[1:]
        pooled = current.new_empty((steps, *lead, h // 2, w // 2))
        _lif_reduced_window(ctx, current, static, steps, decay, threshold, spike, detach_reset, save, guard,
                            lambda part: lambda t, s, out=pooled[:, part]: _pool_into(s, out[t]))
        return pooled

    @staticmethod
    def backward(ctx, grad_pooled):
        return _lif_grad(ctx, grad_pooled, lambda g, u: _PooledGrad(g))


class LIFRateFunction(torch.autograd.Function):
    """Fused LIF window and its firing rate: ``current`` → the mean of the spikes over T, ``[B, ...]``. Each step's
    spikes are added to the count as they are made and never stored whole; the backward hands every step the
    rate's gradient / T, as a view. Values and gradients are those of :class:`LIFFunction` followed by
    :func:`~hhlif.neurons.base.firing_rate` (spike counts are exact)."""

    @staticmethod
    def forward(ctx, current, static, steps, decay, threshold, spike, detach_reset, save, guard):
        count = current.new_zeros(current.shape if static else current.shape[1:])
        _lif_reduced_window(ctx, current, static, steps, decay, threshold, spike, detach_reset, save, guard,
                            lambda part: lambda t, s, out=count[part]: out.add_(s))
        return count.div_(steps)

    @staticmethod
    def backward(ctx, grad_rate):
        # every step gets what the mean's backward hands it: the rate's gradient / T, as a view
        return _lif_grad(ctx, grad_rate, lambda g, u: torch.div(g, u.shape[0]).expand(u.shape))


def lif_rate_forward(neuron, currents: torch.Tensor, spike: SpikeFn) -> torch.Tensor:
    """The fused window of a :class:`~hhlif.neurons.lif.LIF` population reduced to its firing rate ``[B, ...]``."""
    return _apply_lif(LIFRateFunction, neuron, currents, spike)


def lif_pooled_forward(neuron, currents: torch.Tensor, spike: SpikeFn) -> torch.Tensor:
    """The fused window of a convolutional :class:`~hhlif.neurons.lif.LIF` population, its spikes 2×2-pooled
    (``[T, B, C, H/2, W/2]``); H and W even."""
    return _apply_lif(LIFPooledFunction, neuron, currents, spike)


def _apply_lif(function, neuron, currents: torch.Tensor, spike: SpikeFn) -> torch.Tensor:
    current, static = split_static(currents)
    return function.apply(current, static, currents.shape[0], neuron.decay, neuron.threshold, spike,
                          neuron.detach_reset, _needs_backward(current), neuron if neuron.check_finite else None)


def lif_forward(neuron, currents: torch.Tensor, spike: SpikeFn) -> torch.Tensor:
    """The fused window of a :class:`~hhlif.neurons.lif.LIF` population."""
    return _apply_lif(LIFFunction, neuron, currents, spike)


class LIFHHFunction(torch.autograd.Function):
    """Fused s-LIF2HH window: ``(current [.., 3], mixer w [1, 3], b [1], …) → spikes [T, B, ..., 4]``."""

    @staticmethod
    def forward(ctx, current, weight, bias, static: bool, steps: int, decay: float, threshold: float,
                spike: SpikeFn, save: bool, guard: Neuron | None):
        spikes, u = _lif_forward(current, static, steps, decay, threshold, spike, save or guard is not None,
                                 mixer=(weight, bias))
        if guard is not None:
            assert_finite_trajectory(guard, u)
        if save:
            ctx.save_for_backward(u, weight)
        ctx.args = (static, decay, threshold, spike, False)
        ctx.set_materialize_grads(False)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        if grad_spikes is None:
            return (None,) * 10
        u, weight = ctx.saved_tensors
        grad, (gw, gb) = _lif_backward(u, grad_spikes, *ctx.args, weight=weight)
        return (grad, gw, gb) + (None,) * 7


def lif_hh_forward(neuron, currents: torch.Tensor, spike: SpikeFn) -> torch.Tensor:
    """The fused window of an :class:`~hhlif.neurons.lif_hh.LIFHH` population."""
    current, static = split_static(currents)
    w, b = neuron.mixer.weight, neuron.mixer.bias
    return LIFHHFunction.apply(current, w, b, static, currents.shape[0], neuron.decay, neuron.threshold, spike,
                               _needs_backward(current, w, b), neuron if neuron.check_finite else None)


# -- HH -----------------------------------------------------------------------------------------------------------
def hh_gating(neuron, steps: int, device: torch.device, dtype: torch.dtype):
    """Gating trajectories of an :class:`~hhlif.neurons.hh.HH` population and its conductances.

    n, m, h start at 0 and follow ``x' = x + dt (α (1 − x) − β x)`` with per-neuron constants, whatever the
    input: they are computed once on the rates' (or per-neuron dt's) shape instead of ``[B, ...]``, with the
    expressions of ``HH.step``. Returns ``(G, K, gates)``: ``G[t] = ḡ_Na h_t m_t³`` and ``K[t] = ḡ_K n_t⁴``
    (the conductances of step t + 1, from the state before it), each ``[T, *shape]``, and ``gates``, the states
    after each step ``[T, 3, *shape]`` for the finiteness guard. Autograd sees these operations, so learnable
    rates get their gradients.
    """
    rates = neuron.rates.to(device=device, dtype=dtype)
    a_n, b_n, a_m, b_m, a_h, b_h = rates
    dt = _dt(neuron, dtype)
    shape = torch.broadcast_shapes(a_n.shape, dt.shape) if torch.is_tensor(dt) else a_n.shape
    n = m = h = torch.zeros(shape, device=device, dtype=dtype)
    g_na, g_k, after = [], [], []
    for _ in range(steps):
        g_na.append(neuron.g_na * h * m**3)
        g_k.append(neuron.g_k * n**4)
        n = n + dt * (a_n * (1 - n) - b_n * n)
        m = m + dt * (a_m * (1 - m) - b_m * m)
        h = h + dt * (a_h * (1 - h) - b_h * h)
        after.append(torch.stack([n, m, h]))
    return torch.stack(g_na), torch.stack(g_k), torch.stack(after)


def _dt(neuron, dtype: torch.dtype):
    """The Euler step: a number, or the per-neuron ``dt_values`` (``dt_spread``)."""
    return neuron.dt_values.to(dtype) if getattr(neuron, "dt_spread", False) else neuron.dt


class HHFunction(torch.autograd.Function):
    """Fused HH membrane window: ``(current, G [T, *g], K [T, *g], …) → spikes [T, B, ...]``."""

    @staticmethod
    def forward(ctx, current, g_na, g_k, dt, static: bool, steps: int, threshold: float, spike: SpikeFn,
                consts: tuple[float, float, float, float], detach_ionic: bool, save: bool,
                guard: tuple[Neuron, torch.Tensor] | None, ionic: torch.Tensor | None = None):
        shape = tuple(current.shape if static else current.shape[1:])
        conductance_grad = save and not detach_ionic and (g_na.requires_grad or g_k.requires_grad)
        keep_v = conductance_grad or guard is not None or (save and not spike.heaviside)
        spikes = current.new_empty((steps, *shape))
        mask = current.new_empty((steps, *shape)) if save and not keep_v else None
        v = current.new_empty((steps, *shape)) if keep_v else None
        if ionic is None:
            ionic = ionic_conductances(g_na, g_k, consts[3])
        for part in _chunks(shape, current.device):
            _hh_forward_chunk(current[part] if static else current[:, part], ionic, dt, static, steps,
                              threshold, spike, consts, spikes[:, part], None if v is None else v[:, part],
                              None if mask is None else mask[:, part])
        if guard is not None:
            assert_finite_trajectory(guard[0], v, guard[1])
        if save:
            ctx.save_for_backward(v if keep_v else mask, g_na, g_k, dt if torch.is_tensor(dt) else None)
        ctx.args = (static, threshold, spike, consts, detach_ionic, keep_v, conductance_grad,
                    None if torch.is_tensor(dt) else dt)
        ctx.set_materialize_grads(False)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        if grad_spikes is None:
            return (None,) * 13
        saved, g_na, g_k, dt_tensor = ctx.saved_tensors
        static, threshold, spike, consts, detach, keep_v, conductance_grad, dt = ctx.args
        dt = dt_tensor if dt_tensor is not None else dt
        g_l = consts[3]
        decay = None if detach else 1 - dt * (g_na + g_k + g_l)  # A_t = ∂v_t/∂v_{t−1}, per neuron
        grad = saved.new_empty(saved.shape[1:] if static else saved.shape)
        g_gna, g_gk = (torch.zeros_like(g_na), torch.zeros_like(g_k)) if conductance_grad else (None, None)
        for part in _chunks(saved.shape[1:], saved.device):
            _hh_backward_chunk(saved[:, part], grad_spikes[:, part], grad[part] if static else grad[:, part],
                               static, threshold, spike, consts, detach, keep_v, decay, g_gna, g_gk)
        grad.mul_(dt)
        if conductance_grad:
            g_gna, g_gk = g_gna.mul_(-dt), g_gk.mul_(-dt)
        return (grad, g_gna, g_gk) + (None,) * 10


def _hh_forward_chunk(current, ionic_g, dt, static, steps, threshold, spike, consts, spikes, v_store,
                      mask) -> None:
    """The membrane window of a chunk, with the operations of ``HH.step`` in its order. The three ionic terms
    ``g (v − E)`` of a step are computed together in one ``[3, B, ...]`` buffer (two operations instead of
    six; elementwise, so the same roundings). With ``mask`` (and no ``v_store``), the membranes are kept in it
    and turned into σ at the end, in one pass over the window."""
    e_na, e_k, e_l = consts[:3]
    if not torch.is_tensor(dt):
        dt = _scalars(current, dt)[0]
    theta = _scalars(current, threshold)[0]
    shape = spikes.shape[1:]
    lead = (1,) * (len(shape) - (ionic_g.dim() - 2))  # the batch axis (and axes the rates are shared along)
    reversal = current.new_tensor([e_na, e_k, e_l]).reshape(3, *(1,) * len(shape))
    conductances = ionic_g.reshape(steps, 3, *lead, *ionic_g.shape[2:]).unbind(0)
    v = _Steps(v_store if v_store is not None else mask, shape, current)
    ionic, r = current.new_empty((3, *shape)), current.new_empty(shape)
    na, k, leak = ionic.unbind(0)
    x = None if spike.heaviside or v.store is not None else current.new_empty(shape)
    inputs = None if static else current.unbind(0)
    prev = current.new_zeros(shape)
    for t in range(steps):  # the operations of HH.step, in its order
        torch.sub(prev, reversal, out=ionic)  # v − E_Na, v − E_K, v − E_L
        ionic.mul_(conductances[t])  # I_Na, I_K, I_L
        torch.sub(current if static else inputs[t], na, out=r)
        r.sub_(k)
        r.sub_(leak)
        r.mul_(dt)
        v_t = v[t]
        torch.add(prev, r, out=v_t)
        if v.store is None:  # the membranes are not kept: the spikes of this step now
            _spike_values(v_t, theta, spike, spikes[t], x)
        prev = v_t
    if v.store is not None:  # the spikes of the whole window from the kept membranes, in one pass
        _spike_values(v.store, theta, spike, spikes, None)
    if mask is not None:  # σ_t = σ(v_t − θ) over the window, in place
        torch.sub(mask, theta, out=mask)
        spike.derivative(mask, mask)


def _spike_values(v: torch.Tensor, theta: torch.Tensor, spike: SpikeFn, out: torch.Tensor,
                  x: torch.Tensor | None) -> None:
    """``out = s(v − θ)`` (``x``: a buffer for v − θ, or None to allocate one when s is not the step)."""
    if spike.heaviside:
        torch.gt(v, theta, out=out)  # v > θ ⇔ fl(v − θ) > 0
    else:
        spike.value(torch.sub(v, theta, out=x) if x is not None else v - theta, out)


def _hh_backward_chunk(saved, grad_spikes, grad, static, threshold, spike, consts, detach, keep_v, decay,
                       g_gna, g_gk) -> None:
    e_na, e_k, theta = _scalars(saved, consts[0], consts[1], threshold)
    steps, shape = saved.shape[0], saved.shape[1:]
    if not static and g_gna is None:  # gs_t σ_t of the whole window at once, then one operation per step
        if keep_v:
            torch.sub(saved, theta, out=grad)
            spike.derivative(grad, grad)
            grad.mul_(grad_spikes)  # σ_t gs_t (= gs_t σ_t: the product is commutative)
        else:
            torch.mul(grad_spikes, saved, out=grad)
        grads = grad.unbind(0)
        decays = None if detach else decay.unbind(0)
        for t in range(steps - 2, -1, -1):
            grads[t].add_(grads[t + 1]) if detach else grads[t].addcmul_(grads[t + 1], decays[t + 1])
        return
    grads = _Steps(None if static else grad, shape, saved)
    sig = saved.new_empty(shape) if keep_v else None
    if g_gna is not None:
        tmp = saved.new_empty(shape)
        lead = (1,) * (len(shape) - g_gna.dim())  # per-neuron shape vs the rates' (shared along axes)
    nxt = None
    for t in range(steps - 1, -1, -1):
        if keep_v:
            torch.sub(saved[t], theta, out=sig)
            spike.derivative(sig, sig)
        cur = grads[t]
        torch.mul(grad_spikes[t], sig if keep_v else saved[t], out=cur)  # gs_t σ_t
        if nxt is not None:
            cur.add_(nxt) if detach else cur.addcmul_(nxt, decay[t + 1])
        if g_gna is not None:  # ∂v_t/∂G_t = −dt (v_{t−1} − E_Na), summed over the batch (× −dt later)
            for g_out, e in ((g_gna, e_na), (g_gk, e_k)):
                if t == 0:
                    tmp.fill_(-e)  # v_0 = 0
                else:
                    torch.sub(saved[t - 1], e, out=tmp)
                tmp.mul_(cur)
                g_out[t].add_(tmp.sum(0).sum_to_size((*lead, *g_out.shape[1:])).reshape(g_out.shape[1:]))
        if static:
            grad.add_(cur) if nxt is not None else grad.copy_(cur)
        nxt = cur


def hh_forward(neuron, currents: torch.Tensor, spike: SpikeFn) -> torch.Tensor:
    """The fused window of an :class:`~hhlif.neurons.hh.HH` population."""
    steps = currents.shape[0]
    g_na, g_k, gates, ionic = _hh_conductances(neuron, steps, currents.device, currents.dtype)
    current, static = split_static(currents)
    consts = (neuron.e_na, neuron.e_k, neuron.e_l, neuron.g_l)
    return HHFunction.apply(current, g_na, g_k, _dt(neuron, currents.dtype), static, steps, neuron.threshold,
                            spike, consts, neuron.detach_ionic, _needs_backward(current, g_na, g_k),
                            (neuron, gates) if neuron.check_finite else None, ionic)


def ionic_conductances(g_na: torch.Tensor, g_k: torch.Tensor, g_l: float) -> torch.Tensor:
    """``[T, 3, *shape]``: the sodium, potassium and leak conductances of every step, stacked so that a step's
    three ionic terms are one operation."""
    return torch.stack([g_na, g_k, torch.full_like(g_na, g_l)], 1)


def _hh_conductances(neuron, steps: int, device: torch.device, dtype: torch.dtype):
    """:func:`hh_gating` and the stacked :func:`ionic_conductances` (None when the rates need a gradient), cached
    on the module while the rates (and per-neuron dt) are unchanged and need no gradient (the paper's frozen
    rates: computed once, not at every forward)."""
    tensors = [neuron.rates] + ([neuron.dt_values] if getattr(neuron, "dt_spread", False) else [])
    if torch.is_grad_enabled() and any(x.requires_grad for x in tensors):
        return (*hh_gating(neuron, steps, device, dtype), None)
    key = (steps, device, dtype, *((x.data_ptr(), x._version) for x in tensors))
    cache = getattr(neuron, "_fused_gating", None)
    if cache is None or cache[0] != key:
        with torch.no_grad():
            g_na, g_k, gates = hh_gating(neuron, steps, device, dtype)
            cache = (key, (g_na, g_k, gates, ionic_conductances(g_na, g_k, neuron.g_l)))
        neuron._fused_gating = cache
    return cache[1]


# -- 2×2 average pooling of spike maps -------------------------------------------------------------------------------
class _Pool2x2(torch.autograd.Function):
    """2×2 average pooling of ``[..., C, H, W]`` maps (or ``[..., C, H, W, k]`` with k sub-maps per channel) as
    two strided additions and one scaling; its backward writes the quarter of each gradient into the four cells
    of its block with three copies (faster than ``avg_pool2d``'s backward or one broadcasting multiplication)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int) -> torch.Tensor:
        ctx.shape, ctx.k = x.shape, k
        tail = (k,) if k > 1 else ()
        *lead, h, w = x.shape[:-1] if k > 1 else x.shape
        out = x.new_empty((*lead, h // 2, w // 2, *tail))
        _pool_into(x, out, k)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        out = grad.new_empty(ctx.shape)
        _unpool_into(grad, out, ctx.k)
        return out, None


def _unpool_into(grad: torch.Tensor, out: torch.Tensor, k: int = 1) -> None:
    """``out`` ``[..., H, W(, k)]`` (contiguous) = a quarter of ``grad`` ``[..., H/2, W/2(, k)]`` in each cell of
    its 2×2 block (the pooling's backward): three strided copies, faster than ``avg_pool2d``'s backward or a
    broadcasting product over 2-wide blocks."""
    t = 1 if k > 1 else 0
    quarter = torch.mul(grad, _scalars(grad, 0.25)[0])
    *lead, h, w = grad.shape[:-1] if k > 1 else grad.shape
    blocks = out.view(*lead, h, 2, w, 2, *((k,) if k > 1 else ()))
    top = blocks.select(-3 - t, 0)  # the first row of every 2×2 block: [..., H/2, W/2, 2(, k)]
    top.select(-1 - t, 0).copy_(quarter)
    top.select(-1 - t, 1).copy_(quarter)
    blocks.select(-3 - t, 1).copy_(top)  # the second row: the same


def _pool_into(x: torch.Tensor, out: torch.Tensor, k: int = 1) -> None:
    """``out`` = the 2×2 averages of ``x`` ``[..., H, W(, k)]``: two strided additions and one scaling."""
    tail = (k,) if k > 1 else ()
    *lead, h, w = x.shape[:-1] if k > 1 else x.shape
    v = x.reshape(*lead, h // 2, 2, w // 2, 2, *tail)
    rows = torch.add(v.select(-3 - len(tail), 0), v.select(-3 - len(tail), 1))  # [..., H/2, W/2, 2(, k)]
    torch.add(rows.select(-1 - len(tail), 0), rows.select(-1 - len(tail), 1), out=out)
    out.mul_(0.25)


def avg_pool_2x2(x: torch.Tensor, k: int = 1) -> torch.Tensor:
    """2×2 average pooling (stride 2) of ``[..., C, H, W]`` maps, or of ``[..., C, H, W, k]`` with ``k`` > 1
    sub-maps per channel (the output keeps that layout: ``[..., C, H/2, W/2(, k)]``); H and W even.

    On spike trains (0/1 values) every sum is exact, so the result is bitwise that of ``F.avg_pool2d``; on other
    values the four terms are added in another order (a rounding difference). Several times faster than
    ``F.avg_pool2d`` on a CPU (forward and backward), and no copy for the sub-map layout."""
    return _Pool2x2.apply(x, int(k))


# -- convolution of spike maps over all steps -------------------------------------------------------------------------
class _Conv2d(torch.autograd.Function):
    """``F.conv2d`` of ``[N, C, H, W]`` maps in the layout given; the backward converts the saved input and the
    incoming gradient to channels-last and runs oneDNN's channels-last kernels there, which on a CPU took 52 %
    (10 channels) to 79 % (40 channels) of the time of the contiguous ones for the second layer's convolution,
    the largest cost of a convolutional network's training step. The forward is left alone: a channels-last
    forward sums in another order and would change spikes against the eager loop; gradients only change by
    rounding."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: torch.nn.Conv2d):
        ctx.save_for_backward(x, weight)
        ctx.args = (conv.stride, conv.padding, conv.dilation, conv.groups, bias is not None)
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.args
        last = torch.channels_last
        wanted = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad.contiguous(memory_format=last), x.contiguous(memory_format=last),
            weight.contiguous(memory_format=last), [weight.shape[0]] if has_bias else None, stride, padding,
            dilation, False, [0, 0], groups, wanted)
        return (gx, None if gw is None else gw.contiguous(), gb, None)


def conv2d_steps(conv: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for ``[N, C, H, W]`` maps: on a CPU, when ``x`` needs a gradient (spike maps from a spiking
    layer, not an image), with the channels-last backward of :class:`_Conv2d`; anywhere else the module itself
    (for a one-channel image, converting costs more than it saves)."""
    if x.device.type != "cpu" or not (torch.is_grad_enabled() and x.requires_grad):
        return conv(x)
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return conv(x)
    return _Conv2d.apply(x, conv.weight, conv.bias, conv)
