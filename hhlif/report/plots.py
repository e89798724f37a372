"""The figures of ``hhlif report`` (matplotlib, Agg canvas, PNG). Each function draws one figure from the
groups of :mod:`hhlif.report.runs` and returns False when there is nothing to draw.

Error bars and bands are ± one sample standard deviation over seeds (none for a single seed). Every group has
a colour of its own, the same in every figure: a model's is the colour of the paper's Fig. 4d (s-LIF, HH,
s-LIF2HH, 4s-LIF, ANN); swept variants of one model get shades of it, from dark to light, and differ by hatching
(bars), line style and marker too. Legends stand outside the axes (right of the panels), so they never hide
data; a series of a single point is drawn with a marker.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hhlif.files import atomic_write
from hhlif.report.curves import Series, average
from hhlif.report.runs import Group, Stat, format_value, short

#: a colour per (neuron, width factor), the same in every figure: the paper's models in the paper's colours, the
#: ladder's neurons in colours far from those; any other model takes the next of OTHER_COLOURS
KNOWN_COLOURS = {("lif", 1): "#1e1ee6", ("hh", 1): "#dcb41e", ("lif_hh", 1): "#ff1400", ("lif", 4): "#50b464",
                 ("binary", 1): "#ff9650", ("alif", 1): "#9467bd", ("izhikevich", 1): "#8c564b",
                 ("adex", 1): "#e377c2", ("morris_lecar", 1): "#17becf", ("hh_textbook", 1): "#000000"}
OTHER_COLOURS = ("#7f7f7f", "#808000", "#000080", "#800000", "#008080", "#ff00ff")
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "--", "oo")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclass
class Style:
    """How the figures show each group: a colour per group (shades of its model's colour for swept variants),
    hatch / line style / marker by swept variant."""

    colours: dict[tuple[str, tuple], str]
    variants: dict[tuple, int]
    base: dict[str, str]  # model → its own colour

    @classmethod
    def of(cls, groups: Sequence[Group]) -> Style:
        keys: dict[str, tuple] = {}
        members: dict[str, list[tuple]] = {}
        variants: dict[tuple, int] = {}
        for g in groups:
            cfg = g.runs[0].config
            keys.setdefault(g.model, (cfg.get("neuron", {}).get("name"), cfg.get("network", {}).get("width_factor", 1)))
            variant = _hashable_variant(g)
            variants.setdefault(variant, len(variants))
            if variant not in members.setdefault(g.model, []):
                members[g.model].append(variant)
        palette = model_colours(keys.values())
        base = {model: palette[key] for model, key in keys.items()}
        colours = {}
        for model, found in members.items():
            for k, variant in enumerate(sorted(found, key=variants.__getitem__)):
                colours[model, variant] = _shade(base[model], k, len(found))
        return cls(colours, variants, base)

    def colour(self, g: Group) -> str:
        return self.colours[g.model, _hashable_variant(g)]

    def variant(self, g: Group) -> int:
        return self.variants[_hashable_variant(g)]


def model_colours(models: Iterable[tuple]) -> dict[tuple, str]:
    """A colour per model key (neuron name, width factor): :data:`KNOWN_COLOURS`, else the next of
    :data:`OTHER_COLOURS` in the order the models come."""
    others = itertools.cycle(OTHER_COLOURS)
    out: dict[tuple, str] = {}
    for key in models:
        if key not in out:
            out[key] = KNOWN_COLOURS.get(key) or next(others)
    return out


def _shade(colour: str, k: int, n: int) -> str:
    """The ``k``-th of ``n`` shades of ``colour``: itself for a single one, else from darker to lighter."""
    import colorsys

    from matplotlib.colors import to_hex, to_rgb

    if n <= 1:
        return colour
    h, lightness, s = colorsys.rgb_to_hls(*to_rgb(colour))
    lo, hi = max(0.18, lightness - 0.25), min(0.85, lightness + 0.3)
    return to_hex(colorsys.hls_to_rgb(h, lo + (hi - lo) * k / (n - 1), s))


def legend_outside(fig, axes_or_handles, *, title: str | None = None) -> None:
    """One legend for the figure, right of its panels (never over the data): the distinct labelled artists of
    ``axes_or_handles`` (axes, or a list of handles), in order; long legends in several columns."""
    handles: dict[str, object] = {}
    items = list(axes_or_handles)
    for item in items:
        pairs = zip(*item.get_legend_handles_labels(), strict=True) if hasattr(item, "get_legend_handles_labels") \
            else [(item, item.get_label())]
        for handle, label in pairs:
            if label and not label.startswith("_"):
                handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize="small",
                   ncols=1 + (len(handles) - 1) // 18, title=title, title_fontsize="small", frameon=False)


def _hashable_variant(g: Group) -> tuple:
    return tuple((k, format_value(v)) for k, v in g.variant)


def _figure(rows: int, cols: int, width: float = 5.0, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def save(fig, path: Path) -> Path:
    """Write the figure through a temporary file and a rename (never a half-written PNG)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=150, format="png"), what="figure")


def _err(stat: Stat | None) -> float:
    return 0.0 if stat is None or stat.std is None else stat.std


def _by_task(groups: Sequence[Group]) -> dict[str, list[Group]]:
    out: dict[str, list[Group]] = {}
    for g in groups:
        out.setdefault(g.task, []).append(g)
    return out


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols


def _counts(pairs) -> dict[str, str]:
    """label → ``label (n=N)``, or ``(n=N1–N2)`` when the label's groups (one per panel) differ in n."""
    ns: dict[str, set[int]] = {}
    for label, n in pairs:
        ns.setdefault(label, set()).add(n)
    return {label: f"{label} (n={min(v)})" if len(v) == 1 else f"{label} (n={min(v)}–{max(v)})"
            for label, v in ns.items()}


def _hide_unused(axes, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


# -- Fig. 4c: accuracy per task and model -------------------------------------------------------------------
def accuracy_bars(groups: Sequence[Group], path: Path, style: Style) -> bool:
    """Grouped bars: the test accuracy of each task (x) for each model (bars), one panel per dataset."""
    groups = [g for g in groups if g.ok and g.stat("test/acc_task1")]
    if not groups:
        return False
    tasks = _by_task(groups)
    rows, cols = _grid(len(tasks))
    fig, axes = _figure(rows, cols, width=max(4.0, 1.2 + 0.45 * max(len(v) for v in tasks.values())))
    counts = _counts((g.label, len(g.ok)) for g in groups)
    for ax, (task, members) in zip(axes.flat, tasks.items(), strict=False):
        heads = sorted({int(k.removeprefix("test/acc_task")) for g in members for k in g.metric_keys()
                        if k.startswith("test/acc_task")})
        width = 0.8 / len(members)
        lows = []
        for i, g in enumerate(members):
            stats = [g.stat(f"test/acc_task{h}") for h in heads]
            means = [s.mean if s else np.nan for s in stats]
            errs = [_err(s) for s in stats]
            x = np.arange(len(heads)) - 0.4 + width * (i + 0.5)
            ax.bar(x, means, width, yerr=errs if any(errs) else None, capsize=3, color=style.colour(g),
                   hatch=HATCHES[style.variant(g) % len(HATCHES)], edgecolor="black", linewidth=0.5,
                   label=counts[g.label])
            lows += [m - e for m, e in zip(means, errs, strict=True) if np.isfinite(m)]
        ax.set_xticks(np.arange(len(heads)), [f"task {h}" for h in heads])
        ax.set_ylabel("test accuracy (fraction)")
        ax.set_title(task)
        bottom = max(0.0, np.floor((min(lows) - 0.05) * 10) / 10) if lows else 0.0
        ax.set_ylim(bottom, 1.0)
    _hide_unused(axes, len(tasks))
    legend_outside(fig, axes.flat)
    save(fig, path)
    return True


# -- Fig. 4d: reward curves -----------------------------------------------------------------------------------
def curves(groups: Sequence[Group], series: dict[Path, dict[str, Series]], tag: str, path: Path, style: Style,
           *, window: int, ylabel: str) -> bool:
    """Mean ± std over seeds of the scalar ``tag`` against the step, one line per group, one panel per task;
    each run's series smoothed over ``window`` steps first (:func:`hhlif.report.curves.smooth`)."""
    panels: dict[str, list] = {}
    for g in groups:
        runs = [series[r.path][tag] for r in g.ok if tag in series.get(r.path, {})]
        band = average(runs, window)
        if band is not None:
            panels.setdefault(g.task, []).append((g, band))
    if not panels:
        return False
    rows, cols = _grid(len(panels), 2)
    fig, axes = _figure(rows, cols, width=5.0, height=3.8)
    counts = _counts((g.label, band.n) for lines in panels.values() for g, band in lines)
    for ax, (task, lines) in zip(axes.flat, panels.items(), strict=False):
        for g, band in lines:
            colour = style.colour(g)
            few = len(band.steps) <= 12  # single points (one evaluation) would not show as a line
            ax.plot(band.steps, band.mean, color=colour, label=counts[g.label],
                    linestyle=LINESTYLES[style.variant(g) % len(LINESTYLES)],
                    marker=MARKERS[style.variant(g) % len(MARKERS)] if few else None,
                    markersize=6 if len(band.steps) == 1 else 4)
            ax.fill_between(band.steps, band.mean - band.std, band.mean + band.std, color=colour, alpha=0.15,
                            linewidth=0)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(task)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    _hide_unused(axes, len(panels))
    legend_outside(fig, axes.flat)
    save(fig, path)
    return True


# -- Fig. 4h: a metric against a swept setting ---------------------------------------------------------------
def against_setting(groups: Sequence[Group], key: str, metric: Callable[[Group], str | None],
                    path: Path, style: Style) -> bool:
    """The metric ``metric(group)`` (a metric key) of each group against the numeric value of the swept
    setting ``key``: one line per model and other swept values, one panel per task and metric. False unless
    some line has two points or more."""
    lines: dict[tuple, list[tuple[float, Group]]] = {}
    for g in groups:
        value = dict(g.variant).get(key)
        if not g.ok or isinstance(value, bool) or not isinstance(value, (int, float)) or metric(g) is None:
            continue
        rest = tuple((k, format_value(v)) for k, v in g.variant if k != key)
        lines.setdefault((g.task, metric(g), g.model, rest), []).append((float(value), g))
    if not any(len(points) > 1 for points in lines.values()):
        return False
    panels: dict[tuple[str, str], list] = {}
    rests: dict[str, list[tuple]] = {}  # a line is a model and the other swept values: shades of the model's colour
    for (task, label, model, rest), points in lines.items():
        panels.setdefault((task, label), []).append((model, rest, sorted(points, key=lambda p: p[0])))
        if rest not in rests.setdefault(model, []):
            rests[model].append(rest)
    rows, cols = _grid(len(panels), 2)
    fig, axes = _figure(rows, cols, width=5.0, height=3.8)
    for ax, ((task, label), members) in zip(axes.flat, panels.items(), strict=False):
        for model, rest, points in members:
            stats = [g.stat(label) for _, g in points]
            name = " ".join([model, *(f"{short(k)}={v}" for k, v in rest)])
            ax.errorbar([x for x, _ in points], [s.mean for s in stats], yerr=[_err(s) for s in stats],
                        color=_shade(style.base[model], rests[model].index(rest), len(rests[model])),
                        marker=MARKERS[rests[model].index(rest) % len(MARKERS)], capsize=3,
                        label=f"{name} (n={min(s.n for s in stats)}–{max(s.n for s in stats)})"
                        if len({s.n for s in stats}) > 1 else f"{name} (n={stats[0].n})")
        ax.set_xlabel(key)
        ax.set_ylabel(label)
        ax.set_title(task)
    _hide_unused(axes, len(panels))
    legend_outside(fig, axes.flat)
    save(fig, path)
    return True


# -- Fig. 5b: operation counts --------------------------------------------------------------------------------
def flops_bars(panels: dict[str, list[tuple[str, str, dict[str, Stat]]]], path: Path) -> bool:
    """Grouped bars on a log axis: for each model (x), each operation count (bars); one panel per kind.
    ``panels``: title → [(model label, colour, {count name: Stat})]."""
    panels = {title: entries for title, entries in panels.items() if entries}
    if not panels:
        return False
    names_of = {title: list(dict.fromkeys(n for _, _, counts in entries for n in counts))
                for title, entries in panels.items()}
    fig, axes = _figure(1, len(panels), width=max(5.0, 1.5 + 0.7 * max(len(e) for e in panels.values())))
    shades = ("#9cb3d4", "#b24241", "#4d4d4d", "#e0c060")  # Fig. 5b's ADD and MUL colours first
    for ax, (title, entries) in zip(axes.flat, panels.items(), strict=True):
        names = names_of[title]
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            stats = [counts.get(name) for _, _, counts in entries]
            x = np.arange(len(entries)) - 0.4 + width * (j + 0.5)
            ax.bar(x, [s.mean if s else np.nan for s in stats], width, color=shades[j % len(shades)],
                   edgecolor="black", linewidth=0.5, label=name)
        ax.set_xticks(np.arange(len(entries)), [label for label, _, _ in entries], rotation=30, ha="right")
        ax.set_yscale("log")
        lowest = min((s.mean for _, _, counts in entries for s in counts.values() if s.mean > 0), default=1.0)
        ax.set_ylim(bottom=10 ** np.floor(np.log10(lowest)))
        ax.set_ylabel("operations per action" if "SAC" in title else "operations per sample")
        ax.set_title(title)
    legend_outside(fig, axes.flat)
    save(fig, path)
    return True


# -- accuracy (or return) against cost ----------------------------------------------------------------------
def against_cost(rows: list[tuple[str, str, list[tuple[str, str]], list[Group]]], path: Path,
                 style: Style) -> bool:
    """One row per kind: (title, metric key, [(cost key, cost label)], groups); the metric's mean ± std against
    each cost's mean ± std, one point per group (log x): its colour names the group, its marker the task."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    rows = [r for r in rows if any(g.ok and g.stat(r[1]) for g in r[3])]
    if not rows:
        return False
    cols = max(len(r[2]) for r in rows)
    fig, axes = _figure(len(rows), cols, width=5.0, height=4.0)
    tasks = list(dict.fromkeys(g.task for r in rows for g in r[3] if g.ok))  # a marker per task, in every row
    drawn_tasks: set[str] = set()
    drawn_groups: dict[str, object] = {}  # a colour per group, named in the legend (labels on the points collide)
    for i, (title, metric, costs, groups) in enumerate(rows):
        for j in range(cols):
            ax = axes[i, j]
            if j >= len(costs):
                ax.set_visible(False)
                continue
            cost, cost_label = costs[j]
            drawn = False
            for g in groups:
                y, x = g.stat(metric), g.stat(cost)
                if not g.ok or y is None or x is None or x.mean <= 0:
                    continue
                ax.errorbar([x.mean], [y.mean], xerr=[_err(x)], yerr=[_err(y)], capsize=2,
                            color=style.colour(g), marker=MARKERS[tasks.index(g.task) % len(MARKERS)],
                            linestyle="none")
                drawn_groups.setdefault(g.label, style.colour(g))
                drawn = True
                drawn_tasks.add(g.task)
            if drawn:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # ticks even in a narrow range
                ax.xaxis.set_major_formatter(EngFormatter())  # 2 M, 500 k
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(cost_label)
            ax.set_ylabel(metric)
            ax.set_title(title)
    handles = [Patch(color=colour, label=label) for label, colour in drawn_groups.items()]
    if len(drawn_tasks) > 1:  # the marker says the task
        handles += [Line2D([], [], color="grey", marker=MARKERS[k % len(MARKERS)], linestyle="none",
                           label=f"task: {task}") for k, task in enumerate(tasks) if task in drawn_tasks]
    legend_outside(fig, handles)
    save(fig, path)
    return True


# -- Fig. 5d: information bounds --------------------------------------------------------------------------------
def information_bars(groups: Sequence[Group], path: Path, style: Style) -> bool:
    """Bars of I(Z;X) and I(Z;Y) (bits, test set) per VIB group."""
    groups = [g for g in groups if g.ok and g.stat("test/izx_bits")]
    if not groups:
        return False
    tasks = {g.task for g in groups}
    labels = [g.label if len(tasks) == 1 else f"{g.label}\n{g.task}" for g in groups]
    fig, axes = _figure(1, 2, width=max(4.5, 1.5 + 0.6 * len(groups)))
    for ax, (key, title) in zip(axes.flat, (("test/izx_bits", "I(Z;X) upper bound (bits)"),
                                            ("test/izy_bits", "I(Z;Y) lower bound (bits)")), strict=True):
        stats = [g.stat(key) for g in groups]
        ax.bar(np.arange(len(groups)), [s.mean if s else np.nan for s in stats], 0.7,
               yerr=[_err(s) for s in stats], capsize=3, color=[style.colour(g) for g in groups],
               hatch=None, edgecolor="black", linewidth=0.5)
        ax.set_xticks(np.arange(len(groups)), labels, rotation=30, ha="right")
        ax.set_title(title)
    save(fig, path)
    return True
