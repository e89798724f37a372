"""The commands of ``hhlif <command>``. Each module defines ``CONFIG_NAME``, ``SUMMARY``,
``validate(cfg)`` (raise ConfigError before anything is written) and ``run(cfg, run_dir)``; Hydra runs it.
A command that makes no run of its own (``report``) defines ``SUMMARY`` and ``main(argv) -> int`` instead and
parses its own command line (see :mod:`hhlif.commands.report`)."""

COMMANDS: dict[str, str] = {
    "train": "hhlif.commands.train",
    "flops": "hhlif.commands.flops",
    "bench": "hhlif.commands.bench",
    "simulate": "hhlif.commands.simulate",
    "report": "hhlif.commands.report",
    "check": "hhlif.commands.check",
    "explain": "hhlif.commands.explain",
}
