"""``hhlif`` end to end in subprocesses: help, bad input, a real run and everything it writes."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from helpers import run_cli

from hhlif.cli import main

TINY = ["task.limit_train=256", "task.limit_test=128", "trainer.batch_size=64", "trainer.progress=never"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def cli(tmp_path, data_root):
    def run(*args, timeout=600):
        return run_cli(list(args), cwd=tmp_path, env={"HHLIF_DATA": str(data_root)}, timeout=timeout)
    return run


def run_dirs(root):
    return sorted(p.parent for p in root.glob("outputs/train/*/*/.hydra"))


def test_help_lists_commands_and_groups(cli):
    top = cli("--help")
    assert top.returncode == 0 and "train" in top.stdout
    train = cli("train", "--help")
    assert train.returncode == 0
    groups = dict(line.split(": ", 1) for line in train.stdout.split("== Config (")[0].splitlines()
                  if line.startswith(("neuron: ", "network: ", "task: ", "trainer: ")))
    assert {"binary", "hh", "lif", "lif_hh"} <= set(groups["neuron"].split(", "))
    assert {"fc", "conv"} <= set(groups["network"].split(", "))
    assert {"multimnist", "multifashion", "multifashion_mnist"} <= set(groups["task"].split(", "))
    assert "max_epochs" in train.stdout


def test_cfg_job_prints_resolved_paper_constants(cli):
    out = cli("train", "neuron=hh", "network=conv", "--cfg", "job")
    assert out.returncode == 0
    assert "threshold: 2.3" in out.stdout and "dt: 0.1" in out.stdout and "lr: 0.003" in out.stdout


def test_sweep_cfg_job_prints_every_job_without_running(cli, tmp_path):
    out = cli("train", "-m", "neuron=lif,hh", "seed=1,2", "--cfg", "job", "-p", "neuron.name")
    assert out.returncode == 0 and "Traceback" not in out.stderr
    jobs = [block.split("\n")[:2] for block in out.stdout.strip().split("\n\n")]
    assert jobs == [["# job 0: neuron=lif seed=1", "lif"], ["# job 1: neuron=lif seed=2", "lif"],
                    ["# job 2: neuron=hh seed=1", "hh"], ["# job 3: neuron=hh seed=2", "hh"]]
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("args", [["--version"], ["train", "--version"], ["report", "--version"],
                                  ["train", "neuron=lif", "--version"]])
def test_version_of_hhlif_from_any_command(capsys, args):
    from hhlif import __version__

    assert main(args) == 0
    assert capsys.readouterr().out == f"hhlif {__version__}\n"


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["flops", "--help"], ["report", "--help"],
                                  ["train", "--cfg", "job"]])
def test_help_does_not_import_torch(tmp_path, args):
    """Printing help or a config must not wait seconds for torch to import."""
    code = (f"import atexit, sys; atexit.register(lambda: print('torch' in sys.modules, file=sys.stderr)); "
            f"from hhlif.cli import main; main({args!r})")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("args,message", [
    (["neuron=izh"], "neuron='izh' is not a known choice. Valid choices: adex, alif, binary, hh, "),
    (["task=cifar10"], "task='cifar10' is not a known choice. Valid choices: "),
    (["network=rnn"], "network='rnn' is not a known choice. Valid choices: conv, fc"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0 is not allowed: expected a positive integer"),
    (["trainer.batch_size=-4"], "trainer.batch_size=-4"),
    (["trainer.optimizer.lr=0"], "trainer.optimizer.lr=0"),
    (["network.time_steps=0"], "network.time_steps=0"),
    (["neuron.dt=-0.01"], "neuron.dt=-0.01"),
    (["network.hidden=abc"], "network.hidden='abc'"),
    (["trainer.epochs=3"], "no selected config defines the key trainer.epochs. Did you mean trainer.max_epochs?"),
    (["+neuron.tau=3"], "neuron.tau is not a parameter of neuron 'hh'"),
    (["task.noise.mode=gaussian"], "task.noise.mode='gaussian' is not a known choice"),
    (["device=cuda:7"], "device='cuda:7'"),
    (["trainer.optimizer.fused=sometimes"], "trainer.optimizer.fused='sometimes' is not allowed: expected true"),
    (["task=inverted_pendulum", "trainer.fused_adam=1"], "trainer.fused_adam=1 is not allowed: expected true or false"),
    (["-m", "neuron=hh,izh"], "neuron='izh' is not a known choice"),
])
def test_bad_config_exits_2_without_traceback_or_output(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)  # in-process: these fail before Hydra starts, as in a subprocess
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "outputs").exists()


def test_bad_config_in_a_subprocess_prints_one_line(cli, tmp_path):
    out = cli("train", "trainer.max_epochs=-1")
    assert out.returncode == 2
    assert out.stderr.strip() == ("hhlif train: error: trainer.max_epochs=-1 is not allowed: expected a positive "
                                  "integer.")
    assert not (tmp_path / "outputs").exists()


def test_unknown_command(cli):
    out = cli("fly")
    assert out.returncode == 2 and "unknown command 'fly'" in out.stderr


def test_missing_pickle_is_a_runtime_error_with_the_path(cli, tmp_path):
    out = cli("train", f"task.pickle={tmp_path / 'nope.pickle'}", *TINY)
    assert out.returncode == 1
    assert "nope.pickle" in out.stderr and "Traceback" not in out.stderr


def test_train_writes_config_events_checkpoints_and_metrics(cli, tmp_path):
    out = cli("train", "neuron=lif", "trainer.max_epochs=2", *TINY)
    assert out.returncode == 0, out.stderr
    assert "epoch 2/2" in out.stdout
    (run,) = run_dirs(tmp_path)
    assert run.parent.name == "LIF_fc-multimnist"
    assert run.name.endswith("-seed1-task.limit_test@128-task.limit_train@256-trainer.batch_size@64-"
                             "trainer.max_epochs@2")  # the overrides that differ from the defaults

    config = (run / ".hydra" / "config.yaml").read_text()
    for needle in ("seed: 1", "max_epochs: 2", "threshold: 0.3", "decay: 0.2", "limit_train: 256", "device: auto"):
        assert needle in config

    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("train/loss", "test/loss", "test/acc_task1", "test/acc_task2", "test/acc_mean",
                "spikes/layer/rate_mean", "spikes/layer/silent_frac", "spikes/layer/saturated_frac",
                "tasks/share_task1", "tasks/influence_corr", "cost/flops_forward",
                "cost/flops_train_step", "cost/flops_paper_add", "cost/synops_per_sample", "cost/energy_nj_per_sample",
                "cost/train_samples_per_s", "cost/eval_samples_per_s", "cost/train_step_ms", "cost/peak_memory_mb"):
        assert key in metrics, key
        assert 0 <= metrics[key] or key.endswith(("loss", "corr"))
    assert metrics["epoch"] == 2 and metrics["params/trainable"] == 690_734
    assert len(metrics["spikes/layer/rate_per_step"]) == 15  # the layer's mean rate at each of the T steps
    assert metrics["meta"]["data.variant"] in ("lite", "full")
    assert metrics["meta"]["data.train_samples"] == 256 and metrics["best"]["epoch"] in (1, 2)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "test/loss", "train/acc_task1", "test/acc_task2", "spikes/layer/rate_mean",
            "spikes/layer/silent_frac", "spikes/layer/saturated_frac", "train/lr", "cost/synops_per_sample",
            "cost/peak_memory_mb", "tasks/share_task2"} <= scalars
    assert [e.step for e in events.Scalars("test/acc_task1")] == [4, 8]  # optimiser steps: 4 batches per epoch
    assert events.Scalars("test/acc_mean")[-1].value == pytest.approx(metrics["test/acc_mean"], rel=1e-6)
    assert {"spikes/layer/rates", "tasks/preference"} <= set(events.Tags()["histograms"])

    for name in ("last.pt", "best.pt"):
        state = torch.load(run / "checkpoints" / name, weights_only=False)
        assert {"model", "optimizer", "scheduler", "epoch", "rng", "config"} <= set(state)
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=False)["epoch"] == 2
    assert (run / "train.log").read_text().count("epoch ") >= 2


@pytest.mark.slow  # whole runs: in make test-slow
def test_same_command_twice_keeps_both_runs_and_is_deterministic(cli, tmp_path):
    args = ("train", "neuron=hh", "trainer.max_epochs=1", *TINY)
    assert cli(*args).returncode == 0
    assert cli(*args).returncode == 0
    first, second = run_dirs(tmp_path)
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (first, second))
    for key in ("train/loss", "test/loss", "test/acc_task1", "test/acc_task2", "spikes/layer/rate_mean"):
        assert m1[key] == m2[key], key


def test_hh_learns_well_above_chance_in_one_epoch(cli, tmp_path):
    out = cli("train", "neuron=hh", "task=multimnist", "trainer.max_epochs=1", "task.limit_train=2000",
              "task.limit_test=1000", "trainer.progress=never")
    assert out.returncode == 0, out.stderr
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    # chance is 10% per task; the paper's HH_fc reaches ~0.9 after 40 full epochs
    assert metrics["test/acc_task1"] > 0.4 and metrics["test/acc_task2"] > 0.4


def test_multirun_sweeps_seeds_into_separate_jobs(cli, tmp_path):
    out = cli("train", "-m", "seed=1,2", "neuron=lif", "trainer.max_epochs=1", *TINY)
    assert out.returncode == 0, out.stderr
    jobs = sorted(p.parent for p in tmp_path.glob("outputs/multirun/train/*/*/metrics.json"))
    assert [j.name for j in jobs] == ["0-LIF_fc-multimnist-seed1", "1-LIF_fc-multimnist-seed2"]
    m = [json.loads((j / "metrics.json").read_text()) for j in jobs]
    assert m[0]["train/loss"] != m[1]["train/loss"]


def test_console_script_is_installed_beside_python(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("hhlif")
    assert exe.is_file(), f"{exe} missing: install the package (make setup)"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and "train" in out.stdout and "flops" in out.stdout


PAPER_MODELS = {
    "LIF_fc": ["neuron=lif", "network=fc"], "4LIF_fc": ["neuron=lif", "network=fc", "network.width_factor=4"],
    "HH_fc": ["neuron=hh", "network=fc"], "LIF_hh_fc": ["neuron=lif_hh", "network=fc"],
    "ANN": ["neuron=binary", "network=fc"], "LIF_conv": ["neuron=lif", "network=conv"],
    "4LIF_conv": ["neuron=lif", "network=conv", "network.width_factor=4"], "HH_conv": ["neuron=hh", "network=conv"],
    "LIF_hh_conv": ["neuron=lif_hh", "network=conv"], "CNN": ["neuron=binary", "network=conv"],
}

PAPER_PARAMS = {"LIF_fc": 690_734, "4LIF_fc": 2_759_726, "HH_fc": 690_734, "LIF_hh_fc": 2_095_666, "ANN": 690_734,
                "LIF_conv": 42_580, "4LIF_conv": 177_910, "HH_conv": 42_580, "LIF_hh_conv": 166_104, "CNN": 42_580}


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_MODELS)
def test_every_paper_model_trains_one_epoch_on_2000_samples(cli, tmp_path, name):
    out = cli("train", *PAPER_MODELS[name], "trainer.max_epochs=1", "task.limit_train=2000", "task.limit_test=500",
              "trainer.progress=never")
    assert out.returncode == 0, out.stderr
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["meta"]["data.train_samples"] == 2000
    assert metrics["params/trainable"] == PAPER_PARAMS[name]
    assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["test/loss"])
    assert all(0 <= v <= 1 for k, v in metrics.items() if k.startswith("spikes/") and k.endswith("rate_mean"))
