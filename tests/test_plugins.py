"""Opening hhlif: neurons from the user's code through every command, and hhlif's neurons in the user's code."""

from __future__ import annotations

import json
import runpy

import pytest
import torch
from conftest import PLUGIN
from helpers import REPO

import hhlif
from hhlif.errors import ConfigError, ShapeError

TINY = ["trainer.max_epochs=1", "task.limit_train=256", "task.limit_test=128", "trainer.progress=never"]

MY_NEURON = '''
import torch
from hhlif import Neuron


class Sigma(Neuron):
    """A neuron of the user's own: u = leak·u·(1 − s) + I, spikes with hhlif's surrogate."""

    ops_per_step = (2, 4)

    def __init__(self, shape, *, threshold=0.5, leak=0.5, half_width=0.5):
        super().__init__(shape, threshold=threshold, half_width=half_width)
        self.leak = leak

    def initial_state(self, batch, device=None, dtype=None):
        z = torch.zeros(batch, *self.shape, device=device, dtype=dtype)
        return z, z

    def step(self, current, state):
        u, s = state
        u = self.leak * u * (1 - s) + current
        s = self.spike(u - self.threshold)
        return s, (u, s)
'''


@pytest.fixture
def user_dir(tmp_path):
    """A working directory with a neuron module and its config in ./conf (no flag, no install)."""
    (tmp_path / "my_neurons.py").write_text(MY_NEURON)
    (tmp_path / "conf" / "neuron").mkdir(parents=True)
    (tmp_path / "conf" / "neuron" / "sigma.yaml").write_text(
        "_target_: my_neurons.Sigma\nname: sigma\nthreshold: 0.5\nleak: 0.5\nhalf_width: 0.5\n")
    return tmp_path


def _metrics(root):
    found = list(root.glob("outputs/train/**/metrics.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def test_a_neuron_from_the_working_directory_trains_and_is_counted(cli, user_dir):
    env = {"PYTHONPATH": str(user_dir)}
    done = cli("train", "neuron=sigma", "task=multifashion", *TINY, env=env)
    assert done.returncode == 0, done.stderr
    metrics = _metrics(user_dir)
    assert metrics["spikes/layer/rate_mean"] > 0 and metrics["cost/flops_paper_add"] > 0
    assert "sigma" in next(user_dir.glob("outputs/train/*")).name
    flops = cli("flops", "neuron=sigma", env=env)
    assert flops.returncode == 0, flops.stderr
    # hidden 512 units × 15 steps × (2 MUL + 4 ADD) of the neuron, on top of the synapses
    table = json.loads(next(user_dir.glob("outputs/flops/**/flops.json")).read_text())
    layer = table["models"][0]["layers"][0]
    assert layer["neuron"] == "Sigma" and (layer["neuron_mul"], layer["neuron_add"]) == (2 * 512 * 15, 4 * 512 * 15)


def test_the_working_directory_conf_wins_over_hhlifs(cli, user_dir):
    (user_dir / "conf" / "neuron" / "lif.yaml").write_text("_target_: my_neurons.Sigma\nname: lif\nleak: 0.25\n")
    done = cli("train", "neuron=lif", "--cfg", "job", env={"PYTHONPATH": str(user_dir)})
    assert done.returncode == 0, done.stderr
    assert "_target_: my_neurons.Sigma" in done.stdout and "leak: 0.25" in done.stdout


def test_the_installed_plugin_trains_counts_and_is_checked(cli, tmp_path, plugin_site):
    env = {"PYTHONPATH": str(plugin_site)}
    done = cli("train", "neuron=qif", "task=multifashion", *TINY, env=env)
    assert done.returncode == 0, done.stderr
    assert _metrics(tmp_path)["spikes/layer/rate_mean"] > 0
    job = cli("train", "neuron=qif", "--cfg", "job", env=env)  # its config: generated from the signature
    assert "_target_: hhlif_qif.QIF" in job.stdout and "tau: 5.0" in job.stdout
    assert cli("flops", "neuron=qif", env=env).returncode == 0
    check = cli("check", "neuron=qif", env=env)
    assert check.returncode == 0 and "7 passed, 0 failed" in check.stdout, check.stdout + check.stderr
    bench = cli("bench", "bench.models=[{key: QIF_fc, overrides: ['neuron=qif', 'network.hidden=32'], target: null}]",
                "bench.steps=2", "bench.warmup=1", "bench.batch=16", "bench.epoch_model=null", "bench.sac=null",
                "bench.peer=false", "bench.memory=false", env=env)
    assert bench.returncode == 0, bench.stderr
    row = json.loads(next(tmp_path.glob("outputs/bench/*/bench.json")).read_text())["models"][0]
    assert row["key"] == "QIF_fc" and row["neuron"] == "qif"
    report = cli("report", "outputs/train", env=env)
    assert report.returncode == 0 and "qif" in report.stdout.lower(), report.stdout + report.stderr


@pytest.mark.slow
def test_a_joblib_sweep_runs_the_plugin_and_hh_in_new_processes(cli, tmp_path, plugin_site):
    done = cli("train", "-m", "neuron=qif,hh", "launcher=joblib", "task=multifashion", *TINY,
               env={"PYTHONPATH": str(plugin_site)})
    assert done.returncode == 0, done.stderr
    runs = sorted(p.parent.name for p in tmp_path.glob("outputs/multirun/**/metrics.json"))
    assert len(runs) == 2 and any("qif" in r for r in runs) and any("HH_fc" in r for r in runs), runs


def test_a_target_that_cannot_be_imported_names_the_file_path_and_error(cli, user_dir):
    (user_dir / "conf" / "neuron" / "broken.yaml").write_text("_target_: not_a_module.Neuron\nname: broken\n")
    done = cli("train", "neuron=broken", *TINY)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "not_a_module.Neuron" in done.stderr and "No module named 'not_a_module'" in done.stderr
    assert "conf/neuron/broken.yaml" in done.stderr
    assert not (user_dir / "outputs").exists()


def test_a_model_breaking_the_contract_is_refused_before_training(cli, user_dir):
    (user_dir / "bad_neurons.py").write_text(MY_NEURON.replace("return s, (u, s)", "return s.sum(-1), (u, s)"))
    (user_dir / "conf" / "neuron" / "bad.yaml").write_text("_target_: bad_neurons.Sigma\nname: bad\n")
    done = cli("train", "neuron=bad", *TINY, env={"PYTHONPATH": str(user_dir)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "bad_neurons.Sigma.step" in done.stderr and "hhlif check neuron=bad" in done.stderr
    assert not (user_dir / "outputs").exists()


def test_two_packages_claiming_one_name_are_both_named(cli, tmp_path):
    site = tmp_path / "site"
    for dist in ("alpha_neurons", "beta_neurons"):
        info = site / f"{dist}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[hhlif.neurons]\nspiky = {dist}:Spiky\n")
    done = cli("train", "neuron=lif", *TINY, env={"PYTHONPATH": str(site)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "alpha_neurons" in done.stderr and "beta_neurons" in done.stderr and "'spiky'" in done.stderr


# -- the library face ----------------------------------------------------------------------------------------------
def test_sizes_step_api_and_an_explicit_time_axis():
    hh = hhlif.HH(8)
    assert hh.shape == (8,) and hhlif.HH((2, 4)).shape == (2, 4)
    state = hh.initial_state(3)
    spikes, state = hh.step(torch.full((3, 8), 5.0), state)
    assert spikes.shape == (3, 8) and len(state) == 4
    assert hh(torch.zeros(5, 3, 8)).shape == (5, 3, 8)
    with pytest.raises(ShapeError, match=r"takes currents \[T, B, 8\] \(time first\); got \[3, 8\]"):
        hh(torch.zeros(3, 8))
    layer = hhlif.SpikingLinear(4, 8, hhlif.LIF)
    assert layer.rate(torch.ones(2, 4), steps=15).shape == (2, 8)
    with pytest.raises(ShapeError, match=r"\[T, B, \.\.\.\] \(time first\)"):
        layer(torch.ones(2, 4))
    with pytest.raises(ConfigError, match="breaks|made a"):
        hhlif.SpikingLinear(4, 8, lambda shape: torch.nn.Identity())


def test_hhlifs_eager_loop_is_the_users_own_time_loop():
    """step() in the user's loop gives the spikes of the (fused) window, bitwise."""
    torch.manual_seed(0)
    hh = hhlif.HH(16)
    x = torch.rand(15, 4, 16) * 20
    state, spikes = hh.initial_state(4), []
    for t in range(15):
        s, state = hh.step(x[t], state)
        spikes.append(s)
    assert torch.equal(torch.stack(spikes), hh(x))


def test_the_readme_library_example_runs(capsys):
    text = (REPO / "README.md").read_text()
    example = (REPO / "examples" / "hh_layer_in_pytorch.py").read_text()
    body = example.split('"""', 2)[2].strip()
    assert body in text, "the README shows examples/hh_layer_in_pytorch.py as it is"
    assert len(body.splitlines()) <= 20
    runpy.run_path(str(REPO / "examples" / "hh_layer_in_pytorch.py"), run_name="__main__")
    accuracy = float(capsys.readouterr().out.split("training accuracy ")[1])
    assert 0.9 < accuracy <= 1.0  # a fraction, as everywhere in hhlif


def test_load_run_gives_the_trained_model_back(cli, tmp_path):
    done = cli("train", "neuron=lif", "task=multifashion", *TINY)
    assert done.returncode == 0, done.stderr
    run_dir = next(tmp_path.glob("outputs/train/*/*/metrics.json")).parent
    run = hhlif.load_run(run_dir)
    assert run.which == "best" and run.cfg.neuron.name == "lif" and not run.model.training
    from hhlif.trainers.classify import ClassifyTrainer

    trainer = ClassifyTrainer(run.cfg, tmp_path / "eval")
    trainer.model.load_state_dict(run.model.state_dict())
    metrics, _ = trainer.evaluate()
    assert metrics["test/acc_mean"] == pytest.approx(run.metrics["best"]["test/acc_mean"], abs=1e-12)
    with pytest.raises(hhlif.errors.RunError, match="holds no checkpoint"):
        hhlif.load_run(tmp_path)


def test_the_example_plugin_is_a_package_of_its_own():
    text = (PLUGIN / "pyproject.toml").read_text()
    assert '[project.entry-points."hhlif.neurons"]' in text and "qif = " in text
    assert "hhlif.neurons." not in (PLUGIN / "hhlif_qif" / "__init__.py").read_text()  # the public API only


def test_explain_names_every_file_that_set_a_value(cli, user_dir):
    (user_dir / "conf" / "paper" / "model").mkdir(parents=True)
    done = cli("explain", "neuron.threshold", "trainer.optimizer.lr", "neuron=lif_hh", "network=conv",
               "neuron.threshold=0.5")
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert lines[:4] == [["neuron.threshold", "=", "0.5"], ["2.0", "hhlif's", "conf/neuron/lif_hh.yaml"],
                         ["0.3", "hhlif's", "conf/paper/model/lif_hh_conv.yaml"], ["0.5", "the", "command", "line"]]
    assert lines[4:] == [["trainer.optimizer.lr", "=", "0.003"], ["0.0001", "hhlif's", "conf/trainer/classify.yaml"],
                         ["0.003", "hhlif's", "conf/paper/network/conv.yaml"]]
    mine = cli("explain", "neuron.leak", "neuron=sigma")  # a file of the working directory's conf/
    assert mine.returncode == 0 and f"{user_dir}/conf/neuron/sigma.yaml" in mine.stdout, mine.stderr
    bad = cli("explain", "neuron.nope")
    assert bad.returncode == 2 and "neuron.nope is not a key" in bad.stderr
    typo = cli("explain", "neuron.thresold")
    assert typo.returncode == 2 and "Did you mean neuron.threshold?" in typo.stderr, typo.stderr


@pytest.mark.slow
@pytest.mark.parametrize("run", [
    ["task=inverted_pendulum", "trainer.total_steps=300", "trainer.start_steps=100", "trainer.batch_size=32",
     "trainer.eval_every=150", "trainer.eval_episodes=1", "trainer.progress=never"],
    ["trainer=vib", "network=vib", "task=multifashion", *TINY],
], ids=["sac-actor", "vib-encoder"])
def test_the_plugin_is_a_sac_actor_and_a_vib_encoder(cli, tmp_path, plugin_site, run):
    done = cli("train", "neuron=qif", *run, env={"PYTHONPATH": str(plugin_site)})
    assert done.returncode == 0, done.stderr
    metrics = _metrics(tmp_path)
    assert any(k.startswith("spikes/") for k in metrics), sorted(metrics)
