"""``hhlif flops``: the paper's analytic ADD/MUL counts per forward (Fig. 5b), for one model or a preset's list.

Any neuron × network × task is counted by the rules of the paper's FLOPs notebook
(docs/explanation/authors-code.md#flops-notebook; :mod:`hhlif.metrics.flops`): dense counts, a spiking layer's
synapse and neurons once per time step, a Linear on the firing rate once per forward; biases, activations,
pooling and task heads not counted.

* ``network=fc`` / ``conv`` / ``vib`` on a classification task: one forward of one image over T =
  ``network.time_steps`` steps (``experiment=fig5b`` gives the paper's sixteen numbers).
* ``network=policy``, selected by ``task=inverted_pendulum`` or ``task=inverted_double_pendulum``: the SAC
  actor's operations **per decision**, i.e. one forward of one window. T = ``network.window`` ×
  ``network.repeat`` steps (5 × 3 = 15). Counted: the spiking layer's ``Linear(obs → units·k_in)`` once per
  step (the actor projects every step of its repeated window) and its neurons' ``ops_per_step`` per unit and
  step; then each of the two ReLU branches (mean and log-std) ``Linear(F → H)``, ``Linear(H → H)``,
  ``Linear(H → A)`` once (F = units·k_out, H = ``network.hidden`` × ``network.width_factor``, A = action
  size). Not counted: biases, ReLU, the temporal mean, the clamp of log σ and the tanh-squashed Gaussian head.
  The observation and action sizes come from the environment (``task.env_version``). The critics and the
  pre-agent do not act and are not counted.

Each model is built from its config on the ``meta`` device (no memory, no data) and counted by
:func:`hhlif.metrics.flops.count_model`. A preset (``experiment=fig5b``, ``experiment=sac_flops``) lists models
as ``{key, overrides}``; each item is composed like ``hhlif flops <overrides>`` and, unless it sets a task,
sized for the run's task. Outputs in the run directory: ``flops.json`` (exact integers and a per-layer
breakdown), ``flops.png`` and ``flops.svg`` (grouped ADD/MUL bars on a log axis, as Fig. 5b); the table is
printed to stdout.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from hhlif.config import compose
from hhlif.errors import ConfigError, RunError, bad_value, require_positive
from hhlif.experiment import build_model as build_experiment_model
from hhlif.files import atomic_write
from hhlif.logger import write_json_atomic
from hhlif.metrics.flops import ModelCount, count_model, millions
from hhlif.tasks.pendulum import ENV_NAMES

CONFIG_NAME = "flops"
SUMMARY = "count the paper's ADD/MUL operations per sample (or per SAC decision) of any model (Fig. 5b)"
log = logging.getLogger(__name__)

ADD_COLOUR = (0.6118, 0.7020, 0.8314)
MUL_COLOUR = (0.6980, 0.2588, 0.2549)
ITEM_KEYS = {"key", "overrides"}
CONTROL_NETWORKS = ("policy",)
FORBIDDEN_OVERRIDES = ("experiment", "flops", "hydra")


@dataclass
class Entry:
    """One model to count: its table key, the overrides it was composed from, its config."""

    key: str
    overrides: list[str]
    cfg: DictConfig
    where: str  # how an error message names it ("" for the model of the groups themselves)


# -- configuration -----------------------------------------------------------------------------------------
def validate(cfg: DictConfig) -> None:
    """Check the ``flops`` options and build every model to count on the meta device."""
    for entry in _entries(cfg):
        _count(entry, bool(cfg.flops.paper_bug))


def _check_options(opts: DictConfig) -> None:
    if not isinstance(opts.paper_bug, bool):
        raise bad_value("flops.paper_bug", opts.paper_bug, "true or false")
    if not isinstance(opts.plot, bool):
        raise bad_value("flops.plot", opts.plot, "true or false")
    if opts.time_steps is not None:
        require_positive("flops.time_steps", opts.time_steps, integer=True)
    if opts.key is not None and (not isinstance(opts.key, str) or not opts.key.strip()):
        raise bad_value("flops.key", opts.key, "a non-empty name or null")
    if not isinstance(opts.models, (ListConfig, list)):
        raise bad_value("flops.models", opts.models, "a list of {key, overrides} items (e.g. experiment=fig5b)")


def _entries(cfg: DictConfig) -> list[Entry]:
    """The models to count: the preset's list, or the model of ``cfg`` itself."""
    opts = cfg.flops
    _check_options(opts)
    if len(opts.models) == 0:
        key = opts.key or _default_key(cfg)
        return [Entry(key, [], _with_time_steps(cfg, opts.time_steps), "")]
    entries, seen = [], set()
    for i, item in enumerate(opts.models):
        where = f"flops.models[{i}]"
        key, overrides = _parse_item(item, where)
        where = f"{where} ({key})"
        if key in seen:
            raise ConfigError(f"{where}: the key {key!r} is used by an earlier item; keys must be unique.")
        seen.add(key)
        sets_task = any(_override_key(o).split(".")[0] == "task" for o in overrides)
        # an item without a task is sized for the run's task; a control task also selects its actor
        # (network=policy) and its paper constants, so it is composed in
        control = not sets_task and cfg.task.get("name") in ENV_NAMES
        item_cfg = _compose_item([f"task={cfg.task.name}", *overrides] if control else overrides, where)
        if not sets_task:
            with open_dict(item_cfg):
                item_cfg.task = cfg.task
        entries.append(Entry(key, overrides, _with_time_steps(item_cfg, opts.time_steps, where), where))
    return entries


def _parse_item(item: Any, where: str) -> tuple[str, list[str]]:
    if not isinstance(item, (DictConfig, Mapping)):
        raise ConfigError(f"{where}={item!r} is not allowed: expected {{key: <name>, overrides: [...]}}.")
    unknown = sorted(set(item.keys()) - ITEM_KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]} is not an item key: an item has 'key' and 'overrides'.")
    key = item.get("key")
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"{where}.key={key!r} is not allowed: expected a non-empty model name.")
    overrides = item.get("overrides", [])
    overrides = [] if overrides is None else overrides
    if isinstance(overrides, str) or not isinstance(overrides, (ListConfig, Sequence)) or not all(
            isinstance(o, str) for o in overrides):
        raise ConfigError(f"{where} ({key}).overrides={overrides!r} is not allowed: expected a list of "
                          "override strings such as [neuron=lif, network=conv, network.width_factor=4].")
    overrides = list(overrides)
    for o in overrides:
        if _override_key(o).split(".")[0].split("/")[0] in FORBIDDEN_OVERRIDES:
            raise ConfigError(f"{where} ({key}): the override {o!r} is not allowed in a model item "
                              f"(items cannot set {', '.join(FORBIDDEN_OVERRIDES)}).")
    return key, overrides


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~").strip()


def _compose_item(overrides: list[str], where: str) -> DictConfig:
    """``overrides`` composed on this command's root config (inside a running Hydra app or not).

    Results are kept for the process, so ``run`` reuses what ``validate`` composed (0.2 s per model).
    """
    key = tuple(overrides)
    if key not in _COMPOSED:
        _COMPOSED[key] = compose(CONFIG_NAME, overrides, where=where)
    return _COMPOSED[key].copy()


_COMPOSED: dict[tuple[str, ...], DictConfig] = {}


def _with_time_steps(cfg: DictConfig, time_steps: int | None, where: str = "") -> DictConfig:
    if time_steps is None:
        return cfg
    if cfg.network.get("name") in CONTROL_NETWORKS:
        net = cfg.network
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}flops.time_steps={time_steps} cannot set T of the SAC actor (network=policy): "
                          f"its T is network.window × network.repeat ({net.window} × {net.repeat} = "
                          f"{net.window * net.repeat}). Set those instead, or leave flops.time_steps=null.")
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.network.time_steps = time_steps
    return cfg


def _default_key(cfg: DictConfig) -> str:
    width = cfg.network.get("width_factor", 1)
    return f"{cfg.neuron.name}_{cfg.network.name}" + (f"_x{width}" if width != 1 else "")


# -- counting ------------------------------------------------------------------------------------------------
def _count(entry: Entry, paper_bug: bool) -> ModelCount:
    try:
        model = build_model(entry.cfg)
    except ConfigError as error:
        raise ConfigError(f"{entry.where}: {error}" if entry.where else str(error)) from None
    try:
        return count_model(model, paper_bug=paper_bug)
    except ValueError as error:
        raise RunError(f"{entry.where}: {error}" if entry.where else str(error)) from None


def build_model(cfg: DictConfig) -> torch.nn.Module:
    """The network of ``cfg`` on the meta device, sized for its task; ConfigError for a network × task that
    does not go together."""
    network, task = cfg.network.get("name"), cfg.task.get("name")
    control = task in ENV_NAMES
    if network in CONTROL_NETWORKS and not control:
        raise ConfigError(f"network={network} is the SAC actor of the control tasks and is sized by one: add "
                          f"task={' or task='.join(ENV_NAMES)} (task={task} was given).")
    if control and network not in CONTROL_NETWORKS:
        raise ConfigError(f"task={task} is counted with its SAC actor, network=policy (network={network} was "
                          f"given): drop network={network}.")
    with torch.device("meta"):
        return build_experiment_model(cfg)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    paper_bug = bool(cfg.flops.paper_bug)
    entries = _entries(cfg)
    counts = [_count(entry, paper_bug) for entry in entries]
    for entry, count in zip(entries, counts, strict=True):
        if count.uncounted_neurons:
            log.warning("%s: the internal operations of %s neurons are not counted (layers %s): its class declares "
                        "no ops_per_step. To count them, add ops_per_step = (MUL, ADD) per unit and time step to the "
                        "class; 'hhlif check neuron=%s' compares it with what its step() computes.", entry.key,
                        entry.cfg.neuron.name, ", ".join(count.uncounted_neurons), entry.cfg.neuron.name)
    print(format_table(entries, counts, paper_bug), flush=True)
    result = {
        "unit": "operations per forward of one sample, or per decision of a SAC actor (dense analytic count, "
                "the paper's Fig. 5b rules)",
        "paper_bug": paper_bug,
        "models": [_model_record(e, c) for e, c in zip(entries, counts, strict=True)],
    }
    write_json_atomic(run_dir / "flops.json", result)
    log.info("wrote %s", run_dir / "flops.json")
    if cfg.flops.plot:
        paths = plot(entries, counts, run_dir / "flops")
        log.info("wrote %s", ", ".join(str(p) for p in paths))
    return result


def _model_record(entry: Entry, count: ModelCount) -> dict[str, Any]:
    net = entry.cfg.network
    return {
        "key": entry.key, "neuron": entry.cfg.neuron.name, "network": net.name, "task": entry.cfg.task.name,
        "width_factor": net.get("width_factor", 1), "time_steps": count.time_steps,
        "per": "decision (one forward of one window)" if net.name in CONTROL_NETWORKS else "sample",
        "overrides": entry.overrides,
        "add": count.add, "mul": count.mul, "mul_correct": count.mul_correct,
        "add_M": millions(count.add), "mul_M": millions(count.mul),
        "paper_bug_applied": count.paper_bug_applied,
        "neurons_counted": not count.uncounted_neurons,
        "layers": [layer.to_dict() for layer in count.layers],
        "config": {k: OmegaConf.to_container(entry.cfg[k], resolve=True) for k in ("neuron", "network", "task")},
    }


# -- output --------------------------------------------------------------------------------------------------
def format_table(entries: Sequence[Entry], counts: Sequence[ModelCount], paper_bug: bool) -> str:
    """The table of counts in M operations, each the shortest exact decimal of count/10⁶."""
    header = ("model", "neuron", "network", "task", "width", "T", "ADD [M]", "MUL [M]")
    rows, notes = [], []
    for entry, count in zip(entries, counts, strict=True):
        mul = millions(count.mul)
        if count.paper_bug_applied:
            mul += " *"
            notes.append(f"* {entry.key}: MUL as the paper counted it (the layer that convolves summed "
                         f"sub-maps reports its synaptic ADD as its MUL); correct MUL {millions(count.mul_correct)} M "
                         "(flops.paper_bug=false).")
        add = millions(count.add) + (" †" if count.uncounted_neurons else "")
        net = entry.cfg.network
        rows.append((entry.key, str(entry.cfg.neuron.name), str(net.name), str(entry.cfg.task.name),
                     str(net.get("width_factor", 1)), str(count.time_steps), add, mul))
    if any(count.uncounted_neurons for count in counts):
        notes.append("† neuron-internal operations not counted: the neuron model declares no ops_per_step (synapses "
                     "only; add ops_per_step = (MUL, ADD) to its class to count them).")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    per = "per sample" if all(e.cfg.network.name not in CONTROL_NETWORKS for e in entries) else (
        "per decision (one forward of the window)" if all(e.cfg.network.name in CONTROL_NETWORKS for e in entries)
        else "per sample, or per decision of a SAC actor")
    lines = [f"FLOPs {per} (paper's Fig. 5b rules; M = 10^6 operations; paper_bug={str(paper_bug).lower()})",
             "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines + notes)


def y_range(values: Sequence[float]) -> tuple[float, float]:
    """The log axis in M FLOPs: the paper's 1–100 when every count fits in it, else the decades spanning the
    counts (e.g. 0.01–10 for the SAC actors)."""
    low, high = 1.0, 100.0
    if values and (min(values) < low or max(values) > high):
        low = 10.0 ** math.floor(math.log10(min(values)))
        high = max(10.0 ** math.ceil(math.log10(max(values))), 10 * low)
    return low, high


def plot(entries: Sequence[Entry], counts: Sequence[ModelCount], stem: Path) -> list[Path]:
    """Grouped ADD/MUL bars in M FLOPs on a log axis (Fig. 5b); writes ``stem``.png and ``stem``.svg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    adds = [c.add / 1e6 for c in counts]
    muls = [c.mul / 1e6 for c in counts]
    n = len(entries)
    fig = Figure(figsize=(max(4.0, 1.1 * n + 1.5), 5.0))
    FigureCanvasAgg(fig)  # the Agg backend, without touching pyplot's global state
    ax = fig.add_subplot()
    ax.bar([i - 0.125 for i in range(n)], adds, color=ADD_COLOUR, width=0.25, label="ADD ops")
    ax.bar([i + 0.125 for i in range(n)], muls, color=MUL_COLOUR, width=0.25, label="MUL ops")
    ax.set_xticks(range(n), [e.key for e in entries], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_yscale("log")
    ax.set_ylim(*y_range([v for v in adds + muls if v > 0]))
    ax.set_ylabel("M FLOPs")
    ax.set_title("FLOPs")
    ax.legend()
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        atomic_write(path, lambda tmp, kind=path.suffix[1:]: fig.savefig(tmp, bbox_inches="tight", dpi=150,
                                                                      format=kind), what="figure")
    return paths
