"""Figures of the simulations: membrane traces and spike rasters of the HH model and its LIF circuit overlaid.

Colours: HH blue (solid), LIF circuit orange (dashed / dots). In rasters every spike onset is a tick; a row
holds one neuron of both models (HH ticks above the row's centre line, LIF ticks below it), so matching
spikes sit on top of each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hhlif.simulate import spikes
from hhlif.simulate.experiments import Result

HH_COLOUR, LIF_COLOUR = "#1f77b4", "#ff7f0e"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # the Agg backend, without touching pyplot's global state
    return fig


def _raster(ax, rows: list[tuple[np.ndarray, np.ndarray]], t_ms: np.ndarray, labels: list[str] | None = None,
            size: float = 6.0) -> None:
    """One row per (hh_onsets, lif_onsets) pair, top row first."""
    n = len(rows)
    for r, (a, b) in enumerate(rows):
        y = n - 1 - r
        ax.plot(t_ms[a], np.full(len(a), y + 0.18), "|", color=HH_COLOUR, markersize=size, mew=1.2)
        ax.plot(t_ms[b], np.full(len(b), y - 0.18), "|", color=LIF_COLOUR, markersize=size, mew=1.2)
    ax.set_ylim(-0.7, n - 0.3)
    if labels is not None:
        ax.set_yticks(range(n), labels[::-1])
    ax.set_xlim(t_ms[0], t_ms[-1])


def _legend(ax, lif: str) -> None:
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color=HH_COLOUR, label="HH"),
                       Line2D([], [], color=LIF_COLOUR, ls="--", label=lif)], loc="upper right", fontsize=7)


def _fmt(m: dict[str, Any]) -> str:
    text = f"spikes HH {m['spikes_hh']} / LIF {m['spikes_lif']}"
    if m["timing_error"] is not None:
        text += f", timing error {m['timing_error']:.3g}"
    return text


def plot(result: Result, path: Path) -> Path:
    """Draw ``result`` to ``path`` (PNG) and return it."""
    fig = {"chain": _chain, "fc": _fc, "xor": _xor}[result.kind](result)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _chain(result: Result):
    a, m = result.arrays, result.metrics
    names = [str(w) for w in a["waveforms"]]
    cols = len(names)
    fig = _figure(4.2 * cols + 1, 9.5)
    grid = fig.add_gridspec(4, cols, height_ratios=[1, 1.3, 1.3, 1.1], hspace=0.35, wspace=0.25)
    t, tt, tl = a["t_ms"], a["trace_t_ms"], a["lif_t_ms"]
    theta = m["threshold"]
    for c, name in enumerate(names):
        ax = fig.add_subplot(grid[0, c])
        ax.plot(t, a["input"][:, c], color="0.3", lw=0.8, label="x₁(t) (HH)")
        ax.step(tl, a["input_lif"][:, c], where="pre", color=LIF_COLOUR, lw=1, ls="--", label="step mean (s-LIF2HH)")
        ax.set_title(f"{name}", fontsize=11)
        if c == 0:
            ax.set_ylabel("input (µA/cm²)")
            ax.legend(fontsize=7, loc="upper right")
        ax = fig.add_subplot(grid[1, c])
        ax.plot(tt, a["v_hh1"][:, c], color=HH_COLOUR, lw=0.7, alpha=0.45, label="HH neuron 1")
        ax.plot(tt, a["v_hh2"][:, c], color=HH_COLOUR, lw=0.9, label="HH neuron 2")
        ax.axhline(theta, color="0.5", lw=0.6, ls=":")
        if c == 0:
            ax.set_ylabel("HH membrane v (mV)")
            ax.legend(fontsize=7, loc="upper right")
        ax = fig.add_subplot(grid[2, c])
        ax.step(tl, a["u_lif1"][:, 3, c], where="pre", color=LIF_COLOUR, lw=0.7, alpha=0.5, label="unit 1, u₄")
        ax.step(tl, a["u_lif2"][:, 3, c], where="pre", color=LIF_COLOUR, lw=1.0, ls="--", label="unit 2, u₄")
        ax.axhline(theta, color="0.5", lw=0.6, ls=":")
        ax.set_yscale("symlog", linthresh=100.0)
        if c == 0:
            ax.set_ylabel("s-LIF2HH u₄ (before reset)")
            ax.legend(fontsize=7, loc="upper right")
        ax = fig.add_subplot(grid[3, c])
        res = m["results"][name]
        rows = [(spikes.onsets(a["spike_hh1"][:, c]), spikes.onsets(a["spike_lif1"][:, c])),
                (spikes.onsets(a["spike_hh2"][:, c]), spikes.onsets(a["spike_lif2"][:, c]))]
        _raster(ax, rows, t, ["neuron 1", "neuron 2"], size=10)
        ax.set_xlabel("time (ms)")
        ax.set_title("output: " + _fmt(res["neuron2"]), fontsize=8)
        if c == 0:
            _legend(ax, "s-LIF2HH")
    fig.suptitle(f"Fig. 3d: HH chain vs s-LIF2HH chain (θ = {theta:g}, HH dt {m['dt_hh_ms']:g} ms, "
                 f"s-LIF2HH dt {m['dt_lif_ms']:g} ms)", fontsize=12)
    return fig


def _fc(result: Result):
    a, m = result.arrays, result.metrics
    outputs = a["v_hh2"].shape[1]
    fig = _figure(15, 1.0 * outputs + 2.5)
    grid = fig.add_gridspec(outputs, 2, width_ratios=[1.25, 1], hspace=0.15, wspace=0.12)
    tt, t = a["trace_t_ms"], a["t_ms"]
    for i in range(outputs):
        ax = fig.add_subplot(grid[i, 0])
        ax.plot(tt, a["v_hh2"][:, i], color=HH_COLOUR, lw=0.9)
        ax.plot(tt, a["v_lif2"][:, i], color=LIF_COLOUR, lw=0.9, ls="--")
        ax.axhline(m["threshold"], color="0.5", lw=0.5, ls=":")
        ax.set_xlim(tt[0], tt[-1])
        ax.set_ylabel(f"{i}", rotation=0, labelpad=8, fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.set_title("output layer membranes v (mV), one panel per output neuron", fontsize=10)
            _legend(ax, "tv-LIF2HH")
        if i < outputs - 1:
            ax.set_xticklabels([])
        else:
            ax.set_xlabel("time (ms)")
    half = outputs // 2
    ax = fig.add_subplot(grid[:half, 1])
    rows = list(zip(spikes.onsets(a["spike_hh1"].T), spikes.onsets(a["spike_lif1"].T), strict=True))
    _raster(ax, rows, t, size=2.5)
    s1 = m["layer1"]["summary"]
    ax.set_title(f"layer 1 ({len(rows)} neurons): {s1['equal_counts']}/{s1['neurons']} equal counts, "
                 f"spikes HH {s1['spikes_hh']} / tv {s1['spikes_lif']}", fontsize=9)
    ax.set_ylabel("neuron")
    ax.set_xticklabels([])
    ax = fig.add_subplot(grid[half + 1:, 1])
    rows = list(zip(spikes.onsets(a["spike_hh2"].T), spikes.onsets(a["spike_lif2"].T), strict=True))
    _raster(ax, rows, t, [str(i) for i in range(outputs)], size=8)
    s2 = m["layer2"]["summary"]
    err = "" if s2["timing_error"] is None else f", mean timing error {s2['timing_error']:.2g}"
    ax.set_title(f"output layer: {s2['equal_counts']}/{s2['neurons']} equal counts{err}", fontsize=9)
    ax.set_xlabel("time (ms)")
    _legend(ax, "tv-LIF2HH")
    cur = m["layer1_current"]
    fig.suptitle(f"Supp. Fig. 2: HH vs tv-LIF2HH, {'–'.join(map(str, m['sizes']))} network "
                 f"(layer-1 current {cur['min']:.1f}–{cur['max']:.1f} µA/cm², θ = {m['threshold']:g} mV)",
                 fontsize=12)
    return fig


def _xor(result: Result):
    a, m = result.arrays, result.metrics
    cases = m["cases"]
    cols = len(cases)
    fig = _figure(4.2 * cols + 1, 8.5)
    grid = fig.add_gridspec(4, cols, height_ratios=[1, 1, 1.3, 0.8], hspace=0.35, wspace=0.25)
    tt, t = a["trace_t_ms"], a["t_ms"]
    labels = ["neuron 1 (x₁)", "neuron 3 (x₂)", "neuron 2 (output)"]
    for c, case in enumerate(cases):
        for r in range(3):
            ax = fig.add_subplot(grid[r, c])
            ax.plot(tt, a["v_hh"][:, r, c], color=HH_COLOUR, lw=0.9)
            ax.plot(tt, a["v_lif"][:, r, c], color=LIF_COLOUR, lw=0.9, ls="--")
            ax.axhline(m["threshold"], color="0.5", lw=0.5, ls=":")
            ax.set_xlim(tt[0], tt[-1])
            ax.set_xticklabels([])
            if c == 0:
                ax.set_ylabel(f"{labels[r]}\nv (mV)", fontsize=8)
            if r == 0:
                ax.set_title(f"x₁ = {case['x1']:g}, x₂ = {case['x2']:g}", fontsize=11)
                if c == 0:
                    _legend(ax, "tv-LIF2HH")
        ax = fig.add_subplot(grid[3, c])
        rows = [(spikes.onsets(a["spike_hh"][:, r, c]), spikes.onsets(a["spike_lif"][:, r, c])) for r in (0, 1, 2)]
        _raster(ax, rows, t, ["n1", "n3", "n2"], size=8)
        ax.set_xlabel("time (ms)")
        ax.set_title("output: " + _fmt(case["neuron2"]), fontsize=8)
    fig.suptitle(f"Supp. Fig. 2: XOR motif, HH vs tv-LIF2HH (weights ±{m['weight']:g}, θ = {m['threshold']:g} mV)",
                 fontsize=12)
    return fig
