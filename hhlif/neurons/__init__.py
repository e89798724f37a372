"""Neuron models. One module per model; each is a :class:`~hhlif.neurons.base.Neuron`.

:func:`build_neuron` makes a population from a ``neuron`` config section (its ``_target_`` class and keyword
arguments, :mod:`hhlif.plugins`) or from any factory ``shape → Neuron`` (a class, a ``functools.partial``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hhlif.errors import ConfigError
from hhlif.neurons.base import Neuron
from hhlif.neurons.binary import Binary
from hhlif.neurons.hh import HH
from hhlif.neurons.hh_textbook import HHTextbook
from hhlif.neurons.lif import LIF
from hhlif.neurons.lif_hh import LIFHH

NeuronSpec = Mapping[str, Any] | Callable[..., Neuron]


def build_neuron(neuron: NeuronSpec, shape: int | Sequence[int], **shared: Any) -> Neuron:
    """A population of ``shape`` from a config section or a factory; ``shared`` are modules a network shares
    between layers (:meth:`Neuron.shared_modules`)."""
    from hhlif.plugins import build

    made = build(neuron, "neuron", shape, **shared) if isinstance(neuron, Mapping) else neuron(shape, **shared)
    if not isinstance(made, Neuron):
        name = neuron.get("_target_", neuron.get("name")) if isinstance(neuron, Mapping) else neuron
        raise ConfigError(f"neuron {name!r} made a {type(made).__name__}, not a neuron: a neuron model subclasses "
                          "hhlif.neurons.base.Neuron (initial_state, step; see hhlif.testing).")
    return made


__all__ = ["Neuron", "build_neuron", "LIF", "HH", "LIFHH", "HHTextbook", "Binary"]
