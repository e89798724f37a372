"""Interruptions, resume, numerical guards and bad input: nothing is lost, nothing earlier is overwritten."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import compose_config, run_cli, sigterm_at

from hhlif.cli import main
from hhlif.errors import ConfigError, RunError

RUN = ["train", "neuron=hh", "trainer.max_epochs=3", "task.limit_train=3000", "task.limit_test=500",
       "trainer.batch_size=100", "trainer.progress=never"]
VOLATILE = ("cost/train_", "cost/eval_", "cost/peak_memory_mb")  # wall-clock time and memory


def stable(metrics: dict) -> dict:
    """metrics.json without the measurements of time and memory (which differ between any two runs)."""
    drop = ("meta",)
    return {k: (stable(v) if isinstance(v, dict) else v) for k, v in metrics.items()
            if not k.startswith(VOLATILE) and k not in drop}


def run_dirs(root):
    return sorted(p.parent for p in root.glob("outputs/train/*/*/.hydra"))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root):
    """The uninterrupted run everything is compared with."""
    cwd = tmp_path_factory.mktemp("reference")
    out = run_cli(RUN, cwd=cwd, env={"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    (run,) = run_dirs(cwd)
    return json.loads((run / "metrics.json").read_text())


def spawn(args, cwd, data_root):
    env = {**os.environ, "HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "hhlif", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # whole runs: in make test-slow
def test_sigkill_at_random_points_then_resume_gives_the_same_metrics(tmp_path, data_root, reference):
    def attempt_args():  # as a user would: resume once a run of this command exists
        started = list(tmp_path.glob("outputs/train/*/*/.hydra/overrides.yaml"))
        return [*RUN, "resume=true"] if started else RUN

    rng = random.Random(20261124)
    kills = 0
    for _ in range(3):
        proc = spawn(attempt_args(), tmp_path, data_root)
        time.sleep(rng.uniform(3.0, 9.0))  # start-up takes ~3 s; an epoch ~1-2 s
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
    assert kills >= 1
    final = run_cli(attempt_args(), cwd=tmp_path, env={"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"})
    assert final.returncode == 0, final.stderr
    # every attempt after the run existed continued it; a kill during Hydra's own start-up may leave an empty
    # directory behind, never a second result
    (result,) = tmp_path.glob("outputs/train/*/*/metrics.json")
    assert stable(json.loads(result.read_text())) == stable(reference)
    assert not list(tmp_path.rglob(".*.tmp"))  # no half-written file left behind


def test_sigterm_mid_epoch_checkpoints_and_resumes_exactly(tmp_path, data_root, reference):
    err = sigterm_at(spawn(RUN, tmp_path, data_root), "epoch 2/3   ")  # once the second epoch is under way
    assert "stopped by SIGTERM during epoch 2" in err and "resume=true" in err and "Traceback" not in err
    (run,) = run_dirs(tmp_path)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == 1 and state["progress"]["batches"] > 0
    out = run_cli([*RUN, "resume=true"], cwd=tmp_path, env={"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert "continuing at epoch 2, batch" in out.stdout
    assert stable(json.loads((run / "metrics.json").read_text())) == stable(reference)


@pytest.mark.slow  # whole runs: in make test-slow
def test_resuming_a_finished_run_does_nothing(tmp_path, data_root):
    args = ["train", "neuron=lif", "trainer.max_epochs=1", "task.limit_train=128", "task.limit_test=64",
            "trainer.progress=never"]
    env = {"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    assert run_cli(args, cwd=tmp_path, env=env).returncode == 0
    (run,) = run_dirs(tmp_path)
    before = (run / "metrics.json").read_bytes()
    again = run_cli([*args, "resume=true"], cwd=tmp_path, env=env)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert (run / "metrics.json").read_bytes() == before
    # a longer schedule may continue a finished run
    longer = run_cli([*args, "resume=true", "trainer.max_epochs=2"], cwd=tmp_path, env=env)
    assert longer.returncode == 0, longer.stderr
    assert json.loads((run / "metrics.json").read_text())["epoch"] == 2 and len(run_dirs(tmp_path)) == 1


def test_non_finite_state_stops_with_layer_step_value_and_advice(tmp_path, data_root):
    args = ["train", "neuron=hh", "neuron.dt=5.0", "neuron.rate_scale=1.0", "trainer.max_epochs=1",
            "task.limit_train=64", "task.limit_test=64", "trainer.progress=never"]
    env = {"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    out = run_cli(args, cwd=tmp_path, env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    for needle in ("layer 'layer' (HH)", "time step", "epoch 1, batch 1", "lower neuron.dt (now 5.0)",
                   "trainer.on_nonfinite=skip"):
        assert needle in out.stderr, needle
    skip = run_cli([*args, "trainer.on_nonfinite=skip"], cwd=tmp_path, env=env)
    assert skip.returncode == 0, skip.stderr
    metrics = json.loads(sorted(tmp_path.glob("outputs/train/*/*/metrics.json"))[-1].read_text())
    assert metrics["train/skipped_batches"] == 1


def test_full_disk_at_checkpoint_is_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, data_root):
    from hhlif.trainers.classify import ClassifyTrainer

    cfg = compose_config(["neuron=lif", "task.limit_train=64", "task.limit_test=64", f"data.root={data_root}"])
    trainer = ClassifyTrainer(cfg, tmp_path)
    trainer.save("last.pt")
    good = (tmp_path / "checkpoints" / "last.pt").read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(RunError, match="cannot write checkpoint .*No space left on device.*resume=true"):
        trainer.save("last.pt")
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == good
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))


# -- bad input caught before anything is written (in-process: the CLI stops before Hydra starts) -------------
@pytest.mark.parametrize("args,message", [
    (["seed=abc"], "seed='abc'"),
    (["seed=-1"], "seed=-1"),
    (["trainer.optimizer.betas=[0.9,1.5]"], "trainer.optimizer.betas[1]=1.5"),
    (["task.limit_train=0"], "task.limit_train=0"),
    (["task.pixel_max=-1"], "task.pixel_max=-1"),
    (["task.noise.amplitude=-5"], "task.noise.amplitude=-5"),
    (["trainer.scheduler.milestones=[30,10]"], "increasing positive epoch numbers"),
    (["trainer.select=test/acc_task3"], "trainer.select='test/acc_task3' is not a known choice"),
    (["trainer.on_nonfinite=ignore"], "trainer.on_nonfinite='ignore'"),
    (["resume=true"], "resume=true: no earlier run of this command"),
    (["resume=/nonexistent/run"], "resume='/nonexistent/run': expected a run directory"),
    (["-m", "seed=1,2", "resume=outputs/x"], "a sweep continues with resume=true"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "outputs").exists()


def test_unwritable_run_directory_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blocker").write_text("a file, not a directory")
    assert main(["train", "hydra.run.dir=blocker/run"]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def earlier_run(tmp_path, data_root, neuron="lif"):
    env = {"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    args = ["train", f"neuron={neuron}", "trainer.max_epochs=1", "task.limit_train=128", "task.limit_test=64",
            "trainer.progress=never"]
    out = run_cli(args, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    key = {"lif": "LIF", "hh": "HH", "lif_hh": "LIF_hh"}[neuron]
    return sorted(tmp_path.glob(f"outputs/train/{key}_fc-multimnist/*"))[-1], args, env


def snapshot(run):
    return {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_existing_run_directory_is_never_reused_without_resume(tmp_path, data_root):
    run, args, env = earlier_run(tmp_path, data_root)
    before = snapshot(run)
    out = run_cli([*args, f"hydra.run.dir={run}"], cwd=tmp_path, env=env)
    assert out.returncode == 2 and "already holds a run" in out.stderr and "Traceback" not in out.stderr
    assert snapshot(run) == before


def test_resume_with_a_changed_config_is_refused(tmp_path, data_root):
    run, args, env = earlier_run(tmp_path, data_root)
    before = snapshot(run)
    out = run_cli([*args, f"resume={run}", "trainer.optimizer.lr=0.5"], cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stderr
    assert "different configuration: trainer.optimizer.lr: 0.0001 → 0.5" in out.stderr
    assert snapshot(run) == before


def test_optimizer_state_loads_across_fused_and_keeps_the_resumed_runs_choice():
    """A checkpoint's Adam state continues under either implementation: trainer.optimizer.fused may change on
    resume, and the state (step, moments) is the saved one."""
    from hhlif.trainers.base import adam, load_optimizer

    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, 3))
    plain = adam([w], lr=0.1, fused=False)
    for _ in range(3):
        plain.zero_grad()
        (w**2).sum().backward()
        plain.step()
    saved = plain.state_dict()
    fused = adam([torch.nn.Parameter(w.detach().clone())], lr=0.1, fused=True)
    load_optimizer(fused, saved)
    assert fused.param_groups[0]["fused"] is True and fused.param_groups[0]["lr"] == 0.1
    state = fused.state[fused.param_groups[0]["params"][0]]
    assert float(state["step"]) == 3.0 and torch.equal(state["exp_avg"], plain.state[w]["exp_avg"])
    back = adam([torch.nn.Parameter(w.detach().clone())], lr=0.1, fused=False)
    load_optimizer(back, fused.state_dict())
    assert back.param_groups[0]["fused"] is False


def test_checkpoint_of_another_model_is_refused(tmp_path, data_root):
    lif, args, env = earlier_run(tmp_path, data_root, "lif")
    hh, _, _ = earlier_run(tmp_path, data_root, "hh")
    (lif / "checkpoints" / "last.pt").write_bytes((hh / "checkpoints" / "last.pt").read_bytes())
    before = snapshot(lif)
    out = run_cli([*args, "resume=true", "trainer.max_epochs=2"], cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stderr
    assert "different configuration" in out.stderr and "neuron.name: 'hh' → 'lif'" in out.stderr
    assert snapshot(lif) == before


def test_corrupt_pickle_is_a_runtime_error_naming_the_file(tmp_path, data_root):
    bad = tmp_path / "multi_mnist.pickle"
    bad.write_bytes(pickle.dumps(("not", "a", "dataset")))
    out = run_cli(["train", f"task.pickle={bad}", "trainer.max_epochs=1"], cwd=tmp_path,
                  env={"HHLIF_DATA": str(data_root)})
    assert out.returncode == 1 and "multi_mnist.pickle" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "outputs" / "train").exists() or not list(tmp_path.glob("outputs/train/*/*/metrics.json"))


# -- SAC: the same guarantees, per step ----------------------------------------------------------------------
SAC = ["train", "neuron=hh", "task=inverted_pendulum", "network.hidden=32", "trainer.total_steps=500",
       "trainer.start_steps=100", "trainer.batch_size=32", "trainer.eval_every=250", "trainer.eval_episodes=1",
       "trainer.log_every=50", "trainer.checkpoint_every=25", "trainer.progress=never"]
SAC_VOLATILE = ("cost/total_s", "cost/peak_memory_mb")


def sac_stable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in SAC_VOLATILE and k != "meta"}


def sac_runs(root):
    return sorted(p.parent for p in root.glob("outputs/train/*-inverted_pendulum/*/.hydra"))


@pytest.fixture(scope="module")
def sac_reference(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sac_reference")
    out = run_cli(SAC, cwd=cwd, env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    (run,) = sac_runs(cwd)
    return json.loads((run / "metrics.json").read_text()), run


@pytest.mark.slow
def test_sac_sigkill_at_random_points_then_resume_gives_the_same_metrics(tmp_path, sac_reference):
    reference, reference_run = sac_reference

    def attempt_args():
        return [*SAC, "resume=true"] if sac_runs(tmp_path) else SAC

    rng = random.Random(5)
    kills = 0
    for percent in sorted(rng.sample(range(20, 100, 10), 4)):  # at a random moment after that log line
        proc = spawn(attempt_args(), tmp_path, tmp_path)
        for line in proc.stdout:
            if f"steps {percent:3d}%" in line:
                time.sleep(rng.uniform(0.0, 0.4))
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
        proc.communicate()
    assert kills == 4
    final = run_cli(attempt_args(), cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert final.returncode == 0, final.stderr
    (run,) = sac_runs(tmp_path)
    assert sac_stable(json.loads((run / "metrics.json").read_text())) == sac_stable(reference)
    # the TensorBoard curves too: a resumed run rewrites what followed its checkpoint, once
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def curve(path, tag):
        events = EventAccumulator(str(path / "tensorboard"), size_guidance={"scalars": 0})
        events.Reload()
        return [(e.step, e.value) for e in events.Scalars(tag)]

    for tag in ("train/reward_mean", "train/loss_critic", "eval/return_mean"):
        assert curve(run, tag) == curve(reference_run, tag), tag
    assert not list(tmp_path.rglob(".*.tmp"))


@pytest.mark.slow
def test_sac_sigterm_checkpoints_and_resumes_exactly(tmp_path, sac_reference):
    reference, _ = sac_reference
    err = sigterm_at(spawn(SAC, tmp_path, tmp_path), "steps  30%")  # a log line per 10 % of the steps
    assert "stopped by SIGTERM at step" in err and "resume=true" in err and "Traceback" not in err
    (run,) = sac_runs(tmp_path)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert 150 <= state["counters"]["steps"] < 500 and state["buffer"]["total"] == state["counters"]["env_steps"]
    out = run_cli([*SAC, "resume=true"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert f"continuing at step {state['counters']['steps']} of 500" in out.stdout + out.stderr
    assert sac_stable(json.loads((run / "metrics.json").read_text())) == sac_stable(reference)
    again = run_cli([*SAC, "resume=true"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0 and "nothing to do" in again.stdout + again.stderr


def test_sac_checkpoints_every_n_steps_between_evaluations(tmp_path, monkeypatch):
    from hhlif.trainers.sac import SACTrainer

    cfg = compose_config([*SAC[1:], "trainer.total_steps=120", "trainer.eval_every=1000", "trainer.start_steps=200",
                          "trainer.checkpoint_every=40"])
    trainer = SACTrainer(cfg, tmp_path)
    saved = []
    monkeypatch.setattr(trainer, "save", lambda *names: saved.append((trainer.steps, names)))
    monkeypatch.setattr(trainer, "_evaluate_and_save", lambda: saved.append((trainer.steps, ("eval",))))
    trainer.fit()
    assert saved == [(40, ("last.pt",)), (80, ("last.pt",)), (120, ("eval",))]


def test_sac_non_finite_loss_stops_or_skips_the_update(tmp_path):
    from hhlif.trainers.sac import SACTrainer

    def trainer_with(mode):
        cfg = compose_config([*SAC[1:], f"trainer.on_nonfinite={mode}"])
        trainer = SACTrainer(cfg, tmp_path / mode)
        for _ in range(40):
            trainer.env_step()
        real = trainer.buffer.sample

        def poisoned(n):  # one batch with a NaN reward
            obs, action, reward, next_obs, mask = real(n)
            return obs, action, torch.full_like(reward, float("nan")), next_obs, mask

        trainer.buffer.sample = poisoned
        return trainer, real

    trainer, _ = trainer_with("stop")
    with pytest.raises(RunError, match=r"the critic loss is nan at update 1 \(step 40\).*on_nonfinite=skip"):
        trainer.update()

    trainer, real = trainer_with("skip")
    before = [p.clone() for p in trainer.critic.parameters()]
    trainer.update()
    assert trainer.skipped_updates == 1 and trainer.updates == 0
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.critic.parameters(), strict=True))
    trainer.buffer.sample = real
    trainer.update()
    assert trainer.updates == 1 and not all(
        torch.equal(a, b) for a, b in zip(before, trainer.critic.parameters(), strict=True))


def test_sac_diverging_actor_names_layer_step_and_advice(tmp_path):
    args = [*SAC, "neuron.dt=5.0", "neuron.rate_scale=1.0", "trainer.total_steps=100", "trainer.start_steps=60"]
    out = run_cli(args, cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    for needle in ("layer 'layer' (HH)", "time step", "update 1 (step 33)", "lower neuron.dt (now 5.0)",
                   "trainer.on_nonfinite=skip"):
        assert needle in out.stderr, (needle, out.stderr)


def test_sac_checkpoint_of_another_agent_is_refused(tmp_path):
    from hhlif.trainers.sac import SACTrainer

    lif = SACTrainer(compose_config([*SAC[1:], "neuron=lif"]), tmp_path / "lif")
    lif.save("last.pt")
    hh = SACTrainer(compose_config(SAC[1:]), tmp_path / "lif")
    with pytest.raises(ConfigError, match="neuron.name: 'lif' → 'hh'"):
        hh.resume()
