"""`modelkb check`: validate the catalog and list every problem with its line."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelkb.catalog import CatalogError, load_catalog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `modelkb check`."""
    parser.add_argument("catalog", nargs="?", default="catalog.yml", type=Path,
                        help="the catalog file (default: catalog.yml)")


def run(args: argparse.Namespace) -> int:
    """Print the catalog's problems and return 1, or a one-line summary and 0."""
    try:
        catalog = load_catalog(args.catalog, display=str(args.catalog))
    except CatalogError as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(f"{args.catalog}: {count} problem{'s' if count != 1 else ''}")
        return 1
    drafts = sum(q.draft for q in catalog.questions.values())
    print(f"{args.catalog}: ok ({len(catalog.questions)} questions, {drafts} drafts, "
          f"{len(catalog.models)} models, {len(catalog.papers)} papers, "
          f"{len(catalog.tools)} tools, {len(catalog.gallery)} gallery entries)")
    return 0
