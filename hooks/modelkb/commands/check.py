"""`modelkb check`: validate the catalog and list every problem with its line.

Without a catalog argument, the site's mkdocs.yml (``--config``) names the catalog, read as
the build reads it (:class:`~modelkb.site.project.Project`); a folder without mkdocs.yml
checks ``catalog.yml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modelkb.catalog import CatalogError, load_catalog
from modelkb.commands.site_files import add_config_option, site_catalog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `modelkb check`."""
    parser.add_argument("catalog", nargs="?", default=None, type=Path,
                        help="the catalog file (default: the one the site's mkdocs.yml names, "
                             "else catalog.yml)")
    add_config_option(parser, "the site's mkdocs.yml, when no catalog is given "
                              "(default: mkdocs.yml in the working folder)")


def run(args: argparse.Namespace) -> int:
    """Print the catalog's problems and return 1, or a one-line summary and 0."""
    path, name, project = site_catalog(args.catalog, args.config)
    if project is not None:
        load = project.load_catalog
    else:

        def load():
            return load_catalog(path, display=name)
    try:
        catalog = load()
    except CatalogError as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(f"{name}: {count} problem{'s' if count != 1 else ''}")
        return 1
    drafts = sum(q.draft for q in catalog.questions.values())
    print(f"{name}: ok ({len(catalog.questions)} questions, {drafts} drafts, "
          f"{len(catalog.models)} models, {len(catalog.papers)} papers, "
          f"{len(catalog.tools)} tools, {len(catalog.gallery)} gallery entries)")
    return 0
