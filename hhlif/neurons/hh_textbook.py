"""The textbook Hodgkin–Huxley (1952) neuron as a trainable layer (voltage-dependent gating rates)."""

from __future__ import annotations

import math

import torch
from torch import nn

from hhlif.errors import bad_value, require_positive, unknown_choice
from hhlif.neurons.base import Neuron, State

PARAM_SHARING = ("neuron", "channel", "layer")
RATE_NAMES = ("a_n", "b_n", "a_m", "b_m", "a_h", "b_h")
#: the rate functions are evaluated at u = v − v_rest clamped to this range (mV); they stay finite in float32
U_RANGE = (-100.0, 150.0)
#: (MUL, ADD) of one integration sub-step of one neuron, and once per network step (input gain and bias, the
#: crossing window's mean), as :func:`hhlif.testing.measured_ops` counts them: comparisons count as ADD;
#: exponentials and selections (clamp, where, maximum) are not counted
OPS_PER_SUBSTEP = (37, 31)
OPS_PER_STEP_EXTRA = (2, 3)


def _x_over_expm1(x: torch.Tensor) -> torch.Tensor:
    """x / (exp(x) − 1) with its limit 1 − x/2 near 0 (finite values and gradients everywhere)."""
    small = x.abs() < 1e-4
    safe = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, 1.0 - 0.5 * x, safe / torch.expm1(safe))


def hh_rates(u: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(α_n, β_n, α_m, β_m, α_h, β_h) in ms⁻¹ of Hodgkin & Huxley (1952) at depolarisation u = v − v_rest (mV)."""
    return (0.1 * _x_over_expm1((10.0 - u) / 10.0), 0.125 * torch.exp(-u / 80.0),
            _x_over_expm1((25.0 - u) / 10.0), 4.0 * torch.exp(-u / 18.0),
            0.07 * torch.exp(-u / 20.0), torch.sigmoid((u - 30.0) / 10.0))


class HHTextbook(Neuron):
    r"""Hodgkin–Huxley neuron with the voltage-dependent rates of the 1952 model, integrated by exponential Euler.

    State: membrane potential v (mV) and gating variables n, m, h. With u = v − v_rest and input current
    I = ``input_gain``·(synaptic current) in µA/cm²:

    .. math::
        C \dot v = I - \bar g_{Na} m^3 h (v - E_{Na}) - \bar g_K n^4 (v - E_K) - g_L (v - E_L) \\
        \dot x = \alpha_x(u)(1 - x) - \beta_x(u)\,x, \quad x \in \{n, m, h\} \\
        \alpha_n = \frac{0.01(10 - u)}{e^{(10-u)/10} - 1},\ \beta_n = 0.125 e^{-u/80},\
        \alpha_m = \frac{0.1(25 - u)}{e^{(25-u)/10} - 1},\ \beta_m = 4 e^{-u/18},\
        \alpha_h = 0.07 e^{-u/20},\ \beta_h = \frac{1}{1 + e^{(30-u)/10}}

    Defaults: v_rest = −65, E_Na = 50, E_K = −77, E_L = −54.387 mV; ḡ_Na = 120, ḡ_K = 36, g_L = 0.3 mS/cm²;
    C = 1 µF/cm² (6.3 °C). One network time step is ``substeps`` integration steps of ``dt`` ms (default
    10 × 0.1 ms = 1 ms), the input held constant. Each integration step is a *staggered exponential Euler*
    step: the gates first, with v at the start of the step, x ← x∞ + (x − x∞) e^{−dt/τ_x} (x∞ = α/(α + β),
    τ_x = 1/(α + β)); then the membrane with the updated gates, v ← v∞ + (v − v∞) e^{−dt g/C}
    (g = ḡ_Na m³h + ḡ_K n⁴ + g_L, v∞ = (I + Σ g_i E_i)/g). Every variable relaxes exactly towards its
    instantaneous steady state, so the scheme is stable for any dt (gates stay in [0, 1], v between the
    reversal potentials and v∞); staggering the gates half a step ahead of v (as NEURON does) makes it
    second-order accurate. Against a tight reference integration, spike times over 50 ms agree to ≈ 0.01 ms
    (dt 0.01), 0.1 ms (dt 0.05), 0.3 ms (dt 0.1, the default: training-grade, twice as fast as 0.05) and 1 ms
    (dt 0.2).

    **Spikes** are upward threshold crossings: a network step emits 1 if v crossed θ from below (v ≤ θ, then
    v > θ) at any of its integration steps, else 0; a neuron above θ does not spike again until it has come
    back below. Surrogate gradient: the mean over the integration steps of ``boxcar(v_k − θ)·1[v_{k−1} ≤ θ]``
    (the rectangular window of half-width ``half_width`` mV of the other neurons; hhlif.neurons.surrogate).
    The rates are evaluated at u clamped to [−100, 150] mV (reachable only by driving far beyond physiology).

    **Initial state** (each forward): v = v_rest and the gates at their steady state x∞(v_rest) for the current
    rate parameters (n 0.318, m 0.053, h 0.596 for the defaults), i.e. the resting neuron.

    **Input scaling.** Synaptic currents are multiplied by ``input_gain`` before entering the membrane equation.
    The neuron's dynamic range is a few to ~150 µA/cm² (rheobase ≈ 6.3 µA/cm² for repetitive firing); a
    default-initialised Linear layer on 0–255 images gives currents with a standard deviation of ~50, so the
    default gain 0.2 brings the typical drive (σ ≈ 10) around the rheobase. Inputs of order 1 (control
    observations) need a larger gain (e.g. 20–50) or a ``bias_current`` near the rheobase.

    **Learnable parameters** (all optional, shared per ``param_sharing``: ``neuron``, ``channel`` = the first
    axis of the population shape (fc: each neuron; conv: each channel) or ``layer``): ``learnable_conductances``
    learns log ḡ_Na, log ḡ_K, log g_L; ``learnable_rates`` learns a log-multiplier of each of the six rate
    functions (initially 0, i.e. the 1952 rates). ``detach_gates`` stops gradients through n, m, h (the
    membrane path alone carries them; a cheaper, better conditioned backward, but the rates no longer learn).
    ``checkpoint`` (default) keeps only the state at network-step boundaries for the backward pass and
    recomputes the integration steps (memory ∝ T instead of T·substeps, about one more forward in time).
    """

    def __init__(self, shape, *, threshold: float = -40.0, half_width: float = 20.0, surrogate: str = "boxcar",
                 dt: float = 0.1, substeps: int = 10, input_gain: float = 0.2, bias_current: float = 0.0,
                 v_rest: float = -65.0, e_na: float = 50.0, e_k: float = -77.0, e_l: float = -54.387,
                 g_na: float = 120.0, g_k: float = 36.0, g_l: float = 0.3, c_m: float = 1.0,
                 learnable_conductances: bool = False, learnable_rates: bool = False,
                 param_sharing: str = "channel", detach_gates: bool = False, checkpoint: bool = True):
        super().__init__(shape, threshold=threshold, surrogate=surrogate, half_width=half_width)
        require_positive("neuron.dt", dt)
        require_positive("neuron.substeps", substeps, integer=True)
        for key, value in (("g_na", g_na), ("g_k", g_k), ("g_l", g_l), ("c_m", c_m)):
            require_positive(f"neuron.{key}", value)
        for key, value in (("input_gain", input_gain), ("bias_current", bias_current), ("v_rest", v_rest),
                           ("e_na", e_na), ("e_k", e_k), ("e_l", e_l), ("threshold", threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad_value(f"neuron.{key}", value, "a finite number")
        if param_sharing not in PARAM_SHARING:
            raise unknown_choice("neuron.param_sharing", param_sharing, PARAM_SHARING)
        self.dt, self.substeps = float(dt), int(substeps)
        self.input_gain, self.bias_current = float(input_gain), float(bias_current)
        self.v_rest, self.c_m = float(v_rest), float(c_m)
        self.e_na, self.e_k, self.e_l = float(e_na), float(e_k), float(e_l)
        self.param_sharing = param_sharing
        pshape = {"neuron": self.shape, "channel": (self.shape[0],) + (1,) * (len(self.shape) - 1),
                  "layer": (1,) * len(self.shape)}[param_sharing]
        log_g = torch.tensor([g_na, g_k, g_l]).log().reshape(3, *(1,) * len(pshape)).expand(3, *pshape).clone()
        log_rates = torch.zeros(len(RATE_NAMES), *pshape)
        self.learnable_conductances, self.learnable_rates = bool(learnable_conductances), bool(learnable_rates)
        if self.learnable_conductances:
            self.log_conductances = nn.Parameter(log_g)
        else:
            self.register_buffer("log_conductances", log_g)
        if self.learnable_rates:
            self.log_rate_scales = nn.Parameter(log_rates)
        else:
            self.register_buffer("log_rate_scales", log_rates)
        self.detach_gates = bool(detach_gates)
        self.checkpoint = bool(checkpoint)
        mul, add = OPS_PER_SUBSTEP
        self.ops_per_step = (mul * self.substeps + OPS_PER_STEP_EXTRA[0], add * self.substeps + OPS_PER_STEP_EXTRA[1])

    # -- the model ---------------------------------------------------------------------------------------------
    def rates(self, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The six gating rates (ms⁻¹) at membrane potential ``v``, with the learned multipliers."""
        rates = hh_rates((v - self.v_rest).clamp(*U_RANGE))
        if not self.learnable_rates:  # the multipliers are exp(0) = 1
            return rates
        scales = self.log_rate_scales.exp()
        return tuple(r * scales[i] for i, r in enumerate(rates))

    def conductances(self) -> torch.Tensor:
        """(ḡ_Na, ḡ_K, g_L) in mS/cm², shape [3, *param shape]."""
        return self.log_conductances.exp()

    def initial_state(self, batch, device=None, dtype=None) -> State:
        v = torch.full((batch, *self.shape), self.v_rest, device=device, dtype=dtype)
        a_n, b_n, a_m, b_m, a_h, b_h = self.rates(v)
        gates = (a_n / (a_n + b_n), a_m / (a_m + b_m), a_h / (a_h + b_h))
        return v, *(x.detach() if self.detach_gates else x for x in gates)

    def substep(self, current: torch.Tensor, state: State) -> State:
        """One step of ``dt`` ms from ``state`` = (v, n, m, h) with ``current`` in µA/cm² (class docstring)."""
        v, n, m, h = state
        a_n, b_n, a_m, b_m, a_h, b_h = self.rates(v.detach() if self.detach_gates else v)
        gates = []
        for x, a, b in ((n, a_n, b_n), (m, a_m, b_m), (h, a_h, b_h)):
            s = a + b
            x_inf = a / s
            x = x_inf + (x - x_inf) * torch.exp(-self.dt * s)
            gates.append(x.detach() if self.detach_gates else x)
        n, m, h = gates
        g_na, g_k, g_l = self.conductances()
        n2 = n * n
        gna_t = g_na * (m * m * m * h)
        gk_t = g_k * (n2 * n2)
        g_tot = gna_t + gk_t + g_l
        v_inf = (current + gna_t * self.e_na + gk_t * self.e_k + g_l * self.e_l) / g_tot
        v_new = v_inf + (v - v_inf) * torch.exp(-self.dt / self.c_m * g_tot)
        return v_new, *gates

    def step(self, current: torch.Tensor, state: State):
        if self.checkpoint and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            out = checkpoint(self._integrate, current, *state, use_reentrant=False)
            return out[0], tuple(out[1:])
        out = self._integrate(current, *state)
        return out[0], tuple(out[1:])

    def _integrate(self, current: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The ``substeps`` integration steps of one network step: (spikes, v, n, m, h)."""
        current = self.input_gain * current + self.bias_current
        theta = self.threshold
        crossed = None
        window = 0.0
        for _ in range(self.substeps):
            below = (state[0] <= theta).to(current.dtype)
            state = self.substep(current, state)
            hit = self.spike(state[0] - theta) * below  # 1 on an upward crossing; surrogate where v_prev ≤ θ
            crossed = hit.detach() if crossed is None else torch.maximum(crossed, hit.detach())
            window = window + hit
        window = window / self.substeps
        return (crossed + (window - window.detach()), *state)

    def divergence_hint(self) -> str:
        return (f"Exponential Euler cannot diverge for finite input; a non-finite state means a non-finite current: "
                f"lower neuron.input_gain (now {self.input_gain}) or the learning rate.")

    def extra_repr(self) -> str:
        g = ", learnable conductances" if self.learnable_conductances else ""
        r = ", learnable rates" if self.learnable_rates else ""
        return (f"{super().extra_repr()}, dt={self.dt} ms x {self.substeps} substeps, input_gain={self.input_gain}, "
                f"v_rest={self.v_rest}, sharing={self.param_sharing}{g}{r}")
