"""The commands of ``hhlif <command>``. Each module defines ``CONFIG_NAME``, ``SUMMARY``,
``validate(cfg)`` (raise ConfigError before anything is written) and ``run(cfg, run_dir)``; Hydra runs it.
A command that makes no run of its own (``report``) defines ``SUMMARY`` and ``main(argv) -> int`` instead and
parses its own command line (see :mod:`hhlif.commands.report`).

``SUMMARY`` and ``CONFIG_NAME`` are plain string literals: ``hhlif --help`` and ``hhlif <command> --help`` read
them from the modules' source (:func:`declared`) without importing the modules, which import torch.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

COMMANDS: dict[str, str] = {
    "train": "hhlif.commands.train",
    "evaluate": "hhlif.commands.evaluate",
    "flops": "hhlif.commands.flops",
    "bench": "hhlif.commands.bench",
    "simulate": "hhlif.commands.simulate",
    "report": "hhlif.commands.report",
    "check": "hhlif.commands.check",
    "explain": "hhlif.commands.explain",
}


@cache
def declared(name: str) -> dict[str, object]:
    """The module-level string constants of command ``name`` and ``"main": True`` if it defines ``main``, read
    from its source without importing it."""
    spec = importlib.util.find_spec(COMMANDS[name])
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            found["main"] = True
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
              and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            found[node.targets[0].id] = node.value.value
    return found
