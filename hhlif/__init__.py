"""hhlif: spiking networks of neurons with internal complexity (HH, LIF, s-LIF2HH), trained and compared.

The library face (imported on first use, so that ``hhlif --help`` stays fast)::

    import hhlif
    hh = hhlif.HH(128)                                  # a population of 128 trainable HH neurons
    layer = hhlif.SpikingLinear(784, 128, hhlif.HH)      # synapse + neurons over a time window
    run = hhlif.load_run("outputs/train/...")           # a trained model with its configuration

Neurons: :class:`LIF`, :class:`HH`, :class:`LIFHH` (s-LIF2HH), :class:`HHTextbook`, :class:`Binary`, all
:class:`Neuron` (``step``/``initial_state`` for your own time loop, ``forward`` over ``[T, B, ...]``).
Layers: :class:`SpikingLinear`, :class:`SpikingConv2d`; :func:`firing_rate`. Runs: :func:`load_run`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Neuron": "hhlif.neurons.base", "LIF": "hhlif.neurons.lif", "HH": "hhlif.neurons.hh",
    "LIFHH": "hhlif.neurons.lif_hh", "HHTextbook": "hhlif.neurons.hh_textbook", "Binary": "hhlif.neurons.binary",
    "firing_rate": "hhlif.neurons.base", "SpikingLinear": "hhlif.networks.layers",
    "SpikingConv2d": "hhlif.networks.layers", "load_run": "hhlif.experiment", "Run": "hhlif.experiment",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hhlif' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
