"""Fixtures shared by the test files: the data folder, the CLI in a subprocess, every neuron hhlif knows, and
the example plugin installed as a user would install it."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from helpers import REPO, compose_config, run_cli

PLUGIN = REPO / "examples" / "plugin-neuron"


def neuron_names() -> list[str]:
    """Every neuron of hhlif's config tree (the built-in models, with their configs)."""
    return sorted(p.name.removesuffix(".yaml") for p in (files("hhlif.conf") / "neuron").iterdir()
                  if p.name.endswith(".yaml"))


@pytest.fixture
def offline(monkeypatch):
    """No mirrors and no system folders: a source missing from the data root falls back to lite (the same data on
    every machine, wherever the full data are installed)."""
    import dataclasses

    from hhlif.tasks import sources

    for key, spec in list(sources.SOURCES.items()):
        monkeypatch.setitem(sources.SOURCES, key, dataclasses.replace(spec, mirrors=(), system_dirs=()))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One data folder for the whole session (the lite data are cached there once)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def cli(tmp_path, data_root):
    """``hhlif ARGS`` in a subprocess, in a fresh working directory."""
    def run(*args, timeout=600, env=None, cwd=None):
        return run_cli(list(args), cwd=cwd or tmp_path, env={"HHLIF_DATA": str(data_root), **(env or {})},
                       timeout=timeout)
    return run


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """The example plugin (examples/plugin-neuron) installed with pip into a folder of its own; put it on
    PYTHONPATH to use it (its entry point makes ``neuron=qif`` a choice)."""
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(PLUGIN)], check=True, capture_output=True, text=True, timeout=300)
    return site


@pytest.fixture(params=neuron_names())
def neuron_cfg(request):
    """The ``neuron`` section of each built-in neuron, composed as ``hhlif train neuron=<name>`` composes it."""
    return compose_config([f"neuron={request.param}"]).neuron
