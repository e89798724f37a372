"""The ladder's table and figure in ``hhlif report`` (runs of experiment=ladder), numbers by hand."""

from __future__ import annotations

import csv

import pytest
from test_report import make_run

from hhlif.report.build import make_report

LADDER = ["experiment=ladder", "profile=quick"]


def _classify(acc1: float, acc2: float, flops: float, samples_per_s: float) -> dict:
    return {"test/acc_task1": acc1, "test/acc_task2": acc2, "cost/flops_forward": flops,
            "cost/train_samples_per_s": samples_per_s, "epoch": 1}


@pytest.fixture(scope="module")
def ladder_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("ladder")
    for seed, (lif, alif) in enumerate([(0.50, 0.60), (0.54, 0.64)], start=1):
        for model, acc, flops, speed in (("lif", lif, 1.0e6, 2000.0), ("alif", alif, 1.2e6, 1000.0)):
            base = [*LADDER, f"model={model}", f"seed={seed}"]
            if seed == 2:  # the preset's table of profiles edited between the seeds: the same runs all the same
                base.append("scale.quick.seeds='1,2'")
            make_run(root, f"{model}-clean-{seed}", [*base, "task=multifashion"],
                     _classify(acc, acc + 0.02, flops, speed))
            make_run(root, f"{model}-noisy-{seed}", [*base, "task=multifashion_noise50"],
                     _classify(acc - 0.1, acc - 0.1, flops, speed))
            make_run(root, f"{model}-sac-{seed}", [*base, "task=inverted_pendulum"],
                     {"eval/return_mean": 100.0 * seed if model == "lif" else 900.0,
                      "cost/flops_actor_forward": 5e4, "steps": 3000})
    return make_report([root])


def test_the_ladder_table_by_hand(ladder_report):
    text = (ladder_report.out / "report.md").read_text()
    assert "## The ladder of internal complexity" in text
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| LIF |") or line.startswith("| ALIF |")}
    # LIF: accuracy (mean of the two tasks) 0.51 and 0.55 → 0.530 ± 0.028; noise: 0.40, 0.44 → 0.420 ± 0.028;
    # return 100, 200
    assert rows["LIF"][:3] == ["1", "1,2", "0.530 ± 0.028"]
    assert rows["LIF"][3:] == ["0.420 ± 0.028", "150 ± 71", "1e+06 ± 0", "5e+04 ± 0", "0.500 ± 0.000"]
    assert rows["ALIF"][:4] == ["2", "1,2", "0.630 ± 0.028", "0.520 ± 0.028"]
    assert rows["ALIF"][-1] == "1.000 ± 0.000"  # ms per sample at 1,000 samples/s
    assert text.index("| LIF |") < text.index("| ALIF |")  # the ladder's order


def test_a_preset_profile_table_that_changed_does_not_split_a_group(ladder_report):
    with (ladder_report.out / "report.csv").open() as f:
        groups = list(csv.DictReader(f))
    assert len(groups) == 6 and {g["n"] for g in groups} == {"2"}  # 2 models × 3 tasks, both seeds in each


def test_the_ladder_figure(ladder_report):
    assert (ladder_report.out / "ladder.png").stat().st_size > 10_000
    assert any(name == "ladder.png" for name, _ in ladder_report.figures)
    assert "![ladder.png](ladder.png)" in (ladder_report.out / "report.md").read_text()


def test_other_runs_get_no_ladder(tmp_path):
    make_run(tmp_path, "a", ["model=lif", "task=multifashion"], _classify(0.5, 0.5, 1e6, 1e3))
    make_run(tmp_path, "b", ["model=hh", "task=multifashion"], _classify(0.6, 0.6, 1e6, 1e3))
    report = make_report([tmp_path])
    assert "The ladder of internal complexity" not in (report.out / "report.md").read_text()
    assert not (report.out / "ladder.png").exists()
