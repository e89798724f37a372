"""Replay memory of single transitions in preallocated tensors; samples windows of observations.

Each stored transition t holds (obs_t, action_t, reward_t, next_obs_t, mask_t) and ``start_t``, the absolute
index of the first transition of its episode (absolute = counted from the first push ever; the slot of
absolute index i is i mod capacity). A sampled window for transition i is the W observations of absolute
indices i−W+1 .. i, each index raised to at least ``start_i`` — so a window that reaches back before the
episode's start is padded with the episode's first observation, exactly the window the agent acted on.
The next window is the same shifted by one: observations i−W+2 .. i (padded the same way) and next_obs_i.
Everything is one gather with index arithmetic; no per-item Python work.

``skip``: transitions whose position in their episode is below ``skip`` are stored (they are context for
later windows) but never sampled as window ends. With the authors' pre-agent driving the first W steps,
``skip = W − 1`` reproduces their memory, whose first window per episode ends at the episode's W-th
transition. A window that would read a slot already overwritten (after the buffer wrapped) is not sampled
either; ineligible draws are redrawn, vectorised.
"""

from __future__ import annotations

from typing import Any

import torch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class ReplayBuffer:
    """A ring of ``capacity`` transitions with ``obs_size`` observations and ``action_size`` actions."""

    def __init__(self, capacity: int, obs_size: int, action_size: int, window: int, *, skip: int = 0,
                 device: torch.device | str = "cpu", seed: int = 0):
        self.capacity, self.window, self.skip = int(capacity), int(window), int(skip)
        self.device = torch.device(device)
        f32 = dict(dtype=torch.float32, device=self.device)  # empty: pages are only touched once written
        self.obs = torch.empty(self.capacity, obs_size, **f32)
        self.next_obs = torch.empty(self.capacity, obs_size, **f32)
        self.action = torch.empty(self.capacity, action_size, **f32)
        self.reward = torch.empty(self.capacity, 1, **f32)
        self.mask = torch.empty(self.capacity, 1, **f32)
        self.start = torch.empty(self.capacity, dtype=torch.long, device=self.device)
        self.total = 0          # transitions ever pushed
        self.eligible = 0       # of which sampleable as window ends (position in episode ≥ skip)
        self.episode_start = 0  # absolute index of the current episode's first transition
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._offsets = torch.arange(-(self.window - 1), 1, device=self.device)

    def __len__(self) -> int:
        """Transitions held (at most ``capacity``)."""
        return min(self.total, self.capacity)

    def ready(self, batch_size: int) -> bool:
        """True once more than one batch of window ends has been stored."""
        return self.eligible > batch_size

    def start_episode(self) -> None:
        """The next transition pushed is the first of a new episode."""
        self.episode_start = self.total

    def push(self, obs, action, reward: float, next_obs, mask: float) -> None:
        """Store one transition of the current episode."""
        slot = self.total % self.capacity
        self.obs[slot] = torch.as_tensor(obs, dtype=torch.float32)
        self.action[slot] = torch.as_tensor(action, dtype=torch.float32)
        self.reward[slot] = float(reward)
        self.next_obs[slot] = torch.as_tensor(next_obs, dtype=torch.float32)
        self.mask[slot] = float(mask)
        self.start[slot] = self.episode_start
        if self.total - self.episode_start >= self.skip:
            self.eligible += 1
        self.total += 1

    def _invalid(self, index: torch.Tensor) -> torch.Tensor:
        """Which absolute ``index`` values cannot end a window (too early in the episode, or overwritten)."""
        oldest = self.total - len(self)
        start = self.start[index % self.capacity]
        first = torch.maximum(index - (self.window - 1), start)
        return (index - start < self.skip) | (first < oldest)

    def windows(self, index: torch.Tensor) -> Batch:
        """The transitions ending at absolute ``index`` ``[B]``: (obs window ``[B, W, obs]``, action ``[B, A]``,
        reward ``[B, 1]``, next-obs window ``[B, W, obs]``, mask ``[B, 1]``)."""
        slot = index % self.capacity
        positions = torch.maximum(index[:, None] + self._offsets, self.start[slot][:, None])
        obs = self.obs[positions % self.capacity]
        next_obs = torch.cat([obs[:, 1:], self.next_obs[slot][:, None]], dim=1)
        return obs, self.action[slot], self.reward[slot], next_obs, self.mask[slot]

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` windows drawn uniformly from the sampleable transitions."""
        oldest, held = self.total - len(self), len(self)
        index = oldest + torch.randint(held, (batch_size,), generator=self.generator, device=self.device)
        bad = self._invalid(index)
        while bool(bad.any()):
            index[bad] = oldest + torch.randint(held, (int(bad.sum()),), generator=self.generator,
                                                device=self.device)
            bad = self._invalid(index)
        return self.windows(index)

    # -- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue, the stored transitions included (only the filled slots)."""
        n = len(self)
        data = {k: getattr(self, k)[:n].clone() for k in ("obs", "next_obs", "action", "reward", "mask", "start")}
        return {**data, "total": self.total, "eligible": self.eligible, "episode_start": self.episode_start,
                "capacity": self.capacity, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"replay capacity {state['capacity']} in the checkpoint, {self.capacity} configured")
        n = state["obs"].shape[0]
        for k in ("obs", "next_obs", "action", "reward", "mask", "start"):
            getattr(self, k)[:n] = state[k].to(self.device)
        self.total, self.eligible, self.episode_start = state["total"], state["eligible"], state["episode_start"]
        self.generator.set_state(state["generator"])
