"""The textbook HH layer (``neuron=hh_textbook``): traces and spike times against scipy's solve_ivp at tight
tolerance, the layer contract, and training through the CLI."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import torch
from helpers import compose_config, run_cli

from hhlif.neurons import build_neuron
from hhlif.neurons.base import NonFiniteState
from hhlif.neurons.hh_textbook import HHTextbook
from hhlif.trainers.classify import build_classifier

solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp
THETA = -40.0


# -- an independent reference: the 1952 equations typed out, integrated by LSODA at rtol = atol = 1e-10 --------
def _rates(v):
    u = v + 65.0
    return (0.01 * (10 - u) / (np.exp((10 - u) / 10) - 1), 0.125 * np.exp(-u / 80),
            0.1 * (25 - u) / (np.exp((25 - u) / 10) - 1), 4 * np.exp(-u / 18),
            0.07 * np.exp(-u / 20), 1 / (1 + np.exp((30 - u) / 10)))


def _rhs(t, y, current):
    v, n, m, h = y
    a_n, b_n, a_m, b_m, a_h, b_h = _rates(v)
    i_ion = 120 * m**3 * h * (v - 50) + 36 * n**4 * (v + 77) + 0.3 * (v + 54.387)
    return [current - i_ion, a_n * (1 - n) - b_n * n, a_m * (1 - m) - b_m * m, a_h * (1 - h) - b_h * h]


def _rest():
    a_n, b_n, a_m, b_m, a_h, b_h = _rates(-65.0)
    return [-65.0, a_n / (a_n + b_n), a_m / (a_m + b_m), a_h / (a_h + b_h)]


@cache
def reference(current: float, duration: float):
    """(upward θ-crossing times, dense solution) of the resting neuron under a constant current."""
    def crossing(t, y, current):
        return y[0] - THETA
    crossing.direction = 1
    sol = solve_ivp(_rhs, (0.0, duration), _rest(), args=(current,), method="LSODA", rtol=1e-10, atol=1e-10,
                    events=crossing, dense_output=True, max_step=0.05)
    return sol.t_events[0], sol.sol


def ours(currents, duration: float, dt: float = 0.01):
    """Spike times (end of the integration step in which v crossed θ) and v after every step, one neuron per
    current, in float64 with one integration step per network step."""
    neuron = HHTextbook((len(currents),), dt=dt, substeps=1, input_gain=1.0, checkpoint=False).double()
    state = neuron.initial_state(1, torch.device("cpu"), torch.float64)
    drive = torch.tensor([currents], dtype=torch.float64)
    steps = int(round(duration / dt))
    spikes, volts = np.zeros((steps, len(currents))), np.zeros((steps, len(currents)))
    with torch.no_grad():
        for k in range(steps):
            s, state = neuron.step(drive, state)
            spikes[k], volts[k] = s[0].numpy(), state[0][0].numpy()
    times = [(np.flatnonzero(spikes[:, i]) + 1) * dt for i in range(len(currents))]
    return times, volts, (np.arange(steps) + 1) * dt


def test_initial_state_is_rest_and_rest_is_kept():
    neuron = HHTextbook((2,)).double()
    v, n, m, h = neuron.initial_state(3, torch.device("cpu"), torch.float64)
    assert v.shape == (3, 2) and torch.all(v == -65.0)
    assert (n[0, 0].item(), m[0, 0].item(), h[0, 0].item()) == pytest.approx((0.3177, 0.0529, 0.5961), abs=1e-4)
    _, volts, t = ours([0.0], 20.0, dt=0.05)
    _, sol = reference(0.0, 20.0)
    assert np.abs(volts[:, 0] + 65.0).max() < 0.01
    assert np.abs(volts[:, 0] - sol(t)[0]).max() < 1e-3


def test_subthreshold_trace_matches_solve_ivp():
    _, volts, t = ours([1.0], 15.0, dt=0.02)
    _, sol = reference(1.0, 15.0)
    assert np.abs(volts[:, 0] - sol(t)[0]).max() < 0.01  # mV


def test_single_spike_at_threshold_current():
    (t_25, t_20), _, _ = ours([2.5, 2.0], 20.0)
    ref_25, ref_20 = reference(2.5, 20.0)[0], reference(2.0, 20.0)[0]
    assert len(ref_25) == len(t_25) == 1 and len(ref_20) == len(t_20) == 0  # threshold between 2.0 and 2.5
    assert abs(t_25[0] - ref_25[0]) < 0.05  # ms


def test_repetitive_firing_above_rheobase():
    (times,), volts, t = ours([10.0], 50.0, dt=0.02)
    ref, sol = reference(10.0, 50.0)
    assert len(times) == len(ref) == 4
    assert np.abs(times - ref).max() < 0.05  # ms, after three inter-spike intervals
    before = t < ref[0] - 0.3  # the trace up to the first spike
    assert np.abs(volts[before, 0] - sol(t[before])[0]).max() < 0.05


def test_f_i_curve_matches_solve_ivp():
    currents = [0.0, 3.0, 10.0, 20.0, 50.0, 100.0]
    times, _, _ = ours(currents, 100.0, dt=0.025)
    for current, got in zip(currents, times, strict=True):
        ref = reference(current, 100.0)[0]
        assert len(got) == len(ref), current
        if len(ref) > 2:  # mean inter-spike interval within 1 %
            assert np.diff(got).mean() == pytest.approx(np.diff(ref).mean(), rel=0.01)
            assert np.abs(got - ref).max() < 0.1
    assert [len(t) for t in times] == [0, 1, 7, 9, 12, 15]  # the f–I curve: 0, single spike, then 70–150 Hz


# -- the layer -------------------------------------------------------------------------------------------------
def test_spike_is_an_upward_crossing_not_every_step_above_threshold():
    neuron = HHTextbook((3,), input_gain=1.0, dt=0.025, substeps=40).double()  # 1 ms per network step
    currents = torch.tensor([[10.0, 500.0, 0.0]], dtype=torch.float64).expand(50, 1, 3)
    with torch.no_grad():
        s = neuron(currents)[:, 0]
    assert torch.nonzero(s[:, 0]).flatten().tolist() == [1, 16, 31, 45]  # spikes at 1.6, 16.5, 31.1, 45.8 ms
    assert s[:, 1].sum() == 1  # depolarisation block: v stays above θ after one spike
    assert s[:, 2].sum() == 0


def test_surrogate_gradient_reaches_the_input_and_the_parameters():
    neuron = HHTextbook((4,), learnable_conductances=True, learnable_rates=True, param_sharing="neuron",
                        substeps=5, dt=0.2)
    current = torch.tensor([[[0.0, 5.0, 30.0, -50.0]]]).expand(6, 2, 4).clone().requires_grad_(True)
    spikes = neuron(current)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    spikes.sum().backward()
    grad = current.grad.sum((0, 1))
    assert torch.isfinite(grad).all() and grad[2] != 0 and grad[3] == 0  # far below θ − half-width: none
    assert neuron.log_conductances.shape == (3, 4) and neuron.log_rate_scales.shape == (6, 4)
    assert neuron.log_conductances.grad.abs().sum() > 0 and neuron.log_rate_scales.grad.abs().sum() > 0


@pytest.mark.parametrize("sharing,shape", [("neuron", (3, 5, 5)), ("channel", (3, 1, 1)), ("layer", (1, 1, 1))])
def test_parameter_sharing_shapes(sharing, shape):
    neuron = build_neuron({"name": "hh_textbook", "learnable_rates": True, "param_sharing": sharing}, (3, 5, 5))
    assert tuple(neuron.log_rate_scales.shape) == (6, *shape)
    assert isinstance(neuron.log_rate_scales, torch.nn.Parameter)
    frozen = build_neuron({"name": "hh_textbook"}, (3, 5, 5))
    assert not any(True for _ in frozen.parameters())


def test_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    current = (torch.randn(6, 3, 8) * 20).requires_grad_(True)
    grads = []
    for checkpoint in (True, False):
        neuron = HHTextbook((8,), substeps=5, checkpoint=checkpoint, learnable_conductances=True)
        neuron(current).sum().backward()
        grads.append((current.grad.clone(), neuron.log_conductances.grad.clone()))
        current.grad = None
    assert torch.allclose(grads[0][0], grads[1][0]) and torch.allclose(grads[0][1], grads[1][1])


def test_detached_gates_still_pass_gradients_along_the_membrane():
    current = torch.tensor([[[3.0, 30.0]]]).expand(4, 1, 2).clone().requires_grad_(True)
    neuron = HHTextbook((2,), substeps=5, dt=0.2, detach_gates=True, learnable_conductances=True)
    neuron(current).sum().backward()
    assert torch.isfinite(current.grad).all() and current.grad.abs().sum() > 0
    assert neuron.log_conductances.grad.abs().sum() > 0


@pytest.mark.parametrize("network", ["fc", "conv"])
def test_plugs_into_the_classification_networks(network):
    cfg = compose_config([f"network={network}", "neuron=hh_textbook", "network.time_steps=3", "neuron.substeps=2",
                          "neuron.dt=0.25"])
    model = build_classifier(cfg)
    logits = model(torch.rand(2, 1, 36, 36) * 255)
    assert logits.shape == (2, 2, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    layer = model.layer if network == "fc" else model.layer1
    assert layer.neuron.ops_per_step == (37 * 2 + 2, 31 * 2 + 3)  # what its step computes (hhlif.testing)


def test_plugs_into_the_policy_network():
    policy = pytest.importorskip("hhlif.networks.policy")
    actor = policy.SpikingActor(neuron={"name": "hh_textbook", "input_gain": 30.0, "substeps": 2}, obs_size=4,
                                action_size=1, action_low=[-3.0], action_high=[3.0], hidden=16, window=2, repeat=2)
    mean, log_std = actor(torch.randn(5, 2, 4))
    assert mean.shape == (5, 1) and log_std.shape == (5, 1)
    mean.sum().backward()
    assert actor.layer.synapse.weight.grad is not None


def test_policy_layer_needs_a_gain_for_observations_of_order_one():
    """Control observations are of order 1: with the default gain (0.2, sized for 0–255 pixels) the actor's layer
    stays silent and its output ignores the observation; with neuron.input_gain=50 it fires and depends on it."""
    policy = pytest.importorskip("hhlif.networks.policy")
    torch.manual_seed(0)
    window = torch.randn(8, 5, 4)
    rates = {}
    for gain in (0.2, 50.0):
        actor = policy.SpikingActor(neuron={"name": "hh_textbook", "input_gain": gain}, obs_size=4, action_size=1,
                                    action_low=[-3.0], action_high=[3.0], hidden=32)
        with torch.no_grad():
            rates[gain] = actor.layer(window.repeat_interleave(3, dim=1).transpose(0, 1)).mean(0)  # [8, 32]
    assert rates[0.2].sum() == 0
    assert rates[50.0].mean() > 0.01 and (rates[50.0].std(0) > 0).float().mean() > 0.5


def test_non_finite_input_is_reported_with_advice():
    neuron = HHTextbook((2,))
    neuron.check_finite = True
    with pytest.raises(NonFiniteState) as info:
        neuron(torch.tensor([[[1.0, float("nan")]]]))
    assert "input_gain" in info.value.neuron.divergence_hint()


def test_bad_values_name_the_key():
    from hhlif.errors import ConfigError

    for cfg, key in (({"dt": 0}, "neuron.dt"), ({"substeps": 1.5}, "neuron.substeps"),
                     ({"param_sharing": "row"}, "neuron.param_sharing"), ({"g_na": -1}, "neuron.g_na")):
        with pytest.raises(ConfigError, match=key):
            build_neuron({"name": "hh_textbook", **cfg}, (2,))


# -- training through the CLI ------------------------------------------------------------------------------------
def _train(tmp_path, extra, timeout=600):
    run_dir = tmp_path / "run"
    proc = run_cli(["train", "neuron=hh_textbook", "trainer.max_epochs=1", "trainer.progress=never",
                    *extra, f"hydra.run.dir={run_dir}"], cwd=tmp_path, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


def test_trains_one_tiny_epoch_on_multimnist(tmp_path):
    metrics = _train(tmp_path, ["task.limit_train=64", "task.limit_test=64", "trainer.batch_size=32",
                                "network.hidden=32", "network.time_steps=4", "neuron.substeps=4", "neuron.dt=0.1"])
    assert metrics["epoch"] == 1 and 0.0 <= metrics["test/acc_mean"] <= 1.0
    assert metrics["spikes/layer/rate_mean"] > 0


@pytest.mark.slow
def test_trains_one_short_epoch_on_multimnist_with_the_defaults(tmp_path):
    metrics = _train(tmp_path, ["task.limit_train=512", "task.limit_test=512"], timeout=1800)
    assert metrics["epoch"] == 1 and metrics["spikes/layer/rate_mean"] > 0
