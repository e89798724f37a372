"""``hhlif evaluate RUN_DIR [evaluate.key=value ...]``: evaluate a finished or interrupted run again.

The run's model is rebuilt from the configuration saved in its checkpoint (``checkpoints/best.pt``, or
``last.pt`` with ``evaluate.checkpoint=last``) through :func:`hhlif.experiment.load_run`, and evaluated the way
its training evaluated it:

* classification (``trainer=classify`` and ``trainer=vib``): the test set, by the trainer's own evaluation
  (accuracy per task, loss, firing, SynOps); ``evaluate.noise=25`` adds Gaussian pixel noise of that amplitude,
  defined as ``task.noise`` is for training (the paper's Fig. 4h), to probe robustness;
* SAC: ``evaluate.episodes`` deterministic episodes with the environment's reward, from the seeds the training's
  evaluations use (so the best checkpoint gives back the best evaluation return); ``evaluate.render=true`` also
  writes a video of the first episode (MP4, or GIF without imageio-ffmpeg), rendered off-screen by MuJoCo.

Results go to ``RUN_DIR/evaluate/<name>.json`` (an existing file is never overwritten: ``-1``, ``-2``... are
appended) and, through the run's logger, to TensorBoard as ``evaluate/<name>/<metric>`` at the checkpoint's
epoch or step. The options are in ``conf/evaluate.yaml`` (``hhlif evaluate --help``). Like ``hhlif report`` it
reads an earlier run and makes no run of its own, so this module defines ``main(argv)``.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

SUMMARY = "evaluate a trained run again (test set, with noise; SAC episodes, a video): hhlif evaluate RUN_DIR"
log = logging.getLogger(__name__)
CLASSIFIERS = {"classify": ("hhlif.trainers.classify", "ClassifyTrainer"), "vib": ("hhlif.trainers.vib", "VIBTrainer")}


def main(argv: list[str]) -> int:
    if not argv or any(a in ("-h", "--help") for a in argv):
        text = re.sub(r":\w+:`~?([^`]+)`", r"\1", __doc__.split(chr(10), 2)[2]).replace("``", "")
        print(f"hhlif evaluate: {SUMMARY}\n\n{text}\nOptions (conf/evaluate.yaml):\n{_options_text()}")
        return 0 if argv else 2
    from hhlif.config import compose
    from hhlif.errors import ConfigError

    paths = [a for a in argv if "=" not in a and not a.startswith("-")]
    if len(paths) != 1 or len(paths) + sum("=" in a for a in argv) != len(argv):
        raise ConfigError(f"hhlif evaluate takes one run directory and evaluate.key=value options, got {argv}. "
                          "Example: hhlif evaluate outputs/train/HH_fc-multimnist/2026-01-31_12-00-00-seed1 "
                          "evaluate.noise=25")
    cfg = compose("evaluate", [a for a in argv if "=" in a])
    validate(cfg.evaluate)
    logging.basicConfig(format="[%(asctime)s] %(levelname)s %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    result = evaluate_run(Path(paths[0]), cfg.evaluate, cfg.data.root)
    print(result["summary"])
    print(f"wrote {result['json']}" + (f" and {result['video']}" if result.get("video") else "")
          + f"; TensorBoard: evaluate/{result['name']}/* at step {result['step']}")
    return 0


def _options_text() -> str:
    from importlib.resources import files

    text = (files("hhlif.conf") / "evaluate.yaml").read_text()
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def validate(e) -> None:
    """Check the ``evaluate`` options; ConfigError (exit 2) on the first bad one."""
    from hhlif.errors import ConfigError, bad_value, require_positive, unknown_choice
    from hhlif.experiment import CHECKPOINTS
    from hhlif.render import video_suffix
    from hhlif.runtime import resolve_device

    if e.checkpoint not in CHECKPOINTS:
        raise unknown_choice("evaluate.checkpoint", e.checkpoint, CHECKPOINTS)
    if e.noise is not None and (isinstance(e.noise, bool) or not isinstance(e.noise, (int, float)) or e.noise < 0):
        raise bad_value("evaluate.noise", e.noise, "a number ≥ 0 (pixel units; the paper's 25, 50, 75) or null")
    for key in ("limit_test", "episodes"):
        if e[key] is not None:
            require_positive(f"evaluate.{key}", e[key], integer=True)
    if not isinstance(e.render, bool):
        raise bad_value("evaluate.render", e.render, "true or false")
    if e.render:
        video_suffix(e.video_format)
    if e.name is not None and not re.fullmatch(r"[\w.+-]+", str(e.name)):
        raise bad_value("evaluate.name", e.name, "a file name of letters, digits, '.', '+', '-', '_'")
    resolve_device(e.device)
    if e.render:
        from hhlif.render import prefer_egl

        prefer_egl()  # before MuJoCo is imported
    if e.noise is not None and e.render:
        raise ConfigError("evaluate.noise is for classification runs and evaluate.render for SAC runs: give one.")


def evaluate_run(run_dir: Path, e, data_root: str | None = None) -> dict[str, Any]:
    """Evaluate the run in ``run_dir`` with the options ``e`` (the ``evaluate`` node); write the JSON and the
    TensorBoard scalars; return what was written (``json``, ``name``, ``step``, ``metrics``, ``video``,
    ``summary``)."""
    from hhlif.checkpoint import load_checkpoint
    from hhlif.errors import ConfigError
    from hhlif.experiment import load_run

    run = load_run(run_dir, e.checkpoint, device=str(e.device))
    kind = run.cfg.trainer.name
    if kind in CLASSIFIERS and e.render:
        raise ConfigError(f"evaluate.render=true shows a policy; {run_dir} is a classification run "
                          f"(trainer={kind}). Leave evaluate.render out.")
    if kind not in CLASSIFIERS and e.noise is not None:
        raise ConfigError(f"evaluate.noise adds pixel noise to images; {run_dir} is a trainer={kind} run. "
                          "Leave evaluate.noise out.")
    state = load_checkpoint(run.checkpoint, str(e.device))
    folder = run.run_dir / "evaluate"
    name = _free_name(folder, e.name or _default_name(e, kind))
    if kind in CLASSIFIERS:
        metrics, step, settings = _classify(run, state, e, data_root)
        video = None
    else:
        metrics, step, settings, video = _sac(run, state, e, folder, name)
    record = {"run_dir": str(run.run_dir), "checkpoint": e.checkpoint, "checkpoint_file": str(run.checkpoint),
              "loaded": run.which, "trainer": kind, "step": step, "settings": settings, "metrics": metrics,
              "video": str(video) if video else None, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = _write_json(folder, name, record)
    _log_scalars(run, name, metrics, step)
    return {"json": path, "name": name, "step": step, "metrics": metrics, "video": video,
            "summary": _summary(run, kind, metrics, step, settings)}


def _default_name(e, kind: str) -> str:
    name = e.checkpoint
    if e.noise is not None:
        name += f"-noise{e.noise:g}"
    if e.episodes is not None and kind not in CLASSIFIERS:
        name += f"-{e.episodes}ep"
    return name


def _free_name(folder: Path, name: str) -> str:
    """``name``, or ``name-1``, ``name-2``... when ``folder/<name>.json`` is taken."""
    found, n = name, 0
    while (folder / f"{found}.json").exists():
        n += 1
        found = f"{name}-{n}"
    return found


def _write_json(folder: Path, name: str, record: dict) -> Path:
    import json
    import os

    from hhlif.errors import RunError
    from hhlif.logger import write_json_atomic

    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.json"
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # claim the name: never overwrite
        os.close(fd)
        write_json_atomic(path, json.loads(json.dumps(record, default=str)))
    except OSError as exc:
        raise RunError(f"cannot write the evaluation into {folder}: {exc.strerror or exc}") from None
    return path


def _log_scalars(run, name: str, metrics: dict[str, float], step: int) -> None:
    """The metrics as TensorBoard scalars ``evaluate/<name>/<metric>`` through the run's logger."""
    from hhlif.logger import RunLogger
    from hhlif.plugins import build

    section = run.cfg.get("logger")
    logger = build(section, "logger", run.run_dir) if section is not None else RunLogger(run.run_dir)
    try:
        logger.scalars({f"evaluate/{name}/{k}": v for k, v in metrics.items()}, step)
    finally:
        logger.close()


# -- classification --------------------------------------------------------------------------------------------
def _classify(run, state: dict, e, data_root: str | None) -> tuple[dict[str, float], int, dict[str, Any]]:
    """The trainer's own test-set evaluation of the checkpoint's weights, with the noise and limit of ``e``."""
    import importlib

    from omegaconf import open_dict

    module, cls = CLASSIFIERS[run.cfg.trainer.name]
    cfg = run.cfg.copy()
    with open_dict(cfg):
        cfg.device = str(e.device)
        if data_root is not None:
            cfg.data.root = data_root
        if e.noise is not None:
            cfg.task.noise.amplitude = float(e.noise)
        if e.limit_test is not None:
            cfg.task.limit_test = int(e.limit_test)
    trainer = getattr(importlib.import_module(module), cls)(cfg, run.run_dir)
    trainer.load_state_dict(state, run.checkpoint)
    metrics, _ = trainer.evaluate()
    settings = {"noise": {"amplitude": float(cfg.task.noise.amplitude), "mode": cfg.task.noise.mode,
                          "seed": int(cfg.seed)},
                "test_samples": trainer.test_batches.num_samples,
                "limit_test": cfg.task.limit_test, "data": trainer.data.variant}
    return _finite(metrics), int(state.get("epoch", 0)), settings


# -- SAC -------------------------------------------------------------------------------------------------------------
def _sac(run, state: dict, e, folder: Path, name: str):
    """``e.episodes`` deterministic episodes of the actor (the first one filmed with ``e.render``)."""
    import numpy as np
    import torch

    from hhlif.metrics.spikes import SpikeMonitor
    from hhlif.networks.policy import load_pre_agent
    from hhlif.render import video_suffix, write_video
    from hhlif.tasks.pendulum import ControlTask
    from hhlif.trainers.sac import EVAL_SEED_OFFSET, run_episode

    cfg = run.cfg
    episodes = int(e.episodes or cfg.trainer.eval_episodes)
    first_seed = int(cfg.seed) + EVAL_SEED_OFFSET
    task = ControlTask(cfg.task.name, cfg.task.env_version, seed=first_seed, render=bool(e.render))
    pre_agent = load_pre_agent(cfg.task.pre_agent, task.spec).to(str(e.device)) if cfg.task.pre_agent else None
    monitor = SpikeMonitor(run.model)
    monitor.enabled = True
    returns, lengths, frames = [], [], []
    try:
        with torch.no_grad():
            for i in range(episodes):
                ret, length = run_episode(run.model, task, first_seed + i, int(cfg.network.window),
                                          pre_agent=pre_agent, frames=frames if e.render and i == 0 else None)
                returns.append(ret)
                lengths.append(length)
    finally:
        monitor.enabled = False
        task.env.close()
    metrics = {"eval/return_mean": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
               "eval/length_mean": float(np.mean(lengths)), "eval/return_min": float(np.min(returns)),
               "eval/return_max": float(np.max(returns))}
    for layer, stats in monitor.layers().items():
        metrics.update(stats.scalars(f"spikes/{layer}"))
    video = write_video(frames, folder / f"{name}{video_suffix(e.video_format)}") if e.render else None
    settings = {"episodes": episodes, "seeds": [first_seed, first_seed + episodes - 1], "returns": returns,
                "lengths": lengths, "solved_threshold": task.spec.threshold}
    counters = state.get("counters") or {}
    return _finite(metrics), int(counters.get("steps", 0)), settings, video


def _finite(metrics: dict) -> dict[str, float]:
    import math

    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def _summary(run, kind: str, metrics: dict[str, float], step: int, settings: dict) -> str:
    where = f"{run.which} checkpoint, " + (f"step {step}" if kind not in CLASSIFIERS else f"epoch {step}")
    if kind in CLASSIFIERS:
        key = "test/acc_multishot" if kind == "vib" else "test/acc_mean"
        tasks = ", ".join(f"task {k.removeprefix('test/acc_task')} {v:.4f}" for k, v in metrics.items()
                          if k.startswith("test/acc_task"))
        noise = settings["noise"]["amplitude"]
        return (f"hhlif evaluate: {run.run_dir} ({where}): {key} {metrics.get(key, float('nan')):.4f}"
                + (f" ({tasks})" if tasks else "") + (f", pixel noise {noise:g}" if noise else ", no noise"))
    return (f"hhlif evaluate: {run.run_dir} ({where}): return {metrics['eval/return_mean']:.1f} ± "
            f"{metrics['eval/return_std']:.1f} over {settings['episodes']} episodes (length "
            f"{metrics['eval/length_mean']:.0f}; solved at {settings['solved_threshold']:g})")
