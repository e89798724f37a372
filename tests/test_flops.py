"""``hhlif flops``: the paper's sixteen Fig. 5b numbers, hand-derived counts (classification models, the VIB
model and the SAC actor), the bug flag, the actor's count against what the SAC trainer measures, the CLI."""

from __future__ import annotations

import json
import math
import tempfile

import pytest
import torch
from helpers import compose_config, run_cli
from omegaconf import open_dict

from hhlif.commands import flops as flops_command
from hhlif.errors import ConfigError
from hhlif.metrics.flops import count_model, millions
from hhlif.neurons import HH, LIF, LIFHH, Binary
from hhlif.neurons.base import Neuron
from hhlif.trainers.classify import build_classifier

# Fig. 5b (spec §5): model key → (ADD, MUL) per sample, as the paper's notebook printed them (in M ops).
PAPER = {
    "SCNN_Model_4LIF": (79_088_350, 80_060_400),
    "SNN_Model_4LIF": (39_976_910, 40_007_680),
    "SCNN_Model_LIF": (6_650_050, 6_893_100),
    "SNN_Model_LIF": (9_994_190, 10_001_920),
    "SCNN_Model_HH": (9_809_050, 11_753_100),
    "SNN_Model_HH": (10_094_030, 10_155_520),
    "SCNN_Model_LIF_hh": (21_205_750, 22_032_000),
    "SNN_Model_LIF_hh": (30_046_670, 30_077_440),
}
PAPER_PRINTED = {
    "SCNN_Model_4LIF": ("79.08835", "80.0604"), "SNN_Model_4LIF": ("39.97691", "40.00768"),
    "SCNN_Model_LIF": ("6.65005", "6.8931"), "SNN_Model_LIF": ("9.99419", "10.00192"),
    "SCNN_Model_HH": ("9.80905", "11.7531"), "SNN_Model_HH": ("10.09403", "10.15552"),
    "SCNN_Model_LIF_hh": ("21.20575", "22.032"), "SNN_Model_LIF_hh": ("30.04667", "30.07744"),
}
LIF_HH_CONV_MUL_CORRECT = 22_177_800


def fig5b_counts(extra: list[str] | None = None) -> dict[str, tuple[int, int, int]]:
    cfg = compose_config(["experiment=fig5b", *(extra or [])], config_name="flops")
    entries = flops_command._entries(cfg)
    out = {}
    for entry in entries:
        count = flops_command._count(entry, bool(cfg.flops.paper_bug))
        out[entry.key] = (count.add, count.mul, count.mul_correct)
    return out


def count_config(overrides: list[str], paper_bug: bool = True):
    cfg = compose_config(overrides, config_name="flops")
    with torch.device("meta"):
        model = build_classifier(cfg)
    return count_model(model, paper_bug=paper_bug)


# -- the paper's numbers -----------------------------------------------------------------------------------
def test_fig5b_sixteen_numbers_exactly():
    counts = fig5b_counts()
    assert list(counts) == list(PAPER)  # the paper's bar order
    for key, (add, mul) in PAPER.items():
        assert counts[key][:2] == (add, mul), key
        assert (millions(add), millions(mul)) == PAPER_PRINTED[key]
    assert counts["SNN_Model_LIF"][1] == 10_001_920
    assert counts["SCNN_Model_LIF_hh"][2] == LIF_HH_CONV_MUL_CORRECT
    # the bug touches only the conv s-LIF2HH model
    assert all(c[1] == c[2] for k, c in counts.items() if k != "SCNN_Model_LIF_hh")


def test_paper_bug_flag_corrects_lif_hh_conv_mul():
    counts = fig5b_counts(["flops.paper_bug=false"])
    assert counts["SCNN_Model_LIF_hh"][:2] == (21_205_750, LIF_HH_CONV_MUL_CORRECT)
    for key, (add, mul) in PAPER.items():
        if key != "SCNN_Model_LIF_hh":
            assert counts[key][:2] == (add, mul), key


def test_millions_is_the_shortest_exact_decimal():
    assert millions(6_893_100) == "6.8931"
    assert millions(22_032_000) == "22.032"
    assert millions(10_000_000) == "10"
    assert millions(1) == "0.000001"
    assert millions(164) == "0.000164"


def test_ops_per_step_on_the_neuron_classes():
    assert LIF.ops_per_step == (3, 3)
    assert HH.ops_per_step == (23, 16)
    assert LIFHH.ops_per_step == (15, 14)
    assert Binary.ops_per_step is None


# -- hand-derived counts -------------------------------------------------------------------------------------
TINY = ["task.input_shape=[1,4,4]", "network.time_steps=2", "network.readout=3"]


def linear(n_in: int, n_out: int) -> tuple[int, int]:
    return n_in * n_out, (n_in - 1) * n_out  # (mul, add)


def conv(c_in: int, c_out: int, side: int, k: int = 3) -> tuple[int, int]:
    per_output = c_in * k * k
    outputs = c_out * side * side
    return outputs * per_output, outputs * (per_output - 1)


def test_tiny_fc_lif_by_hand():
    count = count_config(["neuron=lif", "network=fc", "network.hidden=4", *TINY])
    t, units = 2, 4
    syn_mul, syn_add = linear(16, units)  # 4×4 image flattened → 4 LIF neurons, once per step
    out_mul, out_add = linear(units, 3)  # read-out once
    mul = t * syn_mul + t * units * 3 + out_mul
    add = t * syn_add + t * units * 3 + out_add
    assert (mul, add) == (164, 153)
    assert (count.mul, count.add, count.mul_correct) == (mul, add, mul)
    assert [layer.name for layer in count.layers] == ["layer", "head.shared"]


def test_tiny_conv_lif_hh_by_hand_with_and_without_the_bug():
    overrides = ["neuron=lif_hh", "network=conv", "network.channels=2", *TINY]
    t, c = 2, 2
    l1_mul, l1_add = conv(1, 3 * c, 4)  # three projections of the image on 4×4
    l2_mul, l2_add = conv(c, 3 * c, 2)  # three projections of the summed sub-maps on 2×2
    units = c * 4 * 4 + c * 2 * 2
    out_mul, out_add = linear(c * 1 * 1 * 4, 3)  # 4 sub-neuron spike trains per unit reach the read-out
    add = t * (l1_add + l2_add) + t * units * 14 + out_add
    mul = t * (l1_mul + l2_mul) + t * units * 15 + out_mul
    buggy_mul = mul - t * l2_mul + t * l2_add
    assert (add, mul, buggy_mul) == (3493, 3816, 3768)

    fixed = count_config(overrides, paper_bug=False)
    assert (fixed.add, fixed.mul) == (add, mul)
    assert not fixed.paper_bug_applied
    buggy = count_config(overrides, paper_bug=True)
    assert (buggy.add, buggy.mul, buggy.mul_correct) == (add, buggy_mul, mul)
    assert [layer.paper_bug for layer in buggy.layers] == [False, True, False]


def test_width_and_time_steps_scale_the_count():
    base = count_config(["neuron=hh", "network=fc", *TINY, "network.hidden=4"])
    wide = count_config(["neuron=hh", "network=fc", *TINY, "network.hidden=4", "network.width_factor=3"])
    assert wide.layers[0].units == 3 * base.layers[0].units
    syn_mul, _ = linear(16, 12)
    assert wide.layers[0].synapse.mul == 2 * syn_mul
    assert wide.layers[0].neuron.mul == 2 * 12 * 23


def test_binary_neurons_count_synapses_only():
    count = count_config(["neuron=binary", "network=fc", "task.input_shape=[1,4,4]", "network.readout=3",
                          "network.hidden=4"])
    assert count.time_steps == 1  # the paper's ANN is one pass (paper/model/binary_fc)
    assert count.uncounted_neurons == ["layer"]
    syn_mul, syn_add = linear(16, 4)
    out_mul, out_add = linear(4, 3)
    assert (count.mul, count.add) == (syn_mul + out_mul, syn_add + out_add)


# -- validation -----------------------------------------------------------------------------------------------
def test_bad_item_is_a_config_error_naming_the_item():
    cfg = compose_config(["experiment=fig5b"], config_name="flops")
    with open_dict(cfg):
        cfg.flops.models[4].overrides = ["neuron=hh", "network=conv", "network.width_factor=0"]
    with pytest.raises(ConfigError, match=r"flops\.models\[4\] \(SCNN_Model_HH\).*width_factor=0"):
        flops_command.validate(cfg)
    with open_dict(cfg):
        cfg.flops.models[4].overrides = ["neuron=nope"]
    with pytest.raises(ConfigError, match=r"flops\.models\[4\].*'nope' is not a known choice"):
        flops_command.validate(cfg)


def test_flops_time_steps_overrides_every_model():
    counts = fig5b_counts(["flops.time_steps=10"])
    assert counts["SNN_Model_LIF"][1] == 10 * 1296 * 512 + 512 * 50 + 10 * 3 * 512


# -- the command end to end -----------------------------------------------------------------------------------
def test_cli_fig5b_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(["flops", "experiment=fig5b", f"hydra.run.dir={run_dir}"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for key, (add, mul) in PAPER_PRINTED.items():
        line = next(line for line in proc.stdout.splitlines() if line.startswith(key + " "))
        assert add in line.split() and mul in line.split(), line
    result = json.loads((run_dir / "flops.json").read_text())
    got = {m["key"]: (m["add"], m["mul"]) for m in result["models"]}
    assert got == PAPER
    lif_hh = next(m for m in result["models"] if m["key"] == "SCNN_Model_LIF_hh")
    assert lif_hh["mul_correct"] == LIF_HH_CONV_MUL_CORRECT and lif_hh["paper_bug_applied"]
    assert sum(layer["mul"] for layer in lif_hh["layers"]) == lif_hh["mul"]
    assert (run_dir / "flops.png").stat().st_size > 0
    assert (run_dir / "flops.svg").stat().st_size > 0


def test_cli_bad_override_exits_2_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(["flops", "network.width_factor=0", f"hydra.run.dir={run_dir}"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "network.width_factor=0" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not run_dir.exists()
    assert list(tmp_path.iterdir()) == []


def count_built(overrides: list[str]):
    """The count of the model ``hhlif flops <overrides>`` builds (any network × task)."""
    return count_model(flops_command.build_model(compose_config(overrides, config_name="flops")))


def test_vib_counts_the_encoder_and_the_statistics_layer_once():
    count = count_built(["neuron=lif", "network=vib", "task.input_shape=[1,4,4]", "network.time_steps=2",
                         "network.hidden=4", "network.k=3"])
    t, units = 2, 4
    syn_mul, syn_add = linear(16, units)
    stats_mul, stats_add = linear(units, 2 * 3)  # Linear(features → 2K) on the firing rate, once
    assert (count.mul, count.add) == (t * syn_mul + t * units * 3 + stats_mul, t * syn_add + t * units * 3 + stats_add)
    assert (count.mul, count.add) == (2 * 64 + 24 + 24, 2 * 60 + 24 + 18)
    assert [layer.name for layer in count.layers] == ["layer", "stats"]  # the task decoders are heads: not counted


# -- the SAC actor (network=policy, selected by the pendulum tasks) --------------------------------------------
# A small actor on InvertedPendulum-v5 (4 observations, 1 action): 8 units, window 2 × repeat 3 → T = 6.
SMALL_ACTOR = ["task=inverted_pendulum", "network.hidden=8", "network.window=2", "network.repeat=3"]
OBS, UNITS, STEPS, ACTIONS = 4, 8, 6, 1
# neuron → (k_in, k_out, paper's (MUL, ADD) per unit and step)
ACTOR_NEURONS = {"lif": (1, 1, (3, 3)), "hh": (1, 1, (23, 16)), "lif_hh": (3, 4, (15, 14)), "binary": (1, 1, (0, 0)),
                 "hh_textbook": (1, 1, (37 * 10 + 2, 31 * 10 + 3))}


def actor_by_hand(neuron: str, obs: int = OBS, units: int = UNITS, steps: int = STEPS,
                  actions: int = ACTIONS) -> tuple[int, int]:
    """(ADD, MUL) of one decision: synapse Linear(obs → units·k_in) and the neurons at each of the T steps, then
    the mean and log-std branches Linear(F → H), Linear(H → H), Linear(H → A) once (F = units·k_out, H = units)."""
    k_in, k_out, (n_mul, n_add) = ACTOR_NEURONS[neuron]
    syn_mul, syn_add = linear(obs, units * k_in)
    branch = [linear(units * k_out, units), linear(units, units), linear(units, actions)]
    mul = steps * syn_mul + steps * units * n_mul + 2 * sum(m for m, _ in branch)
    add = steps * syn_add + steps * units * n_add + 2 * sum(a for _, a in branch)
    return add, mul




def test_actor_counts_by_hand_for_every_neuron():
    # the numbers written out: e.g. LIF MUL = 6·4·8 + 6·8·3 + 2·(8·8 + 8·8 + 8·1) = 192 + 144 + 272
    hand = {"lif": (526, 608), "hh": (1150, 1568), "lif_hh": (1726, 1952), "binary": (382, 464),
            "hh_textbook": (15406, 18320)}
    for neuron, (add, mul) in hand.items():
        assert actor_by_hand(neuron) == (add, mul), neuron
        count = count_built([f"neuron={neuron}", *SMALL_ACTOR])
        assert (count.add, count.mul, count.time_steps) == (add, mul, STEPS), neuron
        assert [layer.name for layer in count.layers] == ["layer", "mean.0", "mean.2", "mean.4", "log_std.0",
                                                          "log_std.2", "log_std.4"]
        assert count.layers[0].uses == STEPS and all(layer.uses == 1 for layer in count.layers[1:])
        assert count.uncounted_neurons == (["layer"] if neuron == "binary" else [])


def test_actor_sizes_follow_the_environment_and_the_width():
    # InvertedDoublePendulum: 9 observations in v5, 11 in v4 (the paper's); the synapse grows with them
    for version, obs in (("v5", 9), ("v4", 11)):
        count = count_built(["neuron=lif", *SMALL_ACTOR, "task=inverted_double_pendulum",
                             f"task.env_version={version}"])
        assert (count.add, count.mul) == actor_by_hand("lif", obs=obs)
        assert count.layers[0].synapse.mul == STEPS * obs * UNITS
    wide = count_built(["neuron=lif", *SMALL_ACTOR, "network.width_factor=2"])
    assert (wide.add, wide.mul) == actor_by_hand("lif", units=16)


def test_sac_flops_preset_counts_the_five_actors_on_both_pendulums():
    cfg = compose_config(["experiment=sac_flops"], config_name="flops")
    entries = flops_command._entries(cfg)
    counts = {e.key: flops_command._count(e, True) for e in entries}
    assert list(counts) == [f"{task}_{kind}" for task in ("pendulum", "double")
                            for kind in ("4LIF", "LIF", "HH", "LIF_hh", "ANN")]
    # the paper's actor: T = 5 × 3 = 15, 128 units (512 for 4LIF), observations 4 (pendulum) and 9 (double, v5)
    for task, obs in (("pendulum", 4), ("double", 9)):
        for kind, neuron, units in (("4LIF", "lif", 512), ("LIF", "lif", 128), ("HH", "hh", 128),
                                    ("LIF_hh", "lif_hh", 128), ("ANN", "binary", 128)):
            count = counts[f"{task}_{kind}"]
            assert (count.add, count.mul) == actor_by_hand(neuron, obs=obs, units=units, steps=15), (task, kind)
    lif = counts["pendulum_LIF"]  # 15·4·128 + 15·128·3 + 2·(128·128·2 + 128) = 7,680 + 5,760 + 65,792
    assert (lif.add, lif.mul) == (76_798, 79_232)
    assert (millions(lif.add), millions(lif.mul)) == ("0.076798", "0.079232")


# What hhlif's eager step runs per unit and step (element-wise ops, and the s-LIF2HH mixer's products):
# LIF u = λ·u·(1 − s) + I, s = H(u − θ): 3 MUL/ADD + 3 (rsub, sub, gt) = 6, the paper's 3 + 3;
# HH 36 (the paper tallies 39, docs/explanation/cost.md#cost-and-spike-accounting); s-LIF2HH: four LIF
# sub-neurons (4 × 6) plus the mixer Linear(3, 1): 3 multiply-accumulates (2 FLOPs each) and its bias = 31
# (paper 15 + 14 = 29); binary ReLU, subtract θ, compare = 3 (not counted by the paper).
EAGER_OPS_PER_UNIT_STEP = {"lif": 6, "hh": 36, "lif_hh": 4 * 6 + 2 * 3 + 1, "binary": 3}


def trainer_measures(overrides: list[str]) -> dict[str, float]:
    """``SACTrainer.actor_flops`` (what a SAC run logs as cost/flops_actor_forward) on a small actor, with the
    trainer's per-step finiteness check off: the check's own isfinite arithmetic is not part of the actor."""
    from hhlif.trainers.sac import SACTrainer

    with tempfile.TemporaryDirectory() as run_dir:
        trainer = SACTrainer(compose_config([*SMALL_ACTOR, *overrides]), run_dir)
        for module in trainer.actor.modules():
            if isinstance(module, Neuron):
                module.check_finite = False
        return trainer.actor_flops()


@pytest.mark.parametrize("neuron", list(EAGER_OPS_PER_UNIT_STEP))
def test_actor_count_agrees_with_what_the_sac_trainer_measures(neuron):
    """measured = paper count + T·units·k_in (PyTorch counts a multiply-accumulate as 2 FLOPs: 2·in·out per
    Linear use against the paper's in·out + (in − 1)·out, one more per output) + 2·(2H + A) (the same for the six
    branch layers) + F·T + F (the temporal mean: a sum, then one division per feature) + 4H (the four ReLUs)
    + A (the clamp of log σ) + the difference between hhlif's neuron arithmetic and the paper's tally, per unit
    and step."""
    k_in, k_out, (n_mul, n_add) = ACTOR_NEURONS[neuron]
    hidden, features, units, steps, actions = UNITS, UNITS * k_out, UNITS, STEPS, ACTIONS
    add, mul = actor_by_hand(neuron)
    eager = EAGER_OPS_PER_UNIT_STEP[neuron]
    explained = (steps * units * k_in + 2 * (2 * hidden + actions) + features * (steps + 1) + 4 * hidden + actions
                 + (eager - n_mul - n_add) * units * steps)
    measured = trainer_measures([f"neuron={neuron}"] + (["neuron.fused=false"] if neuron != "binary" else []))
    assert measured["cost/flops_actor_forward"] == add + mul + explained
    hand_total = {"lif": 1305, "hh": 2745, "lif_hh": 4209, "binary": 1161}[neuron]
    assert measured["cost/flops_actor_forward"] == hand_total
    # PyTorch's own part: every product of the synapse (each of the T steps) and the branches, 2 FLOPs per MAC
    matmul = 2 * (steps * OBS * units * k_in + 2 * (features * hidden + hidden * hidden + hidden * actions))
    mixer = 2 * 3 * units * steps if neuron == "lif_hh" else 0
    assert measured["cost/flops_actor_forward"] - measured["cost/flops_actor_elementwise"] == matmul + mixer
    if neuron != "binary":  # the trainer's default fused kernels: the same products, never more arithmetic
        fused = trainer_measures([f"neuron={neuron}", "neuron.fused=true"])
        assert fused["cost/flops_actor_forward"] - fused["cost/flops_actor_elementwise"] == matmul + mixer
        assert fused["cost/flops_actor_elementwise"] <= measured["cost/flops_actor_elementwise"]


def test_control_and_classification_networks_do_not_mix():
    def check(overrides):
        flops_command.validate(compose_config(overrides, config_name="flops"))

    with pytest.raises(ConfigError, match=r"network=policy is the SAC actor.*task=inverted_pendulum or "
                                          r"task=inverted_double_pendulum \(task=multimnist was given\)"):
        check(["network=policy"])
    with pytest.raises(ConfigError, match=r"task=inverted_pendulum is counted with its SAC actor, network=policy "
                                          r"\(network=fc was given\): drop network=fc"):
        check(["task=inverted_pendulum", "network=fc"])
    with pytest.raises(ConfigError, match=r"flops\.time_steps=10 cannot set T of the SAC actor.*5 × 3 = 15"):
        check(["task=inverted_pendulum", "flops.time_steps=10"])
    with pytest.raises(ConfigError, match=r"task\.env_version='v3' is not a known choice"):
        check(["task=inverted_pendulum", "task.env_version=v3"])


def test_preset_items_without_a_task_take_the_runs_control_task():
    cfg = compose_config(["task=inverted_double_pendulum", "task.env_version=v4"], config_name="flops")
    with open_dict(cfg):
        cfg.flops.models = [{"key": "a", "overrides": ["neuron=lif", *SMALL_ACTOR[1:]]}]
    (entry,) = flops_command._entries(cfg)
    assert (entry.cfg.network.name, entry.cfg.task.env_version) == ("policy", "v4")
    count = flops_command._count(entry, True)
    assert (count.add, count.mul) == actor_by_hand("lif", obs=11)


def test_log_axis_keeps_the_papers_range_unless_counts_fall_outside():
    assert flops_command.y_range([v / 1e6 for pair in PAPER.values() for v in pair]) == (1.0, 100.0)
    assert flops_command.y_range([0.071038, 1.10336]) == (0.01, 10.0)
    assert flops_command.y_range([150.0, 2.0]) == (1.0, 1000.0)
    assert flops_command.y_range([0.5]) == (0.1, 1.0)


def test_run_counts_the_pendulum_actor_table_json_and_plot(tmp_path, capsys):
    cfg = compose_config(["task=inverted_pendulum", "neuron=hh"], config_name="flops")
    flops_command.validate(cfg)
    result = flops_command.run(cfg, tmp_path)
    add, mul = actor_by_hand("hh", units=128, steps=15)  # 101,758 and 117,632
    assert (add, mul) == (101_758, 117_632)
    table = capsys.readouterr().out
    assert table.startswith("FLOPs per decision (one forward of the window)")
    row = next(line for line in table.splitlines() if line.startswith("hh_policy "))
    assert row.split() == ["hh_policy", "hh", "policy", "inverted_pendulum", "1", "15", "0.101758", "0.117632"]
    (model,) = json.loads((tmp_path / "flops.json").read_text())["models"]
    assert model == result["models"][0]
    assert (model["add"], model["mul"], model["time_steps"], model["task"]) == (add, mul, 15, "inverted_pendulum")
    assert model["per"].startswith("decision")
    assert sum(layer["add"] for layer in model["layers"]) == add
    assert model["layers"][0]["units"] == 128 and model["layers"][0]["neuron_mul"] == 15 * 128 * 23
    assert (tmp_path / "flops.png").stat().st_size > 0 and (tmp_path / "flops.svg").stat().st_size > 0
    assert math.isclose(result["models"][0]["mul"] / 1e6, 0.117632)
