"""``hhlif report``: the tables against hand-computed means and standard deviations, failed and incomplete runs,
the figures, the output directory rules, the reward smoothing, and the failure record the CLI writes."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_config, run_cli
from omegaconf import OmegaConf

from hhlif.cli import main
from hhlif.errors import ConfigError
from hhlif.report.build import make_report
from hhlif.report.curves import Series, average, read_scalars, smooth
from hhlif.report.naming import model_key

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["trainer.max_epochs=1", "task.limit_train=128", "task.limit_test=64", "trainer.batch_size=64",
        "trainer.progress=never"]
_CONFIGS: dict[tuple[str, ...], dict] = {}


def make_run(root: Path, name: str, overrides: list[str], metrics: dict | None = None,
             failure: dict | None = None) -> Path:
    """A run directory as hhlif train leaves it: the resolved config, and metrics.json or failed.json."""
    key = tuple(overrides)
    if key not in _CONFIGS:
        _CONFIGS[key] = OmegaConf.to_container(compose_config(list(overrides)), resolve=False)
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(_CONFIGS[key]), run / ".hydra" / "config.yaml")
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    if failure is not None:
        (run / "failed.json").write_text(json.dumps(failure))
    return run


def classify_metrics(task1: float, task2: float, flops: float = 1.5e6, synops: float = 2e5) -> dict:
    return {"test/acc_task1": task1, "test/acc_task2": task2, "test/acc_mean": (task1 + task2) / 2,
            "cost/flops_forward": flops, "cost/flops_paper_add": 9e6, "cost/flops_paper_mul": 1e7,
            "cost/synops_per_sample": synops, "params/trainable": 690734, "epoch": 1,
            "best": {"test/acc_mean": (task1 + task2) / 2 + 0.01, "epoch": 1}, "meta": {"device": "cpu"}}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """HH_fc × 3 seeds, HH_fc at noise amplitude 25 × 2 seeds, LIF_fc × 2 seeds + 1 failed, 1 incomplete run."""
    root = tmp_path_factory.mktemp("runs")
    hh, lif = ["neuron=hh", "network=fc"], ["neuron=lif", "network=fc"]
    for seed, (a, b) in zip((1, 2, 3), ((0.80, 0.82), (0.90, 0.88), (0.85, 0.86)), strict=True):
        make_run(root / "sweep", f"{seed}-hh", [*hh, f"seed={seed}"], classify_metrics(a, b, synops=1e5 * seed))
    for seed, (a, b) in zip((1, 2), ((0.60, 0.62), (0.70, 0.66)), strict=True):
        make_run(root / "noise", f"{seed}-hh-25", [*hh, f"seed={seed}", "task.noise.amplitude=25"],
                 classify_metrics(a, b))
    for seed, (a, b) in zip((1, 2), ((0.70, 0.72), (0.80, 0.76)), strict=True):
        make_run(root / "sweep", f"{seed}-lif", [*lif, f"seed={seed}"], classify_metrics(a, b, flops=1.4e6))
    make_run(root / "sweep", "3-lif", [*lif, "seed=3"],
             failure={"error": "training stopped: the loss is nan at epoch 1, batch 3", "exit_status": 1,
                      "type": "RunError"})
    make_run(root / "sweep", "4-hh", [*hh, "seed=4"])  # killed: neither metrics.json nor failed.json
    flops_run = make_run(root, "flops-actor", ["task=inverted_pendulum"])  # a config like train's, but:
    (flops_run / ".hydra" / "hydra.yaml").write_text("hydra:\n  job:\n    name: flops\n")
    flops_cfg = root / "flops-run" / ".hydra"
    flops_cfg.mkdir(parents=True)
    (flops_cfg / "config.yaml").write_text("flops:\n  models: []\nseed: 1\n")  # hhlif flops: skipped
    return root


@pytest.fixture(scope="module")
def synthetic_report(synthetic):
    return make_report([synthetic])


def test_model_keys_are_the_papers_names():
    def key(*overrides):
        return model_key(OmegaConf.to_container(compose_config(list(overrides)), resolve=True))

    assert key("neuron=hh") == "HH_fc"
    assert key("neuron=lif", "network.width_factor=4") == "4LIF_fc"
    assert key("neuron=lif_hh", "network=conv") == "LIF_hh_conv"
    assert key("neuron=binary") == "ANN" and key("neuron=binary", "network=conv") == "CNN"
    assert key("neuron=hh", "task=inverted_pendulum") == "HH_policy"


def test_groups_mean_and_sample_std_by_hand(synthetic_report):
    report = synthetic_report
    assert report.swept == {"classify": ["task.noise.amplitude"]}
    labels = [(g.model, dict(g.variant)["task.noise.amplitude"]) for g in report.groups]
    assert labels == [("LIF_fc", 0.0), ("HH_fc", 0.0), ("HH_fc", 25)]  # paper order, then the swept value
    lif, hh, hh25 = report.groups

    # HH_fc: acc_mean 0.81, 0.89, 0.855 → mean 0.85166..., std sqrt(Σ(x − m)² / 2)
    values = [0.81, 0.89, 0.855]
    mean = sum(values) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    stat = hh.stat("test/acc_mean")
    assert (stat.mean, stat.std, stat.n) == (pytest.approx(mean), pytest.approx(std), 3)
    assert hh.stat("test/acc_task1").mean == pytest.approx(0.85) and hh.stat("test/acc_task1").std == \
        pytest.approx(0.05)
    assert hh.stat("best/test/acc_mean").mean == pytest.approx(mean + 0.01)
    assert hh.stat("cost/synops_per_sample").mean == pytest.approx(2e5)
    assert hh.seeds == [1, 2, 3] and len(hh.incomplete) == 1 and not hh.failed

    # LIF_fc: acc_mean 0.71, 0.78 → mean 0.745, std |0.71 − 0.78| / √2
    assert lif.stat("test/acc_mean").mean == pytest.approx(0.745)
    assert lif.stat("test/acc_mean").std == pytest.approx(0.07 / math.sqrt(2))
    assert [r.seed for r in lif.failed] == [3] and lif.seeds == [1, 2]

    # HH_fc at amplitude 25: acc_mean 0.61, 0.68
    assert hh25.stat("test/acc_mean").mean == pytest.approx(0.645)
    assert hh25.stat("test/acc_mean").std == pytest.approx(0.07 / math.sqrt(2))
    assert len(report.runs) == 9  # not the run of hhlif flops


def test_report_csv_md_and_figures(synthetic, synthetic_report):
    out = synthetic_report.out
    assert out == synthetic / "report"
    rows = read_csv(out / "report.csv")
    by = {(r["model"], r["task.noise.amplitude"]): r for r in rows}
    assert set(by) == {("LIF_fc", "0.0"), ("HH_fc", "0.0"), ("HH_fc", "25")}
    hh = by["HH_fc", "0.0"]
    assert hh["n"] == "3" and hh["seeds"] == "1 2 3" and hh["incomplete"] == "1" and hh["failed"] == "0"
    assert float(hh["mean:test/acc_task2"]) == pytest.approx((0.82 + 0.88 + 0.86) / 3)
    assert float(hh["std:test/acc_task1"]) == pytest.approx(0.05)
    assert float(hh["mean:cost/flops_paper_mul"]) == 1e7 and float(hh["std:cost/flops_paper_mul"]) == 0
    lif = by["LIF_fc", "0.0"]
    assert lif["failed"] == "1" and "the loss is nan at epoch 1" in lif["failures"] and "seed 3" in lif["failures"]
    assert lif["n"] == "2" and float(lif["mean:test/acc_mean"]) == pytest.approx(0.745)

    runs = read_csv(out / "runs.csv")
    status = {Path(r["path"]).name: r["status"] for r in runs}
    assert status["3-lif"] == "failed" and status["4-hh"] == "incomplete" and status["1-hh"] == "ok"
    assert not {"flops-run", "flops-actor"} & set(status)  # not runs of hhlif train
    failed = next(r for r in runs if r["status"] == "failed")
    assert failed["exit_status"] == "1" and failed["error"].startswith("training stopped")
    assert not Path(failed["path"]).is_absolute() and (out / failed["path"]).resolve() == \
        (synthetic / "sweep" / "3-lif").resolve()

    md = (out / "report.md").read_text()
    assert "0.8500 ± 0.0500" in md  # HH_fc task 1, a fraction like every accuracy
    assert "0.7450 ± 0.0495" in md  # LIF_fc mean: 0.745 ± 0.0495
    assert "## Failed runs" in md and "training stopped: the loss is nan" in md
    assert "## Incomplete runs" in md and "4-hh" in md
    figures = {"accuracy.png", "sweep-task.noise.amplitude.png", "flops.png", "cost.png"}
    assert figures <= {p.name for p in out.glob("*.png")}
    for name in figures:
        assert (out / name).read_bytes()[:8] == PNG and f"![{name}]({name})" in md
    assert not (out / "rewards.png").exists()  # no SAC runs


def test_a_second_report_never_overwrites_the_first(synthetic, synthetic_report, tmp_path, capsys):
    first = (synthetic_report.out / "report.md").read_text()
    second = make_report([synthetic])
    assert second.out == synthetic / "report-1"
    assert (synthetic / "report" / "report.md").read_text() == first
    out = tmp_path / "mine"
    assert main(["report", str(synthetic / "sweep"), "--out", str(out)]) == 0
    assert main(["report", str(synthetic / "sweep"), "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    (out / "stale.png").write_bytes(PNG)
    assert main(["report", str(synthetic / "sweep"), "--out", str(out), "--force"]) == 0
    assert not (out / "stale.png").exists() and (out / "report.md").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["report", str(synthetic / "sweep"), "--out", str(tmp_path / "other"), "--force"]) == 2
    assert "no report.md" in capsys.readouterr().err and (tmp_path / "other" / "notes.txt").exists()


def test_user_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hhlif report: error: no such directory:") and "Traceback" not in err
    assert main(["report", str(tmp_path)]) == 2
    assert "nothing to report under" in capsys.readouterr().err
    assert main(["report"]) == 2  # argparse: PATH is required
    assert "hhlif report: error: the following arguments are required: PATH" in capsys.readouterr().err
    assert main(["report", "--smooth", "-5", str(tmp_path)]) == 2
    with pytest.raises(ConfigError, match="no such directory"):
        make_report([tmp_path / "nope"])
    assert main(["report", "--help"]) == 0 and "report.md" in capsys.readouterr().out


# -- reward curves ------------------------------------------------------------------------------------------
def test_smoothing_is_the_trailing_mean_over_the_window():
    steps, values = np.arange(100, 1001, 100), np.arange(1.0, 11.0)
    # window 300 over points every 100 steps: mean of the last 3 points (fewer at the start)
    assert smooth(steps, values, 300).tolist() == [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert smooth(steps, values, 100).tolist() == values.tolist()  # already one point per window
    assert smooth(steps, values, 0).tolist() == values.tolist()
    a = Series(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]), np.zeros(3))
    b = Series(np.array([1, 2, 3, 4]), np.array([3.0, 4.0, 5.0, 6.0]), np.zeros(4))
    band = average([a, b])
    assert band.steps.tolist() == [1, 2, 3] and band.mean.tolist() == [2.0, 3.0, 4.0]
    assert band.std == pytest.approx([math.sqrt(2)] * 3) and band.n == 2


def test_sac_reward_curves_and_scalar_export(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    sac = ["task=inverted_pendulum", "neuron=hh"]
    for seed, offset in ((1, 0.0), (2, 1.0)):
        run = make_run(tmp_path, f"sac-{seed}", [*sac, f"seed={seed}"],
                       {"eval/return_mean": 100.0 * seed, "steps_to_solve": 5000 if seed == 2 else None,
                        "cost/flops_actor_forward": 2e5, "cost/synops_per_action": 300.0 * seed,
                        "best": {"eval/return_mean": 150.0 * seed}})
        with SummaryWriter(str(run / "tensorboard")) as writer:
            for i, step in enumerate(range(500, 3001, 500)):
                writer.add_scalar("train/reward_mean", i + offset, step)
            writer.add_scalar("eval/return_mean", 100.0 * seed, 3000)
    report = make_report([tmp_path], scalars=True)
    (group,) = report.groups
    assert group.model == "HH_policy" and group.stat("eval/return_mean").mean == 150.0
    assert group.stat("steps_to_solve").n == 1  # the run that never solved it has null
    md = (report.out / "report.md").read_text()
    assert "5000 (1/2)" in md  # steps to solve: one run of two
    for name in ("rewards.png", "eval_returns.png", "cost.png", "flops.png"):
        assert (report.out / name).read_bytes()[:8] == PNG
    rows = read_csv(report.out / "scalars.csv")
    rewards = [(int(r["step"]), float(r["value"])) for r in rows
               if r["tag"] == "train/reward_mean" and Path(r["path"]).name == "sac-2"]
    assert rewards == [(500, 1.0), (1000, 2.0), (1500, 3.0), (2000, 4.0), (2500, 5.0), (3000, 6.0)]
    # the paper's 1,000-step mean over points every 500 steps: mean of the last two points
    series = read_scalars(tmp_path / "sac-1", ["train/reward_mean"])["train/reward_mean"]
    assert smooth(series.steps, series.values, 1000).tolist() == [0.0, 0.5, 1.5, 2.5, 3.5, 4.5]


def test_vib_runs_get_their_table_and_information_figure(tmp_path):
    vib = ["trainer=vib", "network=vib", "task=multifashion_mnist"]
    for neuron, izx, izy in (("hh", (1700.0, 1800.0), (3.0, 3.4)), ("lif", (1500.0, 1500.0), (2.6, 2.6))):
        for seed in (1, 2):
            make_run(tmp_path, f"{neuron}-{seed}", [*vib, f"neuron={neuron}", f"seed={seed}"],
                     {"test/izx_bits": izx[seed - 1], "test/izy_bits": izy[seed - 1], "test/acc_multishot": 0.8,
                      "cost/flops_forward": 1e6, "cost/synops_per_sample": 1e4})
    report = make_report([tmp_path])
    assert [g.model for g in report.groups] == ["LIF_vib", "HH_vib"]
    hh = report.groups[1]
    assert hh.stat("test/izx_bits").mean == 1750.0 and hh.stat("test/izx_bits").std == pytest.approx(50 * 2 ** 0.5)
    md = (report.out / "report.md").read_text()
    assert "## Mutual information with a VIB (Fig. 5d)" in md and "| 1750 ± 70.71 | 3.2 ± 0.2828 |" in md
    assert (report.out / "information.png").read_bytes()[:8] == PNG


# -- real runs of the CLI --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory):
    """``hhlif train -m`` with two seeds that finish and two jobs that fail (a missing pickle)."""
    root = tmp_path_factory.mktemp("cli")
    missing = root / "missing.pickle"
    out = run_cli(["train", "-m", "neuron=lif", "seed=1,2", f"task.pickle=null,{missing}", *TINY,
                   f"hydra.sweep.dir={root / 'sweep'}"], cwd=root, env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 1 and (root / "sweep").is_dir(), out.stderr  # a sweep with failed jobs exits 1
    return root / "sweep"


def test_failed_jobs_leave_failed_json_and_the_report_lists_them(real_sweep, capsys):
    jobs = sorted(p for p in real_sweep.iterdir() if p.is_dir())
    failed = [p for p in jobs if (p / "failed.json").is_file()]
    finished = [p for p in jobs if (p / "metrics.json").is_file()]
    assert len(failed) == 2 and len(finished) == 2 and not set(failed) & set(finished)
    record = json.loads((failed[0] / "failed.json").read_text())
    assert record["exit_status"] == 1 and record["type"] == "DataError" and "missing.pickle" in record["error"]
    assert record["command"] == "train"

    assert main(["report", str(real_sweep)]) == 0
    printed = capsys.readouterr().out
    assert "4 runs (2 finished)" in printed and "(2 failed)" in printed
    rows = {r["task.pickle"]: r for r in read_csv(real_sweep / "report" / "report.csv")}
    accs = [json.loads((p / "metrics.json").read_text())["test/acc_mean"] for p in finished]
    ok = rows[""]
    assert ok["n"] == "2" and ok["seeds"] == "1 2"
    assert float(ok["mean:test/acc_mean"]) == pytest.approx(sum(accs) / 2)
    assert float(ok["std:test/acc_mean"]) == pytest.approx(abs(accs[0] - accs[1]) / math.sqrt(2))
    bad = next(r for key, r in rows.items() if key.endswith("missing.pickle"))
    assert bad["n"] == "0" and bad["failed"] == "2" and "does not exist" in bad["failures"]
    assert (real_sweep / "report" / "accuracy.png").read_bytes()[:8] == PNG


def test_runs_log_their_hyperparameters_for_tensorboard(real_sweep):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams.api_pb2 import Status

    job = next(p for p in sorted(real_sweep.iterdir()) if (p / "metrics.json").is_file())
    assert [p.name for p in (job / "tensorboard").iterdir() if p.is_dir()] == []  # no add_hparams sub-run
    events = EventAccumulator(str(job / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    assert set(content) == {metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG}  # no experiment tag
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG]).hparams
    config = OmegaConf.load(job / ".hydra" / "config.yaml")
    assert start["model"].string_value == "LIF_fc" and start["neuron.name"].string_value == "lif"
    assert start["seed"].number_value == config.seed
    assert start["trainer.optimizer.lr"].number_value == pytest.approx(1e-4)
    assert start["task.noise.amplitude"].number_value == 0 and start["neuron.fused"].string_value == "true"
    assert start["trainer.scheduler.milestones"].string_value == "[10, 20, 30]"
    assert not {"data.root", "logger.flush_secs", "trainer.progress", "resume"} & set(start)
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == Status.Value("STATUS_SUCCESS")
    metrics = json.loads((job / "metrics.json").read_text())
    best = events.Scalars("test/best_acc_mean")  # the best so far, at every evaluation: a column of the table
    assert [(e.step, e.value) for e in best] == [(2, pytest.approx(metrics["best"]["test/acc_mean"]))]
    assert start["params/trainable"].number_value == metrics["params/trainable"]  # constants are HParams
    assert not {t for t in events.Tags()["scalars"] if t.startswith(("best/", "params/", "cost/flops"))}
    assert [e.step for e in events.Scalars("test/acc_mean")] == [2]  # logged once (2 batches), not again at the end


def test_logger_hparams_from_the_run_config(tmp_path):
    from omegaconf import OmegaConf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    from hhlif.logger import build_logger
    from hhlif.report.naming import hparams_of

    cfg = compose_config(["neuron=lif", "network.width_factor=4", "trainer.optimizer.lr=0.003"])
    hparams = hparams_of(OmegaConf.to_container(cfg, resolve=True))
    assert hparams["model"] == "4LIF_fc" and hparams["trainer.optimizer.lr"] == 0.003 and hparams["seed"] == 1
    logger = build_logger(cfg, tmp_path)
    logger.constants({"params/trainable": 7})
    logger.constants({"cost/flops_forward": 9.0}, hparams=False)
    logger.scalars({"test/acc_mean": 0.5, "cost/flops_forward": 9.0, "train/skipped_batches": 0}, 3)
    logger.scalars({"train/skipped_batches": 2}, 4)
    logger.write_metrics({"test/acc_mean": 0.5, "epoch": 3, "flag": True,
                          "best": {"test/acc_mean": 0.6, "epoch": 2, "cost/flops_forward": 9.0}})
    logger.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    start = metadata.parse_session_start_info_plugin_data(
        events.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]).hparams
    assert start["model"].string_value == "4LIF_fc" and start["network.width_factor"].number_value == 4
    assert start["params/trainable"].number_value == 7 and "cost/flops_forward" not in start
    # the constants are HParams columns, metrics.json's other numbers are not charts, a 0 counter is left out
    assert set(events.Tags()["scalars"]) == {"test/acc_mean", "train/skipped_batches"}
    assert [(e.step, e.value) for e in events.Scalars("train/skipped_batches")] == [(4, 2)]
    assert list(json.loads((tmp_path / "metrics.json").read_text())) == ["test/acc_mean", "best", "epoch", "flag"]


def test_a_job_that_succeeds_later_loses_its_failure_record(tmp_path, monkeypatch):
    """The CLI's task(): failed.json on a user error and on a bug (re-raised), removed after a success."""
    from types import SimpleNamespace

    from hhlif import cli
    from hhlif.errors import RunError

    monkeypatch.chdir(tmp_path)
    outcome: dict[str, Exception | None] = {"error": RunError("disk on fire")}

    def run(cfg, run_dir):
        if outcome["error"] is not None:
            raise outcome["error"]

    command = SimpleNamespace(CONFIG_NAME="train", run=run)
    run_dir = tmp_path / "run"
    argv = [f"hydra.run.dir={run_dir}", "trainer.progress=never"]
    with pytest.raises(SystemExit) as stopped:
        cli._run_hydra("train", command, argv)
    assert stopped.value.code == 1
    record = json.loads((run_dir / "failed.json").read_text())
    assert record["error"] == "disk on fire" and record["exit_status"] == 1 and record["type"] == "RunError"
    outcome["error"] = ZeroDivisionError("a bug")
    with pytest.raises(SystemExit):  # Hydra shows the traceback of a bug and exits 1
        cli._run_hydra("train", command, argv)
    assert json.loads((run_dir / "failed.json").read_text())["type"] == "ZeroDivisionError"
    outcome["error"] = None
    assert cli._run_hydra("train", command, argv) == 0
    assert not (run_dir / "failed.json").exists()


@pytest.mark.slow
def test_report_of_real_sac_runs(tmp_path):
    """Two tiny SAC runs: the report finds their reward curves in the event files."""
    out = run_cli(["train", "-m", "task=inverted_pendulum", "neuron=lif", "seed=1,2", "trainer.total_steps=300",
                   "trainer.start_steps=100", "trainer.eval_every=150", "trainer.eval_episodes=1",
                   "trainer.log_every=50", "trainer.batch_size=16", "trainer.progress=never",
                   f"hydra.sweep.dir={tmp_path / 'sac'}"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    report = make_report([tmp_path / "sac"], smooth=1000)
    (group,) = report.groups
    assert group.model == "LIF_policy" and group.seeds == [1, 2]
    assert (report.out / "rewards.png").read_bytes()[:8] == PNG
    # 6 points every 50 steps, fewer than the 1,000-step window: each smoothed point is the mean so far
    finals = []
    for run in group.ok:
        s = read_scalars(run.path, ["train/reward_mean"])["train/reward_mean"]
        assert s.steps.tolist() == [50, 100, 150, 200, 250, 300]
        finals.append(s.values.mean())
    band = average([read_scalars(r.path, ["train/reward_mean"])["train/reward_mean"] for r in group.ok], 1000)
    assert band.mean[-1] == pytest.approx(sum(finals) / 2)
