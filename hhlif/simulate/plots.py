"""Figures of the simulations: membrane traces and spike rasters of the HH model and its LIF circuit overlaid.

Conventions shared by the three figures:

* **colours**: HH blue, the LIF circuit orange. Where both models have a membrane potential in mV (tv-LIF2HH:
  V = f₁ + f₂ + f₃ + u₄), the HH trace is a wide pale band and the LIF circuit's a thin dashed line drawn on
  top: where the models agree the dashed line runs inside the band;
* **rasters**: one row per neuron, every spike onset a tick, HH ticks in the upper half of the row and the
  LIF circuit's in the lower half, so that matching spikes form one unbroken vertical bar;
* the dotted grey line is the spike level θ; the panel titles of the rasters carry the comparison metrics
  of :mod:`hhlif.simulate.spikes` (spike counts, mean inter-spike-interval difference, normalised
  spike-timing error, largest onset difference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hhlif.files import atomic_write
from hhlif.simulate import spikes
from hhlif.simulate.experiments import Result

HH_COLOUR, LIF_COLOUR = "#1f77b4", "#ff7f0e"
HH_BAND = dict(color=HH_COLOUR, lw=3.2, alpha=0.4, solid_capstyle="butt")
LIF_LINE = dict(color=LIF_COLOUR, lw=1.0, ls=(0, (4, 2)))
THETA_LINE = dict(color="0.45", lw=0.7, ls=":")
DEFAULT_DPI = 110


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, without touching pyplot's global state
    return fig


def _raster(ax, rows: list[tuple[np.ndarray, np.ndarray]], t_ms: np.ndarray, labels: list[str] | None = None,
            size: float = 6.0, width: float = 1.2) -> None:
    """One row per (hh_onsets, lif_onsets) pair, top row first: HH ticks above the row's centre, LIF below."""
    n = len(rows)
    for r, (a, b) in enumerate(rows):
        y = n - 1 - r
        ax.plot(t_ms[a], np.full(len(a), y + 0.2), "|", color=HH_COLOUR, markersize=size, mew=width)
        ax.plot(t_ms[b], np.full(len(b), y - 0.2), "|", color=LIF_COLOUR, markersize=size, mew=width)
    ax.set_ylim(-0.7, n - 0.3)
    if labels is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(range(n), labels[::-1])
    ax.set_xlim(0.0, float(t_ms[-1]))


def _legend_handles(lif: str, traces: bool = True) -> list:
    from matplotlib.lines import Line2D

    if traces:
        return [Line2D([], [], **HH_BAND, label="HH"), Line2D([], [], **LIF_LINE, label=lif),
                Line2D([], [], **THETA_LINE, label="θ (spike level)")]
    return [Line2D([], [], color=HH_COLOUR, marker="|", ls="", markersize=9, mew=1.5, label="HH spike"),
            Line2D([], [], color=LIF_COLOUR, marker="|", ls="", markersize=9, mew=1.5, label=f"{lif} spike")]


def _fmt(m: dict[str, Any], lif: str, dt: float) -> str:
    """'HH 5 / LIF 5 spikes' and a second line 'ΔISI −0.23 ms, error 0.040, max |Δt| 1.6 ms' (what is defined)."""
    text = f"HH {m['spikes_hh']} / {lif} {m['spikes_lif']} spikes"
    if not m["equal_counts"]:
        return text + "\n(counts differ: ISI and timing metrics undefined)"
    parts = []
    if m["mean_isi_difference"] is not None:
        parts.append(f"ΔISI {m['mean_isi_difference'] * dt:+.3g} ms")
    if m["timing_error"] is not None:
        parts.append(f"error {m['timing_error']:.2g}")
    if m["max_onset_difference"] is not None:
        parts.append(f"max |Δt| {m['max_onset_difference'] * dt:.3g} ms")
    return text + "\n" + ", ".join(parts)


def plot(result: Result, path: Path, dpi: int = DEFAULT_DPI) -> Path:
    """Draw ``result`` to ``path`` (PNG) and return it."""
    fig = {"chain": _chain, "fc": _fc, "xor": _xor}[result.kind](result)
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"), what="figure")


# -- Fig. 3d ------------------------------------------------------------------------------------------------------
def _chain(result: Result):
    a, m = result.arrays, result.metrics
    names = [str(w) for w in a["waveforms"]]
    cols = len(names)
    dt = m["dt_hh_ms"]
    fig = _figure(max(8.5, 3.6 * cols + 1.2), 9.8)
    grid = fig.add_gridspec(4, cols, height_ratios=[0.8, 1.2, 1.2, 0.75])
    t, tt, tl = a["t_ms"], a["trace_t_ms"], a["lif_t_ms"]
    theta = m["threshold"]
    # the quantity s-LIF2HH compares with θ: a unit fires when its smallest sub-neuron potential exceeds θ
    low1, low2 = a["u_lif1"].min(axis=1), a["u_lif2"].min(axis=1)  # [M, W]
    for c, name in enumerate(names):
        first = c == 0
        ax0 = ax = fig.add_subplot(grid[0, c])
        ax.plot(t, a["input"][:, c], color="0.25", lw=0.9)
        ax.step(tl, a["input_lif"][:, c], where="pre", color=LIF_COLOUR, lw=0.9, ls="--")
        ax.set_title(f"{name} input", fontsize=11)
        if first:
            ax.set_ylabel("input x₁ (µA/cm²)")
            from matplotlib.lines import Line2D
            ax.legend(handles=[Line2D([], [], color="0.25", lw=0.9, label="x₁(t), into HH neuron 1"),
                               Line2D([], [], color=LIF_COLOUR, lw=0.9, ls="--",
                                      label="its mean per 1-ms step, into s-LIF2HH unit 1")],
                      fontsize=7, loc="lower left", framealpha=0.85)
        ax = fig.add_subplot(grid[1, c], sharex=ax0)
        ax.plot(tt, a["v_hh1"][:, c], color="0.6", lw=0.8, label="HH neuron 1 (input)")
        ax.plot(tt, a["v_hh2"][:, c], color=HH_COLOUR, lw=1.1, label="HH neuron 2 (output)")
        ax.axhline(theta, **THETA_LINE, label=f"θ = {theta:g}")
        if first:
            ax.set_ylabel("HH membrane v (mV, rest 0)")
            ax.legend(fontsize=7, loc="upper left", framealpha=0.85)
        ax = fig.add_subplot(grid[2, c], sharex=ax0)
        ax.step(tl, low1[:, c], where="pre", color="0.6", lw=0.8, label="unit 1 (input)")
        ax.step(tl, low2[:, c], where="pre", color=LIF_COLOUR, lw=1.1, label="unit 2 (output)")
        ax.axhline(theta, **THETA_LINE)
        ax.set_yscale("symlog", linthresh=100.0)
        ax.set_ylim(min(-30.0, float(min(low1[:, c].min(), low2[:, c].min())) * 1.5), 4e5)
        if first:
            ax.set_ylabel("s-LIF2HH min over sub-neurons\nof u_k (a.u., before reset)")
            ax.legend(fontsize=7, loc="upper left", framealpha=0.85)
        ax = fig.add_subplot(grid[3, c], sharex=ax0)
        res = m["results"][name]
        rows = [(spikes.onsets(a["spike_hh1"][:, c]), spikes.onsets(a["spike_lif1"][:, c])),
                (spikes.onsets(a["spike_hh2"][:, c]), spikes.onsets(a["spike_lif2"][:, c]))]
        _raster(ax, rows, t, ["neuron 1", "neuron 2\n(output)"] if first else None, size=11)
        ax.set_xlabel("time (ms)")
        ax.set_title("neuron 2: " + _fmt(res["neuron2"], "s-LIF2HH", dt), fontsize=8)
        if first:
            ax.legend(handles=_legend_handles("s-LIF2HH", traces=False), fontsize=7, loc="upper left",
                      bbox_to_anchor=(0.0, -0.32), ncol=2, frameon=False)
    for ax in fig.axes:
        ax.tick_params(labelsize=8)
    fig.suptitle(f"Fig. 3d: chain of two HH neurons vs chain of two s-LIF2HH units\nθ = {theta:g}, HH forward "
                 f"Euler dt {dt:g} ms, s-LIF2HH dt {m['dt_lif_ms']:g} ms, W = {m['weight']:.3g}", fontsize=11)
    return fig


# -- Supp. Fig. 2, 784–128–10 ----------------------------------------------------------------------------------
def _fc(result: Result):
    a, m = result.arrays, result.metrics
    outputs = a["v_hh2"].shape[1]
    dt = m["dt_ms"]
    fig = _figure(14, 0.95 * outputs + 2.2)
    outer = fig.add_gridspec(1, 2, width_ratios=[1.2, 1])
    left = outer[0].subgridspec(outputs, 1, hspace=0.0)
    right = outer[1].subgridspec(2, 1, height_ratios=[2.0, 1.0])
    tt, t = a["trace_t_ms"], a["t_ms"]
    theta = m["threshold"]
    top = None
    for i in range(outputs):
        ax = fig.add_subplot(left[i], sharex=top, sharey=top)
        top = top or ax
        ax.plot(tt, a["v_hh2"][:, i], **HH_BAND)
        ax.plot(tt, a["v_lif2"][:, i], **LIF_LINE)
        ax.axhline(theta, **THETA_LINE)
        ax.set_xlim(0.0, float(t[-1]))
        ax.set_ylabel(f"out {i}", rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([-50, 0, 50])
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.set_title("output layer: membrane potential v (mV) of each of the 10 neurons", fontsize=10)
            ax.legend(handles=_legend_handles("tv-LIF2HH"), fontsize=7, loc="upper right", ncol=3, framealpha=0.9)
        if i < outputs - 1:
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel("time (ms)")
    s1, s2 = m["layer1"]["summary"], m["layer2"]["summary"]
    ax1 = fig.add_subplot(right[0])
    rows = list(zip(spikes.onsets(a["spike_hh1"].T), spikes.onsets(a["spike_lif1"].T), strict=True))
    _raster(ax1, rows, t, size=2.2, width=0.9)
    ticks = [k for k in range(0, len(rows), 16)]
    ax1.set_yticks([len(rows) - 1 - k for k in ticks], [str(k) for k in ticks])
    ax1.set_ylabel("hidden neuron")
    ax1.tick_params(labelbottom=False, labelsize=7)
    ax1.set_title(_layer_title(f"hidden layer ({s1['neurons']} neurons)", s1, dt), fontsize=9)
    ax1.legend(handles=_legend_handles("tv-LIF2HH", traces=False), fontsize=7, loc="upper right",
               ncol=2, framealpha=0.9)
    ax2 = fig.add_subplot(right[1], sharex=ax1)
    rows = list(zip(spikes.onsets(a["spike_hh2"].T), spikes.onsets(a["spike_lif2"].T), strict=True))
    _raster(ax2, rows, t, [f"out {i}" for i in range(outputs)], size=7)
    ax2.tick_params(labelsize=7)
    ax2.set_xlabel("time (ms)")
    ax2.set_title(_layer_title("output layer", s2, dt), fontsize=9)
    cur = m["layer1_current"]
    fig.suptitle(f"Supp. Fig. 2: {'–'.join(map(str, m['sizes']))} network of HH neurons vs the same network of "
                 f"tv-LIF2HH neurons\nconstant image current into the hidden layer ({cur['min']:.1f}–"
                 f"{cur['max']:.1f} µA/cm²), θ = {theta:g} mV, forward Euler dt {dt:g} ms", fontsize=11)
    return fig


def _layer_title(what: str, s: dict[str, Any], dt: float) -> str:
    text = (f"{what}: {s['equal_counts']}/{s['neurons']} equal spike counts "
            f"(HH {s['spikes_hh']}, tv-LIF2HH {s['spikes_lif']} spikes)")
    extra = []
    if s.get("timing_error") is not None:
        extra.append(f"mean timing error {s['timing_error']:.2g}")
    if s.get("max_onset_difference") is not None:
        extra.append(f"max |Δt| {s['max_onset_difference'] * dt:.3g} ms")
    if "level_agreement" in s:
        extra.append(f"samples agreeing {100 * s['level_agreement']:.3f} %")
    return text + ("\n" + ", ".join(extra) if extra else "")


# -- Supp. Fig. 2, XOR -------------------------------------------------------------------------------------------
def _xor(result: Result):
    a, m = result.arrays, result.metrics
    cases = m["cases"]
    cols = len(cases)
    dt = m["dt_ms"]
    fig = _figure(max(8.5, 3.6 * cols + 1.2), 8.8)
    grid = fig.add_gridspec(4, cols, height_ratios=[1, 1, 1.2, 0.75])
    tt, t = a["trace_t_ms"], a["t_ms"]
    theta = m["threshold"]
    labels = ["neuron 1\n(input x₁)", "neuron 3\n(input x₂)", "neuron 2\n(output)"]
    row_axes: list[Any] = [None, None, None]
    for c, case in enumerate(cases):
        first = c == 0
        ax0 = None
        for r in range(3):
            ax = fig.add_subplot(grid[r, c], sharex=ax0, sharey=row_axes[r])
            ax0 = ax0 or ax
            row_axes[r] = row_axes[r] or ax
            ax.plot(tt, a["v_hh"][:, r, c], **HH_BAND)
            ax.plot(tt, a["v_lif"][:, r, c], **LIF_LINE)
            ax.axhline(theta, **THETA_LINE)
            ax.set_xlim(0.0, float(t[-1]))
            ax.tick_params(labelbottom=False, labelsize=8)
            if first:
                ax.set_ylabel(f"{labels[r]}\nv (mV)", fontsize=8)
            else:
                ax.tick_params(labelleft=False)
            if r == 0:
                ax.set_title(f"x₁ = {case['x1']:g}, x₂ = {case['x2']:g} µA/cm²", fontsize=11)
                if first:
                    ax.legend(handles=_legend_handles("tv-LIF2HH"), fontsize=7, loc="upper right", framealpha=0.9)
        ax = fig.add_subplot(grid[3, c], sharex=ax0)
        rows = [(spikes.onsets(a["spike_hh"][:, r, c]), spikes.onsets(a["spike_lif"][:, r, c])) for r in (0, 1, 2)]
        _raster(ax, rows, t, ["neuron 1", "neuron 3", "neuron 2"] if first else None, size=9)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("time (ms)")
        ax.set_title("neuron 2: " + _fmt(case["neuron2"], "tv", dt), fontsize=8)
        if first:
            ax.legend(handles=_legend_handles("tv-LIF2HH", traces=False), fontsize=7, loc="upper left",
                      bbox_to_anchor=(0.0, -0.42), ncol=2, frameon=False)
    v0 = m.get("hh_init_vnmh", [None])[0]
    if v0 is not None and v0 < -65.0:
        fig.text(0.99, 0.005, f"Every neuron starts at v = {v0:g} mV, below rest (the MATLAB initial state), and fires "
                 "one rebound spike near 5 ms whatever its input; simulate.hh_init=rest starts at rest.",
                 ha="right", va="bottom", fontsize=7, color="0.3")
    fig.suptitle(f"Supp. Fig. 2: XOR motif of HH neurons vs tv-LIF2HH neurons\nneuron 2 ← {m['weight']:g}·s₁ − "
                 f"{m['weight']:g}·s₃, θ = {theta:g} mV, forward Euler dt {dt:g} ms", fontsize=11)
    return fig
