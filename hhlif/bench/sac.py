"""The SAC row of ``hhlif bench``: updates per second of :class:`~hhlif.trainers.sac.SACTrainer` against the
reference-style agent of :mod:`hhlif.bench.sac_reference`, from the same networks and the same transitions.

1. A trainer is built from the config (its environment included) and steps the environment with random actions
   for ``fill`` steps; every transition it stores is pushed to the reference agent's list memory too, through the
   authors' per-episode window lists.
2. **Same results**: from the same weights, ``check_updates`` updates of each, on the same sampled windows (the
   trainer's draws, read as it samples them) and the same random numbers (the global generator re-seeded before
   each update of either); the largest parameter difference of actor, critic and target critic is reported.
3. **Speed**: ``steps`` updates of each after ``warmup``, in turns of ``block`` consecutive updates (trainer ×
   block, reference × block, ...; consecutive as a training loop runs them, not each in the caches the other
   agent left), each drawing its own batches; the medians give updates per second and their ratio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from hhlif.bench.measure import interleaved_times, median_ms
from hhlif.bench.sac_reference import ReferenceSAC


def _copy_last_transition(trainer, reference: ReferenceSAC) -> None:
    """Push the trainer's newest stored transition to the reference agent (a new episode starts it anew)."""
    buf = trainer.buffer
    index = buf.total - 1
    slot = index % buf.capacity
    if int(buf.start[slot]) == index:
        reference.episodes.start_episode()
    reference.episodes.push(buf.obs[slot].cpu().numpy(), buf.action[slot].cpu().numpy(), float(buf.reward[slot]),
                            buf.next_obs[slot].cpu().numpy().astype("float64"), float(buf.mask[slot]))


def _max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(float((p - q).detach().abs().max()) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def bench_sac(cfg: DictConfig, run_dir: Path, *, fill: int, warmup: int, steps: int, check_updates: int,
              seed: int, block: int = 1) -> dict[str, Any]:
    """Measurements of the SAC update (see the module docstring); ``cfg`` is a composed ``train`` config."""
    from hhlif.trainers.sac import SACTrainer

    t = cfg.trainer
    trainer = SACTrainer(cfg, run_dir)
    device = trainer.device
    reference = ReferenceSAC(trainer.actor, trainer.critic, trainer.critic_target, lr=t.lr, gamma=t.gamma,
                             tau=t.tau, alpha=t.alpha, capacity=t.replay_size, window=trainer.window, seed=seed)
    try:
        for _ in range(fill):
            trainer.env_step()
            _copy_last_transition(trainer, reference)
    finally:
        trainer.task.close()
        trainer.eval_task.close()
    batch = int(t.batch_size)

    # same results: the trainer's draws, the same global random numbers for both
    drawn: list[torch.Tensor] = []
    windows = trainer.buffer.windows

    def recording(index: torch.Tensor):
        drawn.append(index.clone())
        return windows(index)

    trainer.buffer.windows = recording
    try:
        for i in range(check_updates):
            torch.manual_seed(seed + i)
            trainer.update()
            torch.manual_seed(seed + i)
            reference.update(batch, indices=(drawn[-1] % trainer.buffer.capacity).tolist())
    finally:
        del trainer.buffer.windows  # back to the class's method
    diffs = {"actor": _max_difference(trainer.actor, reference.actor.actor),
             "critic": _max_difference(trainer.critic, reference.critic),
             "critic_target": _max_difference(trainer.critic_target, reference.critic_target)}

    times = interleaved_times({"fast": trainer.update, "reference": lambda: reference.update(batch)}, warmup,
                              steps, device, block=block)
    fast_ms, ref_ms = median_ms(times["fast"]), median_ms(times["reference"])
    tolerance = 1e-5
    return {
        "key": f"SAC_{cfg.neuron.name}", "task": cfg.task.name, "neuron": cfg.neuron.name, "batch": batch,
        "time_steps": int(cfg.network.window) * int(cfg.network.repeat), "hidden": int(cfg.network.hidden),
        "replay_filled": fill, "block": block, "check_finite": bool(t.check_finite),
        "fast_ms": fast_ms, "reference_ms": ref_ms, "fast_updates_per_s": 1000.0 / fast_ms,
        "reference_updates_per_s": 1000.0 / ref_ms, "ratio": ref_ms / fast_ms,
        "fast_all_ms": [1000 * x for x in times["fast"]], "reference_all_ms": [1000 * x for x in times["reference"]],
        "check": {"updates": check_updates, "max_param_diff": diffs, "tolerance": tolerance,
                  "match": max(diffs.values()) <= tolerance},
    }
