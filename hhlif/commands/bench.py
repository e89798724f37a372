"""``hhlif bench``: the fast path against the reference formulation of the authors' code, side by side.

For every model of ``bench.models`` (each composed like ``hhlif train <overrides>``): the fast model as
training runs it (static input projected once, neuron windows fused) and the reference formulation
(:mod:`hhlif.bench.reference`: the input projected again at every step, eager per-step neuron arithmetic) are
built from the same weights; their spikes and logits are compared on one batch; a training step (forward +
backward + Adam) and an evaluation forward of each are timed in turn (fast, reference, fast, ...) for
``bench.steps`` steps after ``bench.warmup``, and the medians and their ratio reported, with the peak memory of
one step of each. The fast model runs with the trainer's finiteness guard (``trainer.check_finite``) as training
runs it; the reference, like the authors' code, has none. Then one training epoch of ``bench.epoch_model`` with
each formulation (batches interleaved, the cold first step included); the SAC update of ``bench.sac``
(:mod:`hhlif.bench.sac`: the trainer's update against a reference-style agent, same results checked first);
and the peer comparison of the LIF layer with snnTorch's ``Leaky`` (when installed: ``pip install 'hhlif[bench]'``).
On a GPU (``device=cuda``, or ``auto`` with one) every timing is synchronised and memory is CUDA's peak.
Outputs: the table on stdout, ``bench.json`` in the run directory.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from hhlif.bench import measure, roofline
from hhlif.bench.peer import INSTALL_HINT, compare_leaky, snntorch_available
from hhlif.bench.reference import ReferenceFormulation
from hhlif.bench.sac import bench_sac
from hhlif.config import compose
from hhlif.errors import ConfigError, bad_value, require_positive, unknown_choice
from hhlif.kernels.window import keep_freed_memory
from hhlif.logger import write_json_atomic
from hhlif.neurons.base import Neuron
from hhlif.runtime import resolve_device, seed_everything
from hhlif.trainers.base import adam

CONFIG_NAME = "bench"
SUMMARY = "time the fast path against the authors' computation order (train step, eval, epoch, SAC, snnTorch)"
log = logging.getLogger(__name__)

PHASES = ("train", "eval")
ITEM_KEYS = {"key", "overrides", "target"}
MEMORY_METHOD = ("peak tensor memory allocated during one step above what was allocated before it; CPU: running "
                 "sum of the CPU allocator's allocation/free events recorded by torch.profiler (profile_memory); "
                 "CUDA: torch.cuda.max_memory_allocated")


# -- configuration -----------------------------------------------------------------------------------------
def validate(cfg: DictConfig) -> None:
    """Check the ``bench`` options and build every selected model on the meta device."""
    opts = cfg.bench
    resolve_device(cfg.device)
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise bad_value("seed", cfg.seed, "a non-negative integer")
    for key in ("batch", "steps", "epoch_batches", "epoch_samples", "peer_units"):
        require_positive(f"bench.{key}", opts[key], integer=True)
    if not isinstance(opts.warmup, int) or isinstance(opts.warmup, bool) or opts.warmup < 0:
        raise bad_value("bench.warmup", opts.warmup, "an integer ≥ 0")
    for key in ("time_steps", "threads"):
        if opts[key] is not None:
            require_positive(f"bench.{key}", opts[key], integer=True)
    for key in ("epoch_target", "peer_target"):
        require_positive(f"bench.{key}", opts[key])
    for key in ("check", "memory", "keep_freed_memory", "roofline"):
        if not isinstance(opts[key], bool):
            raise bad_value(f"bench.{key}", opts[key], "true or false")
    if not isinstance(opts.phases, (ListConfig, list)) or not all(p in PHASES for p in opts.phases):
        raise bad_value("bench.phases", opts.phases, f"a list of {', '.join(PHASES)}")
    if str(opts.peer) not in ("auto", "True", "False"):
        raise bad_value("bench.peer", opts.peer, "auto, true or false")
    if opts.peer is True and not snntorch_available():
        raise ConfigError(f"bench.peer=true needs snnTorch, which is not installed: {INSTALL_HINT}. Or set "
                          "bench.peer=auto (skipped without it) or bench.peer=false.")
    items = _items(opts)
    keys = [item["key"] for item in items]
    for key in opts.only:
        if key not in keys:
            raise unknown_choice("bench.only", key, keys)
    if opts.epoch_model is not None and opts.epoch_model not in keys:
        raise unknown_choice("bench.epoch_model", opts.epoch_model, keys)
    if opts.sac is not None:
        _sac_cfg(opts, cfg.seed, str(cfg.device))
    from hhlif.trainers.classify import build_classifier

    for item in _selected(opts, items):
        try:
            with torch.device("meta"):
                build_classifier(_model_cfg(item, opts.time_steps))
        except ConfigError as error:
            raise ConfigError(f"bench.models ({item['key']}): {error}") from None


def _items(opts: DictConfig) -> list[dict[str, Any]]:
    if not isinstance(opts.models, (ListConfig, list)) or not opts.models:
        raise bad_value("bench.models", opts.models, "a non-empty list of {key, overrides, target} items")
    items, seen = [], set()
    for i, item in enumerate(opts.models):
        where = f"bench.models[{i}]"
        if not isinstance(item, (DictConfig, Mapping)) or set(item.keys()) - ITEM_KEYS or "key" not in item:
            raise ConfigError(f"{where}={item!r} is not allowed: expected {{key, overrides, target}}.")
        key = item["key"]
        if not isinstance(key, str) or not key or key in seen:
            raise ConfigError(f"{where}.key={key!r}: expected a unique, non-empty model name.")
        seen.add(key)
        overrides = item.get("overrides") or []
        if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
            raise ConfigError(f"{where} ({key}).overrides={overrides!r}: expected a list of override strings.")
        target = item.get("target")
        if target is not None:
            require_positive(f"{where} ({key}).target", target)
        items.append({"key": key, "overrides": list(overrides), "target": target, "where": f"{where} ({key})"})
    return items


def _selected(opts: DictConfig, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    only = list(opts.only)
    return [item for item in items if not only or item["key"] in only]


def _model_cfg(item: Mapping[str, Any], time_steps: int | None) -> DictConfig:
    """The ``train`` config composed with the item's overrides (cached for the process)."""
    key = tuple(item["overrides"])
    if key not in _COMPOSED:
        _COMPOSED[key] = compose("train", list(key), where=item["where"])
    cfg = _COMPOSED[key].copy()
    if time_steps is not None:
        with open_dict(cfg):
            cfg.network.time_steps = time_steps
    return cfg


_COMPOSED: dict[tuple[str, ...], DictConfig] = {}
SAC_KEYS = {"overrides", "fill", "updates", "check_updates", "block", "target"}


def _sac_cfg(opts: DictConfig, seed: int, device: str) -> DictConfig:
    """The ``train`` config of the SAC row (``bench.sac``), checked: random actions while the memories fill."""
    sac = opts.sac
    if not isinstance(sac, (DictConfig, Mapping)) or set(sac.keys()) != SAC_KEYS:
        raise ConfigError(f"bench.sac={sac!r} is not allowed: expected null or {{{', '.join(sorted(SAC_KEYS))}}}.")
    for key in ("fill", "updates", "check_updates", "block"):
        require_positive(f"bench.sac.{key}", sac[key], integer=True)
    require_positive("bench.sac.target", sac.target)
    overrides = sac.overrides or []
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"bench.sac.overrides={overrides!r}: expected a list of override strings.")
    cfg = compose("train", [*overrides, f"seed={seed}", f"device={device}"], where="bench.sac")
    if cfg.trainer.get("name") != "sac":
        raise ConfigError(f"bench.sac.overrides={list(overrides)} do not select a SAC run "
                          f"(trainer={cfg.trainer.name}); give a control task, e.g. task=inverted_pendulum.")
    cfg.trainer.start_steps = int(sac.fill)
    if cfg.trainer.batch_size >= sac.fill:
        raise bad_value("bench.sac.fill", sac.fill, f"more than trainer.batch_size ({cfg.trainer.batch_size})")
    return cfg


# -- building ----------------------------------------------------------------------------------------------
def _build_pair(cfg: DictConfig, seed: int, device: torch.device):
    """(fast model, reference formulation over a copy of its weights), both on ``device``."""
    from hhlif.experiment import build_model

    seed_everything(seed)
    fast = build_model(cfg).to(device)
    twin = copy.deepcopy(fast)
    for module in fast.modules():
        if isinstance(module, Neuron):  # the per-step finiteness guard, as the trainer runs the model
            module.check_finite = bool(cfg.trainer.check_finite)
    for module in twin.modules():
        if isinstance(module, Neuron) and hasattr(module, "fused"):
            module.fused = False  # not used by the reference's step calls; explicit for anyone reusing it
    return fast, ReferenceFormulation(twin)


def _adam(model: torch.nn.Module, cfg: DictConfig, fused: bool) -> torch.optim.Optimizer:
    """Adam with ``trainer.optimizer``'s settings: fused as training runs it (``trainer.optimizer.fused``), or
    PyTorch's default implementation as the authors' code runs it."""
    opt = cfg.trainer.optimizer
    return adam(model.parameters(), lr=opt.lr, betas=tuple(opt.betas), weight_decay=opt.weight_decay,
                fused=fused and opt.fused)


def _batch(cfg: DictConfig, batch: int, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images on the task's pixel scale (0..pixel_max) and random labels."""
    gen = torch.Generator().manual_seed(seed)
    task = cfg.task
    x = torch.rand(batch, *task.input_shape, generator=gen) * float(task.pixel_max)
    y = torch.randint(0, task.classes, (batch, task.tasks), generator=gen)
    return x.to(device), y.to(device)


# -- measuring ---------------------------------------------------------------------------------------------
def bench_model(item: Mapping[str, Any], opts: DictConfig, seed: int, device: torch.device,
                limits: dict[str, float] | None = None) -> dict[str, Any]:
    """All measurements of one model (see the module docstring); with ``limits``, the fast training step's
    roofline (:mod:`hhlif.bench.roofline`)."""
    cfg = _model_cfg(item, opts.time_steps)
    fast, reference = _build_pair(cfg, seed, device)
    x, y = _batch(cfg, opts.batch, device, seed)
    record: dict[str, Any] = {"key": item["key"], "overrides": item["overrides"], "neuron": cfg.neuron.name,
                              "network": cfg.network.name, "time_steps": int(cfg.network.time_steps),
                              "batch": int(opts.batch), "target_train_ratio": item["target"],
                              "check_finite": bool(cfg.trainer.check_finite)}
    if opts.check:
        reference.record = True
        record["check"] = measure.compare(fast, reference, x)
        reference.record = False
    steps = {"fast": (fast, _adam(fast, cfg, True)), "reference": (reference, _adam(reference, cfg, False))}
    for phase in opts.phases:
        if phase == "train":
            fns = {name: measure.train_step(m, o, x, y) for name, (m, o) in steps.items()}
        else:
            fns = {name: measure.eval_step(m, x) for name, (m, _) in steps.items()}
        times = measure.interleaved_times(fns, opts.warmup, opts.steps, device)
        fast_ms, ref_ms = measure.median_ms(times["fast"]), measure.median_ms(times["reference"])
        record[phase] = {"fast_ms": fast_ms, "reference_ms": ref_ms, "ratio": ref_ms / fast_ms,
                         "fast_all_ms": [1000 * t for t in times["fast"]],
                         "reference_all_ms": [1000 * t for t in times["reference"]]}
        if opts.memory:
            mem = {name: measure.peak_bytes(fn, device) / 2**20 for name, fn in fns.items()}
            record[phase].update(fast_peak_mb=mem["fast"], reference_peak_mb=mem["reference"])
        if phase == "train" and limits is not None:
            floor = roofline.step_floor(fns["fast"], list(fast.parameters()), limits)
            record[phase]["roofline"] = {**floor, "ratio": floor["floor_ms"] / fast_ms}
            if floor["floor_ms"] / fast_ms < roofline.EXPLAIN_BELOW:
                record[phase]["roofline"]["top_ops_ms"] = roofline.where_time_goes(fns["fast"])
    if "train" in record and item["target"] is not None:
        record["target_met"] = record["train"]["ratio"] >= item["target"]
    return record


def bench_epoch(item: Mapping[str, Any], opts: DictConfig, seed: int, device: torch.device) -> dict[str, Any]:
    """One training epoch of each formulation on synthetic images, batches interleaved (fast, reference, ...),
    every step timed from the first (cold) one: the fast path has nothing to compile, so its warm-up is the
    first steps' cost, which is included."""
    cfg = _model_cfg(item, opts.time_steps)
    fast, reference = _build_pair(cfg, seed, device)
    pool_x, pool_y = _batch(cfg, min(int(opts.epoch_samples), 4 * int(opts.batch)), device, seed + 1)
    batch, samples, batches = int(opts.batch), int(opts.epoch_samples), int(opts.epoch_batches)
    totals = {"fast": 0.0, "reference": 0.0}
    optimizers = {"fast": _adam(fast, cfg, True), "reference": _adam(reference, cfg, False)}
    models = {"fast": fast, "reference": reference}
    seen = 0
    for i in range(batches):
        size = min(batch, samples - i * batch) if i * batch < samples else batch
        start = (i * batch) % (pool_x.shape[0] - size + 1)
        x, y = pool_x[start:start + size], pool_y[start:start + size]
        for name in totals:
            step = measure.train_step(models[name], optimizers[name], x, y)
            measure.synchronize(device)
            t0 = time.perf_counter()
            step()
            measure.synchronize(device)
            totals[name] += time.perf_counter() - t0
        seen += size
        if (i + 1) % max(1, batches // 10) == 0 or i + 1 == batches:
            log.info("epoch comparison (%s): %d/%d batches, fast %.1fs, reference %.1fs", item["key"], i + 1,
                     batches, totals["fast"], totals["reference"])
    ratio = totals["reference"] / totals["fast"]
    return {"key": item["key"], "batches": batches, "samples": seen, "batch": batch,
            "fast_s": totals["fast"], "reference_s": totals["reference"], "ratio": ratio,
            "includes": "every step from the first (cold) one; the fast path compiles nothing",
            "target": float(opts.epoch_target), "target_met": ratio >= opts.epoch_target}


# -- the run -------------------------------------------------------------------------------------------------
def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    opts = cfg.bench
    device = resolve_device(cfg.device)
    if opts.threads is not None:
        torch.set_num_threads(int(opts.threads))
    kept = keep_freed_memory() if opts.keep_freed_memory and device.type == "cpu" else False
    load_start = _load()
    log.info("bench on %s, %d torch thread(s), load average %s", device, torch.get_num_threads(),
             "n/a" if load_start is None else f"{load_start[0]:.2f} on {os.cpu_count()} cores")
    items = _items(opts)
    limits = roofline.machine_limits(device) if opts.roofline else None
    if limits is not None:
        log.info("limits: matrix multiply %.1f GFLOP/s, memory copy %.1f GB/s (%d thread(s))",
                 limits["matmul_gflops"], limits["copy_gbs"], limits["threads"])
    models = []
    for item in _selected(opts, items):
        log.info("benchmarking %s ...", item["key"])
        record = bench_model(item, opts, cfg.seed, device, limits)
        models.append(record)
        log.info(_model_line(record))
    epoch = None
    if opts.epoch_model is not None:
        item = next(i for i in items if i["key"] == opts.epoch_model)
        log.info("epoch comparison: %s, %d batches of %d", item["key"], opts.epoch_batches, opts.batch)
        epoch = bench_epoch(item, opts, cfg.seed, device)
    sac = None
    if opts.sac is not None:
        log.info("SAC updates: SACTrainer vs the reference-style agent (%s)", " ".join(opts.sac.overrides))
        sac = bench_sac(_sac_cfg(opts, cfg.seed, str(device)), run_dir, fill=int(opts.sac.fill),
                        warmup=int(opts.warmup), steps=int(opts.sac.updates),
                        check_updates=int(opts.sac.check_updates), seed=cfg.seed, block=int(opts.sac.block))
        sac.update(target=float(opts.sac.target), target_met=sac["ratio"] >= opts.sac.target)
        log.info("SAC: %.0f vs %.0f updates/s (%.1fx)", sac["fast_updates_per_s"], sac["reference_updates_per_s"],
                 sac["ratio"])
    peer = None
    want_peer = str(opts.peer)
    if want_peer == "True" or (want_peer == "auto" and snntorch_available()):
        log.info("peer comparison: hhlif LIF vs snnTorch Leaky")
        peer = compare_leaky(batch=int(opts.batch), steps=15 if opts.time_steps is None else int(opts.time_steps),
                             units=int(opts.peer_units), warmup=int(opts.warmup), repeats=int(opts.steps),
                             device=device, seed=cfg.seed)
        peer.update(target=float(opts.peer_target), target_met=peer["ratio"] >= opts.peer_target)
    elif want_peer == "auto":
        log.warning("peer comparison skipped: snnTorch is not installed (%s)", INSTALL_HINT)
    load_end = _load()
    result = {
        "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "load_average_start": load_start, "load_average_end": load_end,
        "batch": int(opts.batch), "steps": int(opts.steps), "warmup": int(opts.warmup),
        "phases": list(opts.phases), "memory_method": MEMORY_METHOD, "keep_freed_memory": kept,
        "reference": "per-step projection of the repeated input, eager per-step neuron arithmetic "
                     "(hhlif.bench.reference), same weights",
        "models": models, "epoch": epoch, "sac": sac, "peer": peer, "limits": limits,
        "config": OmegaConf.to_container(opts, resolve=True),
    }
    print(format_table(result), flush=True)
    write_json_atomic(run_dir / "bench.json", result)
    log.info("wrote %s", run_dir / "bench.json")
    return result


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _model_line(r: Mapping[str, Any]) -> str:
    parts = [r["key"]]
    for phase in PHASES:
        if phase in r:
            p = r[phase]
            parts.append(f"{phase} fast {p['fast_ms']:.1f} ms, reference {p['reference_ms']:.1f} ms "
                         f"({p['ratio']:.1f}x)")
    return "; ".join(parts)


# -- output ----------------------------------------------------------------------------------------------------
def format_table(result: Mapping[str, Any]) -> str:
    """The printed summary: one row per model, then the epoch and peer comparisons and the machine's load."""
    header = ("model", "T", "train fast ms", "train ref ms", "ratio", "target", "eval fast ms", "eval ref ms",
              "ratio", "mem fast MB", "mem ref MB", "spikes", "|Δlogits|")
    rows = []
    for r in result["models"]:
        tr, ev, chk = r.get("train"), r.get("eval"), r.get("check")
        target = "" if r["target_train_ratio"] is None else (
            f"≥{r['target_train_ratio']:g} " + ("met" if r.get("target_met") else "MISSED") if tr else "")
        rows.append((
            r["key"], str(r["time_steps"]),
            *(_ms(tr, k) for k in ("fast_ms", "reference_ms")), _ratio(tr), target,
            *(_ms(ev, k) for k in ("fast_ms", "reference_ms")), _ratio(ev),
            *(f"{tr[k]:.1f}" if tr and k in tr else "-" for k in ("fast_peak_mb", "reference_peak_mb")),
            "-" if chk is None else ("same" if chk["spikes_match"] else f"{chk['spikes_mismatched']} differ"),
            "-" if chk is None else f"{chk['logits_max_abs_diff']:.1e}"))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [f"hhlif bench: fast path vs reference formulation (per-step projection, eager neuron steps), "
             f"batch {result['batch']}, {result['device']}, {result['threads']} thread(s); medians of "
             f"{result['steps']} steps after {result['warmup']} warm-up",
             "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
              for row in rows]
    lines.append("mem = peak tensor memory allocated during one training step (see bench.json memory_method)")
    lines += _roofline_lines(result)
    epoch = result.get("epoch")
    if epoch:
        lines.append(f"epoch ({epoch['key']}, {epoch['batches']} batches, {epoch['samples']} samples, cold start "
                     f"included): fast {epoch['fast_s']:.1f} s, reference {epoch['reference_s']:.1f} s, "
                     f"{epoch['ratio']:.1f}x (target ≥{epoch['target']:g}: "
                     f"{'met' if epoch['target_met'] else 'MISSED'})")
    sac = result.get("sac")
    if sac:
        chk = sac["check"]
        lines.append(f"SAC ({sac['task']}, {sac['neuron']} actor, batch {sac['batch']}, T {sac['time_steps']}): "
                     f"SACTrainer {sac['fast_updates_per_s']:.0f} updates/s, reference-style agent "
                     f"{sac['reference_updates_per_s']:.0f} updates/s, {sac['ratio']:.1f}x (target ≥{sac['target']:g}: "
                     f"{'met' if sac['target_met'] else 'MISSED'}); after {chk['updates']} updates from the same "
                     f"weights on the same batches, parameters {'same' if chk['match'] else 'DIFFER'} "
                     f"(largest difference {max(chk['max_param_diff'].values()):.1e})")
    peer = result.get("peer")
    if peer:
        lines.append(f"peer (LIF {tuple(peer['shape'])}, forward + backward, reset detached as in snnTorch): hhlif "
                     f"{peer['hhlif_ms']:.1f} ms, snnTorch {peer['snntorch_version']} Leaky {peer['snntorch_ms']:.1f} "
                     f"ms, {peer['ratio']:.1f}x (target ≥{peer['target']:g}: "
                     f"{'met' if peer['target_met'] else 'MISSED'}); spikes "
                     f"{'same' if peer['spikes_match'] else 'DIFFER'}; hhlif with the reset's gradient (its "
                     f"default) {peer['hhlif_reset_grad_ms']:.1f} ms, {peer['ratio_reset_grad']:.1f}x")
    load = result.get("load_average_start"), result.get("load_average_end")
    if all(load) and max(load[0][0], load[1][0]) > 0.5 * (result.get("cpu_count") or 1):
        lines.append(f"note: the machine was busy (1-min load average {load[0][0]} at start, {load[1][0]} at the "
                     f"end, {result['cpu_count']} cores): timings are noisy; rerun on a quiet machine.")
    return "\n".join(lines)


def _roofline_lines(result: Mapping[str, Any]) -> list[str]:
    """The roofline column: each fast training step's floor at the measured limits, its time and their ratio."""
    limits = result.get("limits")
    rows = [(r["key"], r["train"]["roofline"], r["train"]["fast_ms"]) for r in result["models"]
            if "roofline" in r.get("train", {})]
    if not limits or not rows:
        return []
    lines = [f"roofline (hhlif.bench.roofline): matrix multiply {limits['matmul_gflops']:.1f} GFLOP/s, memory copy "
             f"{limits['copy_gbs']:.1f} GB/s, measured now at {limits['threads']} thread(s); floor = matmul FLOPs "
             "at that peak + element-wise bytes at that bandwidth"]
    width = max(len(k) for k, _, _ in rows)
    for key, roof, measured in rows:
        lines.append(f"  {key.ljust(width)}  floor {roof['floor_ms']:7.1f} ms (matmul {roof['matmul_ms']:.1f} + "
                     f"memory {roof['memory_ms']:.1f})  measured {measured:7.1f} ms  {100 * roof['ratio']:5.1f} %")
        if roof.get("top_ops_ms"):
            lines.append("    where the time goes (self CPU ms of one profiled step): "
                         + ", ".join(f"{name} {ms:.1f}" for name, ms in roof["top_ops_ms"]))
    return lines


def _ms(phase: Mapping[str, Any] | None, key: str) -> str:
    return "-" if phase is None else f"{phase[key]:.1f}"


def _ratio(phase: Mapping[str, Any] | None) -> str:
    return "-" if phase is None else f"{phase['ratio']:.1f}x"
