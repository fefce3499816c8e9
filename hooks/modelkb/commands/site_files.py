"""Which site a command works on: the one ``--config`` names (default ``mkdocs.yml`` in the
working folder), else ``catalog.yml`` there; a command that finds neither says where it
looked. Every command that reads a site spells the option ``--config``/``-f``."""

from __future__ import annotations

import os
from pathlib import Path

from modelkb.errors import ModelkbError
from modelkb.site.config import not_found

DEFAULT_CONFIG = Path("mkdocs.yml")
DEFAULT_CATALOG = Path("catalog.yml")
CONFIG_HELP = "the site's mkdocs.yml (default: mkdocs.yml in the working folder)"


def add_config_option(parser, help_text: str = CONFIG_HELP) -> None:
    """The ``--config``/``-f`` option (None when not given: see :func:`config_file`)."""
    parser.add_argument("--config", "-f", default=None, type=Path, metavar="FILE",
                        help=help_text)


def config_file(given: Path | None) -> Path:
    """The site's configuration file: ``given`` or mkdocs.yml here; a missing one is an
    error naming the folder looked in."""
    path = given if given is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise ModelkbError(not_found(path))
    return path


def site_catalog(catalog: Path | None, config: Path | None):
    """(catalog file, its name in messages, the Project or None) for a command given an
    optional catalog file and an optional ``--config``: the catalog named; else the one the
    site's mkdocs.yml names; else catalog.yml in the working folder."""
    if catalog is not None:
        return catalog, str(catalog), None
    if config is not None or DEFAULT_CONFIG.is_file():
        from modelkb.site.project import Project

        project = Project.from_config_file(config_file(config))
        return project.catalog_file, project.display(project.catalog_file), project
    if DEFAULT_CATALOG.is_file():
        return DEFAULT_CATALOG, str(DEFAULT_CATALOG), None
    raise ModelkbError(f"no site here: looked for {DEFAULT_CONFIG} and {DEFAULT_CATALOG} in "
                       f"{os.getcwd()} and found neither; run the command in the site's folder, "
                       "pass --config PATH/TO/mkdocs.yml, or name the catalog file")
