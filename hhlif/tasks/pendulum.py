"""MuJoCo pendulum control tasks (the paper's Fig. 4d/4i): environments, shaped reward, observation noise.

Two tasks, on gymnasium's MuJoCo environments:

* ``inverted_pendulum``: ``InvertedPendulum-<version>``, obs (4) = [cart x, pole angle θ, ẋ, θ̇], action in [−3, 3];
* ``inverted_double_pendulum``: ``InvertedDoublePendulum-<version>``, obs = [x, sin θ1, sin θ2, cos θ1, cos θ2,
  ẋ, θ̇1, θ̇2, constraint forces], 11 values in v4 (the paper's version), 9 in v5 (two always-zero constraint
  forces removed); action in [−1, 1].

Both episodes end when the pole falls (``terminated``: the value target is cut, mask 0) or after 1,000 steps
(``truncated``: a time limit, not a failure, mask 1).

Training reward (``task.reward``):

* ``env``: the environment's own reward (default);
* ``shaped``: the paper's shaped reward (docs/explanation/authors-code.md#shaped-reward) with
  ``clip_lin(z, b) = −5 if |z| > b else 5 − 10|z|/b`` (range [−5, 5]), minus 10 when the episode ends.
  Pendulum: ``clip_lin(x, 1.0) + clip_lin(θ, 0.418)`` on the cart position obs[0] and the pole angle obs[1];
  double pendulum: ``clip_lin(x, 2.0) + clip_lin(sin θ1, 0.418) + clip_lin(sin θ2, 0.1)`` on obs[0], obs[1],
  obs[2];
* ``shaped_original``: as the paper's code computes it. For the pendulum its second term reads obs[2], the
  cart velocity, where the pole angle was meant (docs/explanation/authors-code.md#known-bugs, bug 1); the double
  pendulum's is the same as ``shaped``. As in the paper's code (gym 0.25, whose ``done`` includes the time
  limit), both shaped forms subtract the 10 at the end of every episode, time limit included.

Noise (the paper's Fig. 4i, double pendulum; here available on both tasks): ``task.state_noise`` = σ of
Gaussian noise added to every observation the agent receives after a step (paper 0.002; not to the first
observation of an episode, as in the paper's code); it is added after the reward has been computed from the
clean observation. ``task.reward_noise`` = σ of Gaussian noise added to the observation the *stored* reward
is recomputed from (paper 0.1), so the agent learns from a noisy shaped reward while the logged return stays
clean; it needs a shaped reward. Evaluation always uses a clean environment and its own reward.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from hhlif.errors import ConfigError, bad_value, unknown_choice

ENV_NAMES = {"inverted_pendulum": "InvertedPendulum", "inverted_double_pendulum": "InvertedDoublePendulum"}
VERSIONS = ("v4", "v5")
REWARDS = ("env", "shaped", "shaped_original")
#: Solved thresholds when the gymnasium spec does not give one (it does for v4 and v5).
THRESHOLDS = {"inverted_pendulum": 950.0, "inverted_double_pendulum": 9100.0}
#: Penalty added to the shaped reward when an episode ends.
END_PENALTY = -10.0
INSTALL = "pip install 'gymnasium[mujoco]>=1.0'"


def clip_lin(z: float, bound: float) -> float:
    """The paper's reward term: 5 at z = 0, falling linearly to −5 at |z| = bound, −5 beyond."""
    return -5.0 if abs(z) > bound else 5.0 - 10.0 * abs(z) / bound


def shaped_reward(task: str, obs: np.ndarray, done: bool, original: bool = False) -> float:
    """The paper's shaped reward of the observation after a step (see the module docstring)."""
    if task == "inverted_pendulum":
        angle = obs[2] if original else obs[1]  # the paper's code reads the cart velocity obs[2]
        reward = clip_lin(obs[0], 1.0) + clip_lin(angle, 0.418)
    elif task == "inverted_double_pendulum":
        reward = clip_lin(obs[0], 2.0) + clip_lin(obs[1], 0.418) + clip_lin(obs[2], 0.1)
    else:
        raise unknown_choice("task.name", task, ENV_NAMES)
    return reward + (END_PENALTY if done else 0.0)


@dataclass(frozen=True)
class EnvSpec:
    """What the agent and trainer need to know about an environment."""

    task: str
    env_id: str
    version: str
    obs_size: int
    action_size: int
    action_low: np.ndarray
    action_high: np.ndarray
    threshold: float
    max_episode_steps: int


def env_id(task: str, version: str) -> str:
    """The gymnasium id of ``task`` in ``version``; ConfigError for an unknown task or version."""
    if task not in ENV_NAMES:
        raise unknown_choice("task.name", task, ENV_NAMES)
    if version not in VERSIONS:
        raise unknown_choice("task.env_version", version, VERSIONS)
    return f"{ENV_NAMES[task]}-{version}"


def make_env(task: str, version: str, render: bool = False):
    """A gymnasium environment for ``task``; ConfigError (with what to do) if it cannot be made. ``render``:
    made with ``render_mode="rgb_array"`` (frames of :data:`hhlif.render.SIZE`, see :mod:`hhlif.render`)."""
    name = env_id(task, version)
    try:
        import gymnasium as gym
    except ImportError:
        raise ConfigError(f"task {task} needs gymnasium with MuJoCo, which is not installed: {INSTALL}") from None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is out of date.*")  # v4: the paper's version, on purpose
            if not render:
                return gym.make(name)
            from hhlif.render import SIZE

            return gym.make(name, render_mode="rgb_array", width=SIZE[0], height=SIZE[1])
    except gym.error.DependencyNotInstalled as exc:
        raise ConfigError(f"{name} needs MuJoCo ({exc}). Install it with: {INSTALL}") from None
    except gym.error.Error as exc:
        raise ConfigError(f"gymnasium cannot make {name}: {exc}. Allowed task.env_version values: "
                          f"{', '.join(VERSIONS)} (this gymnasium: {gym.__version__}).") from None
    except (ImportError, AttributeError, OSError, RuntimeError) as exc:
        if "MUJOCO_GL" not in os.environ:
            raise
        from hhlif.render import cannot_render  # MuJoCo's import sets up the OpenGL backend MUJOCO_GL names

        raise cannot_render(exc) from None


def describe(env, task: str, version: str) -> EnvSpec:
    """The :class:`EnvSpec` of an environment made by :func:`make_env`."""
    obs_space, act_space = env.observation_space, env.action_space
    spec = env.spec
    threshold = spec.reward_threshold if spec is not None and spec.reward_threshold is not None else THRESHOLDS[task]
    max_steps = spec.max_episode_steps if spec is not None and spec.max_episode_steps else 1000
    return EnvSpec(task=task, env_id=env_id(task, version), version=version, obs_size=int(obs_space.shape[0]),
                   action_size=int(act_space.shape[0]), action_low=np.asarray(act_space.low, dtype=np.float64),
                   action_high=np.asarray(act_space.high, dtype=np.float64), threshold=float(threshold),
                   max_episode_steps=int(max_steps))


def check_task(task_cfg) -> EnvSpec:
    """Validate a control task's config (making the environment once) and return its spec."""
    reward = task_cfg.reward
    if reward not in REWARDS:
        raise unknown_choice("task.reward", reward, REWARDS)
    for key in ("state_noise", "reward_noise"):
        value = task_cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise bad_value(f"task.{key}", value, "a number ≥ 0 (σ of Gaussian noise; 0 = off)")
    if task_cfg.reward_noise > 0 and reward == "env":
        raise ConfigError("task.reward_noise perturbs the observation the shaped reward is recomputed from "
                          "(the paper's Fig. 4i), so it needs task.reward=shaped or task.reward=shaped_original.")
    env = make_env(task_cfg.name, task_cfg.env_version)
    try:
        return describe(env, task_cfg.name, task_cfg.env_version)
    finally:
        env.close()


@dataclass
class Step:
    """One environment step as the trainer sees it.

    ``obs``: the next observation given to the agent (with state noise); ``reward``: the reward to learn from
    (with reward noise); ``clean_reward``: the same reward without noise (the training curve);
    ``env_reward``: the environment's own reward.
    """

    obs: np.ndarray
    reward: float
    clean_reward: float
    env_reward: float
    terminated: bool
    truncated: bool

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class ControlTask:
    """An environment with the paper's reward options and noise; reproducible from ``seed``.

    The first :meth:`reset` seeds the environment with ``seed``; later resets continue its generator.
    ``noise_rng`` draws the state and reward noise.
    """

    def __init__(self, task: str, version: str, *, reward: str = "env", state_noise: float = 0.0,
                 reward_noise: float = 0.0, seed: int = 0, render: bool = False):
        if reward not in REWARDS:
            raise unknown_choice("task.reward", reward, REWARDS)
        self.env = make_env(task, version, render)
        self.spec = describe(self.env, task, version)
        self.reward_mode = reward
        self.state_noise = float(state_noise)
        self.reward_noise = float(reward_noise)
        self.seed = int(seed)
        self.noise_rng = np.random.default_rng([self.seed, 1])
        self._seeded = False

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start an episode; returns its first observation (never noisy)."""
        if seed is None and not self._seeded:
            seed = self.seed
        self._seeded = True
        obs, _ = self.env.reset(seed=seed)
        return np.asarray(obs, dtype=np.float64)

    def _reward(self, obs: np.ndarray, env_reward: float, done: bool) -> float:
        if self.reward_mode == "env":
            return float(env_reward)
        return shaped_reward(self.spec.task, obs, done, original=self.reward_mode == "shaped_original")

    def step(self, action: np.ndarray, perturb: bool = True) -> Step:
        """Apply ``action``; ``perturb=False`` skips the state and reward noise (the paper's pre-agent steps)."""
        obs, env_reward, terminated, truncated, _ = self.env.step(np.asarray(action, dtype=np.float32))
        obs = np.asarray(obs, dtype=np.float64)
        done = bool(terminated or truncated)
        clean = self._reward(obs, env_reward, done)
        reward = clean
        if perturb and self.state_noise > 0:
            obs = obs + self.state_noise * self.noise_rng.standard_normal(obs.shape)
        if perturb and self.reward_noise > 0:
            noisy_obs = obs + self.reward_noise * self.noise_rng.standard_normal(obs.shape)
            reward = self._reward(noisy_obs, env_reward, done)
        return Step(obs, reward, clean, float(env_reward), bool(terminated), bool(truncated))

    # -- state (for checkpoints) ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The environment's physical state, time-limit counter and every generator it uses."""
        unwrapped = self.env.unwrapped
        return {"qpos": np.array(unwrapped.data.qpos), "qvel": np.array(unwrapped.data.qvel),
                "elapsed_steps": _time_limit(self.env)._elapsed_steps if _time_limit(self.env) else None,
                "env_rng": unwrapped.np_random.bit_generator.state if unwrapped.np_random is not None else None,
                "noise_rng": self.noise_rng.bit_generator.state, "seeded": self._seeded}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (call after :meth:`reset`, which sets up the environment)."""
        unwrapped = self.env.unwrapped
        unwrapped.set_state(state["qpos"], state["qvel"])
        limit = _time_limit(self.env)
        if limit is not None and state["elapsed_steps"] is not None:
            limit._elapsed_steps = state["elapsed_steps"]
        if state["env_rng"] is not None:
            unwrapped.np_random.bit_generator.state = state["env_rng"]
        self.noise_rng.bit_generator.state = state["noise_rng"]
        self._seeded = state["seeded"]

    def close(self) -> None:
        self.env.close()


def _time_limit(env):
    """The TimeLimit wrapper around ``env``, if any."""
    from gymnasium.wrappers import TimeLimit

    while env is not None:
        if isinstance(env, TimeLimit):
            return env
        env = getattr(env, "env", None)
    return None
