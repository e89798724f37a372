"""The paper's three equivalence simulations, vectorised over neurons
(docs/explanation/authors-code.md#matlab-simulations).

* :func:`run_chain` (Fig. 3d): a chain of two HH neurons against a chain of two s-LIF2HH units, under one or
  more of the five input waveforms at once (one column of neurons per waveform).
* :func:`run_fc` (Supp. Fig. 2): a 784–128–10 network of HH neurons against the same network of tv-LIF2HH
  neurons, a constant image current into layer 1.
* :func:`run_xor` (Supp. Fig. 2): the XOR motif (two input neurons, one output neuron) for one or more input
  cases at once.

Equations, constants, initial states, time steps, spike rules and metrics are the MATLAB code's (module
docstrings of :mod:`hhlif.simulate.hh`, :mod:`hhlif.simulate.lif2hh`, :mod:`hhlif.simulate.spikes`). Spikes are
*levels* (1 at every fine step the membrane is above θ), as in MATLAB: a spiking HH neuron injects its weight
at every such step, not once per spike; the metrics count onsets. The time loop is Python; each step is a few
NumPy operations on all neurons of the experiment.

Each runner returns a :class:`Result`: ``metrics`` (JSON-ready), ``arrays`` (raw traces for ``traces.npz``)
and what the plots need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hhlif.simulate import hh, spikes
from hhlif.simulate.lif2hh import TVState, slif2hh_step, tv_step
from hhlif.simulate.waveforms import WAVEFORMS, block_means

#: MATLAB initial HH state of the Fig. 3d chain (v, n, m, h); not the resting state
#: (docs/explanation/authors-code.md#known-bugs, bug 15).
CHAIN_INIT = (0.0, 0.6446, 0.0489, 0.1341)
#: MATLAB initial HH state of the Supp. Fig. 2 simulations (v, n, m, h).
TV_INIT = (-70.0, 0.2446, 0.0289, 0.7541)


@dataclass
class Result:
    """What a simulation produced: ``metrics`` for metrics.json, ``arrays`` for traces.npz."""

    kind: str
    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _steps(duration: float, dt: float, what: str) -> int:
    n = int(round(duration / dt))
    if n < 2 or abs(n * dt - duration) > 1e-9 * max(1.0, duration):
        raise ValueError(f"{what}: the duration {duration} must be a whole number (≥ 2) of steps {dt}")
    return n


def _initial(init: Sequence[float], shape) -> list[np.ndarray]:
    return [np.full(shape, float(x)) for x in init]


def run_hh_chain(init: Sequence[float], first_input: np.ndarray, gain: float, offset: float, dt: float,
                 c: hh.HHConstants, threshold: float, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Two HH neurons in a chain, one per column of ``first_input`` [N, W]: neuron 1's update k reads
    first_input[k]; neuron 2's update k reads gain·[v₁ after update k > θ] + offset.

    The two neurons are integrated as one array, neuron 2 one step behind neuron 1 (its input is then known).
    Returns the levels [N, 2, W] (v > θ after each update) and the membranes [⌈N/stride⌉ + 1, 2, W] of every
    ``stride``-th state, from the initial one.
    """
    steps, cols = first_input.shape
    v, n, m, h_ = _initial(init, (2, cols))
    levels = np.empty((steps, 2, cols), dtype=bool)
    trace = np.empty(((steps + stride - 1) // stride + 1, 2, cols), dtype=np.float32)
    trace[0] = v
    current = np.empty((2, cols))
    for k in range(steps + 1):  # iteration k: neuron 1's update k (if k < N) and neuron 2's update k − 1 (if k ≥ 1)
        current[0] = first_input[min(k, steps - 1)]
        current[1] = gain * levels[k - 1, 0] + offset if k else 0.0
        new, _ = hh.euler_step(v, n, m, h_, current, dt, c)
        lead = k < steps  # neuron 1 still has updates to make
        lag = k >= 1  # neuron 2 makes its update k − 1
        rows = [r for r, on in ((0, lead), (1, lag)) if on]
        for old, fresh in zip((v, n, m, h_), new, strict=True):
            old[rows] = fresh[rows]
        if lead:
            levels[k, 0] = v[0] > threshold
            if (k + 1) % stride == 0:
                trace[(k + 1) // stride, 0] = v[0]
        if lag:
            levels[k - 1, 1] = v[1] > threshold
            if k % stride == 0:
                trace[k // stride, 1] = v[1]
    return levels, trace


# -- Fig. 3d ----------------------------------------------------------------------------------------------------
def run_chain(waveforms: Sequence[str], *, duration: float = 80.0, dt: float = 0.001, lif_dt: float = 1.0,
              weight: float = 1e5, threshold: float = 70.0, second_input: float = 0.0, decay: float = 0.9,
              hh_init: Sequence[float] = CHAIN_INIT, trace_stride: int = 10) -> Result:
    """HH chain vs s-LIF2HH chain (docs/explanation/authors-code.md#fig-3d-chain), one column per waveform.

    HH (rest-at-0 convention, forward Euler, ``dt``): HH1 ← x1((k)·dt) for the update to state k; HH2 ← the level
    of HH1's new state × weight·dt + ``second_input``. s-LIF2HH (``lif_dt``): unit 1's sub-neurons 1–3 ← the mean
    of x1 over the coarse step; unit 2's sub-neuron k ← second_input + weight·lif_dt·[unit-1 sub-neuron k above θ]
    + [unit-1 sub-neuron 4 above θ]. The LIF outputs are held over the lif_dt/dt fine samples of their step.
    """
    fns = [WAVEFORMS[w] for w in waveforms]
    n_fine = _steps(duration, dt, "chain")
    n_coarse = _steps(duration, lif_dt, "chain (s-LIF2HH)")
    block = int(round(lif_dt / dt))
    if abs(block * dt - lif_dt) > 1e-9 * lif_dt or block * n_coarse != n_fine:
        raise ValueError("chain: lif_dt must be a whole number of dt steps")
    cols = len(fns)

    t_in = np.arange(1, n_fine + 1) * dt  # update k (1-based) reads x1(k·dt), as MATLAB's x1((i−1)·dt)
    x1 = np.stack([f(t_in) for f in fns], axis=1)  # [N, W]
    levels, trace = run_hh_chain(hh_init, x1, weight * dt, second_input, dt, hh.REST0, threshold, trace_stride)
    lvl1, lvl2, v1, v2 = levels[:, 0], levels[:, 1], trace[:, 0], trace[:, 1]

    x_lif = np.stack([block_means(f, n_coarse, lif_dt) for f in fns], axis=1)  # [M, W]
    u_a, u_b = np.zeros((4, cols)), np.zeros((4, cols))
    fired_a, fired_b = np.zeros((n_coarse, cols), bool), np.zeros((n_coarse, cols), bool)
    pre_a, pre_b = np.zeros((n_coarse, 4, cols)), np.zeros((n_coarse, 4, cols))
    for j in range(n_coarse):
        fired_a[j], above, pre_a[j], u_a = slif2hh_step(u_a, np.broadcast_to(x_lif[j], (3, cols)),
                                                        threshold=threshold, decay=decay, dt=lif_dt)
        drive = second_input + weight * lif_dt * above[:3] + above[3]
        fired_b[j], _, pre_b[j], u_b = slif2hh_step(u_b, drive, threshold=threshold, decay=decay, dt=lif_dt)
    out_lif1 = np.repeat(fired_a, block, axis=0)
    out_lif2 = np.repeat(fired_b, block, axis=0)

    per_wave = {}
    for c, name in enumerate(waveforms):
        second = spikes.compare(spikes.onsets(lvl2[:, c]), spikes.onsets(out_lif2[:, c]), dt)
        first = spikes.compare(spikes.onsets(lvl1[:, c]), spikes.onsets(out_lif1[:, c]), dt)
        per_wave[name] = {"neuron2": second, "neuron1": first}
    metrics = {
        "experiment": "chain", "figure": "Fig. 3d", "waveforms": list(waveforms), "duration_ms": duration,
        "dt_hh_ms": dt, "dt_lif_ms": lif_dt, "weight": weight, "threshold": threshold, "hh_init_vnmh": list(hh_init),
        "samples": n_fine, "metrics_unit": "fine samples (dt_hh_ms each); *_ms keys in ms",
        "compared": "neuron2 = the chain's output (MATLAB output1 vs output2); neuron1 = HH1 vs s-LIF2HH unit 1",
        "results": per_wave,
    }
    arrays = {"waveforms": np.array(list(waveforms)), "t_ms": np.arange(n_fine) * dt + dt,
              "input": x1.astype(np.float32), "input_lif": x_lif,
              "trace_t_ms": np.arange(v1.shape[0]) * trace_stride * dt,
              "v_hh1": v1, "v_hh2": v2, "spike_hh1": lvl1, "spike_hh2": lvl2,
              "spike_lif1": out_lif1, "spike_lif2": out_lif2, "u_lif1": pre_a, "u_lif2": pre_b,
              "lif_t_ms": np.arange(1, n_coarse + 1) * lif_dt}
    return Result("chain", metrics, arrays)


# -- Supp. Fig. 2 ------------------------------------------------------------------------------------------------
def run_fc(w01: np.ndarray, w12: np.ndarray, image: np.ndarray, *, duration: float = 40.0, dt: float = 0.001,
           threshold: float = -40.0, hh_init: Sequence[float] = TV_INIT, trace_stride: int = 10) -> Result:
    """HH vs tv-LIF2HH in the fully connected network (docs/explanation/authors-code.md#supp-fig-2).

    ``image``: the flattened input (0..255, MATLAB column-major order) [inputs]. Layer 1 gets the constant
    current W01ᵀ·image; HH layer 2 gets W12ᵀ·[v₁ > θ] (old state), tv layer 2 gets W12ᵀ·[V_tv,1 > θ]. The
    MATLAB loop makes N − 1 updates (N = duration/dt) and records N − 1 samples of each output.
    """
    n = _steps(duration, dt, "fc")
    hidden, outputs = w12.shape
    current1 = w01.T @ image
    v, n_, m, h_ = _initial(hh_init, (hidden + outputs,))
    current = np.empty(hidden + outputs)
    current[:hidden] = current1
    tv1, tv2 = TVState.initial((hidden,), hh_init[0]), TVState.initial((outputs,), hh_init[0])
    samples = n - 1
    lvl = {k: np.empty((samples, size), dtype=bool) for k, size in
           (("hh1", hidden), ("lif1", hidden), ("hh2", outputs), ("lif2", outputs))}
    n_tr = (samples + trace_stride - 1) // trace_stride
    tr = {k: np.empty((n_tr, size), dtype=np.float32) for k, size in
          (("hh1", hidden), ("lif1", hidden), ("hh2", outputs), ("lif2", outputs))}
    for k in range(samples):
        s_hh1 = v[:hidden] > threshold
        current[hidden:] = w12.T @ s_hh1
        v_old = v
        (v, n_, m, h_), g = hh.euler_step(v, n_, m, h_, current, dt, hh.REST65)
        tv1, v_tv1 = tv_step(tv1, current1, tuple(x[:hidden] for x in g), dt, hh.REST65)
        s_lif1 = v_tv1 > threshold
        tv2, v_tv2 = tv_step(tv2, w12.T @ s_lif1, tuple(x[hidden:] for x in g), dt, hh.REST65)
        lvl["hh1"][k], lvl["lif1"][k] = s_hh1, s_lif1
        lvl["hh2"][k], lvl["lif2"][k] = v_old[hidden:] > threshold, v_tv2 > threshold
        if k % trace_stride == 0:
            j = k // trace_stride
            tr["hh1"][j], tr["hh2"][j] = v_old[:hidden], v_old[hidden:]
            tr["lif1"][j], tr["lif2"][j] = v_tv1, v_tv2
    layers = {}
    for layer in ("1", "2"):
        per = [spikes.compare(a, b, dt) for a, b in
               zip(spikes.onsets(lvl["hh" + layer].T), spikes.onsets(lvl["lif" + layer].T), strict=True)]
        agree = float((lvl["hh" + layer] == lvl["lif" + layer]).mean())
        layers["layer" + layer] = {"summary": {**spikes.summarise(per), "level_agreement": agree}, "neurons": per}
    metrics = {
        "experiment": "fc", "figure": "Supp. Fig. 2 (784-128-10 network)", "duration_ms": duration, "dt_ms": dt,
        "threshold": threshold, "hh_init_vnmh": list(hh_init), "samples": samples,
        "sizes": [int(w01.shape[0]), hidden, outputs],
        "layer1_current": {"min": float(current1.min()), "max": float(current1.max()),
                           "mean": float(current1.mean())},
        "metrics_unit": "samples (dt_ms each); *_ms keys in ms", **layers,
    }
    arrays = {"t_ms": np.arange(samples) * dt, "trace_t_ms": np.arange(n_tr) * trace_stride * dt,
              "layer1_current": current1, "image": image, "W01": w01, "W12": w12,
              **{f"spike_{k}": a for k, a in lvl.items()}, **{f"v_{k}": a for k, a in tr.items()}}
    return Result("fc", metrics, arrays)


def run_xor(cases: Sequence[Sequence[float]], *, weight: float = 20.0, duration: float = 40.0, dt: float = 0.001,
            threshold: float = -40.0, hh_init: Sequence[float] = TV_INIT, trace_stride: int = 10) -> Result:
    """HH vs tv-LIF2HH in the XOR motif, one column per input case (x1, x2)
    (docs/explanation/authors-code.md#supp-fig-2).

    Neurons 1 and 3 take the constant currents x1 and x2; neuron 2 takes weight·s₁ − weight·s₃ (HH: levels of the
    old states; tv: levels of this step's V_tv). The output compared is neuron 2's.
    """
    n = _steps(duration, dt, "xor")
    x = np.asarray(cases, dtype=np.float64).T  # [2, C]
    cols = x.shape[1]
    v, n_, m, h_ = _initial(hh_init, (3, cols))  # rows: neuron 1, neuron 3, neuron 2
    current = np.empty((3, cols))
    current[:2] = x
    tv_in, tv_out = TVState.initial((2, cols), hh_init[0]), TVState.initial((cols,), hh_init[0])
    samples = n - 1
    lvl_hh, lvl_tv = np.empty((samples, 3, cols), bool), np.empty((samples, 3, cols), bool)
    n_tr = (samples + trace_stride - 1) // trace_stride
    tr_hh, tr_tv = np.empty((n_tr, 3, cols), np.float32), np.empty((n_tr, 3, cols), np.float32)
    for k in range(samples):
        s_hh = v > threshold
        current[2] = weight * s_hh[0] - weight * s_hh[1]
        v_old = v
        (v, n_, m, h_), g = hh.euler_step(v, n_, m, h_, current, dt, hh.REST65)
        tv_in, v_in = tv_step(tv_in, x, tuple(a[:2] for a in g), dt, hh.REST65)
        s_in = v_in > threshold
        tv_out, v_out = tv_step(tv_out, weight * s_in[0] - weight * s_in[1], tuple(a[2] for a in g), dt, hh.REST65)
        lvl_hh[k] = s_hh
        lvl_tv[k, :2], lvl_tv[k, 2] = s_in, v_out > threshold
        if k % trace_stride == 0:
            tr_hh[k // trace_stride] = v_old
            tr_tv[k // trace_stride, :2], tr_tv[k // trace_stride, 2] = v_in, v_out
    names = ("neuron1", "neuron3", "neuron2")
    results = []
    for c in range(cols):
        entry = {"x1": float(x[0, c]), "x2": float(x[1, c])}
        for r, name in enumerate(names):
            entry[name] = spikes.compare(spikes.onsets(lvl_hh[:, r, c]), spikes.onsets(lvl_tv[:, r, c]), dt)
        entry["output_level_agreement"] = float((lvl_hh[:, 2, c] == lvl_tv[:, 2, c]).mean())
        results.append(entry)
    metrics = {"experiment": "xor", "figure": "Supp. Fig. 2 (XOR motif)", "duration_ms": duration, "dt_ms": dt,
               "threshold": threshold, "weight": weight, "hh_init_vnmh": list(hh_init), "samples": samples,
               "metrics_unit": "samples (dt_ms each); *_ms keys in ms",
               "compared": "neuron2 is the output (MATLAB output1 vs output2)", "cases": results}
    arrays = {"t_ms": np.arange(samples) * dt, "trace_t_ms": np.arange(n_tr) * trace_stride * dt,
              "cases": x.T, "rows": np.array(names), "spike_hh": lvl_hh, "spike_lif": lvl_tv,
              "v_hh": tr_hh, "v_lif": tr_tv}
    return Result("xor", metrics, arrays)
