"""The commands of ``hhlif <command>``. Each module defines ``CONFIG_NAME``, ``SUMMARY``,
``validate(cfg)`` (raise ConfigError before anything is written) and ``run(cfg, run_dir)``."""

COMMANDS: dict[str, str] = {
    "train": "hhlif.commands.train",
    "flops": "hhlif.commands.flops",
    "bench": "hhlif.commands.bench",
    "simulate": "hhlif.commands.simulate",
}
