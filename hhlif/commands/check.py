"""``hhlif check neuron=<name>``: put a neuron model through the contract suite (:mod:`hhlif.testing`).

The neuron is chosen as for ``hhlif train``: a name from ``conf/neuron/`` (hhlif's, or a ``conf/neuron/*.yaml``
in the working directory), an installed plugin's name, or ``neuron._target_=mypkg.neurons.ALIF``; other
``neuron.*`` overrides set its parameters. Prints one line per check and exits 0 when all pass, 1 otherwise.
No Hydra run is made (nothing is written), so this module defines ``main(argv)``.
"""

from __future__ import annotations

import time

SUMMARY = "check a neuron model against hhlif's neuron contract: hhlif check neuron=<name> [neuron.key=value ...]"


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(f"hhlif check: {SUMMARY}\n\n{__doc__.split(chr(10), 2)[2]}")
        return 0
    from hhlif.config import compose
    from hhlif.neurons import build_neuron
    from hhlif.plugins import target_of
    from hhlif.testing import CHECKS, check_neuron

    cfg = compose("train", list(argv))
    target_of(cfg.neuron, "neuron")  # a class that cannot be imported is a configuration error (exit 2)
    target = cfg.neuron.get("_target_") or cfg.neuron.get("name")
    print(f"hhlif check: neuron={cfg.neuron.get('name')} ({target}), {len(CHECKS)} checks")
    start = time.perf_counter()
    results = check_neuron(lambda shape, **shared: build_neuron(cfg.neuron, shape, **shared))
    for name, problem in results.items():
        print(f"  {'ok  ' if problem is None else 'FAIL'} {name:<12} {problem or ''}")
    failed = sum(p is not None for p in results.values())
    print(f"{len(results) - failed} passed, {failed} failed ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0
