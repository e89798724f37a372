"""Soft Actor-Critic with a spiking actor on the MuJoCo pendulums (the paper's Fig. 4d/4i protocol).

One environment step after another (``SACTrainer.fit``):

1. act: the first ``window`` steps of an episode from the pre-agent if one is loaded (not counted as steps),
   then uniform random actions for ``start_steps`` steps, then a sample of the actor on the window of the last
   ``window`` observations (padded with the episode's first observation);
2. step the environment; store the transition (mask 0 when the pole fell, 1 otherwise, time limit included);
3. once the replay memory holds more than one batch: one SAC update (``SACTrainer.update``), which reads
   top to bottom: sample windows, target, critic loss, actor loss, temperature, soft target update;
4. every ``eval_every`` steps: deterministic episodes on a separate environment with the environment's own
   reward, TensorBoard scalars and pictures (the actor's firing per time step, its spike raster and voltage
   traces on a few windows of the first evaluation episode), ``checkpoints/best.pt`` when the return improved;
5. every ``checkpoint_every`` steps (and at every evaluation): ``checkpoints/last.pt``.

The trainer never looks at the neuron type. Its whole state (networks, optimisers, temperature, replay memory,
environment, counters, the statistics gathered since the last log line and every random generator) is one
``state_dict()``, so ``resume=true`` continues from the last checkpoint exactly, and SIGINT/SIGTERM stop after
the current step with a checkpoint. A non-finite neuron state or loss stops the run (or, with
``trainer.on_nonfinite=skip``, skips that update).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from hhlif.calibration import calibrate_run, needs_calibration
from hhlif.checkpoint import rng_state, set_rng_state
from hhlif.errors import ConfigError, RunError, bad_value, require_in_range, require_positive
from hhlif.logger import best_tag, build_logger
from hhlif.metrics.cost import count_flops, energy_nj, peak_memory_mb, synops_per_sample
from hhlif.metrics.figures import layer_figures
from hhlif.metrics.spikes import SpikeMonitor, record_layers
from hhlif.networks import count_parameters
from hhlif.networks.policy import build_actor, build_critic, load_pre_agent
from hhlif.neurons.base import NonFiniteState
from hhlif.resume import wants_resume
from hhlif.runtime import seed_everything
from hhlif.tasks.pendulum import ENV_NAMES, ControlTask, EnvSpec, check_task
from hhlif.trainers.base import PROGRESS, Trainer, adam, load_optimizer, validate_loop
from hhlif.trainers.replay import ReplayBuffer

log = logging.getLogger(__name__)
EVAL_SEED_OFFSET = 1_000_000  # evaluation episode i starts from env seed (seed + offset + i)
RECORDED_WINDOWS = 4  # observation windows of the first evaluation episode drawn as rasters and voltage traces
CALIBRATION_SEED_OFFSET = 2_000_000  # neuron.input_gain=auto: the environment of the calibration batch


#: (metrics.json key, trainer key): how far a run got, and where it stops
RUN_LENGTH = ("steps", "total_steps")


def build_model(cfg: DictConfig) -> torch.nn.Module:
    """The spiking actor of ``cfg``, sized for its environment (the model a SAC run trains and is judged by)."""
    return build_actor(cfg.network, cfg.neuron, check_task(cfg.task))


def trained_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The actor's weights in a checkpoint of this trainer."""
    return state["actor"]


# -- configuration -----------------------------------------------------------------------------------------------
def validate(cfg: DictConfig) -> EnvSpec:
    """Check every value this trainer reads (making the environment once); raise ConfigError on the first bad one."""
    t, task = cfg.trainer, cfg.task
    if task.get("name") not in ENV_NAMES:
        raise ConfigError(f"trainer=sac needs a control task, not task={task.get('name')!r}. "
                          f"Control tasks: {', '.join(ENV_NAMES)}.")
    if cfg.network.get("name") != "policy":
        raise ConfigError(f"task={task.name} needs network=policy (the SAC actor), not "
                          f"network={cfg.network.get('name')!r}.")
    for key in ("total_steps", "batch_size", "replay_size", "updates_per_step", "eval_every", "eval_episodes",
                "log_every", "checkpoint_every"):
        require_positive(f"trainer.{key}", t[key], integer=True)
    if isinstance(t.start_steps, bool) or not isinstance(t.start_steps, int) or t.start_steps < 0:
        raise bad_value("trainer.start_steps", t.start_steps, "an integer ≥ 0")
    if t.replay_size <= t.batch_size:
        raise bad_value("trainer.replay_size", t.replay_size, f"more than trainer.batch_size ({t.batch_size})")
    for key in ("lr", "alpha"):
        require_positive(f"trainer.{key}", t[key])
    require_in_range("trainer.gamma", t.gamma, 0.0, 1.0)
    require_in_range("trainer.tau", t.tau, 0.0, 1.0)
    require_positive("trainer.tau", t.tau)
    if not isinstance(t.auto_entropy, bool):
        raise bad_value("trainer.auto_entropy", t.auto_entropy, "true or false")
    if t.target_entropy is not None and (isinstance(t.target_entropy, bool)
                                         or not isinstance(t.target_entropy, (int, float))):
        raise bad_value("trainer.target_entropy", t.target_entropy, "a number or null (null = −action size)")
    validate_loop(t, "fused_adam")
    record = t.get("record_every_n_evals", 0)
    if isinstance(record, bool) or not isinstance(record, int) or record < 0:
        raise bad_value("trainer.record_every_n_evals", record, "an integer ≥ 0 (0: no videos)")
    if record:
        from hhlif.render import prefer_egl, video_suffix

        video_suffix("auto")
        prefer_egl()  # before MuJoCo is first imported (check_task imports it)
    spec = check_task(task)
    if task.pre_agent is not None:
        load_pre_agent(task.pre_agent, spec)
    with torch.device("meta"):
        build_actor(cfg.network, cfg.neuron, spec)
        build_critic(cfg.network, spec)
    return spec


def run_episode(actor, task: ControlTask, seed: int, window: int, *, pre_agent=None,
                frames: list | None = None, windows: list | None = None) -> tuple[float, int]:
    """One deterministic episode of ``actor`` in ``task`` from environment seed ``seed``, with the environment's
    reward and no noise: (return, length). The actor sees the last ``window`` observations (the first one
    repeated at the start); ``pre_agent`` (the authors' pre-trained agent) acts for the first window. With
    ``frames`` (a list; ``task`` made with ``render=True``), every frame from the first observation on is
    appended to it; with ``windows`` (a list), every input window the actor acted on."""
    from hhlif.render import render_frame

    device = next(actor.parameters()).device
    obs = task.reset(seed=seed)
    if frames is not None:
        frames.append(render_frame(task.env))
    history = torch.as_tensor(obs, dtype=torch.float32, device=device).expand(window, -1).clone()
    total, length, done = 0.0, 0, False
    while not done:
        if pre_agent is not None and length < window:
            x = torch.as_tensor(obs, dtype=torch.float32, device=device)[None]
            action = pre_agent.act(x, deterministic=True)[0]
        else:
            action = actor.act(history[None], deterministic=True)[0]
            if windows is not None:
                windows.append(history)
        step = task.step(action.cpu().numpy(), perturb=False)
        obs = step.obs
        history = torch.cat([history[1:], torch.as_tensor(obs, dtype=torch.float32, device=device)[None]])
        total += step.env_reward
        length += 1
        done = step.done
        if frames is not None:
            frames.append(render_frame(task.env))
    return total, length


def soft_update(target: torch.nn.Module, source: torch.nn.Module, tau: float) -> None:
    """θ' ← (1 − τ)·θ' + τ·θ for every parameter (Polyak averaging of the target network), in one call."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


@contextlib.contextmanager
def frozen(module: torch.nn.Module):
    """``module``'s parameters need no gradient inside the block (gradients still flow through it to its inputs)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class SACTrainer(Trainer):
    """Owns the environments, agent, replay memory and counters of one SAC run."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        super().__init__(cfg, run_dir)
        t, task = cfg.trainer, cfg.task
        seed_everything(cfg.seed)

        self.task = ControlTask(task.name, task.env_version, reward=task.reward, state_noise=task.state_noise,
                                reward_noise=task.reward_noise, seed=cfg.seed)
        self.eval_task = ControlTask(task.name, task.env_version, seed=cfg.seed + EVAL_SEED_OFFSET)
        self.spec = spec = self.task.spec
        self.window = int(cfg.network.window)

        self.actor = build_actor(cfg.network, cfg.neuron, spec).to(self.device)
        self.calibration = calibrate_run(cfg, self.actor, lambda c: build_actor(c.network, c.neuron, spec),
                                         self._calibration_pass(cfg))
        self.guard(self.actor, bool(t.check_finite))
        self.critic = build_critic(cfg.network, spec).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = adam(self.actor.parameters(), lr=t.lr, fused=t.fused_adam)
        self.critic_optimizer = adam(self.critic.parameters(), lr=t.lr, fused=t.fused_adam)
        self.log_alpha = torch.tensor(math.log(t.alpha), device=self.device, requires_grad=t.auto_entropy)
        self.alpha_optimizer = adam([self.log_alpha], lr=t.lr, fused=t.fused_adam) if t.auto_entropy else None
        self.target_entropy = float(t.target_entropy) if t.target_entropy is not None else -float(spec.action_size)

        self.pre_agent = load_pre_agent(task.pre_agent, spec).to(self.device) if task.pre_agent else None
        skip = self.window - 1 if self.pre_agent is not None else 0  # see replay.py: the authors' first window
        self.buffer = ReplayBuffer(t.replay_size, spec.obs_size, spec.action_size, self.window, skip=skip,
                                   device=self.device, seed=cfg.seed)
        self.random_actions = np.random.default_rng([cfg.seed, 2])
        self.monitor = SpikeMonitor(self.actor)
        self.actor_params = count_parameters(self.actor)
        self.critic_params = count_parameters(self.critic)[0]

        self.steps = 0        # counted environment steps (pre-agent steps excluded, as in the paper)
        self.env_steps = 0    # all environment steps
        self.updates = 0
        self.skipped_updates = 0  # updates skipped for a non-finite value (trainer.on_nonfinite=skip)
        self.episodes = 0
        self.best: dict[str, Any] = {}
        self.steps_to_solve: int | None = None
        self.last_eval: dict[str, float] = {}
        self.last_per_step: dict[str, list[float]] = {}  # the actor's firing rate per time step, last evaluation
        self.eval_windows: list[torch.Tensor] = []  # the actor's input windows in the first evaluation episode
        self.last_episode: dict[str, float] = {}
        self.logger = None
        self.render_task: ControlTask | None = None  # made on the first video (trainer.record_every_n_evals)
        self._sums: dict[str, torch.Tensor] = {}  # update statistics since the last log line
        self._counts: dict[str, int] = {}
        self._timer = {"updates": 0, "update_s": 0.0, "since": time.perf_counter(), "steps": 0}
        self._start_episode()

    def _calibration_pass(self, cfg: DictConfig):
        """``neuron.input_gain=auto``'s batch: the actor on 128 windows of observations of random actions, in an
        environment of its own (seeded; the run's environments and random streams are untouched)."""
        if not needs_calibration(self.actor):
            return None
        env = ControlTask(cfg.task.name, cfg.task.env_version, seed=cfg.seed + CALIBRATION_SEED_OFFSET)
        rng = np.random.default_rng([cfg.seed, 3])
        observations = [env.reset()]
        while len(observations) < 128 + self.window:
            step = env.step(rng.uniform(self.spec.action_low, self.spec.action_high), perturb=False)
            observations.append(env.reset() if step.done else step.obs)
        obs = torch.as_tensor(np.stack(observations), dtype=torch.float32, device=self.device)
        windows = obs.unfold(0, self.window, 1).transpose(1, 2)[:128]  # [B, W, obs], oldest first
        return lambda actor: actor(windows)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    # -- acting ----------------------------------------------------------------------------------------------
    def _start_episode(self) -> None:
        self.obs = self.task.reset()
        first = torch.as_tensor(self.obs, dtype=torch.float32, device=self.device)
        self.obs_window = first.expand(self.window, -1).clone()  # padded with the first observation
        self.episode = {"return": 0.0, "env_return": 0.0, "length": 0}
        self.buffer.start_episode()

    def _act(self, pre: bool) -> np.ndarray:
        if pre:
            obs = torch.as_tensor(self.obs, dtype=torch.float32, device=self.device)
            with torch.no_grad():
                return self.pre_agent.act(obs[None])[0].cpu().numpy()
        if self.steps < self.cfg.trainer.start_steps:
            return self.random_actions.uniform(self.spec.action_low, self.spec.action_high)
        self.monitor.enabled = True  # the actor's firing while it acts in training: spikes/<layer>/acting_*
        try:
            with torch.no_grad():
                action = self.actor.act(self.obs_window[None])[0]
        except NonFiniteState as exc:
            raise self._acting_error(exc, f"acting at step {self.steps + 1}") from None
        finally:
            self.monitor.enabled = False
        return action.cpu().numpy()

    def _acting_error(self, exc: NonFiniteState, where: str) -> RunError:
        """A non-finite actor state while acting: no update to skip, so the run stops."""
        return RunError(f"training stopped: {self.describe(self.actor, exc, where)} The actor's parameters are no "
                        "longer usable; lower the learning rate and continue from an earlier checkpoint (resume=PATH "
                        "with checkpoints/best.pt) or start again.")

    def env_step(self) -> bool:
        """Take one environment step and store it; returns whether it counts as a step."""
        pre = self.pre_agent is not None and self.episode["length"] < self.window
        action = self._act(pre)
        step = self.task.step(action, perturb=not pre)
        mask = 0.0 if step.terminated else 1.0  # a time limit is not a failure: keep bootstrapping
        self.buffer.push(self.obs, action, step.reward, step.obs, mask)

        self.obs = step.obs
        new = torch.as_tensor(step.obs, dtype=torch.float32, device=self.device)
        self.obs_window = torch.cat([self.obs_window[1:], new[None]])
        self.env_steps += 1
        if not pre:
            self.steps += 1
            # the paper's curve (Fig. 4d): the training reward per counted step, averaged over log_every steps
            self._accumulate({"train/reward_mean": step.clean_reward})
        self.episode["return"] += step.clean_reward
        self.episode["env_return"] += step.env_reward
        self.episode["length"] += 1
        if step.done:
            self._end_episode()
        return not pre

    def _end_episode(self) -> None:
        self.episodes += 1
        ep = self.episode
        self.last_episode = {"train/episode_return": ep["return"], "train/episode_length": ep["length"]}
        if self.task.reward_mode != "env":
            self.last_episode["train/episode_env_return"] = ep["env_return"]
        if self.logger is not None:
            self.logger.scalars(self.last_episode, self.steps)
        self._start_episode()

    # -- learning --------------------------------------------------------------------------------------------
    def update(self) -> None:
        """One SAC update on a batch of windows (pranz24/pytorch-soft-actor-critic's order)."""
        t = self.cfg.trainer
        start = time.perf_counter()
        obs, action, reward, next_obs, mask = self.buffer.sample(t.batch_size)  # windows [B, W, obs]
        alpha = self.alpha
        where = f"update {self.updates + 1} (step {self.steps})"
        try:
            # target: y = r + mask·γ·(min Q'(s', a') − α log π(a'|s')), a' ~ π(·|s')
            with torch.no_grad():
                next_action, next_log_pi = self.actor.sample(next_obs)
                q1_next, q2_next = self.critic_target(next_obs[:, -1], next_action)
                target = reward + mask * t.gamma * (torch.min(q1_next, q2_next) - alpha * next_log_pi)

            # critic loss: both Q-networks regress on y (the critic sees the last observation of the window)
            q1, q2 = self.critic(obs[:, -1], action)
            critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
            if self._skip_non_finite(critic_loss, "critic", where):
                return
            self.critic_optimizer.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_optimizer.step()

            # actor loss: E[α log π(ã|s) − min Q(s, ã)], ã ~ π(·|s) reparameterised
            pi, log_pi = self.actor.sample(obs)
            with frozen(self.critic):  # the critic's own gradients from this loss would be discarded anyway
                q1_pi, q2_pi = self.critic(obs[:, -1], pi)
            actor_loss = (alpha * log_pi - torch.min(q1_pi, q2_pi)).mean()
            if self._skip_non_finite(actor_loss, "actor", where):
                return
        except NonFiniteState as exc:
            self.non_finite(self.describe(self.actor, exc, where), "updates")
            self.skipped_updates += 1
            return
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimizer.step()

        # temperature: fixed α, or tuned so that the policy's entropy tracks the target entropy
        if self.alpha_optimizer is not None:
            alpha_loss = -(self.log_alpha * (log_pi.detach() + self.target_entropy)).mean()
            self.alpha_optimizer.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_optimizer.step()
            self._accumulate({"train/loss_alpha": alpha_loss})

        # soft update of the target critic
        soft_update(self.critic_target, self.critic, t.tau)

        self.updates += 1
        self._accumulate({"train/loss_critic": critic_loss, "train/loss_actor": actor_loss, "train/q_mean": q1.mean(),
                          "train/q_target_mean": target.mean(), "train/entropy": -log_pi.mean()})
        self._timer["updates"] += 1
        self._timer["update_s"] += time.perf_counter() - start

    def _skip_non_finite(self, loss: torch.Tensor, name: str, where: str) -> bool:
        """With ``trainer.check_finite``: whether ``loss`` is NaN/inf and this update is to be skipped (or stop)."""
        if not self.cfg.trainer.check_finite or bool(torch.isfinite(loss)):
            return False
        self.non_finite(f"the {name} loss is {loss.item()} at {where}.", "updates")
        self.skipped_updates += 1
        return True

    def _accumulate(self, values: dict[str, torch.Tensor | float]) -> None:
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + (v.detach() if isinstance(v, torch.Tensor) else v)
            self._counts[k] = self._counts.get(k, 0) + 1

    def _training_scalars(self) -> dict[str, float]:
        """Means of the update statistics since the last call, and the speed."""
        out = {k: float(v) / self._counts[k] for k, v in self._sums.items()}
        self._sums.clear()
        self._counts.clear()
        now, tm = time.perf_counter(), self._timer
        if tm["update_s"] > 0:
            out["cost/updates_per_s"] = tm["updates"] / tm["update_s"]
        if now > tm["since"]:
            out["cost/steps_per_s"] = (self.steps - tm["steps"]) / (now - tm["since"])
        self._timer = {"updates": 0, "update_s": 0.0, "since": now, "steps": self.steps}
        out["train/alpha"] = float(self.alpha)
        return out

    # -- evaluation ------------------------------------------------------------------------------------------
    def evaluate(self) -> tuple[dict[str, float], dict]:
        """``eval_episodes`` deterministic episodes with the environment's reward; the actor's firing."""
        returns, lengths = [], []
        self.eval_windows = []
        self.monitor.reset()
        self.monitor.enabled = True
        try:
            with torch.no_grad():
                for i in range(self.cfg.trainer.eval_episodes):
                    ret, length = self._eval_episode(self.cfg.seed + EVAL_SEED_OFFSET + i, keep=i == 0)
                    returns.append(ret)
                    lengths.append(length)
        except NonFiniteState as exc:
            raise self._acting_error(exc, f"evaluating at step {self.steps}") from None
        finally:
            self.monitor.enabled = False
        layers = self.monitor.layers()
        self.monitor.reset()
        metrics = {"eval/return_mean": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
                   "eval/length_mean": float(np.mean(lengths))}
        for name, stats in layers.items():
            metrics.update(stats.scalars(f"spikes/{name}"))
        synops = synops_per_sample(layers, self.actor.spike_fanout())
        metrics.update({"cost/synops_per_action": synops,
                        "cost/energy_nj_per_action": energy_nj(self.actor.dense_macs(), synops),
                        "cost/peak_memory_mb": peak_memory_mb(self.device), **self.actor_flops()})
        return metrics, layers

    def actor_flops(self) -> dict[str, float]:
        """FLOPs of one action of the actor as it runs (forward on one window), and its dense MACs."""
        window = torch.zeros(1, self.window, self.spec.obs_size, device=self.device)
        self.guard(self.actor, False)  # count the model, not the finiteness check
        try:
            with torch.no_grad():
                flops = count_flops(lambda: self.actor(window))
        finally:
            self.guard(self.actor, bool(self.cfg.trainer.check_finite))
        return {"cost/flops_actor_forward": flops["total"], "cost/flops_actor_elementwise": flops["elementwise"],
                "cost/dense_macs": self.actor.dense_macs()}

    def _eval_episode(self, seed: int, keep: bool = False) -> tuple[float, int]:
        """One deterministic episode: its return and length. ``keep``: the actor's input windows are kept in
        :attr:`eval_windows` (for :meth:`record`)."""
        return run_episode(self.actor, self.eval_task, seed, self.window, pre_agent=self.pre_agent,
                           windows=self.eval_windows if keep else None)

    def _record(self) -> None:
        """Every ``trainer.record_every_n_evals``-th evaluation: a video of one deterministic episode (the first
        evaluation episode's seed) in ``videos/step<steps>.mp4`` (or .gif, see :mod:`hhlif.render`)."""
        from hhlif.render import video_suffix, write_video

        every = self.cfg.trainer.get("record_every_n_evals", 0)
        if not every or (self.steps // self.cfg.trainer.eval_every) % every:
            return
        if self.render_task is None:
            t = self.cfg.task
            self.render_task = ControlTask(t.name, t.env_version, seed=self.cfg.seed + EVAL_SEED_OFFSET, render=True)
        frames: list = []
        with torch.no_grad():
            ret, _ = run_episode(self.actor, self.render_task, self.cfg.seed + EVAL_SEED_OFFSET, self.window,
                                 pre_agent=self.pre_agent, frames=frames)
        path = write_video(frames, self.run_dir / "videos" / f"step{self.steps:07d}{video_suffix('auto')}")
        log.info("video of an evaluation episode (return %.1f): %s", ret, path)

    def record(self) -> dict:
        """The actor's spikes and voltages, step by step, on :data:`RECORDED_WINDOWS` observation windows spread
        over the first episode of the last evaluation (:func:`~hhlif.metrics.spikes.record_layers`)."""
        if not self.eval_windows:
            return {}
        picks = np.linspace(0, len(self.eval_windows) - 1, min(RECORDED_WINDOWS, len(self.eval_windows)))
        windows = torch.stack([self.eval_windows[int(round(i))] for i in picks])
        state = rng_state()
        self.guard(self.actor, False)
        try:
            return record_layers(self.actor, lambda: self.actor.act(windows, deterministic=True))
        finally:
            self.guard(self.actor, bool(self.cfg.trainer.check_finite))
            set_rng_state(state)

    def _evaluate_and_save(self) -> None:
        train_layers = self.monitor.layers()  # accumulated while acting since the last evaluation
        metrics, layers = self.evaluate()
        for name, stats in train_layers.items():
            metrics.update({f"spikes/{name}/acting_{k.rpartition('/')[2]}": v for k, v in stats.scalars("").items()})
            self.logger.histogram(f"spikes/{name}/acting_rates", stats.rates, self.steps)
        for name, stats in layers.items():
            self.logger.histogram(f"spikes/{name}/rates", stats.rates, self.steps)
        traces = self.record() if self.logger.images else {}
        for tag, draw in layer_figures(layers, traces, what="window").items():
            self.logger.figure(tag, draw, self.steps)
        self.eval_windows = []
        self.last_per_step = {f"spikes/{name}/rate_per_step": s.per_step.tolist() for name, s in layers.items()}
        ret = metrics["eval/return_mean"]
        if self.steps_to_solve is None and ret >= self.spec.threshold:
            self.steps_to_solve = self.steps
            log.info("solved at step %d: evaluation return %.1f ≥ %.0f", self.steps, ret, self.spec.threshold)
        improved = not self.best or ret > self.best["eval/return_mean"]
        if improved:
            self.best = {"eval/return_mean": ret, "eval/return_std": metrics["eval/return_std"],
                         "eval/length_mean": metrics["eval/length_mean"], "step": self.steps}
        self.last_eval = metrics
        self.logger.scalars({**metrics, best_tag("eval/return_mean"): self.best["eval/return_mean"]}, self.steps)
        self.save("last.pt", *(("best.pt",) if improved else ()))
        self._record()
        log.info("step %d/%d  eval return %.1f ± %.1f (length %.0f)  best %.1f  episodes %d",
                 self.steps, self.cfg.trainer.total_steps, ret, metrics["eval/return_std"],
                 metrics["eval/length_mean"], self.best["eval/return_mean"], self.episodes)

    # -- the loop --------------------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train for ``trainer.total_steps`` counted steps; returns the content written to ``metrics.json``."""
        t = self.cfg.trainer
        if self.steps >= t.total_steps and (self.run_dir / "metrics.json").is_file():
            log.info("%s already finished its %d steps; nothing to do", self.run_dir, t.total_steps)
            return json.loads((self.run_dir / "metrics.json").read_text())
        self.logger = build_logger(self.cfg, self.run_dir, purge_step=self.steps + 1 if self.steps else None)
        self.logger.constants(self._params())  # HParams columns, not one-point charts
        self.logger.constants(self.actor_flops(), hparams=False)  # in metrics.json only
        self._announce()
        disable = PROGRESS[t.progress]
        bar = tqdm(total=t.total_steps, initial=self.steps, desc="steps", disable=disable, dynamic_ncols=True,
                   unit="step")
        every = max(1, t.total_steps // 10)  # without a progress bar (not a terminal): a log line per 10 %
        began, first = time.perf_counter(), self.steps
        try:
            with self.stop:
                while self.steps < t.total_steps:
                    counted = self.env_step()
                    if self.buffer.ready(t.batch_size):
                        for _ in range(t.updates_per_step):
                            self.update()
                    if counted:
                        self._after_step(bar)
                        if bar.disable and (self.steps % every == 0 or self.steps == t.total_steps):
                            spent = time.perf_counter() - began
                            eta = spent / max(1, self.steps - first) * (t.total_steps - self.steps)
                            log.info("steps %3d%% (%d/%d)  %s  %.0fs, ETA %.0fs", 100 * self.steps // t.total_steps,
                                     self.steps, t.total_steps,
                                     "  ".join(f"{k} {v}" for k, v in self._postfix().items()), spent, eta)
                    if self.stop.signum is not None and self.steps < t.total_steps:
                        self.interrupt(f"at step {self.steps} of {t.total_steps}")
            result = self._result(time.perf_counter() - began)
            path = self.logger.write_metrics(result)
        finally:
            bar.close()
            self.logger.close()
            self.task.close()
            self.eval_task.close()
        log.info("results in %s (metrics.json, checkpoints/, tensorboard/)", self.run_dir)
        log.info("metrics: %s", path)
        return result

    def _after_step(self, bar: tqdm) -> None:
        """The bookkeeping after a counted step: log, evaluate, checkpoint."""
        t = self.cfg.trainer
        bar.update(1)
        if self.steps % t.log_every == 0:
            self.logger.scalars(self._training_scalars(), self.steps)
        if self.steps % t.eval_every == 0 or self.steps == t.total_steps:
            self._evaluate_and_save()  # writes last.pt too
        elif self.steps % t.checkpoint_every == 0:
            self.save("last.pt")
        if self.steps % t.log_every == 0 or self.steps % t.eval_every == 0:
            bar.set_postfix(self._postfix(), refresh=False)

    def _postfix(self) -> dict[str, str]:
        out = {}
        if self.last_episode:
            out["episode"] = f"{self.last_episode['train/episode_return']:.1f}"
        if self.last_eval:
            out["eval"] = f"{self.last_eval['eval/return_mean']:.1f}"
        return out

    def _announce(self) -> None:
        s, task = self.spec, self.cfg.task
        log.info("task: %s (obs %d, action %d), reward %s, state noise %g, reward noise %g, pre-agent %s",
                 s.env_id, s.obs_size, s.action_size, task.reward, task.state_noise, task.reward_noise,
                 task.pre_agent or "none (window padded with the first observation)")
        log.info("agent: neuron=%s, actor %d trainable parameters (+%d frozen), critic %d, device %s",
                 self.cfg.neuron.name, *self.actor_params, self.critic_params, self.device)

    def _params(self) -> dict[str, int]:
        return {"params/trainable": self.actor_params[0], "params/frozen": self.actor_params[1],
                "params/critic": self.critic_params}

    def _result(self, seconds: float) -> dict[str, Any]:
        s, task = self.spec, self.cfg.task
        import gymnasium
        import mujoco

        return {**self.last_eval, **self.last_per_step, "best": dict(self.best), "steps_to_solve": self.steps_to_solve,
                "solved_threshold": s.threshold, "steps": self.steps, "env_steps": self.env_steps,
                "updates": self.updates, "skipped_updates": self.skipped_updates, "episodes": self.episodes,
                **self._params(), "cost/total_s": seconds, **self.calibration,
                "meta": {"env.id": s.env_id, "env.version": s.version, "env.obs_size": s.obs_size,
                         "env.action_size": s.action_size, "task.reward": task.reward,
                         "task.state_noise": task.state_noise, "task.reward_noise": task.reward_noise,
                         "task.pre_agent": task.pre_agent, "device": str(self.device), "torch": torch.__version__,
                         "gymnasium": gymnasium.__version__, "mujoco": mujoco.__version__}}

    # -- state -----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The whole trainer: enough to continue the run exactly where it is."""
        return {
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "alpha_optimizer": self.alpha_optimizer.state_dict() if self.alpha_optimizer else None,
            "buffer": self.buffer.state_dict(), "task": self.task.state_dict(),
            "random_actions": self.random_actions.bit_generator.state,
            "episode": {"obs": self.obs.copy(), "obs_window": self.obs_window.clone(), **self.episode},
            "counters": {"steps": self.steps, "env_steps": self.env_steps, "updates": self.updates,
                         "skipped_updates": self.skipped_updates, "episodes": self.episodes},
            "best": dict(self.best), "steps_to_solve": self.steps_to_solve, "last_eval": dict(self.last_eval),
            "last_episode": dict(self.last_episode), "last_per_step": self.last_per_step, "rng": rng_state(),
            "since_log": {"sums": {k: float(v) for k, v in self._sums.items()}, "counts": dict(self._counts)},
            "monitor": self.monitor.state_dict(),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        """Restore :meth:`state_dict` (read from ``source``) into a trainer built from the same config."""
        try:
            self.actor.load_state_dict(state["actor"])
            self.critic.load_state_dict(state["critic"])
            self.critic_target.load_state_dict(state["critic_target"])
            self.buffer.load_state_dict(state["buffer"])
        except (RuntimeError, ValueError) as exc:
            raise RunError(f"checkpoint {source} does not fit this agent: {str(exc).splitlines()[0]}") from None
        load_optimizer(self.actor_optimizer, state["actor_optimizer"])
        load_optimizer(self.critic_optimizer, state["critic_optimizer"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        if self.alpha_optimizer is not None:
            load_optimizer(self.alpha_optimizer, state["alpha_optimizer"])
        self.task.load_state_dict(state["task"])
        self.random_actions.bit_generator.state = state["random_actions"]
        ep = dict(state["episode"])
        self.obs, self.obs_window = ep.pop("obs"), ep.pop("obs_window").to(self.device)
        self.episode = ep
        for k, v in state["counters"].items():
            setattr(self, k, v)
        self.best, self.steps_to_solve = dict(state["best"]), state["steps_to_solve"]
        self.last_eval, self.last_episode = dict(state["last_eval"]), dict(state["last_episode"])
        self.last_per_step = dict(state.get("last_per_step", {}))
        self._sums, self._counts = dict(state["since_log"]["sums"]), dict(state["since_log"]["counts"])
        self.monitor.load_state_dict(state["monitor"])
        set_rng_state(state["rng"])

    def position(self) -> str:
        return f"step {self.steps} of {self.cfg.trainer.total_steps}"


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train one SAC agent in ``run_dir``; with ``resume``, continue from its ``checkpoints/last.pt`` (written every
    ``trainer.checkpoint_every`` steps, at every evaluation and when a signal stops the run)."""
    trainer = SACTrainer(cfg, run_dir)
    if wants_resume(cfg.get("resume", False)):
        trainer.resume()
    return trainer.fit()
