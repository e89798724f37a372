"""``hhlif bench``'s parts: the reference-style SAC agent, the spike pooling of the fast path, the device checks and
the peer comparison (the CLI itself: tests/test_fast.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import compose_config

from hhlif.bench.sac import _copy_last_transition, bench_sac
from hhlif.bench.sac_reference import ReferenceSAC
from hhlif.errors import ConfigError
from hhlif.kernels.pool import avg_pool_2x2

SMALL_SAC = ["task=inverted_pendulum", "network.hidden=8", "trainer.batch_size=8", "trainer.start_steps=1000"]


def _trainer(tmp_path, neuron: str):
    from hhlif.trainers.sac import SACTrainer

    cfg = compose_config([*SMALL_SAC, f"neuron={neuron}"])
    trainer = SACTrainer(cfg, tmp_path)
    t = cfg.trainer
    reference = ReferenceSAC(trainer.actor, trainer.critic, trainer.critic_target, lr=t.lr, gamma=t.gamma,
                             tau=t.tau, alpha=t.alpha, capacity=t.replay_size, window=trainer.window)
    return cfg, trainer, reference


def test_reference_memory_holds_the_windows_of_the_trainers_memory(tmp_path):
    _, trainer, reference = _trainer(tmp_path, "hh")
    for _ in range(120):  # several episodes of random actions: windows padded at each episode's start
        trainer.env_step()
        _copy_last_transition(trainer, reference)
    assert trainer.episodes >= 2 and len(reference.memory) == trainer.buffer.total
    index = torch.arange(trainer.buffer.total)
    obs, action, reward, next_obs, mask = trainer.buffer.windows(index)
    state, actions, rewards, next_state, masks = reference.memory.sample(0, index.tolist())
    assert torch.equal(torch.FloatTensor(state), obs) and torch.equal(torch.FloatTensor(next_state), next_obs)
    assert torch.equal(torch.FloatTensor(actions[:, -1]), action)
    assert torch.equal(torch.FloatTensor(rewards[:, 0, -1]), reward)
    assert torch.equal(torch.FloatTensor(masks[:, 0, -1]), mask)
    trainer.task.close()
    trainer.eval_task.close()


@pytest.mark.parametrize("neuron", ["hh", "lif_hh"])
def test_reference_sac_agent_gives_the_trainers_results(tmp_path, neuron):
    cfg = compose_config([*SMALL_SAC, f"neuron={neuron}"])
    result = bench_sac(cfg, tmp_path, fill=60, warmup=1, steps=2, check_updates=4, seed=1)
    check = result["check"]
    assert check["match"], check
    assert result["fast_updates_per_s"] > 0 and result["reference_updates_per_s"] > 0


def test_reference_sac_agent_trains_from_its_own_draws(tmp_path):
    _, trainer, reference = _trainer(tmp_path, "hh")
    for _ in range(40):
        trainer.env_step()
        _copy_last_transition(trainer, reference)
    before = [p.detach().clone() for p in reference.actor.parameters()]
    losses = reference.update(8)
    assert len(losses) == 5 and all(isinstance(v, float) for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, reference.actor.parameters(), strict=True))
    trainer.task.close()
    trainer.eval_task.close()


@pytest.mark.parametrize("k", [1, 4])
def test_spike_pooling_is_avg_pool2d_bit_for_bit(k):
    torch.manual_seed(0)
    shape = (3, 2, 5, 8, 6) + ((k,) if k > 1 else ())
    spikes = (torch.rand(shape) > 0.6).float()
    a, b = spikes.clone().requires_grad_(), spikes.clone().requires_grad_()
    maps = a.movedim(-1, -4) if k > 1 else a
    expected = F.avg_pool2d(maps.reshape(-1, *maps.shape[-3:]), 2).reshape(*maps.shape[:-2], 4, 3)
    if k > 1:
        expected = expected.movedim(-4, -1)
    pooled = avg_pool_2x2(b, k)
    assert pooled.shape == expected.shape and torch.equal(pooled, expected)
    weights = torch.randn(expected.shape)
    (expected * weights).sum().backward()
    (pooled * weights).sum().backward()
    assert torch.equal(a.grad, b.grad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_bench_refuses_cuda_without_a_gpu():
    from hhlif.commands import bench

    with pytest.raises(ConfigError, match="no CUDA device"):
        bench.validate(compose_config(["device=cuda"], config_name="bench"))


@pytest.mark.parametrize("override,match", [
    ("bench.sac.fill=0", "bench.sac.fill"),
    ("bench.sac.target=-1", "bench.sac.target"),
    ('bench.sac.overrides=["neuron=hh"]', "do not select a SAC run"),
    ("bench.sac.fill=10", "bench.sac.fill"),  # not more than one batch
])
def test_bench_rejects_bad_sac_options(override, match):
    from hhlif.commands import bench

    with pytest.raises(ConfigError, match=match):
        bench.validate(compose_config(["bench.only=[ANN]", override], config_name="bench"))


def test_peer_comparison_has_the_same_spikes_and_gradients():
    pytest.importorskip("snntorch")
    from hhlif.bench.peer import compare_leaky

    result = compare_leaky(batch=4, steps=6, units=16, warmup=1, repeats=2, device=torch.device("cpu"))
    assert result["spikes_match"] and result["grad_max_abs_diff"] < 1e-5 and result["ratio"] > 0
