"""What TensorBoard shows of a run: the event files of a real (tiny) run, read back with TensorBoard's own
reader; the step-by-step record behind the rasters and voltage traces; the run directories' names."""

from __future__ import annotations

import io
import json

import pytest
import torch
from omegaconf import OmegaConf

from hhlif.cli import main
from hhlif.config import compose
from hhlif.metrics.figures import layer_figures
from hhlif.metrics.spikes import LayerSpikes, record_layers
from hhlif.neurons.base import Neuron
from hhlif.neurons.hh import HH
from hhlif.neurons.lif_hh import LIFHH

GROUPS = ("train", "test", "spikes", "cost", "tasks")  # every scalar of a classification run is in one of these


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root):
    """Two epochs of two batches of LIF_fc, the training loss logged after every batch; its event files read."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("HHLIF_DATA", str(data_root))
    try:
        assert main(["train", "neuron=lif", "network.hidden=16", "trainer.max_epochs=2", "task.limit_train=128",
                     "task.limit_test=64", "trainer.batch_size=64", "trainer.log_every_n_steps=1",
                     "trainer.progress=never"]) == 0
    finally:
        mp.undo()
    (run,) = [p.parent for p in root.glob("outputs/train/*/*/metrics.json")]
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    events.Reload()
    return run, events, json.loads((run / "metrics.json").read_text())


def test_scalars_are_grouped_and_hold_no_one_point_or_zero_charts(tiny_run):
    _, events, _ = tiny_run
    scalars = set(events.Tags()["scalars"])
    assert {t.split("/")[0] for t in scalars} <= set(GROUPS), sorted(scalars)
    assert {"train/loss", "train/acc_mean", "train/lr", "train/batch_loss", "test/loss", "test/acc_task1",
            "test/best_acc_mean", "spikes/layer/rate_mean", "cost/synops_per_sample"} <= scalars
    assert not {t for t in scalars if "skipped" in t}  # counters that stayed 0
    assert not {t for t in scalars if t.startswith(("best/", "params/", "cost/flops", "spikes_per_step/"))}
    assert not {t for t in scalars if len(events.Scalars(t)) == 1}  # two evaluations: no one-point chart
    # TensorBoard's step is the optimiser step: 2 batches per epoch, the loss after every batch
    assert [e.step for e in events.Scalars("train/batch_loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("test/acc_mean")] == [2, 4]


def test_accuracy_is_a_fraction_in_tensorboard_metrics_json_and_the_console(tiny_run):
    run, events, metrics = tiny_run
    assert events.Scalars("test/acc_mean")[-1].value == pytest.approx(metrics["test/acc_mean"], rel=1e-6)
    assert 0 <= metrics["test/acc_mean"] <= 1
    line = next(x for x in (run / "train.log").read_text().splitlines() if "epoch 2/2  train loss" in x)
    task1, task2 = (metrics[f"test/acc_task{k}"] for k in (1, 2))
    assert f"acc {task1:.3f}/{task2:.3f}" in line and "%" not in line


def test_each_layer_has_one_rate_per_step_chart_a_raster_and_voltage_traces(tiny_run):
    from PIL import Image

    _, events, metrics = tiny_run
    assert set(events.Tags()["images"]) == {"spikes/layer/rate_per_step", "spikes/layer/raster",
                                            "spikes/layer/voltage"}
    for tag in events.Tags()["images"]:
        shots = events.Images(tag)
        assert [e.step for e in shots] == [2, 4], tag  # at each evaluation
        image = Image.open(io.BytesIO(shots[-1].encoded_image_string))
        assert image.width > 300 and image.height > 200 and len(image.getcolors(1 << 20)) > 10, tag  # drawn
    assert len(metrics["spikes/layer/rate_per_step"]) == 15  # the chart's numbers, in metrics.json
    assert sum(metrics["spikes/layer/rate_per_step"]) / 15 == pytest.approx(metrics["spikes/layer/rate_mean"],
                                                                           rel=1e-5)


def test_hparams_hold_the_constants_and_the_best_value(tiny_run):
    from tensorboard.plugins.hparams import metadata

    _, events, metrics = tiny_run
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG]).hparams
    assert start["model"].string_value == "LIF_fc"
    assert start["params/trainable"].number_value == metrics["params/trainable"]
    assert not {k for k in start if k.startswith("cost/")}  # FLOPs: metrics.json only (they would come first)
    best = [e.value for e in events.Scalars("test/best_acc_mean")]
    assert best == sorted(best) and best[-1] == pytest.approx(metrics["best"]["test/acc_mean"])


def test_metrics_json_lists_the_final_metrics_then_best_then_the_rest(tiny_run):
    _, _, metrics = tiny_run
    keys = list(metrics)
    best = keys.index("best")
    assert all(k.startswith(("test/", "train/")) for k in keys[:best]) and keys[0].startswith("test/")
    assert not any(k.startswith(("test/", "train/")) for k in keys[best + 1:]) and keys[-1] == "meta"
    assert list(metrics["best"])[0].startswith("test/")


# -- the step-by-step record --------------------------------------------------------------------------------
@pytest.mark.parametrize("neuron", [HH((6,), fused=True), LIFHH((5,))], ids=["HH", "LIF_hh"])
def test_the_record_replays_the_neuron_and_gives_the_spikes_of_its_forward(neuron):
    torch.manual_seed(0)
    currents = 3 * torch.rand(12, 4, *neuron.shape, *((neuron.inputs_per_unit,) if neuron.inputs_per_unit > 1
                                                      else ()))
    with torch.no_grad():
        spikes = neuron(currents)
    (trace,) = record_layers(neuron, lambda: neuron(currents)).values()
    assert torch.equal(trace.spikes, spikes.flatten(2))  # the fused window's spikes, from the eager steps
    state = neuron.initial_state(4)
    for t in range(12):
        _, state = neuron.step(currents[t], state)
        assert torch.equal(trace.voltage[t], state[0].flatten(1)), t
    assert trace.threshold == neuron.threshold
    assert not neuron.observed()  # the recording hooks are gone


class Shifted(Neuron):
    """A neuron whose voltage is its second state variable (it declares so)."""

    def initial_state(self, batch, device=None, dtype=None):
        z = self._zeros(batch, device, dtype)
        return z, z

    def step(self, current, state):
        count, v = state
        v = v + current
        s = (v > self.threshold).float()
        return s, (count + s, v * (1 - s))

    def voltage(self, state):
        return state[1]


def test_a_neuron_names_its_voltage_and_every_picture_is_drawn():
    neuron = Shifted(3, threshold=1.0)
    currents = torch.full((5, 2, 3), 0.4)
    trace = record_layers(neuron, lambda: neuron(currents))["neuron"]
    assert trace.voltage[:, 0, 0].tolist() == pytest.approx([0.4, 0.8, 0.0, 0.4, 0.8])  # reset after the spike
    stats = LayerSpikes(rates=trace.spikes.mean((0, 1)), per_step=trace.spikes.mean((1, 2)))
    figures = layer_figures({"neuron": stats}, {"neuron": trace})
    assert set(figures) == {"spikes/neuron/rate_per_step", "spikes/neuron/raster", "spikes/neuron/voltage"}
    for draw in figures.values():
        assert draw().get_axes()
    diverged = record_layers(neuron, lambda: neuron(torch.full((5, 2, 3), torch.inf)))["neuron"]
    assert diverged.voltage.isnan().all()  # drawn as gaps
    assert layer_figures({}, {"neuron": diverged})["spikes/neuron/voltage"]().get_axes()


# -- run names --------------------------------------------------------------------------------------------------
def run_dir(*overrides: str) -> str:
    return OmegaConf.select(compose("train", list(overrides), with_hydra=True), "hydra.run.dir")


def test_run_directories_say_what_ran():
    lif, wide = run_dir("model=lif"), run_dir("model=4lif")
    assert lif.startswith("outputs/train/LIF_fc-multimnist/") and wide.startswith("outputs/train/4LIF_fc-multimnist/")
    assert run_dir("neuron=hh", "task=inverted_pendulum").startswith("outputs/train/HH_policy-inverted_pendulum/")
    name = run_dir("neuron=hh", "seed=3", "trainer.optimizer.lr=0.001", "trainer.progress=never").split("/")[-1]
    assert name.endswith("-seed3-trainer.optimizer.lr@0.001")  # the seed and the overrides that differ
    # nothing a Hydra override would need quoted: the directory can be given as resume=PATH
    odd = run_dir("task.pickle='/data/a=b,c.pickle'", "trainer.scheduler.milestones=[5,10]").split("/")[-1]
    assert odd.endswith("-task.pickle@__data_a_b_c.pickle_-trainer.scheduler.milestones@_5_10_")


def test_a_sweep_job_is_named_by_what_differs_between_the_jobs():
    excluded = compose("train", [], with_hydra=True).hydra.job.config.override_dirname.exclude_keys
    cfg = compose("train", ["model=4lif", "seed=2", "task.noise.amplitude=25", "trainer.max_epochs=1",
                            f"hydra.job.config.override_dirname.exclude_keys=[{','.join(excluded)},trainer.max_epochs]"],
                  with_hydra=True)
    cfg.hydra.job.num = 3
    assert OmegaConf.select(cfg, "hydra.sweep.subdir") == "3-4LIF_fc-multimnist-seed2-task.noise.amplitude@25"
