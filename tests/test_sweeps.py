"""Figure presets, profiles, sweeps over them, launchers and hyper-parameter search; failed and finished jobs."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import compose_config, run_cli

import hhlif.commands.train as train_command
from hhlif.cli import _sweep_jobs, main
from hhlif.errors import RunError

PRESETS = {  # preset → (jobs in profile=quick, jobs in profile=paper)
    "fig4c_fc": (15, 45), "fig4c_conv": (15, 45), "fig4h": (15, 45), "fig4d_pendulum": (10, 55),
    "fig4d_double": (10, 55), "fig4i": (20, 220), "fig5d": (3, 3), "ladder": (72, 72)}
TINY = ["trainer.max_epochs=1", "task.limit_train=128", "task.limit_test=64", "trainer.progress=never"]
has_submitit = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
has_joblib = importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is not None
has_optuna = importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_sweeps_its_figure_in_both_profiles_and_validates(name):
    quick, paper = PRESETS[name]
    jobs = _sweep_jobs(train_command, [f"experiment={name}", "profile=quick"])
    assert len(jobs) == quick
    assert len(_sweep_jobs(train_command, [f"experiment={name}"])) == paper
    for job in (jobs[0], jobs[-1]):  # the first and last job compose and pass validation
        train_command.validate(compose_config(job))


def test_model_group_sets_neuron_and_width_and_profiles_scale_the_preset():
    cfg = compose_config(["model=4lif", "task=inverted_pendulum"])
    assert (cfg.neuron.name, cfg.network.name, cfg.network.width_factor) == ("lif", "policy", 4)
    hh = compose_config(["model=hh", "task=inverted_pendulum"])
    assert hh.neuron.threshold == 2.0  # the paper's constant for the HH actor on this task still applies
    paper = compose_config(["experiment=fig4d_pendulum"])
    quick = compose_config(["experiment=fig4d_pendulum", "profile=quick"])
    assert (paper.trainer.total_steps, quick.trainer.total_steps) == (101_100, 6_000)
    # the command line wins over the profile
    assert compose_config(["experiment=fig4c_fc", "profile=quick", "trainer.max_epochs=3"]).trainer.max_epochs == 3
    jobs = _sweep_jobs(train_command, ["experiment=fig4c_fc", "profile=quick", "model=hh", "seed=4,5"])
    assert len(jobs) == 6 and all("model=hh" in j for j in jobs) and {j[2] for j in jobs} == {"seed=4", "seed=5"}


def test_a_preset_of_another_command_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "experiment=fig3d"]) == 2
    assert "experiment=fig3d is a preset of 'hhlif simulate'" in capsys.readouterr().err
    assert main(["simulate", "experiment=fig4c_fc"]) == 2
    assert "Run: hhlif train experiment=fig4c_fc" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists()


def test_a_missing_launcher_plugin_names_the_extra_to_install(tmp_path):
    code = ("import sys\n"
            "for m in ('hydra_plugins.hydra_joblib_launcher', 'hydra_plugins.hydra_joblib_launcher.joblib_launcher'):\n"
            "    sys.modules[m] = None\n"
            "from hhlif.cli import main\n"
            "sys.exit(main(['train', '-m', 'launcher=joblib', 'seed=1,2']))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "It comes with hydra-joblib-launcher: pip install 'hhlif[launchers]'" in out.stderr


def test_a_failed_job_is_recorded_the_sweep_goes_on_and_a_rerun_runs_only_it(tmp_path, monkeypatch, capsys):
    from hhlif.trainers import classify

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HHLIF_DATA", str(tmp_path / "data"))
    real, calls = classify.run, []

    def flaky(cfg, run_dir):  # seed 2 fails the first time
        calls.append(cfg.seed)
        if cfg.seed == 2 and calls.count(2) == 1:
            raise RunError("disk on fire (a test failure)")
        return real(cfg, run_dir)

    monkeypatch.setattr(classify, "run", flaky)
    args = ["train", "-m", "neuron=lif", "seed=1,2,3", *TINY]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert "1 job(s) failed" in err and "disk on fire" in err
    (sweep,) = (tmp_path / "outputs" / "multirun" / "train").iterdir()
    table = out[out.index(f"Sweep outputs/multirun/train/{sweep.name}: 3 jobs, 2 finished, 1 failed"):].splitlines()
    names = sorted((p.name for p in sweep.iterdir() if p.is_dir()), key=lambda n: int(n.split("-")[0]))
    assert [line.split()[:3] for line in table[1:4]] == [[names[0], "ok", "LIF_fc"], [names[1], "failed", "LIF_fc"],
                                                         [names[2], "ok", "LIF_fc"]]
    accuracy = json.loads((sweep / names[0] / "metrics.json").read_text())["test/acc_mean"]
    assert table[1].endswith(f"test/acc_mean {accuracy:.4f}")
    assert table[2].endswith("disk on fire (a test failure)")
    assert table[4] == f"Report (tables, figures): hhlif report outputs/multirun/train/{sweep.name}"
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [(j / "metrics.json").is_file() for j in jobs] == [True, False, True]
    failure = json.loads((jobs[1] / "failed.json").read_text())
    assert failure["exit_status"] == 1 and "disk on fire" in failure["error"]
    finished = {j: (j / "metrics.json").read_bytes() for j in (jobs[0], jobs[2])}

    assert main([*args, "resume=true"]) == 0
    assert calls == [1, 2, 3, 2]  # only the failed job ran again
    assert (jobs[1] / "metrics.json").is_file() and not (jobs[1] / "failed.json").exists()
    assert {j: (j / "metrics.json").read_bytes() for j in finished} == finished
    assert sorted(p for p in sweep.iterdir() if p.is_dir()) == jobs


def test_an_objective_is_returned_to_the_sweeper_and_must_be_a_metric(tmp_path, monkeypatch):
    from hhlif.cli import _objective

    cfg = compose_config(["objective=test/acc_mean"])
    assert _objective(cfg, {"test/acc_mean": 0.5}) == 0.5
    assert _objective(compose_config([]), {"test/acc_mean": 0.5}) is None
    with pytest.raises(Exception, match="objective='test/acc_mean' is not a metric of this run"):
        _objective(cfg, {"eval/return_mean": 1.0})


@pytest.mark.slow
@pytest.mark.skipif(not has_optuna, reason="hydra-optuna-sweeper is not installed (pip install 'hhlif[optuna]')")
def test_optuna_search_runs_trials_and_reports_the_best(tmp_path):
    out = run_cli(["train", "-m", "hparams_search=optuna", "neuron=lif", "hydra.sweeper.n_trials=2", *TINY],
                  cwd=tmp_path, env={"OMP_NUM_THREADS": "1", "HHLIF_DATA": str(tmp_path / "data")})
    assert out.returncode == 0, out.stderr
    (results,) = tmp_path.glob("outputs/multirun/train/*/optimization_results.yaml")
    best = results.read_text()
    assert "best_params" in best and "trainer.optimizer.lr" in best
    assert len(list(tmp_path.glob("outputs/multirun/train/*/*/metrics.json"))) == 2


@pytest.mark.slow
@pytest.mark.skipif(not has_joblib, reason="hydra-joblib-launcher is not installed (pip install 'hhlif[launchers]')")
def test_joblib_runs_jobs_in_parallel_processes(tmp_path):
    out = run_cli(["train", "-m", "launcher=joblib", "hydra.launcher.n_jobs=2", "neuron=lif,hh", *TINY],
                  cwd=tmp_path, env={"HHLIF_DATA": str(tmp_path / "data")})
    assert out.returncode == 0, out.stderr
    assert len(list(tmp_path.glob("outputs/multirun/train/*/*/metrics.json"))) == 2
    assert "2 jobs, 2 finished" in out.stdout and "Report (tables, figures): hhlif report outputs/" in out.stdout


def _job_processes(sweep_root: Path) -> list[int]:
    """PIDs of the submitit job processes running under ``sweep_root``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "submitit.core._submit" in cmdline and str(sweep_root) in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not has_submitit, reason="hydra-submitit-launcher is not installed: pip install 'hhlif[launchers]'")
def test_slurm_launcher_local_executor_runs_two_jobs_and_requeues_a_preempted_one(tmp_path):
    sac = ["task=inverted_pendulum", "neuron=hh", "network.hidden=32", "trainer.total_steps=1500",
           "trainer.start_steps=100", "trainer.batch_size=32", "trainer.eval_every=750", "trainer.eval_episodes=1",
           "trainer.log_every=50", "trainer.checkpoint_every=50", "trainer.progress=never"]
    straight = run_cli(["train", *sac, "seed=2", f"hydra.run.dir={tmp_path / 'straight'}"], cwd=tmp_path,
                       env={"OMP_NUM_THREADS": "1"})
    assert straight.returncode == 0, straight.stderr
    sweep = tmp_path / "sweep"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hhlif", "train", "-m", "launcher=slurm_local", *sac, "seed=1,2",
                             f"hydra.sweep.dir={sweep}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    job = sweep / "1-HH_policy-inverted_pendulum-seed2"
    deadline = time.monotonic() + 300
    while not (job / "checkpoints" / "last.pt").is_file():  # the job has started training
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.5)
    time.sleep(2)
    pids = _job_processes(sweep)
    assert pids
    for pid in pids:  # the "pre-emption" signal SLURM sends before a time limit
        os.kill(pid, signal.SIGUSR2)
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    for name in ("0-HH_policy-inverted_pendulum-seed1", job.name):
        assert (sweep / name / "metrics.json").is_file(), name
    logs = "".join(p.read_text() for p in sweep.rglob("*.out")) + "".join(p.read_text() for p in sweep.rglob("*.err"))
    assert "the job was requeued" in logs and "stopped by SIGUSR2" in logs
    a = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    b = json.loads((job / "metrics.json").read_text())
    for m in (a, b):
        for key in ("cost/total_s", "cost/peak_memory_mb", "meta"):
            m.pop(key, None)
    assert a == b  # pre-empted, requeued and continued: the same result as a straight run


def test_a_figure_preset_then_report_gives_the_table_and_the_plot(tmp_path, monkeypatch, capsys):
    """`hhlif train -m experiment=fig4c_fc profile=quick` then `hhlif report`, on tiny sizes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HHLIF_DATA", str(tmp_path / "data"))
    args = ["train", "-m", "experiment=fig4c_fc", "profile=quick", "task=multimnist", "model=lif,hh",
            "task.limit_train=128", "task.limit_test=64", "trainer.max_epochs=1", "trainer.progress=never"]
    assert main(args) == 0
    (sweep,) = (tmp_path / "outputs" / "multirun" / "train").iterdir()
    assert main(["report", str(sweep)]) == 0
    table = (sweep / "report" / "report.md").read_text()
    for key in ("LIF_fc", "HH_fc"):
        row = next(line for line in table.splitlines() if line.startswith(f"| multimnist | {key} |"))
        assert "| 1 | 1 |" in row  # one run, seed 1
    assert (sweep / "report" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
