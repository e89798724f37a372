"""Building objects from config sections: one registry per kind, one way to report a bad name or key."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hhlif.errors import ConfigError, unknown_choice


def lookup(registry: Mapping[str, Any], section: str, cfg: Mapping[str, Any]) -> Any:
    """The entry of ``registry`` named by ``cfg['name']``; a ConfigError lists the valid names."""
    name = cfg.get("name")
    if name not in registry:
        raise unknown_choice(f"{section}.name", name, registry)
    return registry[name]


def build(registry: Mapping[str, Any], section: str, cfg: Mapping[str, Any], *args: Any, **extra: Any) -> Any:
    """Call the registry entry named by ``cfg['name']`` with the other keys of ``cfg`` as keyword arguments.

    ``extra`` are arguments supplied by the caller (not the user); a key of ``cfg`` the entry does not accept
    is a ConfigError that lists the keys it does accept.
    """
    factory = lookup(registry, section, cfg)
    kwargs = {k: v for k, v in dict(cfg).items() if k != "name"}
    params = inspect.signature(factory).parameters
    allowed = {k for k, p in params.items() if p.kind == p.KEYWORD_ONLY} - set(extra)
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ConfigError(
            f"{section}.{unknown[0]} is not a parameter of {section} '{cfg['name']}'. "
            f"Its parameters are: {', '.join(sorted(allowed))}."
        )
    return factory(*args, **kwargs, **extra)
