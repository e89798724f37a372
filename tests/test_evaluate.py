"""``hhlif evaluate``: a finished run evaluated again gives back its own numbers; noise, names that are never
overwritten, TensorBoard scalars; SAC episodes, videos (skipped with the reason where MuJoCo cannot render),
videos during training; user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

from hhlif.cli import main

TINY = ["trainer.max_epochs=1", "task.limit_train=128", "task.limit_test=64", "trainer.batch_size=64",
        "trainer.progress=never", "task.download=false"]
SAC = ["task=inverted_pendulum", "neuron=lif", "network.hidden=16", "trainer.start_steps=100",
       "trainer.eval_every=150", "trainer.eval_episodes=2", "trainer.log_every=150", "trainer.checkpoint_every=150",
       "trainer.progress=never"]


def train(root: Path, name: str, args: list[str], env: dict | None = None) -> Path:
    out = run_cli(["train", *args, f"hydra.run.dir={root / name}"], cwd=root,
                  env={"OMP_NUM_THREADS": "1", **(env or {})}, timeout=900)
    assert out.returncode == 0, out.stderr
    return root / name


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory, data_root) -> Path:
    return train(tmp_path_factory.mktemp("eval"), "run", [*TINY, f"data.root={data_root}"])


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("sac"), "run", [*SAC, "trainer.total_steps=300"])


def scalars(run: Path, prefix: str) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]
            if tag.startswith(prefix)}


def test_classification_run_evaluated_again_gives_its_test_metrics(classify_run, data_root, capsys):
    trained = json.loads((classify_run / "metrics.json").read_text())
    assert main(["evaluate", str(classify_run), f"data.root={data_root}"]) == 0
    out = capsys.readouterr().out
    record = json.loads((classify_run / "evaluate" / "best.json").read_text())
    for key in ("test/acc_mean", "test/acc_task1", "test/acc_task2", "test/loss", "cost/synops_per_sample"):
        assert record["metrics"][key] == pytest.approx(trained[key], rel=1e-6), key
    assert record["step"] == 1 and record["loaded"] == "best" and record["settings"]["test_samples"] == 64
    assert f"test/acc_mean {trained['test/acc_mean']:.4f}" in out and "no noise" in out
    logged = scalars(classify_run, "evaluate/best/")
    assert logged["evaluate/best/test/acc_mean"] == [(1, pytest.approx(trained["test/acc_mean"]))]


def test_noise_is_the_training_noise_and_results_are_never_overwritten(classify_run, data_root, capsys):
    from hhlif.tasks.batches import Noise

    for _ in range(2):
        assert main(["evaluate", str(classify_run), "evaluate.noise=75", "evaluate.checkpoint=last",
                     f"data.root={data_root}"]) == 0
    first = json.loads((classify_run / "evaluate" / "last-noise75.json").read_text())
    second = json.loads((classify_run / "evaluate" / "last-noise75-1.json").read_text())
    same = [k for k in first["metrics"] if k.startswith(("test/", "spikes/"))]  # not the timings
    assert {k: first["metrics"][k] for k in same} == {k: second["metrics"][k] for k in same}  # one fixed pattern
    assert first["settings"]["noise"] == {"amplitude": 75.0, "mode": "fixed", "seed": 1}
    assert Noise(75.0, "fixed", 1).pattern((36, 36)).std() == pytest.approx(75, rel=0.1)
    clean = json.loads((classify_run / "metrics.json").read_text())
    assert first["metrics"]["test/loss"] != pytest.approx(clean["test/loss"])
    assert "pixel noise 75" in capsys.readouterr().out


@pytest.mark.parametrize("args,message,status", [
    (["evaluate.checkpoint=worst"], "evaluate.checkpoint='worst' is not a known choice", 2),
    (["evaluate.noise=-1"], "evaluate.noise=-1 is not allowed", 2),
    (["evaluate.render=true"], "evaluate.render=true shows a policy", 2),
    (["evaluate.episodes=0"], "evaluate.episodes=0 is not allowed", 2),
    (["evaluate.name=../x"], "evaluate.name='../x' is not allowed", 2),
])
def test_bad_options_exit_2_without_traceback(classify_run, capsys, args, message, status):
    assert main(["evaluate", str(classify_run), *args]) == status
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_directory_without_a_run_exits_1(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "holds no checkpoint" in capsys.readouterr().err
    assert main(["evaluate"]) == 2 and "hhlif evaluate RUN_DIR" in capsys.readouterr().out


@pytest.mark.slow  # whole runs: in make test-slow
def test_sac_episodes_reproduce_the_best_evaluation(sac_run, capsys):
    best = json.loads((sac_run / "metrics.json").read_text())["best"]
    assert main(["evaluate", str(sac_run)]) == 0
    record = json.loads((sac_run / "evaluate" / "best.json").read_text())
    assert record["step"] == best["step"] and record["settings"]["episodes"] == 2
    assert record["metrics"]["eval/return_mean"] == best["eval/return_mean"]  # same seeds, same actor: exact
    assert record["metrics"]["eval/length_mean"] == best["eval/length_mean"]
    assert "over 2 episodes" in capsys.readouterr().out
    assert scalars(sac_run, "evaluate/best/")["evaluate/best/eval/return_mean"][0][0] == best["step"]


def frames_of(video: Path) -> int:
    """The number of frames a player finds in ``video`` (.mp4 decoded by ffmpeg, .gif by Pillow)."""
    if video.suffix == ".mp4":
        import imageio_ffmpeg

        reader = imageio_ffmpeg.read_frames(str(video))
        next(reader)  # the header
        return sum(1 for _ in reader)
    from PIL import Image

    with Image.open(video) as gif:
        return gif.n_frames


def render_or_skip(out):
    if out.returncode == 1 and "cannot render MuJoCo" in out.stderr:
        pytest.skip(f"MuJoCo cannot render on this machine: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stderr


@pytest.mark.slow  # whole runs: in make test-slow
def test_render_writes_a_playable_video_of_the_first_episode(sac_run):
    out = run_cli(["evaluate", str(sac_run), "evaluate.render=true", "evaluate.episodes=1"], cwd=sac_run,
                  env={"OMP_NUM_THREADS": "1"})
    render_or_skip(out)
    record = json.loads((sac_run / "evaluate" / "best-1ep.json").read_text())
    video = Path(record["video"])
    assert video.parent == sac_run / "evaluate" and video.suffix in (".mp4", ".gif")
    assert frames_of(video) == record["settings"]["lengths"][0] + 1  # the first observation, then every step


@pytest.mark.slow  # whole runs: in make test-slow
def test_a_machine_that_cannot_render_is_told_so(sac_run):
    out = run_cli(["evaluate", str(sac_run), "evaluate.render=true"], cwd=sac_run,
                  env={"MUJOCO_GL": "no-such-backend", "OMP_NUM_THREADS": "1"})
    if out.returncode == 0:
        pytest.skip("MuJoCo rendered even with MUJOCO_GL=no-such-backend here")
    assert out.returncode == 1 and "cannot render MuJoCo off-screen with MUJOCO_GL=no-such-backend" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_training_records_an_evaluation_episode_every_n_evaluations(tmp_path):
    out = run_cli(["train", *SAC, "trainer.total_steps=300", "trainer.record_every_n_evals=2",
                   f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"}, timeout=900)
    render_or_skip(out)
    videos = sorted((tmp_path / "run" / "videos").iterdir())
    assert [v.stem for v in videos] == ["step0000300"]  # evaluations at 150 and 300: the second one
    assert frames_of(videos[0]) > 1


@pytest.mark.slow
def test_a_3000_step_sac_run_evaluated_and_filmed(tmp_path):
    run = train(tmp_path, "run", ["task=inverted_pendulum", "neuron=hh", "trainer.total_steps=3000",
                                  "trainer.start_steps=1000", "trainer.eval_every=1000", "trainer.eval_episodes=5",
                                  "trainer.progress=never"])
    best = json.loads((run / "metrics.json").read_text())["best"]
    out = run_cli(["evaluate", str(run), "evaluate.render=true"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    render_or_skip(out)
    record = json.loads((run / "evaluate" / "best.json").read_text())
    assert record["metrics"]["eval/return_mean"] == best["eval/return_mean"]
    assert frames_of(Path(record["video"])) == record["settings"]["lengths"][0] + 1
