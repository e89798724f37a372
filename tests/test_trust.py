"""Trust: no code runs from data or checkpoint files, two runs never share a directory, no interruption loses a
result, and every bad input ends in one clear message (docs/explanation/reliability.md)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_config, run_cli

from hhlif.checkpoint import load_checkpoint
from hhlif.cli import main

TINY = ["neuron=lif", "trainer.max_epochs=1", "task.limit_train=256", "task.limit_test=128", "trainer.progress=never"]
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Payload:
    """Unpickling it runs a shell command that creates a marker file (what a malicious file would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def cli(args, cwd, data_root, **env):
    return run_cli(args, cwd=cwd, env={"HHLIF_DATA": str(data_root), **ENV, **env})


def spawn(args, cwd, data_root):
    env = {**os.environ, "HHLIF_DATA": str(data_root), **ENV, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "hhlif", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def runs_under(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("outputs/train/*/*/.hydra"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_root):
    """One tiny finished training run (its directory), made once for the module."""
    cwd = tmp_path_factory.mktemp("finished")
    out = cli(["train", *TINY], cwd, data_root)
    assert out.returncode == 0, out.stderr
    (run,) = runs_under(cwd)
    return run


def clean(err: str) -> str:
    assert "Traceback" not in err, err
    return err


# -- 1. no code from files -------------------------------------------------------------------------------------
def evil_data_root(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A data root whose multitask/multi_mnist.pickle (found without being named) runs a command when unpickled."""
    marker, root = tmp_path / "pwned", tmp_path / "data"
    (root / "multitask").mkdir(parents=True)
    evil = root / "multitask" / "multi_mnist.pickle"
    evil.write_bytes(pickle.dumps((Payload(marker), None, None, None)))
    return root, evil, marker


def test_malicious_data_pickle_is_refused_unrun_found_or_given(tmp_path):
    from hhlif.errors import DataError
    from hhlif.tasks.multitask import load_multitask, load_pickle

    root, evil, marker = evil_data_root(tmp_path)
    with pytest.raises(DataError, match=f"Refusing {evil}: it names posix.system, which a data pickle never holds"):
        load_multitask("multimnist", root)
    given = tmp_path / "given.pickle"
    given.write_bytes(pickle.dumps([np.zeros((4, 36, 36)), Payload(marker)]))
    with pytest.raises(DataError, match="it names posix.system"):
        load_pickle(given)
    assert not marker.exists()


@pytest.mark.slow
def test_hhlif_train_refuses_a_malicious_pickle_it_finds(tmp_path):
    root, evil, marker = evil_data_root(tmp_path)
    out = cli(["train", *TINY], tmp_path, root)
    assert out.returncode == 1 and not marker.exists()
    assert f"Refusing {evil}: it names posix.system" in clean(out.stderr)


def test_a_plain_pickle_still_loads_in_every_protocol(tmp_path):
    from hhlif.tasks.multitask import load_pickle

    x = np.random.default_rng(0).integers(0, 256, (6, 36, 36)).astype(np.uint8)
    y = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 0], [1, 1]])
    for protocol in (0, 2, 4, 5):
        path = tmp_path / f"p{protocol}.pickle"
        path.write_bytes(pickle.dumps((x[:4], y[:4], list(x[4:]), y[4:].tolist()), protocol=protocol))
        data = load_pickle(path)
        assert torch.equal(data.train_x, torch.from_numpy(x[:4])) and data.test_y.tolist() == y[4:].tolist()


def test_malicious_checkpoint_is_refused_before_anything_runs(tmp_path, finished):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    torch.save({**state, "best": Payload(marker)}, run / "checkpoints" / "last.pt")
    for args in (["train", *TINY, f"resume={run}"],):
        code = main(args)
        assert code == 1 and not marker.exists()
    from hhlif import load_run
    from hhlif.errors import RunError

    with pytest.raises(RunError, match="refusing checkpoint .*it names posix.system"):
        load_run(run, "last")
    assert not marker.exists()


# -- 2. a run directory belongs to one process -------------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_never_share_a_directory_named_or_default(tmp_path, data_root, finished):
    named = [spawn(["train", *TINY, f"seed={s}", "hydra.run.dir=D"], tmp_path, data_root) for s in (1, 2)]
    default = [spawn(["train", *TINY], tmp_path, data_root) for _ in range(2)]
    outs = [(p.wait(timeout=300), p.stderr.read()) for p in named + default]
    (won,) = [i for i, (code, _) in enumerate(outs[:2]) if code == 0]
    code, err = outs[1 - won]
    assert code == 2 and ("is in use by another hhlif process" in err or "already holds a run" in err), err
    saved = (tmp_path / "D" / ".hydra" / "overrides.yaml").read_text()
    assert f"seed={won + 1}" in saved and len(list((tmp_path / "D").rglob("events.out.tfevents*"))) == 1
    assert [code for code, _ in outs[2:]] == [0, 0], outs[2:]
    runs = runs_under(tmp_path)  # two directories, each with one run's files
    assert len(runs) == 2 and all(len(list(r.rglob("events.out.tfevents*"))) == 1 for r in runs)
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_directory_holding_any_earlier_file_is_not_fresh(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    best = tmp_path / "old" / "checkpoints" / "best.pt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"an earlier result")
    assert main(["train", *TINY, "hydra.run.dir=old"]) == 2
    assert "hydra.run.dir=old already holds a run" in clean(capsys.readouterr().err)
    assert best.read_bytes() == b"an earlier result" and sorted(p.name for p in (tmp_path / "old").iterdir()) == [
        "checkpoints"]


def test_an_empty_run_directory_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "hydra.run.dir="]) == 2
    assert "hydra.run.dir= is empty" in clean(capsys.readouterr().err) and not list(tmp_path.iterdir())


def test_a_claim_clears_the_temporary_files_of_killed_writers(tmp_path):
    from hhlif.rundir import claim, release

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    stale = [run / "checkpoints" / ".last.pt.k2j4.tmp", run / ".metrics.json.x9.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    (run / "checkpoints" / "last.pt").write_bytes(b"good")
    claim(run)
    try:
        assert not any(p.exists() for p in stale) and (run / "checkpoints" / "last.pt").read_bytes() == b"good"
        other = subprocess.run([sys.executable, "-c", f"from hhlif.rundir import claim; claim({str(run)!r})"],
                               capture_output=True, text=True)
        assert other.returncode == 1 and f"is in use by another hhlif process (pid {os.getpid()})" in other.stderr
    finally:
        release(run)


# -- 3. no result lost to an interruption --------------------------------------------------------------------------
VOLATILE = ("cost/train_", "cost/eval_", "cost/peak_memory_mb")


def stable(metrics: dict) -> dict:
    return {k: (stable(v) if isinstance(v, dict) else v) for k, v in metrics.items()
            if not k.startswith(VOLATILE) and k != "meta"}


@pytest.mark.slow
def test_killed_between_the_last_checkpoint_and_metrics_json_resume_writes_the_same_metrics(tmp_path, data_root,
                                                                                            finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    # the files a run killed while writing metrics.json leaves: its final last.pt, and a half-written temporary
    (run / "metrics.json").unlink()
    (run / ".metrics.json.q1w2e3.tmp").write_text('{"epoch": ')
    out = cli(["train", *TINY, f"resume={run}"], tmp_path, data_root)
    assert out.returncode == 0, out.stderr
    expected = json.loads((finished / "metrics.json").read_text())
    got = json.loads((run / "metrics.json").read_text())
    assert stable(got) == stable(expected) and "test/acc_mean" in got and got["epoch"] == 1
    assert not list(run.rglob(".*.tmp"))


@pytest.mark.slow
def test_a_sac_run_killed_before_metrics_json_resumes_to_the_same_metrics(tmp_path):
    args = ["train", "neuron=hh", "task=inverted_pendulum", "network.hidden=32", "trainer.total_steps=300",
            "trainer.start_steps=100", "trainer.batch_size=32", "trainer.eval_every=150", "trainer.eval_episodes=1",
            "trainer.log_every=50", "trainer.progress=never", f"hydra.run.dir={tmp_path / 'run'}"]
    assert run_cli(args, cwd=tmp_path, env=ENV).returncode == 0
    metrics = tmp_path / "run" / "metrics.json"
    expected = json.loads(metrics.read_text())
    metrics.unlink()  # what a kill between the final last.pt and metrics.json leaves
    out = run_cli([*args, "resume=true"], cwd=tmp_path, env=ENV)
    assert out.returncode == 0, out.stderr
    got = json.loads(metrics.read_text())
    for volatile in ("cost/total_s", "cost/peak_memory_mb"):
        got.pop(volatile, None), expected.pop(volatile, None)
    assert got == expected


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_outside_the_training_loop_exits_128_plus_n_with_a_message(tmp_path, data_root, sig):
    proc = spawn(["train", *TINY], tmp_path, data_root)
    for line in proc.stdout:  # the FLOP count runs before the training loop
        if "model: neuron=lif" in line:
            break
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {signal.Signals(sig).name}" in clean(err)
    assert not list(tmp_path.rglob(".*.tmp"))
    (run,) = runs_under(tmp_path)
    assert json.loads((run / "failed.json").read_text())["exit_status"] == 128 + sig


# -- 4. write failures are user errors ------------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """A real 70 MB tmpfs (a small disk that fills up), where this machine lets the tests mount one."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=70m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); needs root or "
                    "CAP_SYS_ADMIN")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_exits_1_and_keeps_the_last_good_one(tmp_path, data_root, tmpfs):
    # a 4x wider network: each checkpoint ~32 MB, so epoch 2's last.pt does not fit beside last.pt and best.pt
    args = ["train", *TINY, "trainer.max_epochs=2", "network.width_factor=4", f"hydra.run.dir={tmpfs}/run"]
    out = cli(args, tmp_path, data_root)
    assert out.returncode == 1, out.stderr
    err = clean(out.stderr)
    assert f"cannot write checkpoint {tmpfs}/run/checkpoints/" in err and "MB free there" in err, err
    assert "resume=true" in err and "most likely because the disk is full" in err and "enforce fail" not in err
    assert load_checkpoint(tmpfs / "run" / "checkpoints" / "last.pt")["epoch"] == 1  # the last good one
    assert not list(tmpfs.rglob(".*.tmp")) and not (tmpfs / "run" / "metrics.json").exists()


def test_a_read_only_file_system_is_a_clear_error(tmp_path, data_root, tmpfs, finished):
    from hhlif.checkpoint import save_checkpoint
    from hhlif.files import WriteError

    good = save_checkpoint(tmpfs / "checkpoints" / "last.pt", {"epoch": 1})
    run = tmpfs / "run"
    shutil.copytree(finished, run)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(WriteError, match=f"cannot write checkpoint {good}: Read-only file system .*MB free there"):
        save_checkpoint(good, {"epoch": 2})
    assert load_checkpoint(good) == {"epoch": 1}
    out = cli(["train", *TINY, "trainer.max_epochs=2", f"resume={run}"], tmp_path, data_root)
    assert out.returncode == 1 and f"cannot write the run directory's lock file {run}" in clean(out.stderr)
    assert "Read-only file system" in out.stderr


# -- 5. every key checked, every value bounded and readable ----------------------------------------------------
@pytest.mark.parametrize("override,meant", [
    ("trainer.max_epoch=1", "trainer.max_epochs"),
    ("+trainer.max_epoch=1", "trainer.max_epochs"),
    ("++trainer.max_epoch=1", "trainer.max_epochs"),
    ("+netwrok=conv", "network"),
    ("+sed=5", "seed"),
])
def test_a_key_no_config_defines_is_refused_with_the_closest_one(tmp_path, monkeypatch, capsys, override, meant):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, override]) == 2
    err = clean(capsys.readouterr().err)
    assert f"no selected config defines the key {override.lstrip('+').split('=')[0]}. Did you mean {meant}?" in err
    assert "+trainer" not in err.replace(override, "") and "To append" not in err
    assert not list(tmp_path.iterdir())


def test_additions_the_schema_allows_still_work(monkeypatch, tmp_path, capsys):
    from hhlif.config import compose

    cfg = compose("train", ["+hydra.job.env_set.HHLIF_NOTE=on"], with_hydra=True)
    assert cfg.hydra.job.env_set.HHLIF_NOTE == "on"
    monkeypatch.chdir(tmp_path)  # a parameter of the neuron's class: its own signature decides
    assert main(["train", "+neuron.tau=3"]) == 2
    assert "neuron.tau is not a parameter of neuron 'hh'" in capsys.readouterr().err


@pytest.mark.parametrize("command,override,figure", [
    ("train", "network.time_steps=1000000000", "PB of memory"),
    ("simulate", "simulate.duration=1e12", "PB of memory"),
])
def test_values_that_can_only_exhaust_memory_are_refused_with_the_figure(tmp_path, monkeypatch, capsys, command,
                                                                          override, figure):
    monkeypatch.chdir(tmp_path)
    assert main([command, override]) == 2
    err = clean(capsys.readouterr().err)
    assert f"{override.split('=')[0]}=" in err and "is too large" in err and figure in err and "this machine's" in err


@pytest.mark.parametrize("override,expected", [
    ("neuron=", "neuron='' is not a known choice. Valid choices: adex, alif, binary, hh"),
    ("trainer.select=é", "cannot read the override 'trainer.select=é': it holds 'é', which needs quotes"),
    ("seed=" + "9x" * 3000, "(6000 characters) is not allowed: expected a non-negative integer"),
    ("=5", "'=5' is not an override: expected key=value"),
])
def test_empty_non_ascii_and_long_values_get_one_readable_line(tmp_path, monkeypatch, capsys, override, expected):
    monkeypatch.chdir(tmp_path)
    assert main(["train", override]) == 2
    err = clean(capsys.readouterr().err)
    assert expected in err and err.count("\n") == 1 and len(err) < 400, err


# -- 6. no traceback for anything a user or a file can cause ---------------------------------------------------
def test_pickle_labels_outside_the_tasks_classes_are_a_data_error(tmp_path, data_root):
    from hhlif.errors import DataError
    from hhlif.trainers.classify import ClassifyTrainer

    x = np.zeros((8, 36, 36), np.uint8)
    y = np.array([[1, 2]] * 7 + [[15, 3]])
    path = tmp_path / "labels.pickle"
    path.write_bytes(pickle.dumps((x, y, x, y)))
    with pytest.raises(DataError, match=r"labels.pickle: the train labels reach 15, but each task has 10 classes"):
        ClassifyTrainer(compose_config([*TINY, f"task.pickle={path}"]), tmp_path / "run")


def test_resume_skips_a_neighbouring_run_whose_overrides_file_is_corrupt(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / "outputs" / "train" / "multimnist-lif-fc" / "2026-01-01_00-00-00" / ".hydra"
    broken.mkdir(parents=True)
    (broken / "overrides.yaml").write_text("- neuron=lif\n  : [unclosed\n")
    assert main(["train", *TINY, "resume=true"]) == 2
    assert "resume=true: no earlier run of this command" in clean(capsys.readouterr().err)
    (broken / "config.yaml").write_text("trainer: [unclosed\n")  # resume=PATH of that damaged run
    (broken.parent / "checkpoints").mkdir()
    (broken.parent / "checkpoints" / "last.pt").write_bytes(b"")
    assert main(["train", *TINY, f"resume={broken.parent}"]) == 2
    assert "its configuration (" in clean(capsys.readouterr().err)


def test_report_reads_wrongly_shaped_json_and_names_that_would_form_paths(tmp_path, monkeypatch, capsys, finished):
    import yaml

    for i, value in enumerate((1, 2, 3)):
        run = tmp_path / "runs" / f"r{i}"
        shutil.copytree(finished / ".hydra", run / ".hydra")
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        config["task"]["x/../../escape"] = value  # a key that would be a path if it became a file name
        (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        (run / "metrics.json").write_text(json.dumps([1, 2]) if value == 3 else
                                          (finished / "metrics.json").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["report", "runs"]) == 0, capsys.readouterr().err
    out = tmp_path / "runs" / "report"
    assert "metrics.json holds a list" in (out / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing written outside the report folder
    assert [p.name for p in out.glob("sweep-*.png")] == ["sweep-task.x_.._.._escape.png"]


def test_flops_counts_a_billion_time_steps_without_running_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["flops", "neuron=lif", "network.time_steps=1000000000", "flops.plot=false"]) == 0
    assert "1000000000" in capsys.readouterr().out


def test_the_data_cache_builder_clears_temporary_files_a_killed_builder_left(tmp_path):
    from test_data import make_source

    from hhlif.tasks import multitask

    path = multitask.cache_path(tmp_path, "multimnist", "full")
    path.parent.mkdir(parents=True)
    stale = [path.with_name(f".{path.name}.4242.ab12cd34.tmp"), path.with_name(f".{path.name}.sha256.4242.ef.tmp")]
    for tmp in stale:
        tmp.write_bytes(b"half")
    source = make_source("mnist", 20, 10)
    multitask.build_or_load("multimnist", tmp_path, source, source, n_train=40, n_test=10, seed=0)
    assert path.is_file() and not any(tmp.exists() for tmp in stale)


def test_an_empty_or_foreign_checkpoint_is_one_clear_error(tmp_path):
    from hhlif import load_run
    from hhlif.errors import RunError

    last = tmp_path / "run" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    for content in (b"", b"not a checkpoint"):
        last.write_bytes(content)
        with pytest.raises(RunError, match=f"checkpoint {last} cannot be read .*delete it or point to another one"):
            load_run(last.parent.parent, "last")
    torch.save([1, 2, 3], last)
    with pytest.raises(RunError, match="holds a list, not an hhlif checkpoint"):
        load_run(last.parent.parent, "last")
