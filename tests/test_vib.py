"""The VIB analysis (Fig. 5d): bound arithmetic on hand-computed cases, the multi-shot softmax flag, the EMA,
the learning-rate schedule, short runs of every paper encoder, and an interrupted-then-resumed run."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import pytest
import torch
from helpers import compose_config, run_cli, sigterm_at
from torch import nn

from hhlif.cli import main
from hhlif.networks import count_parameters
from hhlif.networks.vib import (
    VIBNet,
    VIBOutput,
    izy_bound_bits,
    izy_bound_bits_paper,
    kl_to_standard_normal,
    multishot_probabilities,
)
from hhlif.trainers.vib import VIBTrainer, build_vib, update_ema

LOG2_10 = math.log2(10)
RUN = ["train", "trainer=vib", "network=vib", "trainer.max_epochs=2", "task.limit_train=512",
       "task.limit_test=256", "trainer.batch_size=32", "trainer.progress=never"]
VOLATILE = ("cost/train_", "cost/eval_", "cost/peak_memory_mb")  # wall-clock time and memory


def stable(metrics: dict) -> dict:
    """metrics.json without the measurements of time and memory."""
    return {k: (stable(v) if isinstance(v, dict) else v) for k, v in metrics.items()
            if not k.startswith(VOLATILE) and k != "meta"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def trainer(data_root, tmp_path_factory):
    cfg = compose_config(["trainer=vib", "network=vib", "neuron=lif", "task.limit_train=64", "task.limit_test=64",
                          f"data.root={data_root}"])
    return VIBTrainer(cfg, tmp_path_factory.mktemp("run"))


def env(data_root):
    return {"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"}


def run_dirs(root):
    return sorted(p.parent for p in root.glob("outputs/train/*/*/.hydra"))


# -- bound arithmetic ----------------------------------------------------------------------------------
def test_kl_of_known_gaussians_in_bits():
    # N(0, I) is the prior itself
    assert float(kl_to_standard_normal(torch.zeros(1, 4), torch.ones(1, 4))) == 0.0
    # μ = (2, 0), σ = (1, e⁻¹): ½(4) + ½(e⁻² + 0 − 1 − 2·(−1)) = 2 + ½ + ½e⁻² nats
    mu, std = torch.tensor([[2.0, 0.0]], dtype=torch.float64), torch.tensor([[1.0, math.exp(-1)]], dtype=torch.float64)
    nats = 2.5 + 0.5 * math.exp(-2)
    assert float(kl_to_standard_normal(mu, std)) == pytest.approx(nats, rel=1e-12)
    assert nats / math.log(2) == pytest.approx(3.704361, abs=1e-6)  # the bits reported as I(Z;X)
    # σ that underflowed to 0 gives a large finite value, not inf
    assert math.isfinite(float(kl_to_standard_normal(torch.zeros(1, 1), torch.zeros(1, 1))))


def test_izy_bound_of_a_perfect_and_of_a_chance_classifier():
    perfect = torch.tensor([0.0, 0.0])  # Σ_tasks CE of each sample, nats
    chance = torch.tensor([2 * math.log(10)] * 2)  # uniform prediction over 10 classes, for both tasks
    assert izy_bound_bits(perfect, classes=10, tasks=2).tolist() == pytest.approx([2 * LOG2_10] * 2)
    assert izy_bound_bits(chance, classes=10, tasks=2).tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    # the paper's code: one log2(10) for both tasks
    assert izy_bound_bits_paper(perfect, classes=10).tolist() == pytest.approx([LOG2_10] * 2)
    assert izy_bound_bits_paper(chance, classes=10).tolist() == pytest.approx([-LOG2_10] * 2)


def test_trainer_batch_sums_report_the_bounds_per_sample(trainer):
    y = torch.tensor([[3, 7], [1, 0]])
    mu = torch.tensor([[2.0] + [0.0] * 255, [0.0] * 256])
    std = torch.ones(2, 256)
    std[0, 1] = math.exp(-1)
    perfect = torch.full((2, 2, 10), -50.0).scatter(2, y.unsqueeze(-1), 50.0)
    sums = trainer.batch_sums(VIBOutput(mu, std, perfect), y)
    assert sums["izx_bits"] == pytest.approx((2.5 + 0.5 * math.exp(-2)) / math.log(2), rel=1e-6)
    assert sums["izy_bits"] == pytest.approx(2 * 2 * LOG2_10)  # summed over the batch of 2
    assert sums["izy_bits_paper"] == pytest.approx(2 * LOG2_10)
    chance = trainer.batch_sums(VIBOutput(mu, std, torch.zeros(2, 2, 10)), y)
    assert chance["izy_bits"] == pytest.approx(0.0, abs=1e-9)
    beta = trainer.cfg.trainer.beta
    assert chance["vib_loss_bits"] == pytest.approx(2 * 2 * LOG2_10 + beta * sums["izx_bits"])


def test_beta_enters_the_loss_only_with_the_flag(trainer):
    y = torch.tensor([[3, 7]])
    out = VIBOutput(torch.full((1, 256), 1.0), torch.ones(1, 256), torch.zeros(1, 2, 10))
    ce = 2 * math.log(10)
    assert float(trainer.compute_loss(out, y)) == pytest.approx(ce)  # the paper: CE only
    trainer.cfg.trainer.beta_in_loss = True
    try:
        assert float(trainer.compute_loss(out, y)) == pytest.approx(ce + 1e-3 * 0.5 * 256)  # KL = ½Σμ² nats
    finally:
        trainer.cfg.trainer.beta_in_loss = False


# -- multi-shot prediction -------------------------------------------------------------------------------
def test_multishot_softmax_over_classes_versus_the_papers_batch_axis():
    # 2 samples of z, a batch of 2 images, 1 task, 3 classes; both samples of z give the same logits
    logits = torch.tensor([[5.0, 0.0, 0.0], [10.0, 9.0, 0.0]]).view(1, 2, 1, 3).expand(2, 2, 1, 3)
    classes = multishot_probabilities(logits, "classes")
    assert classes.shape == (2, 1, 3)
    assert classes.sum(-1).flatten().tolist() == pytest.approx([1.0, 1.0])
    assert classes.argmax(-1).flatten().tolist() == [0, 0]
    batch = multishot_probabilities(logits, "batch")
    assert batch.sum(0).flatten().tolist() == pytest.approx([1.0, 1.0, 1.0])  # normalised over the images
    assert batch.argmax(-1).flatten().tolist() == [2, 1]  # the defect: wrong answers for both
    # with the defect an image's prediction depends on the rest of its batch
    alone = multishot_probabilities(logits[:, 1:], "batch")
    assert alone.argmax(-1).flatten().tolist() == [0]


def test_multishot_averages_the_probabilities_of_the_samples():
    logits = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]]).view(2, 1, 1, 2)  # p = (¼, ¾) then (¾, ¼)
    assert multishot_probabilities(logits).flatten().tolist() == pytest.approx([0.5, 0.5])


# -- model, EMA, schedule ------------------------------------------------------------------------------
@pytest.mark.parametrize("neuron,trainable,frozen", [("lif", 931_860, 0), ("hh", 931_860, 3_072),
                                                     ("lif_hh", 3_046_424, 0)])
def test_paper_encoders_have_the_papers_parameter_counts_and_constants(neuron, trainable, frozen):
    cfg = compose_config(["trainer=vib", "network=vib", f"neuron={neuron}"])
    with torch.device("meta"):
        model = build_vib(cfg)
    assert count_parameters(model) == (trainable, frozen)  # frozen: HH's gating rates
    expected = {"lif": (0.2, "xavier"), "hh": (2.3, "xavier"), "lif_hh": (0.8, "default")}[neuron]
    assert (cfg.neuron.threshold, cfg.network.init) == expected and cfg.neuron.half_width == 0.4


def test_encoder_projection_of_the_rate_equals_the_mean_of_the_per_step_projections():
    torch.manual_seed(0)
    model = VIBNet(neuron={"name": "lif", "threshold": 0.2}, input_shape=(1, 6, 6), tasks=2, classes=10, k=4,
                   hidden=8, time_steps=5, init="xavier").double()
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64)
    mu, std = model.encode(x)
    stats = model.stats(model.layer(x.flatten(1), 5)).mean(0)
    assert torch.allclose(mu, stats[:, :4]) and torch.allclose(std, nn.functional.softplus(stats[:, 4:] - 5))
    assert not model.layer.synapse.bias.detach().any()  # xavier init: zero bias
    out = model(x)
    assert out.logits.shape == (3, 2, 10) and model.multishot(mu, std, 12).shape == (3, 2, 10)


@pytest.mark.parametrize("neuron", ["binary", "hh", "lif", "lif_hh"])  # the classification task's neuron models
def test_every_neuron_model_encodes(neuron):
    cfg = compose_config(["trainer=vib", "network=vib", f"neuron={neuron}", "network.hidden=8", "network.k=4"])
    model = build_vib(cfg)
    out = model(torch.rand(3, 1, 36, 36) * 255)
    assert out.mu.shape == out.std.shape == (3, 4) and out.logits.shape == (3, 2, 10)
    out.logits.sum().backward()
    assert model.layer.synapse.weight.grad is not None


def test_ema_update():
    model = nn.Linear(2, 1)
    model.register_buffer("count", torch.tensor(0))
    model.frozen = nn.Parameter(torch.tensor([1.0]), requires_grad=False)
    ema = {k: v.clone() for k, v in model.state_dict().items()}
    w0 = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
        model.frozen.fill_(7.0)
        model.count.fill_(3)
    update_ema(ema, model, 0.9)
    assert torch.allclose(ema["weight"], 0.9 * w0 + 0.1 * (w0 + 1))
    assert ema["frozen"].item() == 7.0 and ema["count"].item() == 3  # copied, not averaged
    update_ema(ema, model, 0.9)
    assert torch.allclose(ema["weight"], w0 + 1 - 0.81, atol=1e-6)  # (1 − 0.9²) of the way to w0 + 1


def test_learning_rate_decays_after_every_even_epoch(trainer):
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-4)
    trainer_opt, trainer.optimizer = trainer.optimizer, opt
    try:
        scheduler = trainer.build_scheduler()
    finally:
        trainer.optimizer = trainer_opt
    seen = []
    for _ in range(7):
        opt.step()  # the lr of epochs 1..7, stepped after each as the trainer does
        seen.append(opt.param_groups[0]["lr"])
        scheduler.step()
    assert seen == pytest.approx([1e-4 * 0.97 ** ((e - 1) // 2) for e in range(1, 8)])
    assert seen[:3] == pytest.approx([1e-4, 1e-4, 0.97e-4])


def test_evaluation_uses_the_ema_weights_and_restores_the_trained_ones(trainer):
    live = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    seen = {}
    trainer.ema = {k: v + 1 if v.is_floating_point() else v.clone() for k, v in live.items()}
    original = trainer._run_epoch

    def spy(batches, train, desc):
        seen["bias"] = trainer.model.stats.bias.detach().clone()
        return original(batches, train, desc)

    trainer._run_epoch = spy
    try:
        metrics, _ = trainer.evaluate()
    finally:
        del trainer._run_epoch
        trainer.ema = {k: v.clone() for k, v in live.items()}
    assert torch.equal(seen["bias"], live["stats.bias"] + 1)
    assert all(torch.equal(v, live[k]) for k, v in trainer.model.state_dict().items())
    assert {"test/izx_bits", "test/izy_bits", "test/acc_oneshot", "test/acc_multishot"} <= set(metrics)


@pytest.mark.parametrize("args,network", [
    (["trainer=vib"], "vib"), (["trainer=vib", "neuron=lif"], "vib"), (["trainer=sac"], "policy"),
    (["task=inverted_pendulum"], "policy"), (["trainer=classify", "network=conv"], "conv"), ([], "fc"),
])
def test_a_trainer_of_one_network_selects_it(args, network):
    cfg = compose_config(args)
    assert cfg.network.name == network
    if network == "vib":  # the same configuration as naming the network too
        assert cfg == compose_config([*args, "network=vib"])


@pytest.mark.parametrize("args,message", [
    (["trainer=vib", "network=fc"], "trainer=vib trains the VIB model only (network=vib), but network=fc"),
    (["trainer=vib", "network=vib", "trainer.multishot_softmax=tasks"], "trainer.multishot_softmax='tasks'"),
    (["trainer=vib", "network=vib", "trainer.samples=0"], "trainer.samples=0"),
    (["trainer=vib", "network=vib", "trainer.beta=-1"], "trainer.beta=-1"),
    (["trainer=vib", "network=vib", "trainer.ema=1.5"], "trainer.ema=1.5"),
    (["trainer=vib", "network=vib", "network.init=he"], "network.init='he'"),
    (["trainer=vib", "network=vib", "trainer.select=test/loss"], "trainer.select='test/loss'"),
])
def test_bad_vib_config_exits_2(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "outputs").exists()


# -- end to end --------------------------------------------------------------------------------------------
def check_run(run, trainable):
    metrics = json.loads((run / "metrics.json").read_text())
    keys = ("test/izx_bits", "test/izy_bits", "test/izy_bits_paper", "test/acc_oneshot", "test/acc_multishot",
            "test/acc_task1", "test/loss", "train/izx_bits", "train/izy_bits", "train/acc_multishot",
            "spikes/layer/rate_mean", "cost/synops_per_sample", "cost/flops_forward", "train/lr")
    for key in keys:
        assert math.isfinite(metrics[key]), key
    assert metrics["epoch"] == 2 and metrics["params/trainable"] == trainable
    assert metrics["test/izx_bits"] > 0 and 0 <= metrics["test/acc_multishot"] <= 1
    assert metrics["test/izy_bits"] - metrics["test/izy_bits_paper"] == pytest.approx(LOG2_10)
    best = metrics["best"]
    assert best["epoch"] in (1, 2) and {"test/izx_bits", "test/izy_bits", "test/acc_multishot"} <= set(best)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    for tag in ("test/izx_bits", "test/izy_bits", "test/acc_oneshot", "test/acc_multishot"):
        assert [e.step for e in events.Scalars(tag)] == [16, 32], tag  # optimiser steps: 512 / 32 per epoch
    assert events.Scalars("test/izx_bits")[-1].value == pytest.approx(metrics["test/izx_bits"], rel=1e-6)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert set(state["ema"]) == set(state["model"])


@pytest.mark.slow  # whole runs: in make test-slow
def test_short_runs_of_every_paper_encoder_write_the_bounds(tmp_path, data_root):
    out = run_cli([RUN[0], "-m", *RUN[1:], "neuron=lif,hh,lif_hh"], cwd=tmp_path, env=env(data_root))  # one process
    assert out.returncode == 0, out.stderr
    assert "I(Z;X)" in out.stdout and "multi-shot" in out.stdout
    jobs = sorted(p.parent for p in tmp_path.glob("outputs/multirun/train/*/*/metrics.json"))
    assert [j.name for j in jobs] == [f"{i}-{n}_vib-multimnist-seed1" for i, n in enumerate(("LIF", "HH", "LIF_hh"))]
    for job, trainable in zip(jobs, (931_860, 931_860, 3_046_424), strict=True):
        check_run(job, trainable)


def test_sigterm_mid_epoch_in_process_then_resume_gives_the_same_metrics(tmp_path, data_root, monkeypatch):
    from hhlif.errors import Interrupted

    cfg = compose_config([*RUN[1:], "neuron=hh", f"data.root={data_root}"])
    reference = VIBTrainer(cfg, tmp_path / "reference").fit()

    run = tmp_path / "interrupted"
    stopped = VIBTrainer(cfg, run)
    steps = []

    def after_step():
        VIBTrainer.after_step(stopped)
        steps.append(1)
        if len(steps) == len(stopped.train_batches) + 3:  # batch 3 of epoch 2: the real signal, as `kill` sends it
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(stopped, "after_step", after_step)
    with pytest.raises(Interrupted, match="stopped by SIGTERM during epoch 2 .batch 3 of"):
        stopped.fit()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == 1 and state["progress"]["batches"] == 3 and "izx_bits" in state["progress"]["sums"]
    resumed = VIBTrainer(cfg, run)
    assert resumed.resume()
    assert stable(resumed.fit()) == stable(reference)


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_gives_the_same_metrics(tmp_path, data_root):
    args = [*RUN, "neuron=hh"]
    (tmp_path / "reference").mkdir()
    ref = run_cli(args, cwd=tmp_path / "reference", env=env(data_root))
    assert ref.returncode == 0, ref.stderr
    (reference,) = run_dirs(tmp_path / "reference")
    proc = subprocess.Popen([sys.executable, "-m", "hhlif", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env(data_root),
                                                                     "PYTHONUNBUFFERED": "1"})
    err = sigterm_at(proc, "epoch 2/2   ")  # once the second epoch is under way
    assert "stopped by SIGTERM during epoch 2" in err and "Traceback" not in err
    (run,) = run_dirs(tmp_path)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == 1 and state["progress"]["batches"] > 0
    out = run_cli([*args, "resume=true"], cwd=tmp_path, env=env(data_root))
    assert out.returncode == 0, out.stderr
    assert "continuing at epoch 2, batch" in out.stdout
    expected = json.loads((reference / "metrics.json").read_text())
    assert stable(json.loads((run / "metrics.json").read_text())) == stable(expected)
