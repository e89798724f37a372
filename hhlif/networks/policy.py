"""The paper's SAC agent: a spiking Gaussian actor over a window of observations, twin ReLU critics on the last
observation, and the authors' pretrained pre-agent (docs/explanation/authors-code.md#sac-agent).

Actor, for a window ``[B, W, obs]`` of the W most recent observations (oldest first):

1. each observation repeated ``repeat`` times consecutively → T = W·repeat steps (s0,s0,s0,s1,s1,s1,...);
2. one spiking layer (``Linear(obs, hidden·width_factor·k_in)`` → neurons of any model) over the T steps;
3. firing rate: the mean of the spikes over T → features F = hidden·width_factor·k_out;
4. two separate ReLU branches ``Linear(F, H)–ReLU–Linear(H, H)–ReLU–Linear(H, A)`` for the mean μ and the
   log-std (clamped to [−20, 2]), H = hidden·width_factor;
5. tanh-squashed Gaussian: x = μ + σε, y = tanh(x), action = y·scale + bias (scale, bias from the action
   bounds), log π = Σ_dims [log N(x; μ, σ) − log(scale·(1 − y²) + 1e−6)]; deterministic action tanh(μ)·scale + bias.

Every Linear layer (synapse, s-LIF2HH mixer, branches) starts from xavier_uniform(gain 1) weights and zero
biases, as the paper's policy re-initialises them. The critic is two independent ReLU MLPs
``Linear(obs + A, H)–ReLU–Linear(H, H)–ReLU–Linear(H, 1)`` on (last observation, action), same init.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hhlif.errors import ConfigError, require_positive
from hhlif.networks.layers import SpikingLinear

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
EPSILON = 1e-6
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def init_linear(module: nn.Module) -> None:
    """xavier_uniform(gain 1) weights and zero biases for every ``nn.Linear`` inside ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, gain=1.0)
            nn.init.zeros_(m.bias)


class MLP(nn.Sequential):
    """``Linear(features, hidden)–ReLU–Linear(hidden, hidden)–ReLU–Linear(hidden, out)``: each branch of the actor
    and each Q-network.

    The forward applies the three layers' functions itself instead of calling each submodule: at these sizes a
    module call is a good part of a layer's cost, and one SAC update runs ten such passes (about 2% of an update
    measured). Parameters, their names and the ``state_dict`` are those of the equivalent ``nn.Sequential``;
    hooks registered on the inner layers are not called."""

    def __init__(self, features: int, hidden: int, out: int):
        super().__init__(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, _, second, _, last = self._modules.values()
        x = F.relu(F.linear(x, first.weight, first.bias))
        x = F.relu(F.linear(x, second.weight, second.bias))
        return F.linear(x, last.weight, last.bias)


class SquashedGaussian(nn.Module):
    """Sampling of a tanh-squashed Gaussian scaled to the action bounds (the head shared by all actors)."""

    def __init__(self, action_low: Any, action_high: Any):
        super().__init__()
        low, high = np.asarray(action_low, dtype=np.float64), np.asarray(action_high, dtype=np.float64)
        self.scale = ((high - low) / 2).tolist()  # plain numbers: constants of the environment, not state
        self.bias = ((high + low) / 2).tolist()
        self._tensors: dict = {}

    def _constants(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``scale`` and ``bias`` as tensors of ``like``'s dtype and device (made once per kind)."""
        key = (like.dtype, like.device)
        if key not in self._tensors:
            self._tensors[key] = (like.new_tensor(self.scale), like.new_tensor(self.bias))
        return self._tensors[key]

    def sample(self, mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action ``[B, A]`` and its log-probability ``[B, 1]``."""
        scale, bias = self._constants(mean)
        eps = torch.randn_like(mean)
        x = mean + log_std.exp() * eps  # x ~ N(μ, σ), differentiable in μ and σ
        y = torch.tanh(x)
        log_normal = -0.5 * eps.pow(2) - log_std - HALF_LOG_2PI  # log N(x; μ, σ)
        log_prob = log_normal - torch.log(scale * (1 - y.pow(2)) + EPSILON)
        return y * scale + bias, log_prob.sum(-1, keepdim=True)

    def deterministic(self, mean: torch.Tensor) -> torch.Tensor:
        scale, bias = self._constants(mean)
        return torch.tanh(mean) * scale + bias


class SpikingActor(nn.Module):
    """The paper's actor (module docstring): window → spiking layer over W·repeat steps → rate → μ, log σ."""

    #: for the FLOPs count (hhlif.metrics.flops): the Linear layers on the firing rate, used once per decision
    flops_readouts = ("mean.", "log_std.")

    def __init__(self, *, neuron: Mapping[str, Any], obs_size: int, action_size: int, action_low: Any,
                 action_high: Any, hidden: int = 128, width_factor: int = 1, window: int = 5, repeat: int = 3):
        super().__init__()
        for key, value in (("hidden", hidden), ("width_factor", width_factor), ("window", window),
                           ("repeat", repeat)):
            require_positive(f"network.{key}", value, integer=True)
        width = hidden * width_factor
        self.window, self.repeat = window, repeat
        self.layer = SpikingLinear(obs_size, width, neuron)
        self.mean = MLP(self.layer.out_features, width, action_size)
        self.log_std = MLP(self.layer.out_features, width, action_size)
        self.head = SquashedGaussian(action_low, action_high)
        init_linear(self)

    def forward(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``window`` ``[B, W, obs]`` → (μ, clamped log σ), each ``[B, A]``."""
        steps = window.repeat_interleave(self.repeat, dim=1).transpose(0, 1)  # [T, B, obs]
        rate = self.layer.rate(steps)
        return self.mean(rate), self.log_std(rate).clamp(LOG_STD_MIN, LOG_STD_MAX)

    @property
    def time_steps(self) -> int:
        """T of one decision: the W observations of the window, each presented ``repeat`` times."""
        return self.window * self.repeat

    def spike_fanout(self) -> dict[str, int]:
        """Synapses one spike of the spiking layer reaches (the first Linear of both branches), for SynOps."""
        return {"layer": self.mean[0].out_features + self.log_std[0].out_features}

    def dense_macs(self) -> int:
        """Multiply-accumulates per action of the synapse fed by observations (one projection per step)."""
        return self.layer.synapse.in_features * self.layer.synapse.out_features * self.window * self.repeat

    def sample(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action and its log-probability."""
        return self.head.sample(*self(window))

    def act(self, window: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """The action to take: a sample, or tanh(μ) scaled when ``deterministic``."""
        mean, log_std = self(window)
        return self.head.deterministic(mean) if deterministic else self.head.sample(mean, log_std)[0]


class TwinQ(nn.Module):
    """Two independent ReLU Q-networks on (observation, action) (the paper's critic for every actor)."""

    def __init__(self, obs_size: int, action_size: int, hidden: int):
        super().__init__()
        self.q1 = MLP(obs_size + action_size, hidden, 1)
        self.q2 = MLP(obs_size + action_size, hidden, 1)
        init_linear(self)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x), self.q2(x)


def build_actor(network: Mapping[str, Any], neuron: Mapping[str, Any], spec) -> SpikingActor:
    """The actor of ``network`` (the ``policy`` config) of ``neuron`` units, sized for an env ``spec``."""
    from hhlif.networks import build_network

    return build_network(network, neuron, obs_size=spec.obs_size, action_size=spec.action_size,
                         action_low=spec.action_low, action_high=spec.action_high)


def build_critic(network: Mapping[str, Any], spec) -> TwinQ:
    """The twin critic, hidden = ``network.hidden·network.width_factor`` (the 4LIF agent widens it too)."""
    return TwinQ(spec.obs_size, spec.action_size, int(network["hidden"]) * int(network["width_factor"]))


# -- the authors' pretrained pre-agent ---------------------------------------------------------------------------
PRE_HIDDEN = 32
PRE_STEPS = 15
#: The pre-agent's LIF neurons (docs/explanation/authors-code.md#constants, drl_*/models/model_pre.py).
PRE_NEURON = {"name": "lif", "threshold": 0.2, "half_width": 0.4, "decay": 0.2}
#: Its file's policy keys → this module's names.
PRE_KEYS = {"linear1.fc": "layer1.synapse", "linear2.fc": "layer2.synapse", "mean_linear": "mean",
            "log_std_linear": "log_std"}


class PreAgent(nn.Module):
    """The authors' pre-agent actor (``sac_pre.pth``): the raw observation repeated 15×, two LIF layers of 32
    (θ 0.2, half-width 0.4, decay 0.2), firing rate, then ``mean``/``log_std`` Linear(32, A) directly."""

    def __init__(self, obs_size: int, action_size: int, action_low: Any, action_high: Any):
        super().__init__()
        self.layer1 = SpikingLinear(obs_size, PRE_HIDDEN, PRE_NEURON)
        self.layer2 = SpikingLinear(PRE_HIDDEN, PRE_HIDDEN, PRE_NEURON)
        self.mean = nn.Linear(PRE_HIDDEN, action_size)
        self.log_std = nn.Linear(PRE_HIDDEN, action_size)
        self.head = SquashedGaussian(action_low, action_high)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs`` ``[B, obs]`` → (μ, clamped log σ)."""
        rate = self.layer2.rate(self.layer1(obs, PRE_STEPS))
        return self.mean(rate), self.log_std(rate).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        mean, log_std = self(obs)
        return self.head.deterministic(mean) if deterministic else self.head.sample(mean, log_std)[0]


def read_pre_agent(path: str | Path) -> dict[str, torch.Tensor]:
    """The policy weights of a ``sac_pre.pth`` file under this module's names; ConfigError if unusable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"task.pre_agent={str(path)!r}: no such file. It is the authors' sac_pre.pth "
                          "(drl_InvertedPendulum/ or drl_InvertedDoublePendulum/ in github.com/helx-20/complexity).")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        policy = saved["policy_state_dict"]
    except Exception as exc:  # not a torch file, or not this format
        raise ConfigError(f"task.pre_agent={str(path)!r} is not a pre-agent file in the authors' sac_pre.pth "
                          f"format ({type(exc).__name__}: {exc}).") from None
    state = {}
    for old, new in PRE_KEYS.items():
        for kind in ("weight", "bias"):
            key = f"{old}.{kind}"
            if key not in policy:
                raise ConfigError(f"task.pre_agent={str(path)!r} has no {key} in its policy_state_dict; "
                                  f"expected the keys {', '.join(f'{k}.weight/bias' for k in PRE_KEYS)}.")
            state[f"{new}.{kind}"] = policy[key].float()
    return state


def load_pre_agent(path: str | Path, spec) -> PreAgent:
    """The pre-agent of file ``path`` for an env ``spec``; ConfigError naming both sizes on a mismatch."""
    state = read_pre_agent(path)
    obs_size = state["layer1.synapse.weight"].shape[1]
    action_size = state["mean.weight"].shape[0]
    if obs_size != spec.obs_size or action_size != spec.action_size:
        hint = ""
        if spec.task == "inverted_double_pendulum" and spec.version == "v5" and obs_size == 11:
            hint = " The authors' file is for the v4 environment (11 values): add task.env_version=v4."
        raise ConfigError(f"task.pre_agent={str(path)!r} was trained on {obs_size} observation values and "
                          f"{action_size} action(s), but {spec.env_id} has {spec.obs_size} and "
                          f"{spec.action_size}.{hint}")
    agent = PreAgent(obs_size, action_size, spec.action_low, spec.action_high)
    agent.load_state_dict(state)
    agent.requires_grad_(False)
    return agent.eval()
