"""hhlif's config tree (installed as the package ``hhlif.conf``; Hydra finds it as ``pkg://hhlif.conf``)."""
