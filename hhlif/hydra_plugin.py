"""hhlif's Hydra plugin: a user's ``./conf`` folder first, and the configs of installed neuron/network plugins.

:func:`install` (called when :mod:`hhlif.config` is imported, i.e. by every hhlif command before Hydra composes a
config) registers :class:`HhlifSearchPath` with Hydra and stores the generated configs in Hydra's ConfigStore.
Hydra hands both to the jobs of its launchers (joblib and submitit copy Hydra's state into each job's process),
so a sweep's jobs see what the command saw:

* the folder ``conf/`` of the working directory, when there is one, is searched *before* hhlif's own config
  tree: a user adds neurons, tasks, experiments or changed copies of hhlif's files there, without flags;
* every entry point of the groups in :data:`hhlif.plugins.GROUPS` that has no config file in hhlif's tree gets
  a config generated from its class's signature (:func:`hhlif.plugins.generated_config`), so that installing a
  package makes ``neuron=<its name>`` a choice.

Nothing here raises: a broken plugin is reported when a command selects it (or, for a name claimed twice, when
a command starts).
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

USER_CONF = "conf"
_INSTALLED = False


class HhlifSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        user = Path.cwd() / USER_CONF
        if user.is_dir():
            search_path.prepend(provider="hhlif-user", path=f"file://{user}")


def install() -> None:
    """Register the search path plugin and the installed plugins' configs (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from hydra.core.plugins import Plugins

    Plugins.instance().register(HhlifSearchPath)
    _store_installed()
    _INSTALLED = True


def _store_installed() -> None:
    from importlib.resources import files

    from hydra.core.config_store import ConfigStore

    from hhlif.errors import ConfigError
    from hhlif.plugins import GROUPS, entry_points, generated_config

    store = ConfigStore.instance()
    for group in GROUPS:
        try:
            points = entry_points(group)
        except ConfigError:  # two packages claim a name: the CLI reports it
            continue
        for name, target in points.items():
            if (files("hhlif.conf") / group / f"{name}.yaml").is_file():
                continue  # hhlif's own model: its config file is the one with comments
            try:
                node = generated_config(name, target)
            except ConfigError:  # cannot be imported: building it reports why
                node = {"_target_": target.replace(":", "."), "name": name}
            store.store(group=group, name=name, node=node, provider="hhlif-plugin")
