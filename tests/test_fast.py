"""The fused neuron windows against the eager step loop, and ``hhlif bench``."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from helpers import compose_config, run_cli

from hhlif.bench.reference import ReferenceFormulation
from hhlif.errors import ConfigError
from hhlif.kernels.conv import conv2d_steps
from hhlif.kernels.window import SpikeFn
from hhlif.neurons import HH, LIF, LIFHH
from hhlif.neurons.base import Neuron, NonFiniteState
from hhlif.neurons.hh_fused import HHFunction, hh_forward, hh_gating
from hhlif.neurons.lif_fused import LIFFunction, LIFHHFunction
from hhlif.trainers.classify import build_classifier

SMALL = {  # small versions of the paper's models, and the options the fused backward must respect
    "LIF_fc": ["neuron=lif", "network=fc", "network.hidden=24"],
    "LIF_fc_detach_reset": ["neuron=lif", "network=fc", "network.hidden=24", "neuron.detach_reset=true"],
    "HH_fc": ["neuron=hh", "network=fc", "network.hidden=24", "network.weight_scale=0.05"],
    "HH_fc_learnable_spread": ["neuron=hh", "network=fc", "network.hidden=24", "network.weight_scale=0.05",
                               "neuron.learnable_rates=true", "neuron.dt_spread=true", "neuron.dt=0.2",
                               "neuron.rate_scale=0.3"],
    "LIF_hh_fc": ["neuron=lif_hh", "network=fc", "network.hidden=24"],
    "LIF_conv": ["neuron=lif", "network=conv", "network.channels=2"],
    "HH_conv_detached": ["neuron=hh", "network=conv", "network.channels=2"],
    "HH_conv_learnable_columns": ["neuron=hh", "network=conv", "network.channels=2", "neuron.detach_ionic=false",
                                  "neuron.learnable_rates=true", "neuron.rate_sharing=last_axis",
                                  "neuron.rate_scale=0.3"],
    "LIF_hh_conv": ["neuron=lif_hh", "network=conv", "network.channels=2"],
    # the ladder's neurons with a reset (fused with detach_reset, their default), at gains that make them spike
    "ALIF_fc": ["neuron=alif", "network=fc", "network.hidden=24", "neuron.input_gain=0.5"],
    "Izhikevich_fc": ["neuron=izhikevich", "network=fc", "network.hidden=24", "neuron.input_gain=10.0"],
    "AdEx_fc": ["neuron=adex", "network=fc", "network.hidden=24", "neuron.input_gain=300.0"],
    "ALIF_conv": ["neuron=alif", "network=conv", "network.channels=2", "neuron.input_gain=0.5"],
    "Izhikevich_conv": ["neuron=izhikevich", "network=conv", "network.channels=2", "neuron.input_gain=100.0"],
    "AdEx_conv": ["neuron=adex", "network=conv", "network.channels=2", "neuron.input_gain=900.0"],
    "MorrisLecar_fc": ["neuron=morris_lecar", "network=fc", "network.hidden=24", "neuron.input_gain=20.0"],
    "MorrisLecar_conv": ["neuron=morris_lecar", "network=conv", "network.channels=2", "neuron.input_gain=60.0"],
}


def _eager_twin(model):
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, Neuron) and hasattr(module, "fused"):
            module.fused = False
    return twin


def _pair(name: str, dtype: torch.dtype, steps: int = 6):
    torch.manual_seed(3)
    model = build_classifier(compose_config(SMALL[name] + [f"network.time_steps={steps}"])).to(dtype)
    x = (torch.rand(3, 1, 36, 36) * 255).to(dtype)
    return model, _eager_twin(model), x


@pytest.mark.parametrize("name", SMALL)
def test_fused_forward_is_the_eager_loop_bit_for_bit(name):
    model, eager, x = _pair(name, torch.float32)
    spikes = {}
    for tag, m in (("fused", model), ("eager", eager)):
        hooks = [mod.register_forward_hook(lambda mod, i, o, key=(tag, n): spikes.__setitem__(key, o))
                 for n, mod in m.named_modules() if isinstance(mod, Neuron)]
        with torch.no_grad():
            spikes[(tag, "logits")] = m(x)
        for h in hooks:
            h.remove()
    for (tag, key), value in spikes.items():
        if tag == "fused":
            assert torch.equal(value, spikes[("eager", key)]), key
    assert any(v.sum() > 0 for (tag, key), v in spikes.items() if key != "logits")  # something spiked


@pytest.mark.parametrize("name", SMALL)
def test_fused_gradients_equal_autograd_through_the_eager_loop(name):
    model, eager, x = _pair(name, torch.float64)
    weights = torch.randn(3, 2, 10, dtype=torch.float64)
    for m in (model, eager):
        (m(x) * weights).sum().backward()
    for (key, p), q in zip(model.named_parameters(), eager.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), key
        if p.grad is not None:
            scale = max(float(q.grad.abs().max()), 1e-300)
            assert float((p.grad - q.grad).abs().max()) <= 1e-10 * max(scale, 1.0), key


@pytest.mark.parametrize("name", SMALL)
def test_fast_path_gradients_equal_autograd_through_the_reference_formulation(name):
    # the bench's reference (per-step projection of the repeated image, eager neuron steps, the authors' pooling
    # and per-sub-map convolution): same logits, and autograd through it gives the fast path's gradients
    model, _, x = _pair(name, torch.float64)
    reference = ReferenceFormulation(copy.deepcopy(model))
    weights = torch.randn(3, 2, 10, dtype=torch.float64)
    out_fast, out_ref = model(x), reference(x)
    assert torch.allclose(out_fast, out_ref, rtol=0, atol=1e-9)
    (out_fast * weights).sum().backward()
    (out_ref * weights).sum().backward()
    for (key, p), q in zip(model.named_parameters(), reference.model.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), key
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, rtol=1e-9, atol=1e-12), key


def _graph_nodes(tensor: torch.Tensor) -> set[str]:
    seen, todo, names = set(), [tensor.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        todo.extend(n for n, _ in node.next_functions)
    return names


@pytest.mark.parametrize("name,node", [("LIF_fc", "LIFRateFunctionBackward"),
                                       ("LIF_fc_detach_reset", "LIFRateFunctionBackward"),
                                       ("LIF_conv", "LIFPooledFunctionBackward")])
def test_unobserved_lif_layers_pool_and_count_spikes_as_they_are_made(name, node):
    """With no hook on its population, a LIF conv layer pools each step's spikes as they are made and the last layer
    counts them into the rate (no [T, B, ...] spike train); with a hook (a monitor) the spikes go through the
    neuron's forward. Logits and gradients are bitwise the same either way."""
    model, _, x = _pair(name, torch.float32)
    observed = copy.deepcopy(model)
    for m in observed.modules():
        if isinstance(m, Neuron):
            m.register_forward_hook(lambda *args: None)
    weights = torch.randn(3, 2, 10)
    out, out_observed = model(x), observed(x)
    assert node in _graph_nodes(out) and node not in _graph_nodes(out_observed)
    assert torch.equal(out, out_observed)
    (out * weights).sum().backward()
    (out_observed * weights).sum().backward()
    for (key, p), q in zip(model.named_parameters(), observed.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), key


def test_spike_monitor_attaches_its_hooks_only_while_enabled():
    from hhlif.metrics.spikes import SpikeMonitor

    model, _, x = _pair("LIF_conv", torch.float32)
    monitor = SpikeMonitor(model)
    neurons = [m for m in model.modules() if isinstance(m, Neuron)]
    assert not any(n.observed() for n in neurons)
    monitor.enabled = True
    assert monitor.enabled and all(n.observed() for n in neurons)
    with torch.no_grad():
        model(x)
    assert set(monitor.layers()) == {"layer1", "layer2"}
    monitor.enabled = False
    assert not monitor.enabled and not any(n.observed() for n in neurons)


# -- gradcheck on the fused functions, with a smooth stand-in for the spike ----------------------------------------
def _smooth(scale: float = 0.3) -> SpikeFn:
    def value(x, out):
        out.copy_(torch.sigmoid(x / scale))

    def derivative(x, out):
        s = torch.sigmoid(x / scale)
        out.copy_(s * (1 - s) / scale)

    return SpikeFn(value, derivative)


@pytest.mark.parametrize("static", [True, False])
def test_lif_function_gradcheck(static):
    # (detach_reset drops a true path of the derivative on purpose: the comparison with the eager loop covers it)
    torch.manual_seed(0)
    shape = (2, 3) if static else (4, 2, 3)
    current = (0.5 * torch.randn(*shape, dtype=torch.float64)).requires_grad_()
    fn = lambda c: LIFFunction.apply(c, static, 4, 0.6, 0.3, _smooth(), False, True, None)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (current,))


@pytest.mark.parametrize("static", [True, False])
def test_lif_hh_function_gradcheck(static):
    torch.manual_seed(0)
    shape = (2, 3, 3) if static else (4, 2, 3, 3)
    current = (0.5 * torch.randn(*shape, dtype=torch.float64)).requires_grad_()
    w = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, dtype=torch.float64, requires_grad=True)
    fn = lambda c, w, b: LIFHHFunction.apply(c, w, b, static, 4, 0.5, 0.3, _smooth(), True, None)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (current, w, b))


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("per_neuron_dt", [False, True])
def test_hh_function_gradcheck(static, per_neuron_dt):
    torch.manual_seed(0)
    shape = (2, 3) if static else (5, 2, 3)
    current = (3 * torch.randn(*shape, dtype=torch.float64)).requires_grad_()
    g_na = (0.5 * torch.rand(5, 3, dtype=torch.float64)).requires_grad_()
    g_k = (0.5 * torch.rand(5, 3, dtype=torch.float64)).requires_grad_()
    dt = 0.2 * torch.rand(3, dtype=torch.float64) if per_neuron_dt else 0.1
    consts = (115.0, -12.0, 10.6, 0.3)
    fn = lambda c, gn, gk: HHFunction.apply(c, gn, gk, dt, static, 5, 2.0, _smooth(1.0), consts, False,  # noqa: E731
                                            True, None)
    assert torch.autograd.gradcheck(fn, (current, g_na, g_k))


@pytest.mark.parametrize("options", [
    {"learnable_rates": True},
    {"learnable_rates": True, "rate_sharing": "last_axis"},
    {"learnable_rates": True, "dt_spread": True},
])
@pytest.mark.parametrize("static", [True, False])
def test_hh_window_gradcheck_through_the_gating_rates(options, static):
    # the whole fused HH window (gating trajectories by autograd, membrane by the hand-written backward) against
    # finite differences, in the current and in the six learnable rates
    torch.manual_seed(0)
    hh = HH((2, 3), threshold=1.0, dt=0.2, rate_scale=0.5, **options).double()
    current = (3 * torch.randn(*((2, 2, 3) if static else (4, 2, 2, 3)), dtype=torch.float64)).requires_grad_()
    spike = _smooth(1.0)
    rates = hh.rates.detach().clone().requires_grad_()
    del hh.rates  # a plain attribute below, so that gradcheck can vary it

    def window(c, r):
        hh.rates = r
        return hh_forward(hh, c.unsqueeze(0).expand(4, *c.shape) if static else c, spike)

    assert torch.autograd.gradcheck(window, (current, rates))


def test_hh_gating_matches_the_eager_state():
    torch.manual_seed(0)
    hh = HH((2, 4), rate_scale=0.3, dt=0.2, rate_sharing="last_axis").double()
    g_na, g_k, gates = hh_gating(hh, 5, torch.device("cpu"), torch.float64)
    state = hh.initial_state(1, torch.device("cpu"), torch.float64)
    for t in range(5):
        v, n, m, h = state
        assert torch.equal(hh.g_na * h * m**3, g_na[t].expand_as(h)) and torch.equal(hh.g_k * n**4, g_k[t].expand_as(n))
        _, state = hh.step(torch.zeros_like(v), state)
        assert torch.equal(torch.stack(state[1:]), gates[t].view(3, 1, 1, 4).expand(3, *state[1].shape))


# -- the finiteness guard on the fast path --------------------------------------------------------------------------
def _guard_step(neuron: Neuron, currents: torch.Tensor) -> int:
    neuron.check_finite = True
    with pytest.raises(NonFiniteState) as info:
        neuron(currents)
    return info.value.step


@pytest.mark.parametrize("make", [
    lambda fused: HH((5,), dt=1.5, rate_scale=0.5, fused=fused),
    lambda fused: LIF((5,), fused=fused),
    lambda fused: LIFHH((5,), fused=fused),
])
def test_guard_reports_the_same_step_on_the_fast_path(make):
    torch.manual_seed(0)
    fused, eager = make(True), make(False)
    eager.load_state_dict(fused.state_dict())
    k = fused.inputs_per_unit
    currents = torch.rand(60, 2, 5, *((k,) if k > 1 else ()))
    if isinstance(fused, HH):
        currents = currents * 300  # forward Euler with dt = 1.5 diverges
    else:
        currents[4, 1, 2] = float("inf")  # u = inf, then λ·inf·0 = NaN
    step = _guard_step(fused, currents)
    assert step == _guard_step(eager, currents)
    assert 1 <= step <= 60


def test_conv_of_spike_maps_is_the_module_forward_and_its_gradients_in_float64():
    # forward: the module's own convolution, bit for bit; backward (channels-last kernels): autograd's gradients
    torch.manual_seed(4)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    x = (torch.rand(6, 3, 8, 8, dtype=torch.float64) * 4).floor().div(4).requires_grad_()  # pooled spikes
    y = conv2d_steps(conv, x)
    assert "_Conv2dBackward" in type(y.grad_fn).__name__
    assert torch.equal(y, conv(x))
    assert torch.autograd.gradcheck(lambda x, w, b: conv2d_steps(_with(conv, w, b), x),
                                    (x, conv.weight, conv.bias))
    image = torch.rand(2, 3, 8, 8, dtype=torch.float64)  # no gradient wanted: the module itself runs
    assert type(conv2d_steps(conv, image).grad_fn).__name__ == "ConvolutionBackward0"


def _with(conv: torch.nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> torch.nn.Conv2d:
    """``conv`` with ``weight`` and ``bias`` as its parameters' values (tensors gradcheck varies)."""
    twin = copy.deepcopy(conv)
    del twin.weight, twin.bias
    twin.weight, twin.bias = weight, bias
    return twin


def test_static_current_gradient_needs_no_zero_buffer():
    torch.manual_seed(0)
    y = torch.randn(3, 5, requires_grad=True)
    lif = LIF((5,))
    lif(y.unsqueeze(0).expand(7, 3, 5)).sum().backward()
    g_fused = y.grad.clone()
    y.grad = None
    _eager_twin(lif)(y.unsqueeze(0).expand(7, 3, 5)).sum().backward()
    assert torch.allclose(g_fused, y.grad, atol=1e-6)


# -- hhlif bench ----------------------------------------------------------------------------------------------------
def test_bench_cli_writes_every_field(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(["bench", "bench.only=[LIF_fc,HH_fc]", "bench.batch=4", "bench.steps=2", "bench.warmup=1",
                    "bench.time_steps=3", "bench.epoch_batches=2", "bench.epoch_samples=6", "bench.peer_units=8",
                    "bench.threads=1", "bench.sac.fill=40", "bench.sac.updates=2", "bench.sac.check_updates=2",
                    'bench.sac.overrides=["task=inverted_pendulum","neuron=hh","network.hidden=8",'
                    '"trainer.batch_size=8"]', f"hydra.run.dir={out}"], cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "train fast ms" in proc.stdout and "HH_fc" in proc.stdout and "epoch (HH_fc" in proc.stdout
    result = json.loads((out / "bench.json").read_text())
    assert [m["key"] for m in result["models"]] == ["LIF_fc", "HH_fc"]
    for m in result["models"]:
        assert m["check"]["spikes_match"] and m["check"]["logits_match"]
        for phase in ("train", "eval"):
            p = m[phase]
            assert p["fast_ms"] > 0 and p["reference_ms"] > 0 and p["ratio"] == pytest.approx(
                p["reference_ms"] / p["fast_ms"])
            assert len(p["fast_all_ms"]) == 2 and p["fast_peak_mb"] > 0 and p["reference_peak_mb"] > 0
        assert isinstance(m["target_met"], bool) and m["time_steps"] == 3
    epoch = result["epoch"]
    assert epoch["batches"] == 2 and epoch["samples"] == 6 and epoch["fast_s"] > 0 and epoch["reference_s"] > 0
    assert result["memory_method"] and result["threads"] == 1
    assert any("top_ops_ms" in m["train"]["roofline"] for m in result["models"])  # the step was profiled,
    assert "profiler_st" not in proc.stdout + proc.stderr  # without the profiler's own start/stop lines
    sac = result["sac"]
    assert sac["check"]["match"] and sac["fast_updates_per_s"] > 0 and sac["reference_updates_per_s"] > 0
    assert sac["ratio"] == pytest.approx(sac["reference_ms"] / sac["fast_ms"]) and "SAC (" in proc.stdout
    try:
        import snntorch  # noqa: F401
    except ImportError:
        assert result["peer"] is None
    else:
        assert result["peer"]["spikes_match"] and result["peer"]["ratio"] > 0


@pytest.mark.parametrize("override,key", [("bench.only=[nope]", "bench.only"), ("bench.steps=0", "bench.steps"),
                                          ("bench.phases=[fit]", "bench.phases"),
                                          ("bench.epoch_model=nope", "bench.epoch_model")])
def test_bench_rejects_bad_options(override, key):
    from hhlif.commands import bench

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        bench.validate(compose_config([override], config_name="bench"))


def test_bench_cli_bad_option_exits_2_and_writes_nothing(tmp_path):
    proc = run_cli(["bench", "bench.only=[nope]"], cwd=tmp_path)
    assert proc.returncode == 2 and "bench.only" in proc.stderr and not (tmp_path / "outputs").exists()


def test_roofline_floor_counts_matmul_flops_and_fresh_bytes_by_hand():
    from hhlif.bench.roofline import machine_limits, step_floor

    limits = machine_limits(torch.device("cpu"))
    assert limits["matmul_gflops"] > 0.1 and limits["copy_gbs"] > 0.1
    layer = torch.nn.Linear(64, 32, bias=False)
    x = torch.rand(16, 64)

    def step():
        layer.zero_grad(set_to_none=True)
        (layer(x) * 2.0).sum().backward()

    floor = step_floor(step, list(layer.parameters()), {"matmul_gflops": 1.0, "copy_gbs": 1.0})
    assert floor["matmul_flops"] == 2 * 16 * 64 * 32 * 2  # forward x·Wᵀ and the weight's gradient
    # fresh element-wise tensors: y·2 (16×32), its sum (1), the ones of the backward (1), their expansion (a
    # view) times 2 (16×32); ×2 (written, read) + the optimiser's 7 passes over W (64×32); float32
    assert floor["elementwise_bytes"] == 4 * (2 * (2 * 16 * 32 + 2) + 7 * 64 * 32)
    assert floor["floor_ms"] == pytest.approx(floor["matmul_ms"] + floor["memory_ms"])
