"""hhlif's packages: everything under hhlif/, plus the top-level config tree conf/ installed as hhlif.conf
(see pyproject.toml's package-dir). The rest of the metadata is in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["hhlif", "hhlif.*"]), "hhlif.conf"])
