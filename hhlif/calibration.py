"""``neuron.input_gain: auto``: the input gain of a neuron model chosen by a procedure, not by hand.

A model whose equations are in physical units (mV, pA, µA/cm²) needs a gain from the network's synaptic currents
to its own. With ``auto``, before training, each such spiking layer's gain is set so that its firing rate at
initialisation, on one batch of the training data, equals the rate of the same layer in the paper's LIF network
of the same architecture (``neuron=lif`` with the paper's constants for that network, e.g. LIF_fc), initialised
and run on the same batch:

1. the LIF network is built (its own initialisation, outside the run's random streams) and run on the batch; a
   forward hook reads the mean firing rate of each spiking layer: the targets;
2. the layers of the model whose gain is ``auto`` are calibrated in order (a later layer sees the spikes of the
   calibrated earlier ones): bisection on log(gain) over [10⁻⁴, 10⁴] × the model's nominal gain, the layer's
   rate being non-decreasing in the gain, until the rate is within ``TOLERANCE`` of the target or
   ``ITERATIONS`` halvings are done;
3. a target outside the rates reachable in that range is refused (:class:`~hhlif.errors.ConfigError`) with the
   layer, the target and the range, and what to set instead;
4. a target above ``CEILING`` (90 %) of the layer's *saturated rate* (its rate at the top of the range, where
   every unit that can fire fires at every step) is lowered to that share of it. The paper's LIF network often
   starts close to saturation itself, and so close to a saturated rate the rate hardly moves with the gain: a
   target 0.002 below it is met anywhere from 100 to 10,000 times the sensible gain, and a network started there
   does not learn (docs/explanation/ladder.md#calibration-neuroninput_gain-auto).

The gains are buffers of the neurons (saved with the weights); the run records them in ``metrics.json``
(``calibration/<layer>/input_gain``, ``…/rate``, ``…/target_rate``, ``…/lif_rate`` and ``…/saturated_rate``) and
in its log.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from hhlif.errors import ConfigError
from hhlif.neurons.base import Neuron

log = logging.getLogger(__name__)

#: the calibration stops when the layer's rate is this close to the target (spikes per unit and step)
TOLERANCE = 0.002
ITERATIONS = 40
#: the bisection's range, as factors of the model's nominal gain
SPAN = 1e4
#: the target rate is at most this share of the layer's saturated rate (its rate at the top of the range)
CEILING = 0.9


def needs_calibration(model: nn.Module) -> bool:
    return any(getattr(m, "calibrate_gain", False) for m in model.modules())


def lif_reference(cfg: DictConfig) -> DictConfig:
    """The ``neuron`` section of the paper's LIF network for ``cfg``'s network: conf/neuron/lif.yaml with the
    paper's constants for that network (conf/paper/model/lif_<network>.yaml), as ``neuron=lif`` composes it."""
    conf = files("hhlif.conf")
    neuron = OmegaConf.load(conf / "neuron" / "lif.yaml")
    paper = conf / "paper" / "model" / f"lif_{cfg.network.name}.yaml"
    if paper.is_file():
        neuron = OmegaConf.merge(neuron, OmegaConf.load(paper).get("neuron", {}))
    return neuron


def with_neuron(cfg: DictConfig, neuron: Mapping[str, Any]) -> DictConfig:
    """A copy of ``cfg`` whose ``neuron`` section is ``neuron``."""
    copy = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    OmegaConf.set_struct(copy, False)
    copy.neuron = OmegaConf.create(dict(neuron))
    return copy


def spiking_layers(model: nn.Module) -> list[tuple[str, Neuron]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Neuron)]


@contextlib.contextmanager
def _rates(layers: list[Neuron]):
    """Collect each layer's mean firing rate over the forward passes inside the block (a list per layer)."""
    seen: list[list[float]] = [[] for _ in layers]
    hooks = [layer.register_forward_hook(lambda m, i, out, k=k: seen[k].append(float(out.detach().mean())))
             for k, layer in enumerate(layers)]
    try:
        yield seen
    finally:
        for h in hooks:
            h.remove()


def measure(model: nn.Module, run: Callable[[nn.Module], Any]) -> list[float]:
    """The mean firing rate of each spiking layer of ``model`` on one pass of ``run(model)``."""
    layers = [m for _, m in spiking_layers(model)]
    with torch.no_grad(), _rates(layers) as seen:
        run(model)
    return [sum(s) / len(s) if s else float("nan") for s in seen]


def calibrate(model: nn.Module, reference: nn.Module, run: Callable[[nn.Module], Any]) -> dict[str, float]:
    """Set the gain of every ``auto`` layer of ``model`` so that its rate on ``run(model)`` equals that of the same
    layer of ``reference`` (the LIF network); returns the metrics to record."""
    targets = measure(reference, run)
    layers = spiking_layers(model)
    if len(targets) != len(layers):
        raise ConfigError(f"neuron.input_gain=auto: the LIF network has {len(targets)} spiking layers and this one "
                          f"{len(layers)}; set neuron.input_gain to a number.")
    found: dict[str, float] = {}
    for (name, neuron), target in zip(layers, targets, strict=True):
        if not getattr(neuron, "calibrate_gain", False):
            continue
        gain, rate, aim, saturated = _bisect(model, neuron, name, target, run)
        neuron.input_gain.fill_(gain)
        neuron.calibrate_gain = False
        found.update({f"calibration/{name}/input_gain": gain, f"calibration/{name}/rate": rate,
                      f"calibration/{name}/target_rate": aim, f"calibration/{name}/lif_rate": target,
                      f"calibration/{name}/saturated_rate": saturated})
        capped = "" if aim == target else (f", capped at {CEILING * 100:.0f} % of this layer's saturated rate "
                                           f"{saturated:.4f}")
        log.info("neuron.input_gain=auto: %s gain %.5g (rate %.4f at initialisation; the LIF network's %.4f%s)",
                 name, gain, rate, target, capped)
    return found


def _bisect(model: nn.Module, neuron: Neuron, name: str, target: float, run) -> tuple[float, float, float, float]:
    """(gain, its rate, the rate aimed at, the saturated rate) of the layer ``neuron`` for the LIF rate ``target``."""
    index = [m for _, m in spiking_layers(model)].index(neuron)
    nominal = float(neuron.input_gain)

    def rate_at(log_gain: float) -> float:
        neuron.input_gain.fill_(math.exp(log_gain))
        return measure(model, run)[index]

    lo, hi = math.log(nominal / SPAN), math.log(nominal * SPAN)
    r_lo, r_hi = rate_at(lo), rate_at(hi)
    if not r_lo <= target <= r_hi:
        raise ConfigError(
            f"neuron.input_gain=auto cannot reach the LIF network's firing rate {target:.4f} in layer {name}: its rate "
            f"is {r_lo:.4f} to {r_hi:.4f} for gains {math.exp(lo):.3g} to {math.exp(hi):.3g}. Set neuron.input_gain "
            "to a number, or change the neuron's constants (threshold, dt) so that this rate is reachable.")
    aim = min(target, CEILING * r_hi)
    best = (lo, r_lo) if abs(r_lo - aim) < abs(r_hi - aim) else (hi, r_hi)
    for _ in range(ITERATIONS):
        if abs(best[1] - aim) <= TOLERANCE:
            break
        mid = 0.5 * (lo + hi)
        r = rate_at(mid)
        if abs(r - aim) < abs(best[1] - aim):
            best = (mid, r)
        lo, hi = (mid, hi) if r < aim else (lo, mid)
    return math.exp(best[0]), best[1], aim, r_hi


def calibrate_run(cfg: DictConfig, model: nn.Module, build: Callable[[DictConfig], nn.Module],
                  run: Callable[[nn.Module], Any]) -> dict[str, float]:
    """The calibration of a run: nothing unless a layer of ``model`` has ``input_gain: auto``; else the LIF network
    ``build(cfg with neuron=lif)`` is made, on ``model``'s device, without touching the run's random streams."""
    if not needs_calibration(model):
        return {}
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        reference = build(with_neuron(cfg, lif_reference(cfg))).to(device)
    was_training = model.training
    model.eval()
    try:
        return calibrate(model, reference, run)
    finally:
        model.train(was_training)
