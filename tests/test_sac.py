"""SAC on the MuJoCo pendulums: the paper's agent sizes, shaped reward, replay windows, the squashed Gaussian,
the authors' pre-agent files, the trainer's state, and end-to-end runs of every actor kind."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from helpers import SHARED, compose_config, run_cli

from hhlif.cli import main
from hhlif.errors import ConfigError
from hhlif.networks import count_parameters
from hhlif.networks.policy import (
    MLP,
    SquashedGaussian,
    build_actor,
    build_critic,
    load_pre_agent,
    read_pre_agent,
)
from hhlif.neurons import HH
from hhlif.tasks.pendulum import ControlTask, check_task, clip_lin, shaped_reward
from hhlif.trainers.replay import ReplayBuffer
from hhlif.trainers.sac import SACTrainer, soft_update

AUTHORS = SHARED / "data" / "authors"
PRE_PENDULUM = AUTHORS / "sac_pre_inverted_pendulum.pth"
PRE_DOUBLE = AUTHORS / "sac_pre_inverted_double_pendulum.pth"
needs_authors = pytest.mark.skipif(not PRE_PENDULUM.is_file() or not PRE_DOUBLE.is_file(),
                                   reason=f"the authors' sac_pre files are not in {AUTHORS}")

KINDS = {"LIF": ["neuron=lif"], "HH": ["neuron=hh"], "LIF_HH": ["neuron=lif_hh"], "ANN": ["neuron=binary"],
         "4LIF": ["neuron=lif", "network.width_factor=4"]}
TASKS = ("inverted_pendulum", "inverted_double_pendulum")


def agent(overrides):
    cfg = compose_config(overrides)
    spec = check_task(cfg.task)
    return cfg, spec, build_actor(cfg.network, cfg.neuron, spec), build_critic(cfg.network, spec)


# -- sizes ----------------------------------------------------------------------------------------------------
# docs/explanation/authors-code.md#sac-agent, derived: (actor trainable, critic). HH's frozen values: 6 rates per
# neuron (the paper's 768) + the per-neuron dt, which hhlif keeps in a buffer (the paper's code does not save it).
PENDULUM_COUNTS = {"LIF": (66_946, 0, 34_818), "HH": (66_946, 768 + 128, 34_818), "LIF_HH": (166_534, 0, 34_818),
                   "ANN": (66_946, 0, 34_818), "4LIF": (1_054_210, 0, 532_482)}
# Double pendulum (v4, 11 observations): the paper's counts minus its unused second neuron layer (§7 bug 11):
# LIF/HH 84,354 − 16,512; LIF_HH 366,218 − 196,996; 4LIF 1,320,450 − 262,656; ANN 67,842 (no second layer).
DOUBLE_V4_COUNTS = {"LIF": (67_842, 0, 36_610), "HH": (67_842, 768 + 128, 36_610), "LIF_HH": (169_222, 0, 36_610),
                    "ANN": (67_842, 0, 36_610), "4LIF": (1_057_794, 0, 539_650)}


@pytest.mark.parametrize("kind", KINDS)
def test_parameter_counts_match_the_paper(kind):
    _, _, actor, critic = agent([*KINDS[kind], "task=inverted_pendulum"])
    trainable, frozen, critic_count = PENDULUM_COUNTS[kind]
    assert count_parameters(actor) == (trainable, frozen)
    assert count_parameters(critic) == (critic_count, 0)
    _, _, actor, critic = agent([*KINDS[kind], "task=inverted_double_pendulum", "task.env_version=v4"])
    trainable, frozen, critic_count = DOUBLE_V4_COUNTS[kind]
    assert count_parameters(actor) == (trainable, frozen)
    assert count_parameters(critic) == (critic_count, 0)


def test_actor_shapes_init_and_window_repetition():
    _, spec, actor, critic = agent(["neuron=lif_hh", "task=inverted_pendulum"])
    for m in actor.modules():  # every Linear, the s-LIF2HH mixer included: xavier weights, zero biases
        if isinstance(m, torch.nn.Linear):
            assert torch.all(m.bias == 0)
            bound = math.sqrt(6 / (m.in_features + m.out_features))
            assert m.weight.abs().max() <= bound
    assert isinstance(actor.layer.neuron.mixer, torch.nn.Linear) and torch.all(actor.layer.neuron.mixer.bias == 0)
    window = torch.randn(7, 5, spec.obs_size)
    seen = []
    actor.layer.synapse.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    mean, log_std = actor(window)
    assert mean.shape == log_std.shape == (7, 1)
    steps = seen[0].reshape(15, 7, -1)  # the synapse's input, [T·B, obs] of [T, B, obs]: s0,s0,s0,s1,s1,s1,...
    assert steps.shape == (15, 7, spec.obs_size)
    assert torch.equal(steps[0], window[:, 0]) and torch.equal(steps[2], window[:, 0])
    assert torch.equal(steps[3], window[:, 1]) and torch.equal(steps[14], window[:, 4])
    q1, q2 = critic(window[:, -1], torch.zeros(7, 1))
    assert q1.shape == q2.shape == (7, 1)


def test_paper_constants_per_neuron_and_environment():
    hh = compose_config(["neuron=hh", "task=inverted_pendulum"]).neuron
    assert (hh.threshold, hh.rate_scale, hh.dt, hh.dt_spread, hh.half_width) == (2.0, 0.1, 0.2, True, 0.4)
    hh2 = compose_config(["neuron=hh", "task=inverted_double_pendulum"]).neuron
    assert (hh2.threshold, hh2.rate_scale, hh2.dt_spread) == (2.3, 0.01, True)
    lif_hh = compose_config(["neuron=lif_hh", "task=inverted_pendulum"]).neuron
    assert (lif_hh.threshold, lif_hh.decay, lif_hh.half_width, lif_hh.mixer_abs_init) == (0.8, 0.2, 0.4, False)
    lif = compose_config(["neuron=lif", "task=inverted_pendulum"]).neuron
    assert (lif.threshold, lif.decay, lif.half_width) == (0.2, 0.2, 0.4)
    cfg = compose_config(["neuron=hh", "task=inverted_double_pendulum", "neuron.threshold=1.5"])
    assert cfg.neuron.threshold == 1.5 and cfg.trainer.name == "sac" and cfg.network.name == "policy"
    assert cfg.trainer.total_steps == 301_100
    assert compose_config(["task=inverted_pendulum"]).trainer.total_steps == 101_100
    assert compose_config(["neuron=hh"]).neuron.dt_spread is False  # classification is unchanged


def test_hh_dt_spread_draws_one_saved_step_per_neuron():
    torch.manual_seed(0)
    hh = HH((64,), dt=0.2, rate_scale=0.1, threshold=2.0, dt_spread=True)
    assert "dt_values" in hh.state_dict() and hh.dt_values.shape == (64,)
    assert 0 <= float(hh.dt_values.min()) and float(hh.dt_values.max()) < 0.2
    assert hh.dt_values.std() > 0.03  # really spread
    current = torch.randn(1, 3, 64)
    _, (v, *_) = hh.step(current[0], hh.initial_state(3, torch.device("cpu"), torch.float32))
    # from v = 0 and zero gating: v' = dt·(I + g_L·E_L), with each neuron's own dt
    assert torch.allclose(v, hh.dt_values * (current[0] + 0.3 * 10.6), atol=1e-6)


# -- reward -----------------------------------------------------------------------------------------------------
def test_clip_lin_and_shaped_rewards_on_hand_made_observations():
    assert clip_lin(0.0, 1.0) == 5.0 and clip_lin(-0.5, 1.0) == 0.0 and clip_lin(1.2, 1.0) == -5.0
    obs = np.array([0.5, 0.1, 0.2, -0.3])  # x, θ, ẋ, θ̇
    corrected = 0.0 + (5 - 10 * 0.1 / 0.418)
    original = 0.0 + (5 - 10 * 0.2 / 0.418)  # reads ẋ = obs[2] where θ was meant
    assert shaped_reward("inverted_pendulum", obs, False) == pytest.approx(corrected)
    assert shaped_reward("inverted_pendulum", obs, False, original=True) == pytest.approx(original)
    assert shaped_reward("inverted_pendulum", obs, True) == pytest.approx(corrected - 10)
    assert shaped_reward("inverted_pendulum", np.array([0.0, 0.0, 0.5, 0.0]), False, original=True) == 0.0

    double = np.array([1.0, 0.0, 0.05, 1, 1, 0, 0, 0, 0])  # x, sin θ1, sin θ2, ...
    for original in (False, True):
        assert shaped_reward("inverted_double_pendulum", double, False, original) == pytest.approx(0 + 5 + 0)
        assert shaped_reward("inverted_double_pendulum", double, True, original) == pytest.approx(5 - 10)
    assert shaped_reward("inverted_double_pendulum", np.array([3.0, 0.5, -0.2]), False) == -15.0


def test_control_task_noise_and_masks():
    task = ControlTask("inverted_double_pendulum", "v5", reward="shaped", state_noise=0.002, reward_noise=0.1,
                       seed=3)
    obs = task.reset()
    assert obs.shape == (9,) and task.spec.threshold == 9100 and task.spec.max_episode_steps == 1000
    step = task.step(np.zeros(1))
    clean_obs = task.env.unwrapped._get_obs()
    assert 0 < np.abs(step.obs - clean_obs).max() < 0.02  # state noise σ 0.002
    assert step.clean_reward == pytest.approx(shaped_reward("inverted_double_pendulum", clean_obs, step.done))
    assert step.reward != step.clean_reward  # the stored reward is recomputed from a noisier observation
    quiet = task.step(np.zeros(1), perturb=False)  # the pre-agent's steps are not perturbed
    assert np.array_equal(quiet.obs, task.env.unwrapped._get_obs()) and quiet.reward == quiet.clean_reward
    task.close()

    env = ControlTask("inverted_pendulum", "v5", seed=0)
    env.reset()
    for _ in range(200):  # a constant push makes the pole fall: terminated, not truncated
        step = env.step(np.array([3.0]))
        if step.done:
            break
    assert step.terminated and not step.truncated and step.env_reward == 0.0
    env.close()


# -- replay windows ---------------------------------------------------------------------------------------------
def fill(buffer, episodes):
    for episode in episodes:
        buffer.start_episode()
        for o in episode:
            buffer.push([o], [o / 100], o / 10, [o + 1], 0.0 if o == episode[-1] else 1.0)


def test_windows_are_padded_with_the_episode_start():
    b = ReplayBuffer(100, 1, 1, 3)
    fill(b, [[10, 11, 12, 13], [20, 21]])
    obs, action, reward, next_obs, mask = b.windows(torch.arange(6))
    assert obs.squeeze(-1).tolist() == [[10, 10, 10], [10, 10, 11], [10, 11, 12], [11, 12, 13], [20, 20, 20],
                                        [20, 20, 21]]
    assert next_obs.squeeze(-1).tolist() == [[10, 10, 11], [10, 11, 12], [11, 12, 13], [12, 13, 14],
                                             [20, 20, 21], [20, 21, 22]]
    assert action.squeeze(-1).tolist() == pytest.approx([0.10, 0.11, 0.12, 0.13, 0.20, 0.21])
    assert reward.squeeze(-1).tolist() == pytest.approx([1.0, 1.1, 1.2, 1.3, 2.0, 2.1])
    assert mask.squeeze(-1).tolist() == [1, 1, 1, 0, 1, 0]


def test_skipped_positions_are_context_but_never_window_ends():
    b = ReplayBuffer(100, 1, 1, 3, skip=2, seed=0)  # a pre-agent drove the first steps: first window ends at t=2
    fill(b, [[10, 11, 12, 13], [20, 21], [30, 31, 32]])
    assert b.eligible == 3 and not b.ready(3) and b.ready(2)
    ends = b.sample(200)[0][:, -1, 0]
    assert set(ends.tolist()) == {12.0, 13.0, 32.0}
    first = b.sample(200)[0]
    assert not torch.any(first[:, 0, 0] == 20)


def test_ring_buffer_wraps_and_never_reads_overwritten_slots():
    b = ReplayBuffer(5, 1, 1, 3, seed=1)
    fill(b, [[10, 11, 12, 13], [20, 21, 22]])  # 7 pushes into 5 slots: 10, 11 are gone
    assert len(b) == 5 and b.total == 7
    obs, *_ = b.windows(torch.tensor([4, 5, 6]))
    assert obs.squeeze(-1).tolist() == [[20, 20, 20], [20, 20, 21], [20, 21, 22]]
    windows = b.sample(300)[0].squeeze(-1)
    # transition 12 (window 10, 11, 12) and 13 (11, 12, 13) would read overwritten slots
    assert {tuple(w) for w in windows.tolist()} == {(20, 20, 20), (20, 20, 21), (20, 21, 22)}


def test_buffer_state_round_trip():
    b = ReplayBuffer(50, 2, 1, 5, seed=4)
    for t in range(30):
        if t % 7 == 0:
            b.start_episode()
        b.push([t, -t], [0.5], 1.0, [t + 1, -t - 1], 1.0)
    state = b.state_dict()
    assert state["obs"].shape == (30, 2)
    c = ReplayBuffer(50, 2, 1, 5, seed=99)
    c.load_state_dict(state)
    for x, y in zip(b.sample(16), c.sample(16), strict=True):
        assert torch.equal(x, y)


# -- the squashed Gaussian and the soft update -------------------------------------------------------------------
def test_tanh_gaussian_log_prob_matches_a_direct_computation():
    head = SquashedGaussian([-3.0, -1.0], [3.0, 2.0])
    mean = torch.randn(6, 2, dtype=torch.float64)
    log_std = torch.randn(6, 2, dtype=torch.float64).clamp(-2, 1)
    torch.manual_seed(5)
    action, log_prob = head.sample(mean, log_std)
    torch.manual_seed(5)
    x = mean + log_std.exp() * torch.randn_like(mean)
    scale, bias = torch.tensor([3.0, 1.5], dtype=torch.float64), torch.tensor([0.0, 0.5], dtype=torch.float64)
    y = torch.tanh(x)
    direct = torch.distributions.Normal(mean, log_std.exp()).log_prob(x) - torch.log(scale * (1 - y**2) + 1e-6)
    assert torch.allclose(action, y * scale + bias)
    assert torch.allclose(log_prob, direct.sum(-1, keepdim=True))
    assert torch.allclose(head.deterministic(mean), torch.tanh(mean) * scale + bias)
    low, high = torch.tensor([-3.0, -1.0]), torch.tensor([3.0, 2.0])
    assert torch.all(action >= low) and torch.all(action <= high)


def test_mlp_is_its_sequential_in_values_gradients_and_state_dict_keys():
    torch.manual_seed(3)
    mlp = MLP(5, 8, 2)
    plain = torch.nn.Sequential(*mlp)  # the same layer objects, called one by one
    assert list(mlp.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    x = torch.randn(7, 5)
    out = mlp(x)
    assert torch.equal(out, plain(x))
    (grad_mlp,) = torch.autograd.grad(out.square().sum(), mlp[2].weight)
    (grad_plain,) = torch.autograd.grad(plain(x).square().sum(), plain[2].weight)
    assert torch.equal(grad_mlp, grad_plain) and grad_mlp.abs().sum() > 0


def test_soft_update_on_known_tensors():
    target, source = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        target.weight.fill_(1.0), target.bias.fill_(-2.0)
        source.weight.fill_(3.0), source.bias.fill_(2.0)
    soft_update(target, source, 0.005)
    assert torch.allclose(target.weight, torch.full((1, 2), 0.995 * 1 + 0.005 * 3))
    assert torch.allclose(target.bias, torch.tensor([0.995 * -2 + 0.005 * 2]))


# -- the authors' pre-agent ----------------------------------------------------------------------------------------
def lif_reference(current, steps, threshold=0.2, decay=0.2):
    """LIF over ``steps`` steps (docs/explanation/authors-code.md#lif) without hhlif: a list of spike tensors."""
    u = s = torch.zeros_like(current[0])
    out = []
    for t in range(steps):
        u = decay * u * (1 - s) + current[t]
        s = (u > threshold).float()
        out.append(s)
    return out


@needs_authors
def test_pre_agent_files_load_and_match_a_direct_lif_forward():
    cfg = compose_config(["task=inverted_pendulum"])
    spec = check_task(cfg.task)
    pre = load_pre_agent(PRE_PENDULUM, spec)
    saved = torch.load(PRE_PENDULUM, weights_only=True)["policy_state_dict"]
    assert torch.equal(pre.layer1.synapse.weight, saved["linear1.fc.weight"])
    assert torch.equal(pre.log_std.bias, saved["log_std_linear.bias"])
    obs = torch.tensor([[0.01, -0.02, 0.03, 0.05], [0.1, 0.05, -0.2, 0.3]])
    i1 = obs @ saved["linear1.fc.weight"].T + saved["linear1.fc.bias"]
    s1 = lif_reference(i1.expand(15, *i1.shape), 15)
    i2 = [s @ saved["linear2.fc.weight"].T + saved["linear2.fc.bias"] for s in s1]
    rate = torch.stack(lif_reference(i2, 15)).mean(0)
    mean, log_std = pre(obs)
    assert torch.allclose(mean, rate @ saved["mean_linear.weight"].T + saved["mean_linear.bias"], atol=1e-6)
    assert torch.allclose(log_std, (rate @ saved["log_std_linear.weight"].T + saved["log_std_linear.bias"])
                          .clamp(-20, 2), atol=1e-6)
    action = pre.act(obs)
    assert action.shape == (2, 1) and torch.all(action.abs() <= 3)
    assert not any(p.requires_grad for p in pre.parameters())

    v4 = check_task(compose_config(["task=inverted_double_pendulum", "task.env_version=v4"]).task)
    assert load_pre_agent(PRE_DOUBLE, v4).layer1.synapse.weight.shape == (32, 11)


@needs_authors
def test_the_authors_pre_agent_balances_the_pendulum_on_its_own():
    # a full check of the loader and of hhlif's LIF against the authors' weights: their pre-agent is a trained
    # policy (it holds InvertedPendulum-v4 for all 1,000 steps; the double-pendulum file scores ~9,358 on v4)
    task = ControlTask("inverted_pendulum", "v4", seed=0)
    pre = load_pre_agent(PRE_PENDULUM, task.spec)
    obs, total, done = task.reset(seed=100), 0.0, False
    with torch.no_grad():
        while not done:
            step = task.step(pre.act(torch.tensor(obs, dtype=torch.float32)[None], deterministic=True)[0].numpy())
            obs, total, done = step.obs, total + step.env_reward, step.done
    task.close()
    assert total == 1000.0


@needs_authors
def test_pre_agent_observation_mismatch_names_both_sizes():
    v5 = check_task(compose_config(["task=inverted_double_pendulum"]).task)
    with pytest.raises(ConfigError, match=r"11 observation values .* InvertedDoublePendulum-v5 has 9"):
        load_pre_agent(PRE_DOUBLE, v5)
    pendulum = check_task(compose_config(["task=inverted_pendulum"]).task)
    with pytest.raises(ConfigError, match="11 observation values"):
        load_pre_agent(PRE_DOUBLE, pendulum)
    assert set(read_pre_agent(PRE_PENDULUM)) == {f"{k}.{p}" for k in ("layer1.synapse", "layer2.synapse", "mean",
                                                                    "log_std") for p in ("weight", "bias")}


def test_pre_agent_file_that_is_not_one(tmp_path):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="not a pre-agent file"):
        read_pre_agent(bad)
    with pytest.raises(ConfigError, match="no such file"):
        read_pre_agent(tmp_path / "missing.pth")


# -- the trainer -------------------------------------------------------------------------------------------------
TINY = ["trainer.total_steps=300", "trainer.start_steps=100", "trainer.batch_size=32", "trainer.eval_every=150",
        "trainer.eval_episodes=1", "trainer.log_every=50", "trainer.progress=never"]


def snapshot(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("pre_agent", [False, pytest.param(True, marks=needs_authors)])
def test_trainer_state_dict_continues_exactly(tmp_path, pre_agent):
    overrides = ["neuron=binary", "task=inverted_pendulum", *TINY, "trainer.batch_size=16", "trainer.start_steps=40",
                 "network.hidden=16"]
    if pre_agent:
        overrides.append(f"task.pre_agent={PRE_PENDULUM}")
    cfg = compose_config(overrides)

    def advance(trainer, n):
        for _ in range(n):
            trainer.env_step()
            if trainer.buffer.ready(cfg.trainer.batch_size):
                trainer.update()

    first = SACTrainer(cfg, tmp_path)
    advance(first, 120)
    saved = snapshot(first.state_dict())
    assert {"actor", "critic", "critic_target", "actor_optimizer", "critic_optimizer", "log_alpha", "buffer",
            "task", "random_actions", "episode", "counters", "rng", "config"} <= set(saved)
    advance(first, 60)

    second = SACTrainer(cfg, tmp_path)
    second.load_state_dict(saved, tmp_path / "saved.pt")
    advance(second, 60)
    assert (second.steps, second.env_steps, second.updates, second.episodes) == (
        first.steps, first.env_steps, first.updates, first.episodes)
    assert first.env_steps > first.steps if pre_agent else first.env_steps == first.steps
    for a, b in zip(first.actor.parameters(), second.actor.parameters(), strict=True):
        assert torch.equal(a, b)
    assert np.array_equal(first.obs, second.obs)


def run_dir_of(root):
    (run,) = [p.parent for p in root.glob("outputs/train/*/*/.hydra")]
    return run


def check_run(run, threshold, reward="env", steps=300):
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("eval/return_mean", "eval/return_std", "eval/length_mean", "spikes/layer/rate_mean",
                "spikes/layer/silent_frac", "spikes/layer/acting_rate_mean"):
        assert key in metrics and metrics[key] >= 0, key
    assert metrics["steps"] == steps and metrics["episodes"] > 0 and metrics["updates"] > 0
    assert metrics["best"]["eval/return_mean"] >= metrics["eval/return_mean"] - 1e-9
    assert metrics["solved_threshold"] == threshold and "steps_to_solve" in metrics
    assert metrics["meta"]["env.version"] == "v5" and metrics["meta"]["task.reward"] == reward
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert state["counters"]["steps"] == steps and state["buffer"]["total"] == metrics["env_steps"]
    assert (run / "checkpoints" / "best.pt").is_file()
    return metrics


def test_cli_runs_the_ann_actor_and_logs_everything(tmp_path):
    out = run_cli(["train", "neuron=binary", "task=inverted_pendulum", *TINY, "trainer.total_steps=200",
                   "trainer.start_steps=60", "trainer.eval_every=100"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run = run_dir_of(tmp_path)
    assert run.parent.name == "ANN_policy-inverted_pendulum"
    metrics = check_run(run, 950.0, steps=200)
    assert metrics["params/trainable"] == 66_946 and metrics["params/critic"] == 34_818

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/episode_return", "train/episode_length", "eval/return_mean", "eval/return_std",
            "eval/length_mean", "eval/best_return_mean", "train/loss_critic", "train/loss_actor", "train/alpha",
            "train/q_mean", "train/entropy", "cost/updates_per_s", "cost/synops_per_action",
            "cost/energy_nj_per_action", "cost/peak_memory_mb", "spikes/layer/rate_mean", "spikes/layer/silent_frac",
            "spikes/layer/saturated_frac", "spikes/layer/acting_rate_mean", "train/reward_mean"} <= scalars
    assert "train/loss_alpha" not in scalars  # α is fixed by default
    assert not {t for t in scalars if t.startswith(("cost/flops", "params/", "best/"))}  # HParams, not charts
    assert [e.step for e in events.Scalars("eval/return_mean")] == [100, 200]
    assert {"spikes/layer/rates", "spikes/layer/acting_rates"} <= set(events.Tags()["histograms"])
    # the actor's raster and rate per step at each evaluation (the binary actor has no voltage to trace)
    images = events.Tags()["images"]
    assert {"spikes/layer/raster", "spikes/layer/rate_per_step"} <= set(images)
    assert [e.step for e in events.Images("spikes/layer/raster")] == [100, 200]


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_actor_kind_runs_on_both_environments(tmp_path, kind, task):
    extra = ["trainer.auto_entropy=true", "task.reward=shaped", "task.state_noise=0.002",
             "task.reward_noise=0.1"] if kind == "LIF_HH" else []
    out = run_cli(["train", *KINDS[kind], f"task={task}", *TINY, *extra], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    check_run(run_dir_of(tmp_path), 950.0 if task == "inverted_pendulum" else 9100.0, "shaped" if extra else "env")


@pytest.mark.slow
@needs_authors
def test_cli_with_the_authors_pre_agent_on_v4(tmp_path):
    out = run_cli(["train", "neuron=hh", "task=inverted_double_pendulum", "task.env_version=v4",
                   f"task.pre_agent={PRE_DOUBLE}", "task.reward=shaped_original", *TINY], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    metrics = json.loads((run_dir_of(tmp_path) / "metrics.json").read_text())
    assert metrics["env_steps"] > metrics["steps"] == 300  # the pre-agent's steps are not counted
    assert metrics["meta"]["env.obs_size"] == 11


@pytest.mark.slow
def test_resume_from_the_last_evaluation_ends_like_an_uninterrupted_run(tmp_path):
    args = ["train", "neuron=hh", "task=inverted_pendulum", *TINY, "network.hidden=32"]
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    assert run_cli([*args, f"hydra.run.dir={straight}"], cwd=tmp_path).returncode == 0
    first = run_cli([*args, "trainer.total_steps=150", f"hydra.run.dir={parts}"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = run_cli([*args, "resume=true", f"hydra.run.dir={parts}"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "continuing at step 150 of 300" in out.stdout + out.stderr
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (straight, parts))
    for key in ("cost/total_s", "cost/peak_memory_mb"):
        a.pop(key, None), b.pop(key, None)
    assert a == b


# -- bad input ---------------------------------------------------------------------------------------------------
BAD = [
    (["task.env_version=v3"], "task.env_version='v3' is not a known choice. Valid choices: v4, v5"),
    (["trainer.total_steps=-5"], "trainer.total_steps=-5 is not allowed: expected a positive integer"),
    (["trainer.batch_size=0"], "trainer.batch_size=0 is not allowed"),
    (["trainer.start_steps=-1"], "trainer.start_steps=-1"),
    (["trainer.gamma=1.5"], "trainer.gamma=1.5"),
    (["task.reward=sparse"], "task.reward='sparse' is not a known choice. Valid choices: env, shaped, "
                             "shaped_original"),
    (["task.reward_noise=0.1"], "needs task.reward=shaped"),
    (["task.state_noise=-1"], "task.state_noise=-1"),
    (["network=fc"], "needs network=policy"),
    (["network.window=0"], "network.window=0"),
    (["task.pre_agent=/nonexistent/sac_pre.pth"], "no such file"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "task=inverted_pendulum", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "outputs").exists()


@needs_authors
def test_pre_agent_mismatch_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "task=inverted_double_pendulum", f"task.pre_agent={PRE_DOUBLE}"]) == 2
    err = capsys.readouterr().err
    assert "11 observation values" in err and "InvertedDoublePendulum-v5 has 9" in err and "Traceback" not in err
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
@needs_authors
def test_pre_agent_mismatch_exits_2_in_a_subprocess(tmp_path):
    out = run_cli(["train", "task=inverted_double_pendulum", f"task.pre_agent={PRE_DOUBLE}"], cwd=tmp_path)
    assert out.returncode == 2
    assert "11 observation values" in out.stderr and "has 9" in out.stderr and "env_version=v4" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("missing,message", [
    ("mujoco", "needs MuJoCo"), pytest.param("gymnasium", "needs gymnasium", marks=pytest.mark.slow)])
def test_missing_mujoco_or_gymnasium_exits_2_with_what_to_install(tmp_path, missing, message):
    import subprocess
    import sys

    code = (f"import sys; sys.modules[{missing!r}] = None\n"  # as if not installed
            "from hhlif.cli import main\nsys.exit(main(['train', 'task=inverted_pendulum']))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert message in out.stderr and "pip install 'gymnasium[mujoco]>=1.0'" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "outputs").exists()
