"""Names shared by the TensorBoard HParams summary and ``hhlif report``: the model key of a run and its
hyper-parameters as flat ``dotted.key → value`` pairs.

The model key is the paper's model name: ``<width><NEURON>_<network>`` (``HH_fc``, ``4LIF_fc``,
``LIF_hh_conv``, ``HH_policy``); the binary baselines are ``ANN`` (fc) and ``CNN`` (conv), as in the paper's
tables. Only plain Python values go in and out (no torch, no matplotlib), so the logger and the report can
both import this module cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hhlif.config import flatten

NEURON_LABELS = {"lif": "LIF", "hh": "HH", "lif_hh": "LIF_hh", "hh_textbook": "HH_textbook", "binary": "ANN"}
BINARY_LABELS = {"fc": "ANN", "conv": "CNN"}
NETWORK_ORDER = ("fc", "conv", "policy", "vib")
NEURON_ORDER = ("lif", "hh", "lif_hh", "binary", "hh_textbook")

#: keys that never tell two runs apart: the seed (runs of one setting are averaged over it), and settings a
#: resumed run may change or that only affect how a run is shown, where its files are or how fast it runs; and a
#: preset's table of profiles (``scale.``), whose entries matter only through the keys they set, which are compared
RUN_ONLY_KEYS = ("seed", "resume", "device", "deterministic", "data.root", "trainer.progress", "tags",
                 "task.download", "threads", "trainer.checkpoint_every", "trainer.optimizer.fused",
                 "trainer.fused_adam")
RUN_ONLY_PREFIXES = ("logger.", "hydra.", "scale.")


def model_key(cfg: Mapping[str, Any]) -> str:
    """The paper's name of the model a run config describes (``cfg`` holds ``neuron`` and ``network``)."""
    neuron = str(_get(cfg, "neuron.name"))
    network = str(_get(cfg, "network.name"))
    width = _get(cfg, "network.width_factor")
    prefix = "" if width in (None, 1) else f"{width:g}" if isinstance(width, (int, float)) else str(width)
    if neuron == "binary":
        return prefix + BINARY_LABELS.get(network, f"ANN_{network}")
    return f"{prefix}{NEURON_LABELS.get(neuron, neuron)}_{network}"


def model_order(cfg: Mapping[str, Any]) -> tuple:
    """A sort key putting models in the paper's order: fc before conv, LIF, 4LIF, HH, LIF_hh, ANN."""
    network, neuron = _get(cfg, "network.name"), _get(cfg, "neuron.name")
    width = _get(cfg, "network.width_factor")
    return (_index(NETWORK_ORDER, network), str(network), _index(NEURON_ORDER, neuron), str(neuron),
            width if isinstance(width, (int, float)) else 0)


def is_run_only(key: str) -> bool:
    """Whether ``key`` is a setting that never defines what a run computes (see :data:`RUN_ONLY_KEYS`)."""
    return key in RUN_ONLY_KEYS or key.startswith(RUN_ONLY_PREFIXES)


def hparams_of(cfg: Mapping[str, Any]) -> dict[str, str | float | int | bool]:
    """The hyper-parameters of a resolved run config for TensorBoard's HParams tab: ``model`` (its key), then
    every leaf of the config that defines the run, flattened (``neuron.name``, ``trainer.optimizer.lr``,
    ``task.noise.amplitude``...), plus ``seed``. Lists become their text, and null values are left out."""
    out: dict[str, Any] = {}
    if isinstance(_get(cfg, "neuron"), Mapping) and isinstance(_get(cfg, "network"), Mapping):
        out["model"] = model_key(cfg)
    for key, value in flatten(cfg).items():
        if value is None or (is_run_only(key) and key != "seed"):
            continue
        if isinstance(value, tuple):
            value = "[" + ", ".join(str(v) for v in value) + "]"
        elif not isinstance(value, (str, int, float, bool)):
            value = str(value)
        out[key] = value
    return out


def _get(cfg: Mapping[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _index(order: tuple[str, ...], value: Any) -> int:
    return order.index(value) if value in order else len(order)
