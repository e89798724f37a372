"""``hhlif simulate``: the paper's equivalence simulations (its MATLAB code;
docs/explanation/authors-code.md#matlab-simulations).

An HH model and the LIF circuit that stands in for it run side by side on the same input, and their spike
trains are compared (spike counts, mean inter-spike-interval difference, normalised spike-timing error):

* ``simulate.circuit=chain`` (``experiment=fig3d``): HH chain vs s-LIF2HH chain under one of five waveforms;
* ``simulate.circuit=fc`` (``experiment=suppfig2_fc``): HH vs tv-LIF2HH in a 784–128–10 network;
* ``simulate.circuit=xor`` (``experiment=suppfig2_xor``): HH vs tv-LIF2HH in the XOR motif.

Outputs in the run directory: ``<circuit>.png`` (membrane traces and spike rasters of both models overlaid),
``metrics.json`` (the comparison metrics, the configuration and the inputs' provenance) and ``traces.npz``
(spike levels at every step, membranes every ``trace_stride`` steps, inputs). The model code is in
:mod:`hhlif.simulate`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

from hhlif.errors import ConfigError, bad_value, require_positive, unknown_choice
from hhlif.logger import write_json_atomic
from hhlif.runtime import require_memory

CONFIG_NAME = "simulate"
SUMMARY = "the paper's HH vs LIF-circuit simulations (Fig. 3d, Supp. Fig. 2): plots, spike metrics, traces"
log = logging.getLogger(__name__)

CIRCUITS = ("chain", "fc", "xor")
PRESETS = ("fig3d", "suppfig2_fc", "suppfig2_xor")
DEFAULT_DURATION = {"chain": 80.0, "fc": 40.0, "xor": 40.0}
DEFAULT_THRESHOLD = {"chain": 70.0, "fc": -40.0, "xor": -40.0}
HH_INITS = ("matlab", "rest")
ROOT_KEYS = {"seed", "simulate", "preset"}  # preset: {name, command} of an experiment=... file


# -- configuration -----------------------------------------------------------------------------------------
def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_value(key, value, "a finite number")
    return float(value)


def _whole_multiple(total: float, step: float) -> bool:
    n = round(total / step)
    return n >= 1 and abs(n * step - total) <= 1e-9 * max(1.0, total)


def validate(cfg: DictConfig) -> None:
    """Check every ``simulate`` option (and that the weights/image files named exist and fit together)."""
    foreign = sorted(set(cfg.keys()) - ROOT_KEYS)
    if foreign:
        raise ConfigError(f"the configuration has a '{foreign[0]}' section that hhlif simulate does not use: "
                          f"was a preset of another command chosen? Simulation presets: "
                          f"{', '.join('experiment=' + p for p in PRESETS)}.")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise bad_value("seed", cfg.seed, "a non-negative integer")
    s = cfg.simulate
    if s.circuit not in CIRCUITS:
        raise unknown_choice("simulate.circuit", s.circuit, CIRCUITS)
    require_positive("simulate.dt", s.dt)
    duration = _duration(s)
    require_positive("simulate.duration", duration)
    if not _whole_multiple(duration, s.dt) or round(duration / s.dt) < 2:
        raise bad_value("simulate.duration", duration, f"a whole number (≥ 2) of steps simulate.dt={s.dt}")
    if s.threshold is not None:
        _number("simulate.threshold", s.threshold)
    if s.hh_init not in HH_INITS:
        raise unknown_choice("simulate.hh_init", s.hh_init, HH_INITS)
    require_positive("simulate.trace_stride", s.trace_stride, integer=True)
    if not isinstance(s.plot, bool):
        raise bad_value("simulate.plot", s.plot, "true or false")
    require_positive("simulate.plot_dpi", s.plot_dpi, integer=True)
    {"chain": _check_chain, "fc": _check_fc, "xor": _check_xor}[s.circuit](cfg, duration)
    _check_memory(s, duration)


def _check_memory(s: DictConfig, duration: float) -> None:
    """Refuse a simulation whose spike record cannot fit in memory: per fine step at least one byte per neuron of
    each model (chain: the input waveform too, 8 bytes per column)."""
    per_step = {"chain": lambda: 10 * len(_waveforms(s.chain.waveform)), "fc": lambda: 2 * (128 + 10),
                "xor": lambda: 6 * len(s.xor.cases)}[s.circuit]()
    steps = duration / s.dt
    require_memory("simulate.duration", duration, steps * per_step, f"{steps:.3g} steps of simulate.dt={s.dt} ms",
                   "Shorten simulate.duration (or lengthen simulate.dt).")


def _duration(s: DictConfig) -> float:
    return DEFAULT_DURATION[s.circuit] if s.duration is None else s.duration


def _waveforms(name: str) -> list[str]:
    from hhlif.simulate.waveforms import WAVEFORMS

    if name == "all":
        return list(WAVEFORMS)
    if name not in WAVEFORMS:
        raise unknown_choice("simulate.chain.waveform", name, [*WAVEFORMS, "all"])
    return [name]


def _check_chain(cfg: DictConfig, duration: float) -> None:
    c, dt = cfg.simulate.chain, cfg.simulate.dt
    _waveforms(c.waveform)
    require_positive("simulate.chain.lif_dt", c.lif_dt)
    if not _whole_multiple(c.lif_dt, dt):
        raise bad_value("simulate.chain.lif_dt", c.lif_dt, f"a whole number of steps simulate.dt={dt}")
    if not _whole_multiple(duration, c.lif_dt):
        raise bad_value("simulate.duration", duration, f"a whole number of s-LIF2HH steps simulate.chain.lif_dt="
                        f"{c.lif_dt}")
    for key in ("weight", "second_input"):
        _number(f"simulate.chain.{key}", c[key])
    decay = _number("simulate.chain.decay", c.decay)
    if not 0.0 <= decay <= 1.0:
        raise bad_value("simulate.chain.decay", c.decay, "a number in [0, 1]")


def _check_fc(cfg: DictConfig, duration: float) -> None:
    _fc_inputs(cfg)


def _fc_inputs(cfg: DictConfig) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """(weights, flattened image, provenance) of the fc simulation."""
    from hhlif.simulate import data

    f = cfg.simulate.fc
    for key in ("digit", "digit_index"):
        if isinstance(f[key], bool) or not isinstance(f[key], int) or f[key] < 0:
            raise bad_value(f"simulate.fc.{key}", f[key], "a non-negative integer")
    if f.digit > 9:
        raise bad_value("simulate.fc.digit", f.digit, "a digit 0..9")
    info: dict[str, Any] = {}
    if f.weights is None:
        weights = data.generate_weights(cfg.seed)
        info["weights"] = {"source": "generated", "seed": cfg.seed,
                           "W01": "0.01·U(0,1)", "W12": "exponential, mean 0.36, clipped to [5.4e-4, 1.93]"}
    else:
        weights = data.load_weights(str(f.weights))
        info["weights"] = {"source": str(f.weights)}
    if f.image is None:
        image, info["image"] = data.mnist_digit(f.digit, f.digit_index)
    else:
        image = data.load_image(str(f.image))
        info["image"] = {"source": str(f.image)}
    info["image"]["shape"] = list(image.shape)
    flat = data.flatten_column_major(image)
    inputs = weights["W01"].shape[0]
    if flat.size != inputs:
        raise ConfigError(f"simulate.fc: the image has {flat.size} pixels ({image.shape[0]}×{image.shape[1]}) but "
                          f"W01 has {inputs} rows: they must match.")
    return weights, flat, info


def _check_xor(cfg: DictConfig, duration: float) -> None:
    _xor_cases(cfg.simulate.xor)
    _number("simulate.xor.weight", cfg.simulate.xor.weight)


def _xor_cases(x: DictConfig) -> list[list[float]]:
    cases = x.cases
    ok = isinstance(cases, (ListConfig, list)) and len(cases) > 0 and all(
        isinstance(c, (ListConfig, list)) and len(c) == 2 for c in cases)
    if not ok:
        raise bad_value("simulate.xor.cases", OmegaConf.to_container(cases) if isinstance(cases, ListConfig)
                        else cases, "a non-empty list of [x1, x2] pairs, e.g. [[0,40],[40,40]]")
    return [[_number("simulate.xor.cases", v) for v in c] for c in cases]


# -- the run ---------------------------------------------------------------------------------------------------
def _hh_init(kind: str, circuit: str) -> tuple[float, ...]:
    from hhlif.simulate import experiments, hh

    if kind == "matlab":
        return experiments.CHAIN_INIT if circuit == "chain" else experiments.TV_INIT
    c = hh.REST0 if circuit == "chain" else hh.REST65
    n, m, h_ = hh.steady_gates(np.array(c.v_rest), c)
    return (c.v_rest, float(n), float(m), float(h_))


def simulate(cfg: DictConfig) -> tuple[Any, dict[str, Any]]:
    """Run the simulation of ``cfg``; returns its :class:`~hhlif.simulate.experiments.Result` and the provenance
    of its inputs (fc: weights and image). Writes no files."""
    from hhlif.simulate import experiments

    s = cfg.simulate
    common = dict(duration=float(_duration(s)), dt=float(s.dt), trace_stride=int(s.trace_stride),
                  threshold=float(DEFAULT_THRESHOLD[s.circuit] if s.threshold is None else s.threshold),
                  hh_init=_hh_init(s.hh_init, s.circuit))
    if s.circuit == "chain":
        c = s.chain
        return experiments.run_chain(_waveforms(c.waveform), lif_dt=float(c.lif_dt), weight=float(c.weight),
                                     second_input=float(c.second_input), decay=float(c.decay), **common), {}
    if s.circuit == "fc":
        weights, image, info = _fc_inputs(cfg)
        return experiments.run_fc(weights["W01"], weights["W12"], image, **common), info
    return experiments.run_xor(_xor_cases(s.xor), weight=float(s.xor.weight), **common), {}


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    from hhlif.simulate.plots import plot

    run_dir = Path(run_dir)
    start = time.perf_counter()
    result, inputs = simulate(cfg)
    seconds = time.perf_counter() - start
    preset = OmegaConf.select(cfg, "preset.name")
    metrics = {**result.metrics, "preset": preset, "hh_init": cfg.simulate.hh_init, "inputs": inputs,
               "seconds": round(seconds, 3), "config": OmegaConf.to_container(cfg.simulate, resolve=True)}
    write_json_atomic(run_dir / "metrics.json", metrics)
    np.savez_compressed(run_dir / "traces.npz", **result.arrays)
    written = [run_dir / "metrics.json", run_dir / "traces.npz"]
    if cfg.simulate.plot:
        written.append(plot(result, run_dir / f"{result.kind}.png", dpi=int(cfg.simulate.plot_dpi)))
    print(format_summary(metrics), flush=True)
    log.info("simulated in %.1f s; wrote %s", seconds, ", ".join(str(p) for p in written))
    return metrics


def format_summary(m: dict[str, Any]) -> str:
    """A few lines with the headline numbers of a metrics record."""

    def line(label: str, r: dict[str, Any]) -> str:
        text = f"  {label:<24} spikes HH {r['spikes_hh']:>4}  LIF {r['spikes_lif']:>4}"
        if not r["equal_counts"]:
            return text + "  (counts differ)"
        if r.get("mean_isi_difference_ms") is not None:
            text += f"  mean ISI diff {r['mean_isi_difference_ms']:+.3f} ms"
        if r.get("timing_error") is not None:
            text += f"  timing error {r['timing_error']:.4f}"
        if r.get("max_onset_difference_ms") is not None:
            text += f"  max |dt| {r['max_onset_difference_ms']:.3f} ms"
        return text

    if m["experiment"] == "chain":
        lines = [f"Fig. 3d chain, {m['duration_ms']:g} ms, output neuron 2 (HH vs s-LIF2HH):"]
        lines += [line(w, r["neuron2"]) for w, r in m["results"].items()]
    elif m["experiment"] == "fc":
        cur = m["layer1_current"]
        lines = [f"784-128-10 network, {m['duration_ms']:g} ms, layer-1 current {cur['min']:.1f}..{cur['max']:.1f}:"]
        for layer in ("layer1", "layer2"):
            s = m[layer]["summary"]
            text = (f"  {layer}: {s['equal_counts']}/{s['neurons']} neurons with equal counts, spikes HH "
                    f"{s['spikes_hh']} LIF {s['spikes_lif']}, level agreement {s['level_agreement']:.4f}")
            if s.get("timing_error") is not None:
                text += f", timing error {s['timing_error']:.2g}"
            if s.get("max_onset_difference") is not None:
                text += f", max |dt| {s['max_onset_difference'] * m['dt_ms']:.3f} ms"
            lines.append(text)
    else:
        lines = [f"XOR motif, {m['duration_ms']:g} ms, output neuron 2 (HH vs tv-LIF2HH):"]
        lines += [line(f"x1={c['x1']:g} x2={c['x2']:g}", c["neuron2"]) for c in m["cases"]]
    return "\n".join(lines)
