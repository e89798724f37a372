"""Neuron models against values derived by hand from their equations."""

from __future__ import annotations

import math

import pytest
import torch

from hhlif.errors import ConfigError
from hhlif.neurons import HH, LIF, LIFHH, Binary, build_neuron
from hhlif.neurons.surrogate import Spike


def run_steps(neuron, current, steps):
    """Spikes and states of every step for a constant ``current`` [B, ...]."""
    state = neuron.initial_state(current.shape[0], current.device, current.dtype)
    spikes, states = [], []
    for _ in range(steps):
        s, state = neuron.step(current, state)
        spikes.append(s)
        states.append(state)
    return torch.stack(spikes), states


# -- surrogate ---------------------------------------------------------------------------------------------
def test_spike_is_strict_heaviside_with_unit_boxcar_gradient():
    spike = Spike("boxcar", half_width=0.3)
    x = torch.tensor([-0.5, -0.3, -0.1, 0.0, 0.1, 0.29, 0.3, 0.7], requires_grad=True)
    s = spike(x)
    assert s.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]  # x = 0 does not spike
    s.sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 1, 0, 0]  # |x| < 0.3, height 1


def test_unknown_surrogate_lists_choices():
    with pytest.raises(ConfigError, match="boxcar"):
        Spike("sigmoid", 0.5)


# -- LIF ---------------------------------------------------------------------------------------------------
def test_lif_constant_input_spikes_every_second_step():
    # decay 0.2, θ 0.3, I = 0.26: u1 = 0.26, u2 = 0.2·0.26 + 0.26 = 0.312 > θ → spike, reset → u3 = 0.26, ...
    lif = LIF((1,), threshold=0.3, decay=0.2)
    spikes, states = run_steps(lif, torch.full((1, 1), 0.26), 6)
    assert spikes[:, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]
    assert [round(float(st[0]), 6) for st in states] == [0.26, 0.312, 0.26, 0.312, 0.26, 0.312]


def test_lif_below_threshold_converges_without_spiking():
    # fixed point I / (1 - decay) = 0.2 / 0.8 = 0.25 < 0.3
    lif = LIF((3,), threshold=0.3, decay=0.2)
    spikes, states = run_steps(lif, torch.full((2, 3), 0.2), 40)
    assert spikes.sum() == 0
    assert float(states[-1][0][0, 0]) == pytest.approx(0.25, abs=1e-6)


def test_lif_forward_matches_step_loop_and_reset_carries_gradient():
    torch.manual_seed(0)
    lif = LIF((5,), threshold=0.3, decay=0.2)
    current = torch.rand(7, 2, 5, requires_grad=True)
    out = lif(current)
    ref = []
    state = lif.initial_state(2, current.device, current.dtype)
    for t in range(7):
        s, state = lif.step(current[t], state)
        ref.append(s)
    assert torch.equal(out, torch.stack(ref))
    out.sum().backward()
    assert current.grad.abs().sum() > 0


# -- HH ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt,threshold,first", [(0.01, 0.2, 7), (0.1, 2.3, 9), (0.01, 2.3, None)])
def test_hh_zero_input_onset(dt, threshold, first):
    # rates ≤ 0.01 keep the gating ~0, so v_t = 10.6 (1 - (1 - 0.3 dt)^t): the paper's fc HH first spikes at
    # step 7, its conv HH at step 9, and the MI HH (θ 2.3, dt 0.01) not within 15 steps.
    torch.manual_seed(0)
    hh = HH((16,), threshold=threshold, dt=dt, rate_scale=0.01)
    spikes, states = run_steps(hh, torch.zeros(1, 16), 15)
    v = [10.6 * (1 - (1 - 0.3 * dt) ** t) for t in range(1, 16)]
    for t, st in enumerate(states):
        assert torch.allclose(st[0], torch.full((1, 16), v[t]), atol=2e-4)  # gating adds < 1e-4
    expected = [0.0 if first is None or t + 1 < first else 1.0 for t in range(15)]
    assert spikes[:, 0, :].mean(-1).tolist() == expected


def test_hh_gating_follows_first_order_kinetics():
    hh = HH((1,), dt=0.5, rate_scale=0.01)
    hh.rates.copy_(torch.tensor([[0.2], [0.1], [0.4], [0.3], [0.05], [0.15]]))
    _, states = run_steps(hh, torch.zeros(1, 1), 2)
    # n1 = 0 + 0.5 (0.2·1 - 0) = 0.1; n2 = 0.1 + 0.5 (0.2·0.9 - 0.1·0.1) = 0.185
    assert float(states[0][1]) == pytest.approx(0.1)
    assert float(states[1][1]) == pytest.approx(0.185)
    # m1 = 0.5·0.4 = 0.2; h1 = 0.5·0.05 = 0.025
    assert float(states[0][2]) == pytest.approx(0.2)
    assert float(states[0][3]) == pytest.approx(0.025)


def test_hh_sodium_current_drives_v_toward_e_na():
    # one step from v = 0 with m = h = 1: dv = dt · (-120 (0 - 115) - 0.3 (0 - 10.6)) = dt · 13803.18
    hh = HH((1,), dt=1e-4)
    v, n, m, h = (torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1))
    _, (v1, *_rest) = hh.step(torch.zeros(1, 1), (v, n, m, h))
    assert float(v1) == pytest.approx(1e-4 * (120 * 115 + 0.3 * 10.6), rel=1e-5)


def test_hh_rates_are_frozen_buffers_unless_learnable():
    frozen = HH((4,))
    assert "rates" in dict(frozen.named_buffers()) and not list(frozen.parameters())
    learnable = HH((4,), learnable_rates=True)
    assert learnable.rates.requires_grad and learnable.rates.shape == (6, 4)
    assert float(frozen.rates.max()) <= 0.01 and float(frozen.rates.min()) >= 0.0


def test_hh_rates_shared_along_last_axis():
    hh = HH((3, 5, 7), rate_sharing="last_axis")
    assert hh.rates.shape == (6, 7)
    spikes = hh(torch.zeros(4, 2, 3, 5, 7))
    assert spikes.shape == (4, 2, 3, 5, 7)


def test_hh_no_reset_keeps_spiking_above_threshold():
    hh = HH((1,), threshold=0.2, dt=0.01)
    spikes, _ = run_steps(hh, torch.full((1, 1), 50.0), 15)
    first = int(spikes[:, 0, 0].argmax())
    assert spikes[first:, 0, 0].eq(1).all()


# -- s-LIF2HH ----------------------------------------------------------------------------------------------
def test_lif_hh_fourth_subneuron_reads_previous_membranes():
    unit = LIFHH((1,), threshold=10.0, decay=0.5)
    with torch.no_grad():
        unit.mixer.weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
        unit.mixer.bias.fill_(0.5)
    current = torch.tensor([[[0.1, 0.2, 0.3]]])  # [B=1, units=1, 3]
    _, states = run_steps(unit, current, 2)
    u1, u2 = states[0][0][0, 0], states[1][0][0, 0]
    assert u1.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.5])  # sub-neuron 3 starts from the bias
    # u2[k] = 0.5 u1[k] + I[k]; u2[3] = 0.5·0.5 + (0.1 + 0.4 + 0.9 + 0.5)
    assert u2.tolist() == pytest.approx([0.15, 0.3, 0.45, 2.15])


def test_lif_hh_outputs_four_trains_per_unit_and_resets_each_subneuron():
    unit = LIFHH((2,), threshold=0.3, decay=0.2)
    with torch.no_grad():
        unit.mixer.weight.zero_()
        unit.mixer.bias.fill_(0.26)
    current = torch.tensor([[[0.26, 0.0, 0.4], [0.0, 0.0, 0.0]]])
    out = unit(current.unsqueeze(0).expand(4, -1, -1, -1))
    assert out.shape == (4, 1, 2, 4)
    assert out[:, 0, 0, 0].tolist() == [0, 1, 0, 1]  # the LIF pattern of test_lif_constant_input...
    assert out[:, 0, 0, 2].tolist() == [1, 1, 1, 1]
    assert out[:, 0, 0, 3].tolist() == [0, 1, 0, 1]  # driven by the bias alone
    assert out[:, 0, 1, :3].sum() == 0


def test_lif_hh_mixer_shared_when_asked():
    a = build_neuron({"name": "lif_hh", "share_mixer": True}, (3,))
    b = build_neuron({"name": "lif_hh", "share_mixer": True}, (5,), **a.shared_modules())
    c = build_neuron({"name": "lif_hh", "share_mixer": False}, (5,), **a.shared_modules())
    assert a.mixer is b.mixer and c.mixer is not a.mixer
    assert c.shared_modules() == {} and b.shared_modules()["mixer"] is a.mixer
    abs_init = build_neuron({"name": "lif_hh", "mixer_abs_init": True}, (3,))
    assert float(abs_init.mixer.weight.detach().min()) >= 0


# -- binary ------------------------------------------------------------------------------------------------
def test_binary_step_and_surrogate_window():
    unit = Binary((4,), threshold=0.5, half_width=0.5)
    x = torch.tensor([[-0.2, 0.4, 0.7, 1.2]], requires_grad=True)
    s, _ = unit.step(x, ())
    assert s.tolist() == [[0, 0, 1, 1]]
    s.sum().backward()
    # ReLU'·1[|ReLU(x) - 0.5| < 0.5]: x<0 → 0 (ReLU'), 0.4 and 0.7 → 1, 1.2 → 0
    assert x.grad.tolist() == [[0, 1, 1, 0]]


def test_binary_static_input_evaluated_once_same_result():
    unit = Binary((3,))
    x = torch.randn(2, 3)
    static = unit(x.unsqueeze(0).expand(5, 2, 3))
    varying = unit(x.unsqueeze(0).repeat(5, 1, 1))
    assert torch.equal(static, varying)


# -- config ------------------------------------------------------------------------------------------------
def test_build_neuron_rejects_unknown_name_and_parameter():
    installed = "adex, alif, binary, hh, hh_textbook, izhikevich, lif, lif_hh, morris_lecar"
    with pytest.raises(ConfigError, match=f"Installed neurons: {installed}"):
        build_neuron({"name": "no_such_neuron"}, (3,))
    with pytest.raises(ConfigError, match="decay"):
        build_neuron({"name": "lif", "tau": 2.0}, (3,))
    with pytest.raises(ConfigError, match="neuron.dt"):
        build_neuron({"name": "hh", "dt": 0.0}, (3,))
    with pytest.raises(ConfigError, match="neuron.decay"):
        build_neuron({"name": "lif", "decay": 1.5}, (3,))


def test_docstrings_state_the_equations():
    for cls in (LIF, HH, LIFHH, Binary):
        assert "math::" in cls.__doc__ or "H(" in cls.__doc__
    assert math.isclose(HH((1,)).e_l, 10.6)
