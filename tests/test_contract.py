"""The neuron contract (hhlif.testing) on every built-in neuron and on the example plugin, check by check."""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import PLUGIN, neuron_names
from helpers import compose_config

from hhlif.neurons import build_neuron
from hhlif.neurons.base import Neuron
from hhlif.testing import CHECKS, ContractError, check_neuron, check_runs, measured_ops


def factory_of(name: str):
    if name == "qif (plugin)":
        sys.path.insert(0, str(PLUGIN))
        from hhlif_qif import QIF

        return QIF
    cfg = compose_config([f"neuron={name}"]).neuron
    return lambda shape, **shared: build_neuron(cfg, shape, **shared)


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", [*neuron_names(), "qif (plugin)"])
def test_contract(name, check):
    CHECKS[check](factory_of(name))


def test_paper_counts_are_what_the_steps_compute():
    """The declared counts of the paper's neurons (Fig. 5b) are the arithmetic of their steps, in total."""
    for name, paper in (("lif", (3, 3)), ("hh", (23, 16)), ("lif_hh", (15, 14))):
        ops = measured_ops(factory_of(name)(3))
        assert ops.mul + ops.add == sum(paper), name


class _WrongShape(Neuron):
    def initial_state(self, batch, device=None, dtype=None):
        return (torch.zeros(batch, *self.shape, device=device, dtype=dtype),)

    def step(self, current, state):
        return current.sum(-1), state  # drops the unit axis


class _TimeAxisGuessed(_WrongShape):
    def step(self, current, state):
        return (current > 0).to(current.dtype), state

    def forward(self, currents):  # skips the time-axis check of Neuron.forward
        return self.window(currents if currents.dim() == 3 else currents.unsqueeze(0))


class _Unseeded(_TimeAxisGuessed):
    forward = Neuron.forward

    def __init__(self, shape, **kw):
        super().__init__(shape, threshold=0.0, **kw)
        import random

        self.register_buffer("offset", torch.full(self.shape, random.random()))

    def step(self, current, state):
        return (current > self.offset).to(current.dtype), state


def test_a_broken_model_is_named_with_its_method():
    with pytest.raises(ContractError, match=r"_WrongShape\.step: spikes .* must be \[3, 3\]"):
        check_runs(lambda shape: _WrongShape(shape, threshold=0.0))
    with pytest.raises(ContractError, match=r"_TimeAxisGuessed\.forward: accepted currents"):
        check_runs(lambda shape: _TimeAxisGuessed(shape, threshold=0.0))
    problems = check_neuron(_Unseeded)
    assert "the same torch seed built different" in problems["determinism"]
    assert problems["shapes"] is None


@pytest.mark.parametrize("name", neuron_names())
def test_a_builtin_neurons_config_and_class_agree_on_every_default(name):
    """conf/neuron/<name>.yaml (what runs use, with comments) and the class signature (what the library uses)
    hold the same defaults, and the config sets every parameter of the class: no third value anywhere."""
    import inspect
    from importlib.resources import files

    from omegaconf import OmegaConf

    from hhlif.plugins import arguments, target_of

    neuron_cfg = OmegaConf.load(files("hhlif.conf") / "neuron" / f"{name}.yaml")
    cls = target_of(neuron_cfg, "neuron")
    params = {n: p.default for n, p in inspect.signature(cls).parameters.items()
              if p.kind == p.KEYWORD_ONLY and p.default is not p.empty and n != "mixer"}
    assert arguments(neuron_cfg) == params
