"""The ladder's neurons (adaptive LIF, Izhikevich, AdEx, Morris–Lecar) against an independent integration
(scipy.integrate.solve_ivp of each model's right-hand side, with the reset as a terminal event) and against the
published firing patterns: Izhikevich (2003) Fig. 2, Naud et al. (2008) Table 1, the adaptive LIF's lengthening
intervals, and Morris–Lecar's two classes of excitability (Rinzel & Ermentrout 1989)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from hhlif.errors import ConfigError
from hhlif.neurons.adex import PATTERN_KEYS, AdEx
from hhlif.neurons.adex import PATTERNS as ADEX_PATTERNS
from hhlif.neurons.alif import ALIF
from hhlif.neurons.izhikevich import PATTERNS as IZH_PATTERNS
from hhlif.neurons.izhikevich import Izhikevich
from hhlif.neurons.morris_lecar import CLASS_II, MorrisLecar


def ivp_spike_times(neuron, current: float, t_end: float, cut: float | None = None) -> np.ndarray:
    """Spike times (ms) of one unit under a constant ``current``, by solve_ivp from the resting state: the spike
    is a terminal event, the reset applied, the integration restarted. ``cut``: detect the spike when v crosses
    this value instead (AdEx: its upstroke from V_T + 10 Δ_T to V_peak takes well under 0.01 ms, but no explicit
    solver can follow the exponential's blow-up to V_peak = 0 mV)."""
    def event(t, y, i):
        return neuron.spike_event(t, y, i) if cut is None else y[0] - cut

    event.terminal, event.direction = True, 1
    y, t, spikes = neuron.rest_state(), 0.0, []
    while True:
        sol = solve_ivp(neuron.rhs, (t, t_end), y, args=(current,), events=event, max_step=0.5, rtol=1e-8,
                        atol=1e-8)
        assert sol.status >= 0, sol.message
        if sol.status == 0:
            return np.array(spikes)
        t = float(sol.t_events[0][0])
        spikes.append(t)
        y = neuron.reset(list(sol.y_events[0][0]))


def step_spike_times(neuron, current: float, t_end: float) -> np.ndarray:
    """Spike times (ms, the end of the step that spiked) of the network form: ``step`` in float64."""
    neuron = neuron.double()
    x = torch.full((1, 1), float(current), dtype=torch.float64)
    state, spikes = neuron.initial_state(1, dtype=torch.float64), []
    with torch.no_grad():
        for k in range(int(round(t_end / neuron.dt))):
            s, state = neuron.step(x, state)
            if s.item():
                spikes.append((k + 1) * neuron.dt)
    return np.array(spikes)


def agree(ivp: np.ndarray, steps: np.ndarray, first: int, dt: float, rtol: float = 0.0) -> None:
    """The network form's spike train is the ODE's: the same count (± 1 at the end of the window) and each of the
    first spikes k = 0, 1, … within (k + 1) dt (every reset waits for the end of its step) + ``rtol`` of the time
    (forward Euler's error grows with it). ``dt``: the allowance per spike (a few steps for a forward-Euler
    model, whose upstroke it crosses in a few large steps)."""
    assert abs(len(ivp) - len(steps)) <= 1, (ivp, steps)
    allowed = dt * np.arange(1, first + 1) + rtol * ivp[:first]
    assert np.all(np.abs(steps[:first] - ivp[:first]) <= allowed), (steps[:first], ivp[:first], allowed)


def izhikevich(pattern: str, dt: float = 0.1) -> Izhikevich:
    a, b, c, d = IZH_PATTERNS[pattern]
    return Izhikevich(1, a=a, b=b, c=c, d=d, dt=dt, input_gain=1.0)


@pytest.fixture(scope="module")
def izh_trains():
    """Izhikevich's four cells under the step current I = 10 for 300 ms (his Fig. 2), by solve_ivp."""
    return {p: ivp_spike_times(izhikevich(p), 10.0, 300.0) for p in ("RS", "FS", "IB", "CH")}


def test_izhikevich_regular_spiking_adapts(izh_trains):
    isi = np.diff(izh_trains["RS"])
    assert 6 <= len(izh_trains["RS"]) <= 10
    assert isi.min() > 15.0  # single spikes, no burst
    assert isi[0] < 0.7 * isi[-1] and np.all(np.diff(isi) > -0.05)  # intervals lengthen, then settle


def test_izhikevich_fast_spiking_is_fast_and_regular(izh_trains):
    fs, rs = izh_trains["FS"], izh_trains["RS"]
    assert len(fs) > 4 * len(rs)
    late = np.diff(fs)[-10:]
    assert late.max() / late.min() < 1.02 and late.max() < 10.0  # tonic, > 100 Hz


def test_izhikevich_intrinsically_bursting_starts_with_a_burst(izh_trains):
    isi = np.diff(izh_trains["IB"])
    assert np.all(isi[:2] < 6.0)  # a burst of three spikes at the onset
    assert np.all(isi[2:] > 25.0)  # then single spikes


def test_izhikevich_chattering_repeats_bursts(izh_trains):
    isi = np.diff(izh_trains["CH"])
    long = np.nonzero(isi > 25.0)[0]
    assert len(long) >= 4  # at least five bursts in 300 ms
    bursts = np.split(isi, long)
    assert all(np.all(b[1:] < 6.0) and len(b) >= 3 for b in bursts[1:-1])  # each of three spikes or more


@pytest.mark.parametrize("pattern", ["RS", "IB", "CH"])
def test_izhikevich_network_step_follows_the_ode(izh_trains, pattern):
    agree(izh_trains[pattern], step_spike_times(izhikevich(pattern), 10.0, 300.0), 4, 4 * 0.1, rtol=0.02)


def adex(pattern: str, dt: float = 0.05) -> tuple[AdEx, float]:
    p = ADEX_PATTERNS[pattern]
    return AdEx(1, v_peak=0.0, dt=dt, input_gain=1.0, **dict(zip(PATTERN_KEYS, p[:9], strict=True))), p[9]


@pytest.fixture(scope="module")
def adex_trains():
    """Four patterns of Naud et al. (2008), Table 1, over 500 ms, by solve_ivp."""
    trains = {}
    for pattern in ("tonic", "adapting", "initial_burst", "regular_bursting"):
        neuron, current = adex(pattern)
        trains[pattern] = ivp_spike_times(neuron, current, 500.0, cut=neuron.v_t + 10 * neuron.delta_t)
    return trains


def test_adex_tonic(adex_trains):
    isi = np.diff(adex_trains["tonic"])
    assert len(isi) > 40 and isi.max() / isi.min() < 1.2


def test_adex_adapting(adex_trains):
    isi = np.diff(adex_trains["adapting"])
    assert isi.min() > 8.0 and np.all(np.diff(isi) > -1e-6) and isi[-1] > 5 * isi[0]


def test_adex_initial_burst(adex_trains):
    isi = np.diff(adex_trains["initial_burst"])
    assert np.all(isi[:2] < 10.0) and np.all(isi[3:] > 40.0)


def test_adex_regular_bursting(adex_trains):
    isi = np.diff(adex_trains["regular_bursting"])
    long = isi > 100.0
    assert long.sum() >= 2 and np.all(isi[~long] < 10.0)  # bursts of short intervals between long pauses
    assert np.all(np.diff(np.nonzero(long)[0]) >= 2)  # two spikes or more in every burst


@pytest.mark.parametrize("pattern", ["adapting", "regular_bursting"])
def test_adex_network_step_follows_the_ode(adex_trains, pattern):
    neuron, current = adex(pattern, dt=0.1)
    agree(adex_trains[pattern], step_spike_times(neuron, current, 500.0), 4, 4 * 0.1, rtol=0.01)


def test_adaptive_lif_intervals_lengthen():
    neuron = ALIF(1, input_gain=1.0, dt=0.1)
    ivp = ivp_spike_times(neuron, 3.0, 300.0)
    isi = np.diff(ivp)
    assert len(ivp) >= 5 and np.all(np.diff(isi) > 0)
    # exact between spikes: the network form's spikes lag the ODE's only by the steps' grid (< dt per spike)
    agree(ivp, step_spike_times(neuron, 3.0, 300.0), len(ivp), neuron.dt)
    plain = ivp_spike_times(ALIF(1, input_gain=1.0, beta=0.0), 3.0, 300.0)
    assert np.ptp(np.diff(plain)) < 1e-3  # without adaptation: constant intervals


def firing_rates(neuron: MorrisLecar, currents: np.ndarray, t_end: float = 1200.0, settle: float = 200.0):
    """Frequency (Hz) of the upward crossings of 0 mV after ``settle`` ms, for each constant current (one batch)."""
    neuron = neuron.double()
    x = torch.tensor(currents, dtype=torch.float64)[:, None]
    state = neuron.initial_state(len(currents), dtype=torch.float64)
    count = torch.zeros_like(x)
    with torch.no_grad():
        for k in range(int(t_end / neuron.dt)):
            before = state[0]
            _, state = neuron.step(x, state)
            if k * neuron.dt >= settle:
                count += (state[0] > 0) & (before <= 0)
    return count[:, 0].numpy() / ((t_end - settle) / 1000.0)


def test_morris_lecar_class_one_fires_arbitrarily_slowly():
    currents = np.arange(38.0, 60.5, 0.5)
    f = firing_rates(MorrisLecar(1, input_gain=1.0, dt=0.5), currents)
    on = np.nonzero(f > 0)[0]
    assert len(on) and np.all(f[on[0]:] > 0) and np.all(np.diff(f[on[0]:]) >= -1.0)
    assert f[on[0]] <= 0.2 * f[-1]  # onset at a low frequency: the f–I curve is continuous (class I)


def test_morris_lecar_class_two_jumps():
    currents = np.arange(80.0, 100.5, 0.5)
    f = firing_rates(MorrisLecar(1, input_gain=1.0, dt=0.5, **CLASS_II), currents)
    on = np.nonzero(f > 0)[0]
    assert len(on) and f[on[0]] >= 0.7 * f[-1] and f[on[0]] >= 8.0  # onset at a finite frequency (class II)


def test_morris_lecar_network_step_follows_the_ode():
    neuron = MorrisLecar(1, input_gain=1.0, dt=0.1)
    sol = solve_ivp(neuron.rhs, (0.0, 600.0), neuron.rest_state(), args=(60.0,), max_step=0.5, rtol=1e-8, atol=1e-8,
                    dense_output=True)
    t = np.arange(0.0, 600.0, 0.1)
    v = sol.sol(t)[0]
    ivp = t[1:][(v[1:] > 0) & (v[:-1] <= 0)]
    x = torch.full((1, 1), 60.0, dtype=torch.float64)
    model = neuron.double()
    state, v_steps = model.initial_state(1, dtype=torch.float64), [model.v_rest]
    with torch.no_grad():
        for _ in range(len(t) - 1):
            _, state = model.step(x, state)
            v_steps.append(state[0].item())
    v_steps = np.array(v_steps)
    steps = t[1:][(v_steps[1:] > 0) & (v_steps[:-1] <= 0)]
    assert len(ivp) >= 8
    agree(ivp, steps, len(ivp) - 1, 0.1, rtol=0.01)


@pytest.mark.parametrize("make, key", [
    (lambda: ALIF(4, tau_m=-20.0), "neuron.tau_m"),
    (lambda: ALIF(4, beta=-0.1), "neuron.beta"),
    (lambda: Izhikevich(4, c=35.0), "neuron.c"),
    (lambda: Izhikevich(4, dt=5.0), "neuron.dt"),
    (lambda: AdEx(4, v_r=-30.0), "neuron.v_r"),
    (lambda: AdEx(4, v_peak=100.0), "neuron.v_peak"),
    (lambda: AdEx(4, tau_w=0.0), "neuron.tau_w"),
    (lambda: MorrisLecar(4, g_k=-1.0), "neuron.g_k"),
    (lambda: MorrisLecar(4, dt=4.0), "neuron.dt"),
    (lambda: MorrisLecar(4, input_gain=-2.0), "neuron.input_gain"),
])
def test_parameters_out_of_range_are_refused_with_key_value_and_range(make, key):
    with pytest.raises(ConfigError, match=rf"{key}=.* is not allowed: expected .*(\[|\(|>|positive|below|auto)"):
        make()


def test_divergence_names_the_step_and_suggests_a_dt():
    from hhlif.errors import NonFiniteState

    neuron = Izhikevich(2, dt=2.0, input_gain=1.0)
    neuron.check_finite = True
    with pytest.raises(NonFiniteState) as info:  # v ≈ −2e20 after one step: v² overflows float32 at the next
        neuron(torch.full((15, 1, 2), -1e20))
    assert info.value.step >= 2
    assert "neuron.dt (now 2.0; try 0.5)" in neuron.divergence_hint()


# -- Izhikevich's time step (docs/explanation/ladder.md#izhikevichs-time-step) -----------------------------------
def test_izhikevich_gradient_concentrates_at_half_a_millisecond_not_at_the_default(offline, monkeypatch, tmp_path,
                                                                                     capsys):
    """examples/ladder_diagnostics.py on the lite data (the same on every machine): the untrained network's rates
    are as good a basis at dt 0.5 as at the default 0.05 ms, but at 0.5 ms a few samples carry most of the
    gradient, the reason the default step is 0.05 ms."""
    import importlib.util
    import sys

    from helpers import REPO

    monkeypatch.setenv("HHLIF_DATA", str(tmp_path))
    spec = importlib.util.spec_from_file_location("ladder_diagnostics", REPO / "examples" / "ladder_diagnostics.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert Izhikevich((4,)).dt == 0.05
    monkeypatch.setattr(sys, "argv", ["ladder_diagnostics", "model=izhikevich,neuron.dt=0.5", "model=izhikevich",
                                      "--train", "1024", "--test", "256"])
    script.main()
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("model=")]
    assert [row[0] for row in rows] == ["model=izhikevich,neuron.dt=0.5", "model=izhikevich"]
    (_, gain_half, readout_half, share_half, spread_half), (_, gain, readout, share, spread) = rows
    assert float(gain) > 10 * float(gain_half)  # the shorter window needs a larger calibrated gain
    assert abs(float(readout_half) - float(readout)) < 0.05 and min(float(readout_half), float(readout)) > 0.5
    assert float(share_half.rstrip("%")) > 3 * float(share.rstrip("%"))  # measured: 73 % against 12 %
    assert float(spread_half) > 10 * float(spread)  # measured: 100 against 2.2
