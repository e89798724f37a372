"""``hhlif report``'s figures on run directories as hhlif train writes them: one real tiny run, and sweeps made
from copies of it (15 jobs as Fig. 4c; failed jobs; runs that lack metrics). Every figure is drawn with
warnings as errors; legends stand outside the axes, every group has a colour of its own, a single point is
drawn with a marker, titles name what is drawn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_config, run_cli
from omegaconf import OmegaConf

from hhlif.report import plots
from hhlif.report.build import make_report
from hhlif.report.curves import Series

pytestmark = pytest.mark.filterwarnings("error")  # no matplotlib warning (layout, legend, ...)

TINY = ["trainer.max_epochs=1", "task.limit_train=128", "task.limit_test=64", "trainer.batch_size=64",
        "trainer.progress=never", "task.download=false"]
MODELS = ("lif", "4lif", "hh", "lif_hh", "ann")
TASKS = ("multimnist", "multifashion", "multifashion_mnist")
BASE = {"lif": 0.80, "4lif": 0.85, "hh": 0.90, "lif_hh": 0.87, "ann": 0.79}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, data_root) -> Path:
    root = tmp_path_factory.mktemp("real")
    out = run_cli(["train", *TINY, f"hydra.run.dir={root / 'run'}"], cwd=root,
                  env={"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    return root / "run"


def copy_run(real: Path, dest: Path, overrides: list[str], accuracy: tuple[float, float] | None) -> Path:
    """``real`` copied to ``dest`` as the run of ``overrides`` would be: its config, overrides and metrics."""
    shutil.copytree(real, dest, ignore=shutil.ignore_patterns("checkpoints", "report*"))
    cfg = compose_config([*TINY, *overrides])
    OmegaConf.save(cfg, dest / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create([*TINY, *overrides]), dest / ".hydra" / "overrides.yaml")
    metrics = json.loads((real / "metrics.json").read_text())
    if accuracy is not None:
        metrics["test/acc_task1"], metrics["test/acc_task2"] = accuracy
        metrics["test/acc_mean"] = sum(accuracy) / 2
        metrics["best"] = {**metrics.get("best", {}), "test/acc_mean": sum(accuracy) / 2}
    (dest / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return dest


@pytest.fixture(scope="module")
def sweep15(real_run, tmp_path_factory) -> Path:
    """Fig. 4c's sweep: 3 datasets × 5 models, seed 1, as jobs 0-... to 14-..."""
    sweep = tmp_path_factory.mktemp("sweep15") / "sweep"
    for num, (task, model) in enumerate((t, m) for t in TASKS for m in MODELS):
        drop = 0.1 * TASKS.index(task)
        copy_run(real_run, sweep / f"{num}-{task}-{model}-seed1", [f"task={task}", f"model={model}"],
                 (BASE[model] - drop, BASE[model] - drop - 0.02))
    return sweep


@pytest.fixture
def figures(monkeypatch):
    """Every figure the report saves: {file name: matplotlib Figure}."""
    saved = {}
    real = plots.save

    def keep(fig, path):
        saved[Path(path).name] = fig
        return real(fig, path)

    monkeypatch.setattr(plots, "save", keep)
    return saved


def check_legends_outside(fig) -> int:
    """Every legend of ``fig`` lies inside the figure and overlaps no panel; returns how many there are."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(p) for p in panels), "a legend covers a panel"
        assert box.x0 >= fig.bbox.x0 - 1 and box.x1 <= fig.bbox.x1 + 1, "a legend is cut off"
        assert box.y0 >= fig.bbox.y0 - 1 and box.y1 <= fig.bbox.y1 + 1, "a legend is cut off"
    return len(legends)


def bar_colours(fig) -> dict[str, set[str]]:
    """label → the face colours of the bars drawn under it (all panels)."""
    from matplotlib.colors import to_hex

    out: dict[str, set[str]] = {}
    for ax in fig.axes:
        for container in ax.containers:
            if hasattr(container, "patches") and container.get_label() and container.patches:
                out.setdefault(container.get_label(), set()).update(to_hex(p.get_facecolor()) for p in
                                                                    container.patches)
    return out


def test_one_run(real_run, figures):
    report = make_report([real_run])
    assert [r.status for r in report.runs] == ["ok"] and len(report.groups) == 1
    assert {"accuracy.png", "flops.png", "cost.png", "test_accuracy.png"} <= set(figures)
    for fig in figures.values():
        check_legends_outside(fig)
    assert figures["flops.png"].axes[0].get_title() == "classification"  # no VIB run: not "...and VIB"
    curve = figures["test_accuracy.png"].axes[0].lines[0]  # the learning curve, read from the event files
    final = json.loads((real_run / "metrics.json").read_text())["test/acc_mean"]
    assert curve.get_ydata()[-1] == pytest.approx(final, rel=1e-6)


def test_a_sweep_of_15_jobs(sweep15, figures):
    report = make_report([sweep15])
    assert len(report.runs) == 15 and len(report.groups) == 15
    accuracy = figures["accuracy.png"]
    assert [ax.get_title() for ax in accuracy.axes if ax.get_visible()] == list(TASKS)
    assert check_legends_outside(accuracy) == 1
    colours = bar_colours(accuracy)
    assert sorted(colours) == sorted(f"{key} (n=1)" for key in ("LIF_fc", "4LIF_fc", "HH_fc", "LIF_hh_fc", "ANN"))
    assert all(len(c) == 1 for c in colours.values()) and len(set.union(*colours.values())) == 5
    heights = {c.get_label(): [p.get_height() for p in c.patches] for c in accuracy.axes[0].containers
               if hasattr(c, "patches")}
    assert heights["HH_fc (n=1)"] == pytest.approx([0.90, 0.88])  # multimnist, tasks 1 and 2, as fractions
    legend = [t.get_text() for t in figures["cost.png"].legends[0].get_texts()]  # colour: model; marker: task
    assert legend == ["LIF_fc", "4LIF_fc", "HH_fc", "LIF_hh_fc", "ANN", *(f"task: {t}" for t in TASKS)]
    for fig in figures.values():
        check_legends_outside(fig)


def test_variants_of_one_model_get_colours_of_their_own(real_run, tmp_path, figures):
    for k, amplitude in enumerate((0, 25, 50, 75)):
        for model in ("hh", "lif"):
            copy_run(real_run, tmp_path / "noise" / f"{model}-{amplitude}",
                     [f"model={model}", f"task.noise.amplitude={amplitude}"], (0.9 - 0.02 * k, 0.88 - 0.02 * k))
    report = make_report([tmp_path / "noise"])
    style = plots.Style.of(report.groups)
    assert len({style.colour(g) for g in report.groups}) == 8  # 2 models × 4 amplitudes
    assert "sweep-task.noise.amplitude.png" in figures
    colours = bar_colours(figures["accuracy.png"])
    assert len(colours) == 8 and len(set.union(*colours.values())) == 8
    for fig in figures.values():
        check_legends_outside(fig)


def test_a_sweep_with_failed_jobs_and_runs_that_lack_metrics(sweep15, tmp_path, figures):
    sweep = tmp_path / "sweep"
    shutil.copytree(sweep15, sweep, ignore=shutil.ignore_patterns("report*"))
    jobs = sorted(sweep.iterdir(), key=lambda p: int(p.name.split("-")[0]))
    for job in jobs[:3]:  # failed as the CLI records it
        (job / "metrics.json").unlink()
        (job / "failed.json").write_text(json.dumps({"error": "training stopped: the loss is nan at epoch 1",
                                                     "type": "RunError", "exit_status": 1, "command": "train"}))
    (jobs[3] / "metrics.json").unlink()  # killed: neither file
    for job in jobs[5:8]:  # older or partial metrics: no second task, no costs
        metrics = json.loads((job / "metrics.json").read_text())
        for key in [k for k in metrics if k.startswith(("cost/", "test/acc_task2"))]:
            del metrics[key]
        (job / "metrics.json").write_text(json.dumps(metrics))
    report = make_report([sweep])
    assert sorted(r.status for r in report.runs) == ["failed"] * 3 + ["incomplete"] + ["ok"] * 11
    md = (report.out / "report.md").read_text()
    assert "## Failed runs" in md and "the loss is nan" in md and "## Incomplete runs" in md
    assert {"accuracy.png", "flops.png", "cost.png"} <= set(figures)
    for fig in figures.values():
        check_legends_outside(fig)
    missing = [c for c in figures["accuracy.png"].axes[1].containers if hasattr(c, "patches")
               and c.get_label().startswith("LIF_fc")][0]
    assert np.isnan(missing.patches[1].get_height())  # multifashion's LIF_fc lacks task 2: no bar, no error


def test_a_single_evaluation_is_drawn_as_a_marker(sweep15, tmp_path):
    report = make_report([sweep15], tmp_path / "r")
    one = {r.path: {"eval/return_mean": Series(np.array([5000]), np.array([100.0 + i]), np.array([0.0]))}
           for i, r in enumerate(report.runs)}
    kept = {}
    real = plots.save
    plots.save = lambda fig, path: kept.setdefault("fig", fig) and real(fig, path)
    try:
        assert plots.curves(report.groups, one, "eval/return_mean", tmp_path / "c.png", plots.Style.of(report.groups),
                            window=0, ylabel="evaluation return")
    finally:
        plots.save = real
    lines = [line for ax in kept["fig"].axes for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert len(lines) == 15 and all(line.get_marker() not in (None, "None", "") for line in lines)
    check_legends_outside(kept["fig"])


def test_every_model_has_a_colour_far_from_the_others():
    """The paper's models, the ladder's and six more (plugins) get colours no two of which are near (the blue of
    LIF and the tab10 blue once went to two models of one plot)."""
    from matplotlib.colors import to_rgb

    keys = [*plots.KNOWN_COLOURS, *((f"plugin{k}", 1) for k in range(len(plots.OTHER_COLOURS)))]
    colours = plots.model_colours(keys)
    rgb = [np.array(to_rgb(c)) * 255 for c in colours.values()]
    assert len(rgb) == len(keys)
    nearest = min(np.linalg.norm(a - b) for i, a in enumerate(rgb) for b in rgb[i + 1:])
    assert nearest > 60, nearest
    assert plots.model_colours([("hh", 1)])[("hh", 1)] == plots.KNOWN_COLOURS[("hh", 1)]  # the ladder's figure too
