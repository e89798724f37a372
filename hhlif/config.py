"""Composing hhlif's configs with Hydra, the one way: every composition error becomes a ConfigError."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from hhlif.errors import ConfigError
from hhlif.hydra_plugin import install

install()  # a user's ./conf first, installed plugins' configs: before any composition (hhlif.hydra_plugin)

#: Hydra plugins behind optional extras: (group, option) → (plugin package, hhlif extra)
PLUGINS = {("hydra/launcher", "joblib"): ("hydra-joblib-launcher", "launchers"),
           ("hydra/launcher", "submitit_slurm"): ("hydra-submitit-launcher", "launchers"),
           ("hydra/launcher", "submitit_local"): ("hydra-submitit-launcher", "launchers"),
           ("hydra/sweeper", "optuna"): ("hydra-optuna-sweeper", "optuna")}


#: characters kept in the overrides part of a run directory's name (others become "_"): none that a Hydra
#: override would need quoted, so the directory can be named on the command line (resume=PATH)
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._+@-]")
NAME_OVERRIDES_MAX = 120  # characters of the overrides part of a run directory's name (longer: cut, "+" added)


def _model_key(*, _root_: DictConfig) -> str:
    """``${hhlif.model_key:}``: the model key of the config (``HH_fc``, ``4LIF_fc``; a plugin neuron's name), as
    the HParams tab and ``hhlif report`` name the model."""
    from hhlif.report.naming import model_key

    return model_key(_root_)


def _overrides(*, _root_: DictConfig) -> str:
    """``${hhlif.overrides:}``: ``-key@value-key@value...`` for the command line's overrides
    (``hydra.overrides.task``) that are not in ``hydra.job.config.override_dirname.exclude_keys`` (settings the
    name shows otherwise, or that do not change what a run computes; in a sweep, the settings every job
    shares), sorted; empty when there are none. Other characters than letters, digits and ``._+@-`` become
    ``_``."""
    hydra = _root_.get("hydra")
    if hydra is None:
        return ""
    exclude = set(OmegaConf.select(hydra, "job.config.override_dirname.exclude_keys", default=None) or ())
    items = []
    for override in OmegaConf.select(hydra, "overrides.task", default=None) or ():
        key, _, value = str(override).partition("=")
        if key.lstrip("+~") not in exclude:
            items.append(_NAME_CHARS.sub("_", f"{key.lstrip('+~')}@{value}"))
    text = "-".join(sorted(items))
    if len(text) > NAME_OVERRIDES_MAX:
        text = text[:NAME_OVERRIDES_MAX - 1] + "+"
    return f"-{text}" if text else ""


OmegaConf.register_new_resolver("hhlif.model_key", _model_key, replace=True)
OmegaConf.register_new_resolver("hhlif.overrides", _overrides, replace=True)


def compose(config_name: str, overrides: list[str], *, where: str = "", with_hydra: bool = False) -> DictConfig:
    """The config ``config_name`` (a root config of ``conf/``, installed as ``hhlif.conf``) with ``overrides`` applied.

    Works inside a running Hydra app (a command composing configs of its own) and outside one. ``where``
    prefixes error messages (e.g. which item of a preset was bad). Without ``with_hydra`` the ``hydra`` node is
    removed.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    prefix = f"{where}: " if where else ""
    for override in overrides:
        if not _key_of(override) and not override.startswith("~"):
            raise ConfigError(f"{prefix}{override!r} is not an override: expected key=value (group=option, "
                              "key.sub=value, +key=value).")

    def composed(overrides: list[str], with_hydra: bool) -> DictConfig:
        return hydra_compose(config_name=config_name, overrides=overrides, return_hydra_config=with_hydra)

    try:
        context = (_no_context() if GlobalHydra.instance().is_initialized()
                   else initialize_config_module(config_module="hhlif.conf", version_base="1.3"))
        with context:
            try:
                _check_added_keys(config_name, overrides, composed, prefix)
                cfg = composed(overrides, with_hydra)
            except HydraException as exc:
                unknown = re.search(r"Could not override '([^']+)'", str(exc))
                if not unknown:
                    raise
                rest = [o for o in overrides if _key_of(o) != unknown[1]]
                raise _unknown_key(config_name, unknown[1], overrides, composed(rest, False), prefix) from None
    except MissingConfigException as exc:
        found = re.search(r"Could not find '(.+)/([^/']*)'", str(exc))
        if exc.options and found:
            plugin = PLUGINS.get((found[1], found[2]))
            hint = f" It comes with {plugin[0]}: pip install 'hhlif[{plugin[1]}]'." if plugin else ""
            raise ConfigError(f"{prefix}{found[1]}={found[2]!r} is not a known choice. "
                              f"Valid choices: {', '.join(sorted(exc.options))}.{hint}") from None
        raise ConfigError(prefix + str(exc).split("\nConfig search path")[0].replace("\n", " ")) from None
    except OverrideParseException:
        raise _unreadable(overrides, prefix) from None
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise ConfigError(f"{prefix}{exc}{cause}".replace("\n", " ")) from None
    if not with_hydra:
        with open_dict(cfg):
            cfg.pop("hydra", None)
    return cfg


def _unreadable(overrides: list[str], prefix: str) -> ConfigError:
    """The error for an override Hydra's grammar cannot read: which one, and how to write it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except Exception:  # noqa: BLE001 - this is the one
            key, _, value = override.partition("=")
            odd = sorted({c for c in value if not c.isascii() or not c.isprintable()})
            why = (f"it holds {', '.join(map(repr, odd))}, which needs quotes" if odd else
                   "expected key=value (group=option, key.sub=value, +key=value)")
            quoted = f" Write it as {key}='{value}'." if odd and key else ""
            return ConfigError(f"{prefix}cannot read the override {override!r}: {why}.{quoted}")
    return ConfigError(f"{prefix}cannot read the overrides {overrides}.")


def _key_of(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~").strip()


def _check_added_keys(config_name: str, overrides: list[str], composed, prefix: str) -> None:
    """Refuse ``+key=value`` when no selected config defines ``key`` (a misspelt key Hydra would silently add),
    unless ``key`` is a config group (``+experiment=...``) or a parameter of a section that names its class
    (``_target_``: the class's own signature checks it when the section is built)."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    added = [o for o in overrides if o.startswith("+") and not _key_of(o).startswith("hydra.")
             and not loader.get_group_options(_key_of(o).replace(".", "/"))]
    if not added:
        return
    base = composed([o for o in overrides if o not in added], False)
    for override in added:
        key = _key_of(override)
        parent = key.rpartition(".")[0]
        node = OmegaConf.select(base, parent) if parent else base
        if OmegaConf.select(base, key, default=_ABSENT) is _ABSENT and not (
                isinstance(node, DictConfig) and "_target_" in node):
            raise _unknown_key(config_name, key, overrides, base, prefix)


def _unknown_key(config_name: str, key: str, overrides: list[str], base: DictConfig, prefix: str) -> ConfigError:
    """The error for ``key``, which no selected config defines, with the closest valid key."""
    from hydra.core.global_hydra import GlobalHydra

    given = next((o for o in overrides if _key_of(o) == key), key)
    groups = GlobalHydra.instance().config_loader().get_group_options  # a group too: +netwrok=conv → network
    extra = [g for g in ("experiment", "model", "profile") if groups(g)]
    return ConfigError(f"{prefix}{given}: no selected config defines the key {key}.{did_you_mean(key, base, extra)} "
                       f"Run 'hhlif {config_name} --cfg job' to see every key.")


def did_you_mean(key: str, cfg: DictConfig, extra: Sequence[str] = ()) -> str:
    """`` Did you mean <the closest key or section of cfg>?``, or an empty string when none is close."""
    import difflib

    keys = [*flatten(OmegaConf.to_container(cfg, resolve=False)), *_sections(cfg), *extra]
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    return f" Did you mean {close[0]}?" if close else ""


def _sections(cfg: Any, prefix: str = "") -> list[str]:
    """The dotted names of every section (mapping) of ``cfg``."""
    out = []
    if isinstance(cfg, DictConfig):
        for key in cfg.keys():
            value = cfg._get_node(key)
            if isinstance(value, DictConfig):
                out += [f"{prefix}{key}", *_sections(value, f"{prefix}{key}.")]
    return out


def config_file(cfg: DictConfig, group: str) -> str | None:
    """The file that defines the option of ``group`` chosen in ``cfg`` (composed with its ``hydra`` node), from the
    folders Hydra searches (the working directory's ``conf/``, ``hydra.searchpath``, hhlif's own), or None."""
    from importlib.resources import files
    from pathlib import Path

    choice = OmegaConf.select(cfg, f"hydra.runtime.choices.{group}")
    if not choice:
        return None
    folders = [Path.cwd() / "conf", *(Path(str(p).removeprefix("file://"))
                                      for p in OmegaConf.select(cfg, "hydra.searchpath", default=[]) or [])]
    for folder in folders:
        if (folder / group / f"{choice}.yaml").is_file():
            return str(folder / group / f"{choice}.yaml")
    packaged = files("hhlif.conf") / group / f"{choice}.yaml"
    return f"hhlif's conf/{group}/{choice}.yaml" if packaged.is_file() else f"{group}={choice}"


def provenance(config_name: str, overrides: list[str], key: str) -> list[tuple[Any, str]]:
    """Every value ``key`` takes while ``config_name`` is composed with ``overrides``, in order, with where it
    came from (a config file, or the command line): the last one is the value the run uses."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    compose(config_name, overrides)  # any error in the overrides, reported the usual way
    found: list[tuple[Any, str]] = []
    context = (initialize_config_module(config_module="hhlif.conf", version_base="1.3")
               if not GlobalHydra.instance().is_initialized() else _no_context())
    with context:
        loader = GlobalHydra.instance().config_loader()
        defaults = loader.compute_defaults_list(config_name, overrides, RunMode.RUN).defaults
        for item in defaults:
            package = item.package or ""
            if package.startswith("hydra") or item.config_path is None:
                continue
            result = loader.repository.load_config(item.config_path)
            if result is None:
                continue
            inner = key[len(package) + 1:] if package and key.startswith(package + ".") else None
            rel = key if not package else inner
            if rel is None:
                continue
            value = OmegaConf.select(OmegaConf.create(result.config), rel, default=_ABSENT)
            if value is not _ABSENT:
                where = "hhlif's conf" if result.path == "pkg://hhlif.conf" else result.path.removeprefix("file://")
                found.append((value, f"{where}/{item.config_path}.yaml"))
    for override in overrides:
        name, _, value = override.partition("=")
        if name.lstrip("+~") == key:
            found.append((value, "the command line"))
    return found


_ABSENT = object()


class _no_context:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}, 'c': [1, 2]}`` → ``{'a.b': 1, 'c': (1, 2)}`` (lists become tuples: hashable)."""
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(tree, (list, tuple)):
        return {prefix[:-1]: tuple(v if v is None or isinstance(v, (str, int, float, bool)) else str(v)
                                   for v in tree)}
    return {prefix[:-1]: tree}
