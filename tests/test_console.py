"""What the console shows: one log format for single runs and sweeps, the lite-data warning once."""

from __future__ import annotations

import re

import pytest

TINY = ["trainer.max_epochs=1", "task.limit_train=128", "task.limit_test=64", "trainer.progress=never",
        "task.download=false"]
LOG_LINE = re.compile(r"\[\d\d:\d\d:\d\d\] (DEBUG|INFO|WARNING|ERROR) ")


def log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[")]


@pytest.mark.slow  # whole runs: in make test-slow
def test_single_runs_and_sweeps_print_one_log_format_and_the_lite_warning_once(cli, tmp_path):
    single = cli("train", *TINY, f"data.root={tmp_path / 'data'}")
    sweep = cli("train", "-m", "neuron=lif,hh", *TINY, f"data.root={tmp_path / 'data'}")
    assert single.returncode == 0 and sweep.returncode == 0, sweep.stderr
    for out in (single, sweep):
        lines = log_lines(out.stdout)
        assert len(lines) > 5 and all(LOG_LINE.match(line) for line in lines), lines
    assert any("Launching 2 jobs locally" in line for line in log_lines(sweep.stdout))
    for out in (single, sweep):  # without the full data: the embedded subset, said once, in two lines
        warnings = [i for i, line in enumerate(out.stdout.splitlines()) if "] WARNING Using the embedded LITE" in line]
        assert len(warnings) == ("multimnist (lite)" in out.stdout)
        if not warnings:
            continue
        assert out.stdout.splitlines()[warnings[0] + 1].startswith("    Full data: copy its four .gz IDX files")
