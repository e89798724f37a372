"""The paper's ten models, built from the config tree: shapes, parameter counts, constants, equivalence
of the batched-synapse forward with a per-step formulation."""

from __future__ import annotations

import pytest
import torch
from helpers import compose_config

from hhlif.errors import ConfigError
from hhlif.networks import count_parameters
from hhlif.networks.layers import avg_pool_maps
from hhlif.trainers.classify import build_classifier

# name → (overrides, trainable parameters from docs/explanation/authors-code.md#architectures, frozen values)
PAPER_MODELS = {
    "LIF_fc": (["neuron=lif", "network=fc"], 690_734, 0),
    "4LIF_fc": (["neuron=lif", "network=fc", "network.width_factor=4"], 2_759_726, 0),
    "HH_fc": (["neuron=hh", "network=fc"], 690_734, 6 * 512),
    "LIF_hh_fc": (["neuron=lif_hh", "network=fc"], 2_095_666, 0),
    "ANN": (["neuron=binary", "network=fc"], 690_734, 0),
    "LIF_conv": (["neuron=lif", "network=conv"], 42_580, 0),
    "4LIF_conv": (["neuron=lif", "network=conv", "network.width_factor=4"], 177_910, 0),
    "HH_conv": (["neuron=hh", "network=conv"], 42_580, 6 * (10 * 36 * 36 + 10 * 18 * 18)),
    "LIF_hh_conv": (["neuron=lif_hh", "network=conv"], 166_104, 0),
    "CNN": (["neuron=binary", "network=conv"], 42_580, 0),
}


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_paper_model_parameter_counts_and_output_shape(name):
    overrides, trainable, frozen = PAPER_MODELS[name]
    model = build_classifier(compose_config(overrides))
    assert count_parameters(model) == (trainable, frozen)
    assert model(torch.rand(3, 1, 36, 36) * 255).shape == (3, 2, 10)


@pytest.mark.parametrize("overrides,expected", [
    (["neuron=hh", "network=fc"], {"neuron.threshold": 0.2, "neuron.half_width": 0.3, "neuron.dt": 0.01,
                                   "neuron.rate_scale": 0.01, "network.weight_scale": 0.01,
                                   "trainer.optimizer.lr": 1e-4, "trainer.scheduler.milestones": [10, 20, 30]}),
    (["neuron=hh", "network=conv"], {"neuron.threshold": 2.3, "neuron.half_width": 0.5, "neuron.dt": 0.1,
                                     "neuron.detach_ionic": True, "network.weight_scale": 1.0,
                                     "trainer.optimizer.lr": 3e-3, "trainer.optimizer.weight_decay": 3e-4,
                                     "trainer.scheduler.milestones": [20, 30]}),
    (["neuron=lif_hh", "network=fc"], {"neuron.threshold": 2.0, "neuron.decay": 0.5, "neuron.half_width": 0.4,
                                       "neuron.mixer_abs_init": True}),
    (["neuron=lif_hh", "network=conv"], {"neuron.threshold": 0.3, "neuron.decay": 0.2,
                                         "neuron.share_mixer": True, "neuron.mixer_abs_init": False}),
    (["neuron=lif", "network=fc"], {"neuron.threshold": 0.3, "neuron.decay": 0.2, "neuron.half_width": 0.5}),
    (["neuron=binary", "network=conv"], {"network.time_steps": 1, "trainer.optimizer.lr": 1e-3,
                                         "trainer.optimizer.weight_decay": 1e-4}),
    (["neuron=hh", "network=conv", "neuron.threshold=1.5"], {"neuron.threshold": 1.5}),  # command line wins
])
def test_paper_constants_follow_neuron_and_network(overrides, expected):
    cfg = compose_config(overrides)
    for key, value in expected.items():
        got = cfg
        for part in key.split("."):
            got = got[part]
        assert (list(got) if isinstance(value, list) else got) == value, key
    assert cfg.seed == 1 and cfg.trainer.max_epochs == 40 and cfg.trainer.batch_size == 128
    assert cfg.network.time_steps in (1, 15)


def test_hh_fc_scales_weights_not_biases():
    torch.manual_seed(0)
    scaled = build_classifier(compose_config(["neuron=hh", "network=fc"]))
    torch.manual_seed(0)
    plain = build_classifier(compose_config(["neuron=hh", "network=fc", "network.weight_scale=1.0"]))
    assert torch.allclose(scaled.layer.synapse.weight, 0.01 * plain.layer.synapse.weight)
    assert torch.equal(scaled.layer.synapse.bias, plain.layer.synapse.bias)


def test_lif_hh_conv_shares_one_mixer_between_layers():
    model = build_classifier(compose_config(["neuron=lif_hh", "network=conv"]))
    assert model.layer1.neuron.mixer is model.layer2.neuron.mixer


def test_static_input_is_projected_once():
    model = build_classifier(compose_config(["neuron=lif", "network=fc"]))
    calls = []
    model.layer.synapse.register_forward_hook(lambda *a: calls.append(1))
    model(torch.rand(2, 1, 36, 36))
    assert len(calls) == 1


def _per_step_reference(model, x):
    """The paper code's computation order: every step re-projects the (repeated) input, one neuron step."""
    T = model.time_steps
    if hasattr(model, "layer"):  # fc
        layer, n = model.layer, model.layer.neuron
        state = n.initial_state(x.shape[0], x.device, x.dtype)
        rates = 0
        for _ in range(T):
            cur = layer.synapse(x.flatten(1))
            if n.inputs_per_unit > 1:
                cur = cur.view(x.shape[0], n.inputs_per_unit, -1).movedim(1, -1)
            s, state = n.step(cur, state)
            rates = rates + s.flatten(1)
        return model.head(rates / T)
    l1, l2 = model.layer1, model.layer2
    st1 = l1.neuron.initial_state(x.shape[0], x.device, x.dtype)
    st2 = l2.neuron.initial_state(x.shape[0], x.device, x.dtype)
    k_in, k_out = l1.neuron.inputs_per_unit, l1.neuron.outputs_per_unit
    total = 0
    for _ in range(T):
        c1 = l1.synapse(x)
        if k_in > 1:
            c1 = c1.view(x.shape[0], k_in, -1, *c1.shape[2:]).movedim(1, -1)
        s1, st1 = l1.neuron.step(c1, st1)
        p1 = avg_pool_maps(s1, k_out)
        maps = [p1[..., j] for j in range(k_out)] if k_out > 1 else [p1]
        c2 = sum(l2.synapse(m) for m in maps)  # each sub-map convolved separately, bias added each time
        if k_in > 1:
            c2 = c2.view(x.shape[0], k_in, -1, *c2.shape[2:]).movedim(1, -1)
        s2, st2 = l2.neuron.step(c2, st2)
        total = total + avg_pool_maps(s2, k_out)
    return model.head((total / T).flatten(1))


@pytest.mark.parametrize("name", ["LIF_fc", "HH_fc", "LIF_hh_fc", "LIF_conv", "HH_conv", "LIF_hh_conv"])
def test_batched_forward_equals_per_step_formulation(name):
    torch.manual_seed(1)
    model = build_classifier(compose_config(PAPER_MODELS[name][0] + ["network.time_steps=6"])).double()
    x = torch.rand(2, 1, 36, 36, dtype=torch.float64) * 255
    with torch.no_grad():
        assert torch.allclose(model(x), _per_step_reference(model, x), atol=1e-9)


def test_ann_single_pass_equals_repeated_window():
    torch.manual_seed(0)
    one = build_classifier(compose_config(["neuron=binary", "network=fc"]))
    many = build_classifier(compose_config(["neuron=binary", "network=fc", "network.time_steps=15"]))
    many.load_state_dict(one.state_dict())
    x = torch.rand(4, 1, 36, 36) * 255
    assert torch.allclose(one(x), many(x))


def test_gradients_reach_every_trainable_parameter():
    for name in ("HH_fc", "LIF_hh_conv"):
        torch.manual_seed(0)
        model = build_classifier(compose_config(PAPER_MODELS[name][0]))
        model(torch.rand(4, 1, 36, 36) * 255).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, (name, missing)


@pytest.mark.parametrize("override,key", [
    ("network.hidden=0", "network.hidden"), ("network.time_steps=-1", "network.time_steps"),
    ("network.width_factor=1.5", "network.width_factor"), ("neuron.dt=-0.1", "neuron.dt"),
])
def test_bad_network_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_classifier(compose_config(["neuron=hh", override]))
