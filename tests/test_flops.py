"""``hhlif flops``: the paper's sixteen Fig. 5b numbers, hand-derived counts, the bug flag, the CLI end to end."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import compose_config, run_cli
from omegaconf import open_dict

from hhlif.commands import flops as flops_command
from hhlif.errors import ConfigError
from hhlif.metrics.flops import count_model, millions
from hhlif.neurons import HH, LIF, LIFHH, Binary
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
