"""The input gain of the ladder's neurons (adaptive LIF, Izhikevich, AdEx, Morris–Lecar): how a synaptic current
of the network becomes a current of the model's equations, in the model's own units.

``neuron.input_gain`` is a positive number or ``auto``. With ``auto`` the neuron starts at its model's nominal
gain and is *calibrated* before training (:mod:`hhlif.calibration`): the gain is set so that, on one batch of
the training data, the population's firing rate at initialisation equals that of the paper's LIF network of the
same architecture, or 90 % of the population's saturated rate if that is lower. The gain is a buffer
(``input_gain``), so the calibrated value is saved with the model's weights and a loaded run spikes as it did in
training.
"""

from __future__ import annotations

import torch
from torch import nn

from hhlif.errors import bad_value


def register_input_gain(module: nn.Module, value: float | str, nominal: float) -> None:
    """Give ``module`` its ``input_gain`` buffer (``value``, or ``nominal`` when ``value`` is ``auto``) and the flag
    ``calibrate_gain``: whether the gain waits for calibration."""
    auto = isinstance(value, str) and value == "auto"
    if not auto:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise bad_value("neuron.input_gain", value, "a positive number or auto",
                            "auto calibrates it on one batch so that the firing rate at initialisation matches the "
                            "LIF network's (see docs/explanation/ladder.md).")
    module.register_buffer("input_gain", torch.tensor(float(nominal if auto else value)))
    module.calibrate_gain = auto
    module.register_load_state_dict_post_hook(_loaded)


def _loaded(module: nn.Module, incompatible_keys) -> None:
    """A gain loaded from saved weights is the calibrated one: nothing left to calibrate."""
    module.calibrate_gain = False


def gain_repr(module: nn.Module) -> str:
    gain = float(module.input_gain)
    return f"input_gain={gain:.4g}" + (" (auto, not yet calibrated)" if module.calibrate_gain else "")
