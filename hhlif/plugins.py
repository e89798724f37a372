"""Classes named by configs: the one way hhlif turns a config section into an object.

A section names its class with Hydra's ``_target_`` (a dotted path, e.g. ``hhlif.neurons.hh.HH`` or a user's
``mypkg.neurons.ALIF``); its other keys, except ``name`` (the short name runs and reports show), are the keyword
arguments of the class. :func:`build` imports the class, checks the keys against its signature and calls it, so
that every problem is a :class:`~hhlif.errors.ConfigError` that names the key, the value and what is allowed:
a path that cannot be imported (with the import error), a key the class does not take (with the keys it
takes), an argument hhlif must supply that the class does not accept.

Installed packages add neurons (and networks) through the entry-point groups of :data:`GROUPS`:
``[project.entry-points."hhlif.neurons"] my_alif = "mypkg.neurons:ALIF"`` makes ``neuron=my_alif`` a choice,
its config generated from the class's signature (:func:`generated_config`). hhlif's own models are declared
the same way. A name claimed by two packages is an error naming both (:func:`entry_points`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from hhlif.errors import ConfigError

#: config group → entry-point group of installed plugins
GROUPS = {"neuron": "hhlif.neurons", "network": "hhlif.networks"}
#: keys of a section that are not arguments of its class
NOT_ARGUMENTS = ("_target_", "name")


class TargetError(ConfigError):
    """A ``_target_`` that cannot be imported; ``section`` is the config group it was read from."""

    def __init__(self, message: str, section: str):
        super().__init__(message)
        self.section = section


def resolve(target: Any, key: str) -> Any:
    """The object a dotted path ``target`` names (``pkg.module.Class``; ``pkg.module:Class`` also accepted)."""
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{key}={target!r} is not allowed: expected the dotted path of a class, "
                          "e.g. mypkg.neurons.ALIF.")
    module, sep, attr = target.replace(":", ".").rpartition(".")
    section = key.split(".")[0]
    if not sep or not module:
        raise TargetError(f"{key}={target!r} is not allowed: expected 'package.module.Class', with the module.",
                          section)
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise TargetError(f"{key}={target!r} cannot be imported: {type(exc).__name__}: {exc}. Install the package "
                          "that provides it, or put its folder on PYTHONPATH.", section) from None
    except AttributeError:
        raise TargetError(f"{key}={target!r}: module {module!r} has no attribute {attr!r}.", section) from None
    except Exception as exc:  # the module itself failed while importing: the user's code, shown briefly
        raise TargetError(f"{key}={target!r}: importing {module!r} failed with {type(exc).__name__}: {exc}",
                          section) from None


def target_of(cfg: Mapping[str, Any], section: str) -> Any:
    """The class of a config section: its ``_target_``, or (configs without one) the entry point of its ``name``."""
    if cfg.get("_target_") is not None:
        return resolve(cfg["_target_"], f"{section}._target_")
    name = cfg.get("name")
    points = entry_points(section)
    if name not in points:
        known = ", ".join(sorted(points)) or "none installed"
        raise ConfigError(f"{section}.name={name!r} is not a known choice and the section has no _target_. "
                          f"Installed {section}s: {known}. Name the class with {section}._target_=package.Class.")
    return resolve(points[name], f"{section}.name={name}")


def accepted(factory: Any, supplied: set[str]) -> tuple[set[str], bool]:
    """The keyword arguments ``factory`` takes from a config (not those in ``supplied``, nor its first positional
    argument), and whether it takes any keyword (``**kwargs``)."""
    params = list(inspect.signature(factory).parameters.values())
    if params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        params = params[1:]  # the shape of a neuron population, or another argument given by position
    names = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return names - supplied, any(p.kind == p.VAR_KEYWORD for p in params)


def arguments(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments a config section gives its class."""
    return {k: v for k, v in dict(cfg).items() if k not in NOT_ARGUMENTS}


def build(cfg: Mapping[str, Any], section: str, *args: Any, **supplied: Any) -> Any:
    """``Class(*args, **keys, **supplied)`` for the class of section ``cfg``.

    ``supplied`` are arguments hhlif gives (a network's neuron config, a task's shapes), not the user; a key of
    ``cfg`` the class does not take, or a supplied argument it does not accept, is a ConfigError.
    """
    factory = target_of(cfg, section)
    kwargs = arguments(cfg)
    allowed, anything = accepted(factory, set(supplied))
    label = f"{section} {cfg.get('name') or cfg.get('_target_')!r}"
    if not anything:
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise ConfigError(f"{section}.{unknown[0]} is not a parameter of {label} "
                              f"({_qualname(factory)}). Its parameters are: {', '.join(sorted(allowed)) or 'none'}.")
        missing = sorted(set(supplied) - set(inspect.signature(factory).parameters))
        if missing:
            raise ConfigError(f"{label} ({_qualname(factory)}) cannot be used here: it does not take "
                              f"{', '.join(missing)}, which this {section} must receive.")
    try:
        return factory(*args, **kwargs, **supplied)
    except TypeError as exc:
        if "argument" not in str(exc):
            raise
        raise ConfigError(f"{label} ({_qualname(factory)}): {exc}.") from None


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}"


# -- installed plugins ---------------------------------------------------------------------------------------------
def entry_points(section: str) -> dict[str, str]:
    """``name → 'module:attr'`` of the installed entry points of ``section``'s group; ConfigError when two
    packages claim one name."""
    from importlib.metadata import entry_points as installed

    found: dict[str, tuple[str, str]] = {}
    for point in installed(group=GROUPS[section]):
        owner = point.dist.name if point.dist is not None else "?"
        if point.name in found and found[point.name][0] != point.value:
            raise ConfigError(f"{section}={point.name!r} is claimed by two installed packages: "
                              f"{found[point.name][1]} ({found[point.name][0]}) and {owner} ({point.value}). "
                              "Uninstall one of them, or rename its entry point.")
        found[point.name] = (point.value, owner)
    return {name: value for name, (value, _) in found.items()}


def generated_config(name: str, target: str) -> dict[str, Any]:
    """The default config of an installed class: ``_target_``, ``name`` and every keyword argument of its
    signature with a plain default (numbers, strings, booleans, None, lists of them)."""
    factory = resolve(target, f"entry point {name}")
    cfg: dict[str, Any] = {"_target_": target.replace(":", "."), "name": name}
    allowed, _ = accepted(factory, set())
    for pname, param in inspect.signature(factory).parameters.items():
        if pname in allowed and param.default is not param.empty and _plain(param.default):
            cfg[pname] = list(param.default) if isinstance(param.default, tuple) else param.default
    return cfg


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))
