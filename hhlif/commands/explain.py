"""``hhlif explain KEY [KEY ...] [overrides]``: where each value of a run's configuration comes from.

A value can be set by several files: a neuron's own config (``conf/neuron/hh.yaml``), the paper's constants for
that neuron and network (``conf/paper/model/hh_fc.yaml``), a model or preset, a file in the working
directory's ``conf/``, then the command line. This prints, for each KEY, every value it takes in composition
order and the file that set it; the last one is what the run uses. Nothing is written.
"""

from __future__ import annotations

SUMMARY = "show which config file (or the command line) set a value: hhlif explain neuron.threshold neuron=hh"


def main(argv: list[str]) -> int:
    keys = [a for a in argv if "=" not in a and not a.startswith("-")]
    if not keys or any(a in ("-h", "--help") for a in argv):
        print(f"hhlif explain: {SUMMARY}\n\n{__doc__.split(chr(10), 2)[2]}")
        return 0 if keys or argv else 2
    from omegaconf import OmegaConf

    from hhlif.config import compose, did_you_mean, provenance
    from hhlif.errors import ConfigError

    overrides = [a for a in argv if "=" in a]
    cfg = compose("train", overrides)
    for key in keys:
        final = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if final is None and OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            raise ConfigError(f"{key} is not a key of this configuration.{did_you_mean(key, cfg)} Run "
                              f"'{' '.join(['hhlif train', *overrides, '--cfg job'])}' to see them all.")
        print(f"{key} = {final}")
        for value, source in provenance("train", overrides, key):
            print(f"    {value!s:<24} {source}")
    return 0
