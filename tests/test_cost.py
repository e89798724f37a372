"""Measured cost: FLOPs that ran (reconciled with the paper's analytic count), SynOps, energy, statistics."""

from __future__ import annotations

import pytest
import torch
from helpers import compose_config

from hhlif.metrics.cost import count_flops, energy_nj, synops_per_sample
from hhlif.metrics.flops import count_model
from hhlif.metrics.spikes import LayerSpikes, SpikeMonitor
from hhlif.metrics.tasks import TaskSplit
from hhlif.trainers.classify import build_classifier


def measured_forward(model, batch=4):
    x = torch.rand(batch, 1, 36, 36) * 255
    model.eval()
    with torch.no_grad():
        return {k: v / batch for k, v in count_flops(lambda: model(x)).items()}


@pytest.mark.parametrize("neuron,ours_per_step", [("lif", 6), ("hh", 36)])
def test_measured_flops_reconcile_exactly_with_the_paper_count(neuron, ours_per_step):
    """measured = paper − (T−1)·synapse (projected once, not T times) + one ADD per output of each Linear
    (PyTorch counts a multiply-accumulate as 2 FLOPs, the paper in·out MUL + (in−1)·out ADD) + the task heads
    (not counted by the paper) + the mean over T (a sum, one op per input value, then one division per unit)
    + the difference in neuron arithmetic per unit and step."""
    model = build_classifier(compose_config([f"neuron={neuron}", "network=fc", "neuron.fused=false"]))
    paper = count_model(model)
    T, units = 15, 512
    synapse_per_use = 1296 * 512 + 1295 * 512
    paper_ops_per_step = sum(model.layer.neuron.ops_per_step)
    heads = 2 * (2 * 50 * 10)
    expected = (paper.add + paper.mul - (T - 1) * synapse_per_use + 512 + 50 + heads + units * T + units
                + (ours_per_step - paper_ops_per_step) * units * T)
    got = measured_forward(model)
    assert got["total"] == expected
    # neuron arithmetic + the temporal mean (a sum over T, then one division per unit)
    assert got["elementwise"] == (ours_per_step + 1) * units * T + units
    assert got["total"] < 0.1 * (paper.add + paper.mul)  # the fast path skips 14 of 15 projections


def test_hh_gating_maths_is_counted():
    hh = measured_forward(build_classifier(compose_config(["neuron=hh", "neuron.fused=false"])))
    lif = measured_forward(build_classifier(compose_config(["neuron=lif", "neuron.fused=false"])))
    assert hh["matmul_conv"] == lif["matmul_conv"]
    assert hh["elementwise"] == 37 * 512 * 15 + 512 and lif["elementwise"] == 7 * 512 * 15 + 512


@pytest.mark.parametrize("neuron", ["lif", "hh", "lif_hh"])
def test_fused_kernels_are_counted_and_do_no_more_arithmetic(neuron):
    eager = measured_forward(build_classifier(compose_config([f"neuron={neuron}", "neuron.fused=false"])))
    fused = measured_forward(build_classifier(compose_config([f"neuron={neuron}", "neuron.fused=true"])))
    assert fused["matmul_conv"] == eager["matmul_conv"]
    assert 0.5 * eager["elementwise"] < fused["elementwise"] <= eager["elementwise"]


def test_synops_and_energy_from_spike_counts():
    layers = {"layer1": LayerSpikes(rates=torch.tensor([0.5, 0.0, 1.0, 0.5]), per_step=torch.full((10,), 0.5)),
              "layer2": LayerSpikes(rates=torch.tensor([0.1, 0.3]), per_step=torch.full((10,), 0.2))}
    # spikes per sample: layer1 (0.5+0+1+0.5)·10 = 20, layer2 0.4·10 = 4
    assert layers["layer1"].spikes_per_sample == pytest.approx(20)
    assert synops_per_sample(layers, {"layer1": 90, "layer2": 50}) == pytest.approx(20 * 90 + 4 * 50)
    assert synops_per_sample(layers, {"layer2": 50}) == pytest.approx(200)
    assert energy_nj(dense_macs=1000, synops=2000) == pytest.approx((4.6 * 1000 + 0.9 * 2000) / 1000)


def test_spike_monitor_rates_per_unit_and_per_step():
    model = build_classifier(compose_config(["neuron=hh", "network.time_steps=15"]))
    monitor = SpikeMonitor(model)
    monitor.enabled = True
    with torch.no_grad():
        model(torch.zeros(3, 1, 36, 36))
    stats = monitor.layers()["layer"]
    # with zero input every HH_fc neuron whose bias current is small starts firing at step 7 (test_neurons)
    assert stats.per_step.shape == (15,) and stats.rates.shape == (512,)
    assert float(stats.per_step[:5].max()) == 0.0 and float(stats.per_step[-1]) > 0.9
    assert stats.rate_mean == pytest.approx(float(stats.per_step.mean()), rel=1e-5)
    assert stats.spikes_per_sample == pytest.approx(float(stats.rates.sum()) * 15, rel=1e-6)


def test_task_split_on_a_hand_made_head():
    model = build_classifier(compose_config(["neuron=lif", "network.hidden=4"]))
    head = model.head
    with torch.no_grad():
        head.shared.weight.zero_()
        head.shared.weight[0, 0] = 1.0  # feature 0 → hidden 0 → task 1 only
        head.shared.weight[1, 1] = 1.0  # feature 1 → hidden 1 → task 2 only
        head.shared.weight[2, 2] = 1.0  # feature 2 → hidden 2 → both tasks
        for t in head.tasks:
            t.weight.zero_()
        head.tasks[0].weight[0, 0] = 2.0
        head.tasks[0].weight[0, 2] = 1.0
        head.tasks[1].weight[0, 1] = 1.0
        head.tasks[1].weight[0, 2] = 1.0
    split = TaskSplit(model)
    assert torch.allclose(split.influence()[:, :3], torch.tensor([[2.0, 0, 1], [0, 1, 1]], dtype=torch.float64))
    split.enabled = True
    head(torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    scalars, preference = split.summary()
    assert scalars["tasks/share_task1"] == pytest.approx(3 / 5)  # (2 + 1) / (2 + 1 + 1 + 1)
    assert scalars["tasks/active_features_frac"] == pytest.approx(0.75)
    assert scalars["tasks/prefer_task1_frac"] == pytest.approx(2 / 3)  # features 0 and 2 (tie → task 1)
    assert preference.tolist() == pytest.approx([1.0, -1.0, 0.0])


def test_actor_cost_quantities_by_hand():
    from hhlif.networks.policy import SpikingActor

    actor = SpikingActor(neuron={"name": "lif", "fused": False}, obs_size=4, action_size=1, action_low=[-3.0],
                         action_high=[3.0])
    assert actor.dense_macs() == 4 * 128 * 15  # one projection of the observation per step, T = 5 × 3
    assert actor.spike_fanout() == {"layer": 128 + 128}  # first Linear of the mean and of the log-std branch
    with torch.no_grad():
        flops = count_flops(lambda: actor(torch.zeros(1, 5, 4)))
    # projection 2·4·128·15, two 3-layer branches 2·(2·128·128 + 2·128·128 + 2·128·1), LIF 6 + mean 1 per unit-step
    # (plus the clamp of log σ: 1)
    assert flops["matmul_conv"] == 2 * 4 * 128 * 15 + 2 * (2 * 128 * 128 * 2 + 2 * 128)
    # LIF 6 + temporal mean 1 per unit and step (+ its division per unit), ReLU 2 × 128 per branch, the clamp of log σ
    assert flops["elementwise"] == 7 * 128 * 15 + 128 + 2 * 2 * 128 + 1
