"""The ladder of internal complexity in ``hhlif report``: for the runs of ``experiment=ladder`` (or any runs of
the same tasks), one table and one figure comparing the neuron models rung by rung.

Per neuron model (a neuron and a width factor: ``LIF``, ``4LIF``, ``ALIF``, ... ``s-LIF2HH``), from the runs on
Multi-Fashion (fc), on Multi-Fashion with input noise of amplitude 50 and as the SAC actor on InvertedPendulum,
mean ± std over seeds:

- state variables per neuron (a fixed property of the model, :data:`STATE_VARIABLES`);
- test accuracy (the mean of the two tasks' accuracies of each run), and the same under noise 50;
- the return of the final evaluation of the SAC actor;
- measured FLOPs of a forward pass per sample (fc network) and per action (actor);
- training time per sample (fc: the training epoch's time over its samples; ms).

The figure ``ladder.png`` plots accuracy (clean and noisy) and return against state variables per neuron, one
marker per model (4LIF beside LIF at one variable: the same rung, four times the units).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hhlif.report.runs import OK, Run, Stat

#: state variables of one neuron of each model (the spike is not counted; s-LIF2HH: four LIF membranes)
STATE_VARIABLES = {"lif": 1, "alif": 2, "izhikevich": 2, "adex": 2, "morris_lecar": 2, "hh": 4, "lif_hh": 4,
                   "hh_textbook": 4, "binary": 0}
LABELS = {"lif": "LIF", "alif": "ALIF", "izhikevich": "Izhikevich", "adex": "AdEx", "morris_lecar": "Morris–Lecar",
          "hh": "HH", "lif_hh": "s-LIF2HH", "hh_textbook": "HH (textbook)", "binary": "ANN"}
ORDER = ("lif", "alif", "izhikevich", "adex", "morris_lecar", "hh", "lif_hh", "hh_textbook", "binary")
CLEAN, NOISY, CONTROL = "multifashion", "multifashion_noise50", "inverted_pendulum"


@dataclass
class Rung:
    """The runs of one neuron model (neuron and width factor) on the ladder's tasks."""

    neuron: str
    width: int
    runs: dict[str, list[Run]]  # task → finished runs

    @property
    def label(self) -> str:
        name = LABELS.get(self.neuron, self.neuron)
        return name if self.width == 1 else f"{self.width}×{name}"

    @property
    def state_variables(self) -> int | None:
        return STATE_VARIABLES.get(self.neuron)

    def stat(self, task: str, value: Callable[[dict[str, float]], float | None]) -> Stat | None:
        return Stat.of(v for r in self.runs.get(task, []) if (v := value(r.metrics)) is not None)


def mean_accuracy(m: dict[str, float]) -> float | None:
    accs = [v for k, v in m.items() if k.startswith("test/acc_task")]
    return sum(accs) / len(accs) if accs else None


def _key(name: str) -> Callable[[dict[str, float]], float | None]:
    return lambda m: m.get(name)


def time_per_sample(m: dict[str, float]) -> float | None:
    rate = m.get("cost/train_samples_per_s")
    return 1000.0 / rate if rate else None


#: the table's columns: (header, task, value of a run's metrics, format)
COLUMNS = (
    ("accuracy", CLEAN, mean_accuracy, "{:.3f}"),
    ("accuracy, noise 50", NOISY, mean_accuracy, "{:.3f}"),
    ("return", CONTROL, _key("eval/return_mean"), "{:.0f}"),
    ("FLOPs / sample", CLEAN, _key("cost/flops_forward"), "{:.3g}"),
    ("FLOPs / action", CONTROL, _key("cost/flops_actor_forward"), "{:.3g}"),
    ("train ms / sample", CLEAN, time_per_sample, "{:.3f}"),
)


def rungs(runs: Sequence[Run]) -> list[Rung]:
    """The ladder's rungs among ``runs`` (finished runs of its tasks), in the ladder's order; empty when fewer
    than two neuron models ran on them."""
    found: dict[tuple[str, int], Rung] = {}
    for r in runs:
        if r.status != OK or r.task not in (CLEAN, NOISY, CONTROL):
            continue
        neuron = str(r.flat.get("neuron.name"))
        width = r.flat.get("network.width_factor") or 1
        rung = found.setdefault((neuron, int(width)), Rung(neuron, int(width), {}))
        rung.runs.setdefault(r.task, []).append(r)
    if len({n for n, _ in found}) < 2:
        return []
    return sorted(found.values(), key=lambda g: (ORDER.index(g.neuron) if g.neuron in ORDER else len(ORDER),
                                                 g.neuron, g.width))


def is_ladder(runs: Sequence[Run]) -> bool:
    """Whether the runs come from ``experiment=ladder``."""
    return any(r.flat.get("preset.name") == "ladder" for r in runs)


def _cell(stat: Stat | None, fmt: str) -> str:
    if stat is None:
        return "—"
    text = fmt.format(stat.mean)
    return text if stat.std is None else f"{text} ± {fmt.format(stat.std)}"


def table(ladder: Sequence[Rung]) -> list[str]:
    """The ladder's table (markdown lines)."""
    header = ["model", "state variables / neuron", "seeds", *(c[0] for c in COLUMNS)]
    rows = []
    for rung in ladder:
        seeds = sorted({str(r.seed) for runs in rung.runs.values() for r in runs})
        rows.append([rung.label, str(rung.state_variables if rung.state_variables is not None else "?"),
                     ",".join(seeds), *(_cell(rung.stat(task, value), fmt) for _, task, value, fmt in COLUMNS)])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def figure(ladder: Sequence[Rung], path: Path) -> bool:
    """Accuracy (clean, noise 50) and return against state variables per neuron; False if nothing to draw."""
    from hhlif.report.plots import _figure, model_colours, save

    panels = [("Multi-Fashion (fc): test accuracy\n(filled: clean; open: noise 50)", ((CLEAN, True, "o"),
                                                                                     (NOISY, False, "s")),
               mean_accuracy),
              ("InvertedPendulum (SAC actor): evaluation return", ((CONTROL, True, "D"),),
               _key("eval/return_mean"))]
    drawn = [p for p in panels if any(r.stat(t, p[2]) for r in ladder for t, _, _ in p[1])]
    if not drawn:
        return False
    fig, axes = _figure(1, len(drawn), width=6.0, height=4.2)
    palette = model_colours((r.neuron, r.width) for r in ladder)  # the colours of the report's other figures
    colours = {r.label: palette[r.neuron, r.width] for r in ladder}
    for ax, (title, series, value) in zip(axes.flat, drawn, strict=True):
        for k, rung in enumerate(ladder):
            x = rung.state_variables
            if x is None:
                continue
            offset = 0.06 * (k - (len(ladder) - 1) / 2)  # models on one rung side by side
            for task, labelled, marker in series:
                stat = rung.stat(task, value)
                if stat is None:
                    continue
                ax.errorbar(x + offset, stat.mean, yerr=stat.std or 0.0, fmt=marker, color=colours[rung.label],
                            mfc=colours[rung.label] if task != NOISY else "white", capsize=3,
                            label=rung.label if labelled else None)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("state variables per neuron")
        ax.set_xticks(sorted({r.state_variables for r in ladder if r.state_variables is not None}))
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[-1].get_legend_handles_labels()
    if len(handles) < len(ladder):
        handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=8)
    save(fig, path)
    return True


def extend(report: Any) -> None:
    """Add the ladder's table (a section of ``report.md``) and figure to a report, when its runs are the ladder's
    (``experiment=ladder``)."""
    if not is_ladder(report.runs):
        return
    ladder = rungs(report.runs)
    if not ladder:
        return
    lines = ["## The ladder of internal complexity", "",
             "Per neuron model, mean ± std over seeds: test accuracy on Multi-Fashion (the mean of its two tasks), "
             "the same with a fixed noise pattern of amplitude 50, the SAC actor's final evaluation return on "
             "InvertedPendulum, measured forward FLOPs per sample and per action, and training time per sample "
             "(fc). The figure `ladder.png` plots the accuracies and the return against state variables per "
             "neuron.", "", *table(ladder)]
    report.sections.append("\n".join(lines))
    path = report.out / "ladder.png"
    if figure(ladder, path):
        report.figures.append(("ladder.png", "The ladder: accuracy (filled: clean, open: noise 50) and SAC return "
                               "against state variables per neuron, mean ± std over seeds."))
        report.files.append(path)
