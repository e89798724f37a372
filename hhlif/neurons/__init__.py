"""Neuron models. One module per model; each is a :class:`~hhlif.neurons.base.Neuron`.

``build_neuron(cfg, shape, shared)`` turns a ``neuron`` config (its ``name`` plus the model's keyword
arguments) into a population of the given shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hhlif.neurons.base import Neuron
from hhlif.neurons.binary import Binary
from hhlif.neurons.hh import HH
from hhlif.neurons.hh_textbook import HHTextbook
from hhlif.neurons.lif import LIF
from hhlif.neurons.lif_hh import LIFHH
from hhlif.registry import build, lookup

NEURONS: dict[str, type[Neuron]] = {"lif": LIF, "hh": HH, "lif_hh": LIFHH, "binary": Binary, "hh_textbook": HHTextbook}


def build_neuron(cfg: Mapping[str, Any], shape: Sequence[int], shared: dict | None = None) -> Neuron:
    """Build the neuron population described by ``cfg`` (``name`` + the model's parameters) of ``shape``."""
    return build(NEURONS, "neuron", cfg, shape, shared=shared)


def neuron_class(cfg: Mapping[str, Any]) -> type[Neuron]:
    """The class named by ``cfg['name']``."""
    return lookup(NEURONS, "neuron", cfg)


__all__ = ["NEURONS", "Neuron", "build_neuron", "neuron_class", "LIF", "HH", "LIFHH", "Binary"]
