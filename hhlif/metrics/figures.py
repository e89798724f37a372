"""The pictures of each spiking layer that TensorBoard shows at every evaluation (``spikes/<layer>/...``):

* ``rate_per_step``: the layer's mean firing rate at each time step of the window (one chart per layer);
* ``raster``: the spikes of a few samples, one row per spike train (unit), one column per time step;
* ``voltage``: the voltage (:meth:`Neuron.voltage <hhlif.neurons.base.Neuron.voltage>`) of a few units of the
  first sample over the window, with the threshold and the steps where the unit spiked.

:func:`layer_figures` returns, per tag, a function that draws the figure (a ``matplotlib.figure.Figure``
without pyplot: nothing to close, no display needed), so a logger with images turned off draws nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from hhlif.metrics.spikes import LayerSpikes, LayerTrace

RASTER_UNITS = 128  # spike trains shown per raster: evenly spaced over the layer when it has more
TRACE_UNITS = 3     # voltage traces per layer
DPI = 80


def layer_figures(layers: Mapping[str, LayerSpikes], traces: Mapping[str, LayerTrace],
                  what: str = "sample") -> dict[str, Callable[[], Any]]:
    """Tag → figure factory for every layer: its rate per step (from ``layers``, the statistics of the whole
    evaluation), raster and voltage traces (from ``traces``, a few ``what``s recorded step by step)."""
    out: dict[str, Callable[[], Any]] = {}
    for name, stats in layers.items():
        out[f"spikes/{name}/rate_per_step"] = lambda n=name, s=stats: rate_per_step(n, s)
    for name, trace in traces.items():
        out[f"spikes/{name}/raster"] = lambda n=name, t=trace: raster(n, t, what)
        if trace.voltage is not None:
            out[f"spikes/{name}/voltage"] = lambda n=name, t=trace: voltage(n, t, what)
    return out


def _figure(width: float, height: float, *, left: float = 0.75, bottom: float = 0.5, top: float = 0.55,
            wspace: float = 0.15, hspace: float = 0.45):
    """A figure of ``width`` × ``height`` inches whose margins are fixed in inches (cheaper than a layout
    engine, and the labels always fit)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(left=left / width, right=1 - 0.15 / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wspace, hspace=hspace)
    return fig


def rate_per_step(name: str, stats: LayerSpikes):
    """The mean firing rate of layer ``name`` at each time step (spikes per unit per step, in [0, 1])."""
    fig = _figure(6.4, 3.2, top=0.35)
    ax = fig.add_subplot()
    steps = torch.arange(1, stats.time_steps + 1)
    ax.plot(steps, stats.per_step, marker="o", color="tab:blue")
    ax.axhline(stats.rate_mean, color="grey", linestyle="--", linewidth=1, label=f"mean {stats.rate_mean:.3f}")
    ax.set(xlabel="time step", ylabel="firing rate (spikes/unit/step)", ylim=(0, max(0.05, 1.1 * float(
        stats.per_step.max()))), title=f"{name}: firing rate per time step")
    ax.set_xticks(steps if stats.time_steps <= 20 else steps[::max(1, stats.time_steps // 10)])
    ax.legend(loc="best", fontsize="small")
    return fig


def _shown_units(total: int, limit: int) -> torch.Tensor:
    return torch.arange(total) if total <= limit else torch.linspace(0, total - 1, limit).round().long()


def raster(name: str, trace: LayerTrace, what: str = "sample"):
    """The spikes of layer ``name`` for the recorded samples, one after the other along the time axis (grey
    lines between them): a tick per spike at (time step, unit)."""
    steps, samples, units = trace.spikes.shape
    shown = _shown_units(units, RASTER_UNITS)
    fig = _figure(6.4, 3.4, top=0.75)
    ax = fig.add_subplot()
    s = trace.spikes[:, :, shown].transpose(0, 1).reshape(samples * steps, len(shown))  # sample-major
    t, u = torch.nonzero(s > 0, as_tuple=True)
    ax.scatter(t + 1, u, marker="|", s=10, color="black", linewidths=0.8)
    for b in range(samples):
        if b:
            ax.axvline(b * steps + 0.5, color="tab:grey", linewidth=1.5)
        rate = float(trace.spikes[:, b, shown].mean())
        ax.text(b * steps + (steps + 1) / 2, len(shown) + 1, f"{what} {b + 1}\nrate {rate:.3f}", ha="center",
                va="bottom", fontsize="small")
    ax.set(xlim=(0.5, samples * steps + 0.5), ylim=(-1, len(shown)),
           xlabel=f"time step (1–{steps} of each {what})",
           ylabel=f"unit ({len(shown)} of {units})" if len(shown) < units else "unit")
    ax.set_xticks([b * steps + 1 for b in range(samples)] + [samples * steps],
                  labels=["1"] * samples + [str(steps)])
    ax.set_title(f"{name}: spike raster", pad=28)
    return fig


def _trace_units(spikes: torch.Tensor, voltage: torch.Tensor, count: int) -> list[int]:
    """Units of one sample to trace: one per spike count spread over the counts that occur (busy, occasional
    and silent units; at each count the one with the highest peak voltage), then evenly over the ranking."""
    n = voltage.shape[1]
    peak = voltage.nan_to_num(nan=-1e30).max(0).values.clamp_min(-1e30)
    counts = spikes.sum(0) if spikes.shape[1] == n else torch.zeros(n)
    ranked = torch.argsort(counts * (1 + float(peak.abs().max())) + peak, descending=True, stable=True).tolist()
    levels = counts.unique().flip(0)
    picks: list[int] = []
    for level in levels[_shown_units(len(levels), count)]:
        picks.append(next(u for u in ranked if counts[u] == level))
    for i in _shown_units(n, count).tolist():
        if len(picks) >= min(count, n):
            break
        if ranked[i] not in picks:
            picks.append(ranked[i])
    return sorted(picks, key=ranked.index)


def voltage(name: str, trace: LayerTrace, what: str = "sample"):
    """The voltage of a few units of the first recorded sample over the window, threshold dashed, a tick
    above the trace where the unit spiked."""
    from matplotlib.ticker import MaxNLocator

    v = trace.voltage[:, 0]
    s = trace.spikes[:, 0]
    units = _trace_units(s, v, TRACE_UNITS)
    steps = torch.arange(1, v.shape[0] + 1)
    cols = min(3, len(units))
    rows = -(-len(units) // cols)
    fig = _figure(6.4, 1.9 * rows + 0.9, left=0.55, wspace=0.35, hspace=0.4)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).flatten()
    for ax, unit in zip(axes, units, strict=False):
        ax.plot(steps, v[:, unit], color="tab:blue", marker=".", linewidth=1.2)
        ax.axhline(trace.threshold, color="tab:red", linestyle="--", linewidth=1)
        if s.shape[1] == v.shape[1]:
            fired = steps[s[:, unit] > 0]
            top = max(float(v[:, unit].nan_to_num(nan=-torch.inf).max()), trace.threshold)
            ax.plot(fired, [top * 1.08 if top > 0 else 0.1] * len(fired), "|", color="black", markersize=8)
            ax.set_title(f"unit {unit}: {int(s[:, unit].sum())} spikes", fontsize="small")
        else:
            ax.set_title(f"unit {unit}", fontsize="small")
    for ax in axes[len(units):]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel("time step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{name}: voltage of {len(units)} units, {what} 1 (threshold dashed, | = spike)")
    return fig
