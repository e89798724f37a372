r"""The fused windows of the ladder's neurons with a reset (:class:`~hhlif.neurons.alif.ALIF`,
:class:`~hhlif.neurons.izhikevich.Izhikevich`, :class:`~hhlif.neurons.adex.AdEx`): the whole window as one
autograd node with a hand-derived backward, the eager step's floating-point operations in its order (spikes and
states bitwise those of the eager loop; the tests check it), the backward equal to autograd's through the eager
loop up to rounding. They apply with ``detach_reset`` (the default); with the gradient through the reset the
eager loop runs. The shared machinery is in :mod:`hhlif.kernels`.

Notation: ``x'`` the state after the step's update and before the reset, ``x_t`` after the reset (the state
handed to step t + 1), ``s_t`` the spike and ``r_t`` the same value without gradient (``detach_reset``),
``σ_t`` the surrogate derivative of the spike, ``gs_t`` the gradient arriving at the spikes, ``G_t``/``U_t``
the gradients of the loss with respect to the step's pre-reset state, ``gI_t`` that of the synaptic current,
``g`` the input gain. Each backward runs from t = T down to 1, ``G_{T+1} = U_{T+1} = 0``.

**ALIF** ``v' = α v + (1 − α) g I``, ``a' = ρ a``, ``ϑ = β a' + θ₀``, ``s = H(v' − ϑ)``, ``v = v' − r ϑ``,
``a = a' + r``::

    G_t = gs_t σ_t + α G_{t+1}
    A_t = β (−gs_t σ_t − r_t α G_{t+1}) + ρ A_{t+1}           gI_t = (1 − α) g G_t

Saved: v' − ϑ ``[T, B, ...]`` (σ and r are functions of it; nothing else enters the backward).

**Izhikevich** ``v' = v + dt (0.04 v² + 5 v + 140 − u + g I)``, ``u' = u + dt a (b v − u)``, ``s = H(v' − v_peak)``,
``v = v' + r (c − v')``, ``u = u' + d r``::

    G_t = gs_t σ_t + (1 − r_t) [G_{t+1} (1 + dt (0.08 v_t + 5)) + U_{t+1} dt a b]
    U_t = −dt G_{t+1} + (1 − dt a) U_{t+1}                     gI_t = dt g G_t

Saved: v' (v_t, σ and r recomputed; u does not enter the backward).

**AdEx** ``v' = v + (dt/C)(g_L Δ_T e^{(min(v, V_peak) − V_T)/Δ_T} − g_L (v − E_L) − w + g I)``,
``w' = w + (dt/τ_w)(a (v − E_L) − w)``, ``s = H(v' − V_peak)``, ``v = v' + r (V_r − v')``, ``w = w' + b r``::

    G_t = gs_t σ_t + (1 − r_t) [G_{t+1} (1 + (dt/C)(g_L e_t 1[v_t ≤ V_peak] − g_L)) + W_{t+1} (dt/τ_w) a]
    W_t = −(dt/C) G_{t+1} + (1 − dt/τ_w) W_{t+1}               gI_t = (dt/C) g G_t

with ``e_t`` the exponential at v_t. Saved: v'.

A static current (the same at every step) is multiplied by its factors once, and its gradient summed over T in
the backward without a ``[T, B, ...]`` buffer.
"""

from __future__ import annotations

import torch

from hhlif.kernels.window import (
    SpikeFn,
    Steps,
    assert_finite_trajectory,
    chunks,
    needs_backward,
    scalars,
    spike_of,
    split_static,
)
from hhlif.neurons.base import Neuron


def _fire(v: torch.Tensor, theta: torch.Tensor, spike: SpikeFn, out: torch.Tensor, x: torch.Tensor) -> None:
    """``out = s(v − θ)``, as the eager step computes it (``x``: a buffer for v − θ)."""
    if spike.heaviside:
        torch.gt(v, theta, out=out)  # v > θ ⇔ fl(v − θ) > 0
    else:
        torch.sub(v, theta, out=x)
        spike.value(x, out)


def _surrogate(v: torch.Tensor, theta: torch.Tensor, spike: SpikeFn, sig: torch.Tensor, r: torch.Tensor) -> None:
    """σ = s'(v − θ) into ``sig`` and r = s(v − θ) into ``r``."""
    torch.sub(v, theta, out=sig)
    spike.value(sig, r)
    spike.derivative(sig, sig)


class LadderFunction(torch.autograd.Function):
    """A fused window: ``(current, kernel, …) → spikes [T, B, ...]``; the kernel holds the model's constants,
    its forward and its backward (``current`` one step ``[B, ...]`` used at every step when ``static``)."""

    @staticmethod
    def forward(ctx, current, kernel, static: bool, steps: int, spike: SpikeFn, save: bool, guard: Neuron | None):
        shape = tuple(current.shape if static else current.shape[1:])
        spikes = current.new_empty((steps, *shape))
        keep = save or guard is not None
        trajectories = tuple(current.new_empty((steps, *shape)) for _ in range(kernel.saved)) if keep else None
        for part in chunks(shape, current.device):
            kernel.forward(current[part] if static else current[:, part], static, steps, spike, spikes[:, part],
                           None if trajectories is None else tuple(x[:, part] for x in trajectories))
        if guard is not None:
            assert_finite_trajectory(guard, *trajectories)
        if save:
            ctx.save_for_backward(*trajectories)
        ctx.args = (kernel, static, spike)
        ctx.set_materialize_grads(False)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        if grad_spikes is None:
            return (None,) * 7
        saved = ctx.saved_tensors
        kernel, static, spike = ctx.args
        first = saved[0]
        grad = first.new_empty(first.shape[1:] if static else first.shape)
        for part in chunks(first.shape[1:], first.device):
            kernel.backward(tuple(x[:, part] for x in saved), grad_spikes[:, part],
                            grad[part] if static else grad[:, part], static, spike)
        return (grad,) + (None,) * 6


def window(neuron: Neuron, model: type[Neuron], kernel: type, currents: torch.Tensor,
           fusable: bool = True) -> torch.Tensor:
    """``model.window`` for the ladder's neurons: the fused window with ``kernel(neuron)`` where it applies (the
    model's own surrogate spike and ``fusable``), else the eager step loop of :class:`Neuron`."""
    spike = spike_of(neuron, model) if fusable else None
    if spike is None:
        return Neuron.window(neuron, currents)
    return fused_window(neuron, kernel(neuron), currents, spike)


def fused_window(neuron: Neuron, kernel, currents: torch.Tensor, spike: SpikeFn) -> torch.Tensor:
    """The fused window of ``neuron`` with ``kernel``."""
    current, static = split_static(currents)
    return LadderFunction.apply(current, kernel, static, currents.shape[0], spike, needs_backward(current),
                                neuron if neuron.check_finite else None)


def _drive(current: torch.Tensor, static: bool, factors, steps: int):
    """``g I`` (then times each further factor, in the eager step's order) for every step: one buffer computed
    once when ``static``, else a ``[T, b, ...]`` tensor's steps."""
    out = torch.mul(current, factors[0])
    for f in factors[1:]:
        out.mul_(f)
    return (out,) * steps if static else out.unbind(0)


def _accumulate(grad: torch.Tensor, cur: torch.Tensor, static: bool, first: bool, t: int, factor) -> None:
    """gI_t = factor · cur into the step's slot, or summed over T for a static current."""
    if static:
        if first:
            torch.mul(cur, factor, out=grad)
        else:
            grad.addcmul_(cur, factor)
    else:
        torch.mul(cur, factor, out=grad[t])


class ALIFKernel:
    """The fused window of :class:`~hhlif.neurons.alif.ALIF` (module docstring)."""

    saved = 1

    def __init__(self, neuron):
        self.gain = neuron.input_gain
        self.alpha, self.rho, self.beta, self.theta0 = neuron.alpha, neuron.rho, neuron.beta, neuron.threshold

    def forward(self, current, static, steps, spike, spikes, store) -> None:
        shape = spikes.shape[1:]
        like = spikes
        alpha, one_minus, rho, beta, theta0, zero = scalars(like, self.alpha, 1.0 - self.alpha, self.rho, self.beta,
                                                            self.theta0, 0.0)
        drive = _drive(current, static, (self.gain.to(like.dtype), one_minus), steps)  # (1 − α)·(g·I)
        xs = Steps(None if store is None else store[0], shape, like)  # v' − ϑ, all the backward needs
        v, a = like.new_zeros(shape), like.new_zeros(shape)
        theta, reset = like.new_empty(shape), like.new_empty(shape)
        for t in range(steps):  # the operations of ALIF.step, in its order
            torch.mul(v, alpha, out=v)
            v.add_(drive[t])  # v'
            a.mul_(rho)  # a'
            torch.mul(a, beta, out=theta)
            theta.add_(theta0)
            x = xs[t]
            torch.sub(v, theta, out=x)
            if spike.heaviside:
                torch.gt(x, zero, out=spikes[t])
            else:
                spike.value(x, spikes[t])
            torch.mul(spikes[t], theta, out=reset)
            v.sub_(reset)
            a.add_(spikes[t])

    def backward(self, saved, grad_spikes, grad, static, spike) -> None:
        (xs,) = saved
        steps, shape = xs.shape[0], xs.shape[1:]
        alpha, rho, neg_beta = scalars(xs, self.alpha, self.rho, -self.beta)
        factor = scalars(xs, (1.0 - self.alpha) * float(self.gain))[0]
        sig, r, tmp, gv, ga = (xs.new_empty(shape) for _ in range(5))
        for t in range(steps - 1, -1, -1):
            spike.value(xs[t], r)
            spike.derivative(xs[t], sig)
            sig.mul_(grad_spikes[t])  # X_t = gs_t σ_t
            if t == steps - 1:
                gv.copy_(sig)  # G_T
                torch.mul(sig, neg_beta, out=ga)  # A_T
            else:
                gv.mul_(alpha)  # α G_{t+1}: the gradient of the post-reset v_t
                torch.mul(r, gv, out=tmp)
                tmp.add_(sig)
                tmp.mul_(neg_beta)  # β × the gradient of ϑ_t
                ga.mul_(rho)
                ga.add_(tmp)  # A_t
                gv.add_(sig)  # G_t
            _accumulate(grad, gv, static, t == steps - 1, t, factor)


class IzhikevichKernel:
    """The fused window of :class:`~hhlif.neurons.izhikevich.Izhikevich` (module docstring)."""

    saved = 1

    def __init__(self, neuron):
        self.gain = neuron.input_gain
        self.a, self.b, self.c, self.d = neuron.a, neuron.b, neuron.c, neuron.d
        self.dt, self.v_init, self.v_peak = neuron.dt, neuron.v_init, neuron.threshold

    def forward(self, current, static, steps, spike, spikes, store) -> None:
        shape = spikes.shape[1:]
        like = spikes
        c004, c5, c140, a, b, c, d, dt, peak = scalars(like, 0.04, 5.0, 140.0, self.a, self.b, self.c, self.d,
                                                       self.dt, self.v_peak)
        drive = _drive(current, static, (self.gain.to(like.dtype),), steps)
        v_pre = Steps(None if store is None else store[0], shape, like)
        v = torch.full(shape, self.v_init, dtype=like.dtype, device=like.device)
        u = torch.full(shape, self.b * self.v_init, dtype=like.dtype, device=like.device)
        dv, q, x = (like.new_empty(shape) for _ in range(3))
        for t in range(steps):  # the operations of Izhikevich.step, in its order
            torch.mul(v, c004, out=dv)
            dv.mul_(v)
            torch.mul(v, c5, out=x)
            dv.add_(x)
            dv.add_(c140)
            dv.sub_(u)
            dv.add_(drive[t])
            torch.mul(v, b, out=q)
            q.sub_(u)
            q.mul_(a)
            q.mul_(dt)
            u.add_(q)  # u'
            dv.mul_(dt)
            vt = v_pre[t]
            torch.add(v, dv, out=vt)  # v'
            _fire(vt, peak, spike, spikes[t], x)
            torch.sub(c, vt, out=x)
            x.mul_(spikes[t])
            torch.add(vt, x, out=v)  # v' + r (c − v')
            torch.mul(spikes[t], d, out=x)
            u.add_(x)

    def backward(self, saved, grad_spikes, grad, static, spike) -> None:
        (v_pre,) = saved
        steps, shape = v_pre.shape[0], v_pre.shape[1:]
        c, peak, dt, c008, c5, one = scalars(v_pre, self.c, self.v_peak, self.dt, 0.08, 5.0, 1.0)
        coupling, keep_u = scalars(v_pre, self.dt * self.a * self.b, 1.0 - self.dt * self.a)
        factor = scalars(v_pre, self.dt * float(self.gain))[0]
        sig, r, h, x = (v_pre.new_empty(shape) for _ in range(4))
        gv, gu = v_pre.new_empty(shape), v_pre.new_empty(shape)
        nxt = None
        for t in range(steps - 1, -1, -1):
            _surrogate(v_pre[t], peak, spike, sig, r)
            if nxt is not None:  # H = G_{t+1} (1 + dt (0.08 v_t + 5)) + U_{t+1} dt a b, v_t the post-reset v
                torch.sub(c, v_pre[t], out=x)
                x.mul_(r)
                x.add_(v_pre[t])  # v_t, as the forward computed it
                x.mul_(c008)
                x.add_(c5)
                x.mul_(dt)
                x.add_(one)
                torch.mul(gv, x, out=h)
                h.addcmul_(gu, coupling)
                gu.mul_(keep_u)  # U_t = −dt G_{t+1} + (1 − dt a) U_{t+1}
                gu.addcmul_(gv, dt, value=-1.0)
                torch.sub(one, r, out=x)
                h.mul_(x)
                torch.addcmul(h, sig, grad_spikes[t], out=gv)
            else:
                torch.mul(sig, grad_spikes[t], out=gv)
                gu.zero_()
            _accumulate(grad, gv, static, nxt is None, t, factor)
            nxt = True


class AdExKernel:
    """The fused window of :class:`~hhlif.neurons.adex.AdEx` (module docstring)."""

    saved = 1

    def __init__(self, neuron):
        self.gain = neuron.input_gain
        n = neuron
        self.e_l, self.v_t, self.delta_t, self.g_l, self.v_r = n.e_l, n.v_t, n.delta_t, n.g_l, n.v_r
        self.a, self.b, self.peak = n.a, n.b, n.threshold
        self.dt_c, self.dt_tau = n.dt / n.c_m, n.dt / n.tau_w

    def forward(self, current, static, steps, spike, spikes, store) -> None:
        shape = spikes.shape[1:]
        like = spikes
        e_l, v_t, inv_delta, g_l_delta, g_l, a, b, v_r, dt_c, dt_tau, peak = scalars(
            like, self.e_l, self.v_t, 1.0 / self.delta_t, self.g_l * self.delta_t, self.g_l, self.a, self.b,
            self.v_r, self.dt_c, self.dt_tau, self.peak)
        drive = _drive(current, static, (self.gain.to(like.dtype),), steps)
        v_pre = Steps(None if store is None else store[0], shape, like)
        v = torch.full(shape, self.e_l, dtype=like.dtype, device=like.device)
        w = like.new_zeros(shape)
        leak, dv, q, x = (like.new_empty(shape) for _ in range(4))
        for t in range(steps):  # the operations of AdEx.step, in its order
            torch.sub(v, e_l, out=leak)
            torch.clamp(v, max=peak, out=dv)
            dv.sub_(v_t)
            dv.mul_(inv_delta)
            dv.exp_()
            dv.mul_(g_l_delta)
            torch.mul(leak, g_l, out=x)
            dv.sub_(x)
            dv.sub_(w)
            dv.add_(drive[t])
            torch.mul(leak, a, out=q)
            q.sub_(w)
            q.mul_(dt_tau)
            w.add_(q)  # w'
            dv.mul_(dt_c)
            vt = v_pre[t]
            torch.add(v, dv, out=vt)  # v'
            _fire(vt, peak, spike, spikes[t], x)
            torch.sub(v_r, vt, out=x)
            x.mul_(spikes[t])
            torch.add(vt, x, out=v)
            torch.mul(spikes[t], b, out=x)
            w.add_(x)

    def backward(self, saved, grad_spikes, grad, static, spike) -> None:
        (v_pre,) = saved
        steps, shape = v_pre.shape[0], v_pre.shape[1:]
        v_r, peak, v_t, inv_delta, g_l, dt_c, one = scalars(v_pre, self.v_r, self.peak, self.v_t,
                                                            1.0 / self.delta_t, self.g_l, self.dt_c, 1.0)
        coupling, keep_w = scalars(v_pre, self.dt_tau * self.a, 1.0 - self.dt_tau)
        factor = scalars(v_pre, self.dt_c * float(self.gain))[0]
        sig, r, h, x, e = (v_pre.new_empty(shape) for _ in range(5))
        gv, gw = v_pre.new_empty(shape), v_pre.new_empty(shape)
        nxt = None
        for t in range(steps - 1, -1, -1):
            _surrogate(v_pre[t], peak, spike, sig, r)
            if nxt is not None:  # ∂v'_{t+1}/∂v_t = 1 + (dt/C)(g_L e_t 1[v_t ≤ V_peak] − g_L)
                torch.sub(v_r, v_pre[t], out=x)
                x.mul_(r)
                x.add_(v_pre[t])  # v_t, as the forward computed it
                torch.clamp(x, max=peak, out=e)
                e.sub_(v_t)
                e.mul_(inv_delta)
                e.exp_()
                e.mul_(g_l)
                torch.le(x, peak, out=x)
                e.mul_(x)
                e.sub_(g_l)
                e.mul_(dt_c)
                e.add_(one)
                torch.mul(gv, e, out=h)
                h.addcmul_(gw, coupling)
                gw.mul_(keep_w)  # W_t = −(dt/C) G_{t+1} + (1 − dt/τ_w) W_{t+1}
                gw.addcmul_(gv, dt_c, value=-1.0)
                torch.sub(one, r, out=x)
                h.mul_(x)
                torch.addcmul(h, sig, grad_spikes[t], out=gv)
            else:
                torch.mul(sig, grad_spikes[t], out=gv)
                gw.zero_()
            _accumulate(grad, gv, static, nxt is None, t, factor)
            nxt = True


class MorrisLecarKernel:
    r"""The fused window of :class:`~hhlif.neurons.morris_lecar.MorrisLecar` (no reset; spikes at every step with
    V' > θ). With ``m = m∞(v)``, ``ω = w∞(v)``, ``k = cosh(z)`` (z the clipped ``(v − V_3)/(2V_4)``), ``E =
    e^{−dt φ k}`` at the state (v, w) a step starts from, the step's Jacobian is::

        ∂v'/∂v = 1 − (dt/C)(g_L + g_Ca (2m(1 − m)/V_2 · (v − V_Ca) + m) + g_K w),   ∂v'/∂w = −(dt/C) g_K (v − V_K)
        ∂w'/∂v = 2ω(1 − ω)/V_4 · (1 − E) − (w − ω) dt φ E sinh(z) / (2 V_4) · 1[|z| ≤ z_max],   ∂w'/∂w = E

    and, J_{t+1} being that of step t + 1 (at (v_t, w_t))::

        G_t = gs_t σ_t + ∂v'/∂v G_{t+1} + ∂w'/∂v W_{t+1},   W_t = ∂v'/∂w G_{t+1} + E W_{t+1},   gI_t = (dt/C) g G_t

    The forward computes each step's Jacobian beside the step, from the values the step has at hand (m, ω, E),
    so the backward is four multiply-adds per step and no transcendental function. Saved: v and the four entries
    ``[T, B, ...]`` (fewer bytes than the eager loop's graph keeps)."""

    saved = 5

    def __init__(self, neuron):
        from hhlif.neurons.morris_lecar import COSH_MAX

        n = neuron
        self.gain, self.cosh_max = n.input_gain, COSH_MAX
        self.c = (n.g_l, n.g_ca, n.g_k, n.v_l, n.v_ca, n.v_k, n.v1, n.v2, n.v3, n.v4)
        self.dt_c, self.dt_phi, self.theta, self.v_rest = n.dt / n.c_m, n.dt * n.phi, n.threshold, n.v_rest
        self.w_rest = n._w_inf(n.v_rest)

    def forward(self, current, static, steps, spike, spikes, store) -> None:
        shape = spikes.shape[1:]
        like = spikes
        g_l, g_ca, g_k, v_l, v_ca, v_k, v1, v2, v3, v4 = self.c
        (g_l, g_ca, g_k, v_l, v_ca, v_k, v1, inv_v2, v3, inv_v4, half_inv_v4, half, one, dt_c, neg_dt_phi, theta,
         lo, hi, two_inv_v2, two_inv_v4, neg_dt_c_gk, cmax) = scalars(
            like, g_l, g_ca, g_k, v_l, v_ca, v_k, v1, 1.0 / v2, v3, 1.0 / v4, 0.5 / v4, 0.5, 1.0, self.dt_c,
            -self.dt_phi, self.theta, -self.cosh_max, self.cosh_max, 2.0 / v2, 2.0 / v4, -self.dt_c * self.c[2],
            self.cosh_max)
        drive = _drive(current, static, (self.gain.to(like.dtype),), steps)
        vs = Steps(None if store is None else store[0], shape, like)
        jac = None if store is None else [x.unbind(0) for x in store[1:]]  # ∂v'/∂v, ∂v'/∂w, ∂w'/∂v, E
        v = torch.full(shape, self.v_rest, dtype=like.dtype, device=like.device)
        w = torch.full(shape, self.w_rest, dtype=like.dtype, device=like.device)
        m, wi, k, a, b, x = (like.new_empty(shape) for _ in range(6))
        ws = Steps(None, shape, like)
        for t in range(steps):  # the operations of MorrisLecar.step, in its order
            for out, mid, inv in ((m, v1, inv_v2), (wi, v3, inv_v4)):
                torch.sub(v, mid, out=out)
                out.mul_(inv)
                out.tanh_()
                out.add_(one)
                out.mul_(half)
            torch.sub(v, v3, out=k)
            k.mul_(half_inv_v4)
            if jac is not None:  # z and its clip's mask, kept for ∂w'/∂v
                z, mask = jac[2][t], jac[3][t]
                torch.abs(k, out=mask)
                torch.le(mask, cmax, out=mask)
            k.clamp_(lo, hi)
            if jac is not None:
                torch.sinh(k, out=z)
            k.cosh_()
            torch.sub(v, v_l, out=a)
            a.mul_(g_l)
            torch.mul(m, g_ca, out=b)
            torch.sub(v, v_ca, out=x)
            if jac is not None:  # ∂v'/∂v from m and v − V_Ca
                dvv = jac[0][t]
                torch.sub(one, m, out=dvv)
                dvv.mul_(m)
                dvv.mul_(two_inv_v2)
                dvv.mul_(x)
                dvv.add_(m)
                dvv.mul_(g_ca)
                dvv.add_(g_l)
                dvv.addcmul_(w, g_k)
                dvv.mul_(dt_c)
                torch.sub(one, dvv, out=dvv)
            b.mul_(x)
            a.add_(b)
            torch.mul(w, g_k, out=b)
            torch.sub(v, v_k, out=x)
            if jac is not None:
                torch.mul(x, neg_dt_c_gk, out=jac[1][t])  # ∂v'/∂w
            b.mul_(x)
            a.add_(b)  # I_ion
            torch.sub(drive[t], a, out=x)
            x.mul_(dt_c)
            vt, wt = vs[t], ws[t]
            torch.add(v, x, out=vt)
            k.mul_(neg_dt_phi)
            k.exp_()  # E
            torch.sub(w, wi, out=x)
            if jac is not None:  # ∂w'/∂v = dω/dv (1 − E) − (w − ω) dt φ E sinh(z) / (2V_4) 1[|z| ≤ z_max]
                z.mul_(mask)
                z.mul_(half_inv_v4)
                z.mul_(k)
                z.mul_(neg_dt_phi)
                z.mul_(x)
                torch.sub(one, wi, out=a)
                a.mul_(wi)
                a.mul_(two_inv_v4)
                torch.sub(one, k, out=b)
                z.addcmul_(a, b)
                jac[3][t].copy_(k)
            x.mul_(k)
            torch.add(wi, x, out=wt)
            _fire(vt, theta, spike, spikes[t], x)
            v, w = vt, wt

    def backward(self, saved, grad_spikes, grad, static, spike) -> None:
        vs, dvv, dvw, dwv, e = saved
        steps, shape = vs.shape[0], vs.shape[1:]
        theta = scalars(vs, self.theta)[0]
        factor = scalars(vs, self.dt_c * float(self.gain))[0]
        sig, y = vs.new_empty(shape), vs.new_empty(shape)
        gv, gw = vs.new_empty(shape), vs.new_empty(shape)
        for t in range(steps - 1, -1, -1):
            torch.sub(vs[t], theta, out=sig)
            spike.derivative(sig, sig)
            if t == steps - 1:
                torch.mul(sig, grad_spikes[t], out=gv)
                gw.zero_()
            else:  # the Jacobian of step t + 1
                torch.mul(gv, dvv[t + 1], out=y)
                y.addcmul_(gw, dwv[t + 1])
                y.addcmul_(sig, grad_spikes[t])
                gw.mul_(e[t + 1])
                gw.addcmul_(gv, dvw[t + 1])
                gv.copy_(y)
            _accumulate(grad, gv, static, t == steps - 1, t, factor)
