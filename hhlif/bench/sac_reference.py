"""A reference-style SAC agent: the authors' (pranz24's) data path and update, run on a trainer's own networks.

What it reproduces (the authors' ``drl_*/main.py``, ``sac.py``, ``models/model_hh.py``;
docs/explanation/authors-code.md#sac):

* **replay memory**: a Python list used as a ring, one tuple per transition holding the windows of the last W
  transitions as torch tensors (state ``[W, obs]`` float32, actions ``[W, A]``, rewards ``[1, W, 1]`` float64,
  next states ``[W, obs]`` float64, masks ``[1, W, 1]``), built step by step from per-episode lists when pushed;
  ``sample`` draws with ``random.sample`` and stacks item by item (``map(np.stack, zip(*batch, strict=True))``), then
  ``torch.FloatTensor`` per field; the update reads the last action, reward and mask of each window;
* **actor**: the window is expanded by stacking each element ``repeat`` times; at each of the T steps the
  step's input is projected again by the spiking layer's synapse, the neuron advances one eager step
  (:meth:`Neuron.step`, state of the whole batch) and the spikes are written into a preallocated
  ``[B, T, H]`` tensor, averaged over T, then the mean and log-std branches and a ``torch.distributions.Normal``
  squashed sample;
* **update**: target with the target critics, critic loss and Adam step, actor loss and Adam step, fixed α
  (a Python number), soft target update by ``copy_`` per parameter, and the five ``.item()`` of the returned
  losses, in pranz24's order.

The networks are deep copies of a trainer's actor, critic and target critic (same weights, buffers, per-neuron
dt and gating rates), so its results can be compared with the trainer's update from the same state.
Windows reaching back before an episode's first transition are padded with that episode's first observation
(hhlif's convention without the pre-agent; the authors' pre-agent fills them), so both memories hold the same
windows.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from hhlif.networks.policy import EPSILON, LOG_STD_MAX, LOG_STD_MIN, SpikingActor


class ListReplay:
    """pranz24's ``ReplayMemory``: a list ring of per-transition tuples, sampled with ``random.sample``."""

    def __init__(self, capacity: int, seed: int = 0):
        self.capacity = int(capacity)
        self.buffer: list[tuple] = []
        self.position = 0
        self.random = random.Random(seed)

    def __len__(self) -> int:
        return len(self.buffer)

    def push(self, state, action, reward, next_state, mask) -> None:
        if len(self.buffer) < self.capacity:
            self.buffer.append(None)
        self.buffer[self.position] = (state, action, reward, next_state, mask)
        self.position = (self.position + 1) % self.capacity

    def sample(self, batch_size: int, indices=None):
        """Stacked fields of ``batch_size`` random items (or of the items at ``indices``)."""
        if indices is None:
            batch = self.random.sample(self.buffer, batch_size)
        else:
            batch = [self.buffer[int(i)] for i in indices]
        state, action, reward, next_state, mask = map(np.stack, zip(*batch, strict=True))
        return state, action, reward, next_state, mask


class EpisodeWindows:
    """The authors' per-episode lists: every transition is appended as tensors, and the windows of the last W
    transitions are pushed to the memory (padded with the episode's first transition before it has W)."""

    def __init__(self, memory: ListReplay, window: int):
        self.memory, self.window = memory, int(window)
        self.start_episode()

    def start_episode(self) -> None:
        self.states, self.actions, self.rewards, self.next_states, self.masks = [], [], [], [], []

    def push(self, obs, action, reward: float, next_obs, mask: float) -> None:
        self.states.append(torch.FloatTensor(np.asarray(obs)))
        self.actions.append(torch.tensor(np.asarray(action, dtype=np.float32)).reshape(-1))
        self.rewards.append(torch.tensor(float(reward), dtype=torch.float64).view(1, -1))
        self.next_states.append(torch.tensor(np.asarray(next_obs, dtype=np.float64)))
        self.masks.append(torch.tensor(float(mask), dtype=torch.float64).view(1, -1))
        n, w = len(self.states), self.window
        state = torch.stack([torch.zeros_like(self.states[0])] * w, dim=0)
        action = torch.stack([torch.zeros_like(self.actions[0])] * w, dim=0)
        reward = torch.stack([torch.zeros_like(self.rewards[0])] * w, dim=1)
        next_state = torch.stack([torch.zeros_like(self.next_states[0])] * w, dim=0)
        mask = torch.stack([torch.zeros_like(self.masks[0])] * w, dim=1)
        for i in range(w):
            j = max(0, n - w + i)  # before the episode's start: its first transition
            state[i] = self.states[j]
            action[i] = self.actions[j]
            reward[:, i] = self.rewards[j]
            mask[:, i] = self.masks[j]
            # the next window is the state window shifted by one, ending with this transition's next state
            next_state[i] = self.next_states[-1] if i == w - 1 else self.states[max(0, n - w + i + 1)]
        self.memory.push(state, action, reward, next_state, mask)


class ReferenceActor(nn.Module):
    """The trainer's actor run as the authors' ``GaussianPolicy``: stacked repeats, per-step projection, eager
    neuron steps into a preallocated spike tensor, ``Normal`` sampling."""

    def __init__(self, actor: SpikingActor):
        super().__init__()
        self.actor = actor
        device = next(actor.parameters()).device
        self.register_buffer("action_scale", torch.tensor(actor.head.scale, device=device))
        self.register_buffer("action_bias", torch.tensor(actor.head.bias, device=device))

    def forward(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        actor = self.actor
        layer, neuron = actor.layer, actor.layer.neuron
        inputs = []
        for i in range(actor.window):
            inputs += [window[:, i, ...]] * actor.repeat
        steps = torch.stack(inputs, dim=1)  # [B, T, obs]
        batch, wins = steps.shape[0], steps.shape[1]
        state = neuron.initial_state(batch, steps.device, steps.dtype)
        mems = torch.zeros([batch, wins, layer.out_features], device=steps.device)
        for step in range(wins):
            current = layer.synapse(steps[:, step, :])  # projected again at every step
            if neuron.inputs_per_unit > 1:
                current = current.reshape(batch, neuron.inputs_per_unit, -1).movedim(1, -1)
            spike, state = neuron.step(current, state)
            mems[:, step, :] = spike.flatten(1)
        x = torch.mean(mems, dim=1)
        return actor.mean(x), torch.clamp(actor.log_std(x), min=LOG_STD_MIN, max=LOG_STD_MAX)

    def sample(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_std = self(window)
        std = log_std.exp()
        normal = Normal(mean, std)
        x_t = normal.rsample()  # mean + std·N(0, 1)
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias
        log_prob = normal.log_prob(x_t)
        log_prob -= torch.log(self.action_scale * (1 - y_t.pow(2)) + EPSILON)
        log_prob = log_prob.sum(1, keepdim=True)
        mean = torch.tanh(mean) * self.action_scale + self.action_bias
        return action, log_prob, mean


class ReferenceSAC:
    """pranz24's ``SAC.update_parameters`` over a :class:`ListReplay`, on copies of a trainer's networks."""

    def __init__(self, actor: SpikingActor, critic: nn.Module, critic_target: nn.Module, *, lr: float,
                 gamma: float, tau: float, alpha: float, capacity: int, window: int, seed: int = 0):
        self.actor = ReferenceActor(copy.deepcopy(actor))
        self.critic = copy.deepcopy(critic)
        self.critic_target = copy.deepcopy(critic_target)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr)
        self.gamma, self.tau, self.alpha = float(gamma), float(tau), float(alpha)
        self.memory = ListReplay(capacity, seed)
        self.episodes = EpisodeWindows(self.memory, window)
        self.device = next(self.critic.parameters()).device

    def update(self, batch_size: int, indices=None) -> tuple[float, ...]:
        """One update on a random batch (or on the items at ``indices``); pranz24's five logged values."""
        state, action, reward, next_state, mask = self.memory.sample(batch_size, indices)
        device = self.device
        state = torch.FloatTensor(state).to(device)
        next_state = torch.FloatTensor(next_state).to(device)
        action = torch.FloatTensor(action[:, -1, ...]).to(device).view(batch_size, -1)
        reward = torch.FloatTensor(reward[:, :, -1, ...]).to(device).unsqueeze(1).view(batch_size, -1)
        mask = torch.FloatTensor(mask[:, :, -1, ...]).to(device).unsqueeze(1).view(batch_size, -1)

        with torch.no_grad():
            next_action, next_log_pi, _ = self.actor.sample(next_state)
            q1_next, q2_next = self.critic_target(next_state[:, -1], next_action)
            min_q_next = torch.min(q1_next, q2_next) - self.alpha * next_log_pi
            target = reward + mask * self.gamma * min_q_next
        q1, q2 = self.critic(state[:, -1], action)
        q1_loss = F.mse_loss(q1, target)
        q2_loss = F.mse_loss(q2, target)
        critic_loss = q1_loss + q2_loss
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()

        pi, log_pi, _ = self.actor.sample(state)
        q1_pi, q2_pi = self.critic(state[:, -1], pi)
        actor_loss = ((self.alpha * log_pi) - torch.min(q1_pi, q2_pi)).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        alpha_loss = torch.tensor(0.0).to(device)
        alpha_logged = torch.tensor(self.alpha)

        for t, s in zip(self.critic_target.parameters(), self.critic.parameters(), strict=True):
            t.data.copy_(t.data * (1.0 - self.tau) + s.data * self.tau)
        return q1_loss.item(), q2_loss.item(), actor_loss.item(), alpha_loss.item(), alpha_logged.item()
