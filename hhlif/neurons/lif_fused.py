r"""The fused windows of :class:`~hhlif.neurons.lif.LIF` and :class:`~hhlif.neurons.lif_hh.LIFHH` (s-LIF2HH): the
whole window as one autograd node with a hand-derived backward, the same floating-point operations in the
eager step's order (so spikes and membranes are bitwise those of the eager loop; the tests check it), the
backward equal to autograd's up to rounding. The shared machinery is in :mod:`hhlif.kernels`.

Notation: ``x_t = u_t − θ``, ``s_t = H(x_t)``, surrogate ``σ_t = ∂s_t/∂u_t`` (boxcar: ``1[|x_t| < w]``), ``g·``
the gradient of the loss with respect to ``·``, ``gs_t`` the gradient arriving at the spikes.

**LIF** ``u_t = λ u_{t−1}(1 − s_{t−1}) + I_t``. Backward, from t = T down to 1 (``gu_{T+1} = 0``)::

    gu_t = (gs_t − λ u_t gu_{t+1}) σ_t + λ (1 − s_t) gu_{t+1}  =  P_t + Q_t gu_{t+1}
    P_t = gs_t σ_t,   Q_t = −λ u_t σ_t + λ (1 − s_t)     (Q_t = λ(1 − s_t) with ``detach_reset``)
    gI_t = gu_t

Saved: the membrane ``u`` ``[T, B, ...]``; σ, s and Q are recomputed from it step by step in the backward.

**s-LIF2HH** (four LIF sub-neurons k = 0..3; sub-neuron 3 is driven by ``D_t = w·u_{t−1}[0:3] + b``)::

    gu_t = P_t + Q_t gu_{t+1} + [k < 3] w_k gu_{t+1}[3]        (P, Q as for LIF, reset not detached)
    gw_k = Σ_t Σ gu_t[3] u_{t−1}[k],   gb = Σ_t Σ gu_t[3],   gI_t = gu_t[0:3]

Saved: the membranes ``u`` ``[T, B, ..., 4]``.

:class:`LIFPooledFunction` and :class:`LIFRateFunction` fold the 2×2 pooling, or the firing rate, into the LIF
window, for a population nothing observes (:meth:`Neuron.pooled <hhlif.neurons.base.Neuron.pooled>`,
:meth:`Neuron.rate <hhlif.neurons.base.Neuron.rate>`): the spike train then never exists whole.
No ``torch.compile``: compiling the LIF window took 86 s cold on the 2-core CPU this was tuned on and ran only
1.4× faster than this loop once warm, so a compiled path would not pay for itself within a training run there.
Fewer operations per step are not available without changing the rounding: the fused forms PyTorch offers
(``addcmul``, ``add(alpha=)``) contract into fused multiply-adds on this CPU, and the spikes must stay those of
the eager loop. Saving σ and Q instead of u (3 backward operations per LIF step instead of 9) was measured
slower on large layers, where the extra ``[T, B, ...]`` traffic costs more than the operations saved.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from hhlif.kernels.pool import pool_into, unpool_into
from hhlif.kernels.window import (
    SpikeFn,
    Steps,
    assert_finite_trajectory,
    chunks,
    needs_backward,
    scalars,
    split_static,
)
from hhlif.neurons.base import Neuron


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
    for part in chunks(shape, current.device):
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
        spikes = Steps(None, shape, current)
    u = Steps(u_store, shape, current)
    keep = current.new_empty(shape)  # λ(1 − s_{t−1}): 0 or λ
    x = keep if spike.heaviside else current.new_empty(shape)
    theta, lam, one = scalars(current, threshold, decay, 1.0)
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
    for part in chunks(u.shape[1:], u.device):
        _lif_backward_chunk(u[:, part], grad_spikes[:, part], grad[part] if static else grad[:, part], static,
                            decay, threshold, spike, detach_reset, weight, mixer_grads)
    if weight is None:
        return grad, None
    return grad[..., :3], (mixer_grads[0].reshape_as(weight), mixer_grads[1])


def _lif_backward_chunk(u, grad_spikes, grad, static, decay, threshold, spike, detach_reset, weight,
                        mixer_grads) -> None:
    steps, shape = u.shape[0], u.shape[1:]
    x, sig, q = (u.new_empty(shape) for _ in range(3))
    theta, lam = scalars(u, threshold, decay)
    grads = Steps(None if static else grad, shape, u)
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
        """``out = gs_t σ_t``, bitwise the pooling's backward (:func:`unpool_into`) followed by the product."""
        unpool_into(self.grad[t], out)
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
    for part in chunks(shape, current.device):
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
                            lambda part: lambda t, s, out=pooled[:, part]: pool_into(s, out[t]))
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
                          neuron.detach_reset, needs_backward(current), neuron if neuron.check_finite else None)


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
                               needs_backward(current, w, b), neuron if neuron.check_finite else None)
