r"""The fused window of :class:`~hhlif.neurons.hh.HH`: the membrane window as one autograd node with a
hand-derived backward, the operations of ``HH.step`` in its order (spikes bitwise those of the eager loop),
the gating trajectories computed once per neuron. The shared machinery is in :mod:`hhlif.kernels`.

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

What is exact is used: HH's three ionic terms of a step are one subtraction and one multiplication on a
``[3, B, ...]`` buffer; its spikes (no reset) are one comparison over the kept window; and its backward for a
time-varying input forms gs_t σ_t for the whole window before the one ``addcmul`` per step. The HH window at the
SAC actor's size (T 15, batch 64, 128 neurons) compiled with ``torch.compile`` in 7 s but its generated kernel
ran about 2× slower than this loop (the same spikes, bit for bit).
"""

from __future__ import annotations

import torch

from hhlif.kernels.window import SpikeFn, Steps, assert_finite_trajectory, chunks, needs_backward, scalars, split_static
from hhlif.neurons.base import Neuron


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
        for part in chunks(shape, current.device):
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
        for part in chunks(saved.shape[1:], saved.device):
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
        dt = scalars(current, dt)[0]
    theta = scalars(current, threshold)[0]
    shape = spikes.shape[1:]
    lead = (1,) * (len(shape) - (ionic_g.dim() - 2))  # the batch axis (and axes the rates are shared along)
    reversal = current.new_tensor([e_na, e_k, e_l]).reshape(3, *(1,) * len(shape))
    conductances = ionic_g.reshape(steps, 3, *lead, *ionic_g.shape[2:]).unbind(0)
    v = Steps(v_store if v_store is not None else mask, shape, current)
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
    e_na, e_k, theta = scalars(saved, consts[0], consts[1], threshold)
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
    grads = Steps(None if static else grad, shape, saved)
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
                            spike, consts, neuron.detach_ionic, needs_backward(current, g_na, g_k),
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
