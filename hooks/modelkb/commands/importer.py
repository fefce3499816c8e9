"""`modelkb import`: merge recommender prompts into the catalog, keeping its formatting."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

import yaml

from modelkb.catalog import CatalogError, load_catalog
from modelkb.catalog.importer import Prompt, merge, parse_prompt, render
from modelkb.errors import ModelkbError
from modelkb.files import atomic_write


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `modelkb import`."""
    parser.add_argument("prompts", nargs="+", type=Path, metavar="PROMPT",
                        help="recommender prompt files (text) to import")
    parser.add_argument("--catalog", default=Path("catalog.yml"), type=Path,
                        help="the catalog file to merge into (default: catalog.yml)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the change as a unified diff and write nothing")


def _read_text(path: Path, what: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelkbError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise ModelkbError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ModelkbError(f"{path}:{line}: expected UTF-8 text") from None


def _validate(text: str, catalog: Path) -> None:
    """Validate ``text`` as the catalog would be, in a temporary file beside it."""
    fd, tmp = tempfile.mkstemp(prefix=".import-check-", suffix=".yml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        load_catalog(tmp, display=str(catalog))
    except CatalogError as exc:
        lines = "\n".join(f"  {p}" for p in exc.problems)
        raise ModelkbError(f"the imported catalog would not be valid; nothing was written:\n"
                           f"{lines}") from None
    finally:
        os.unlink(tmp)


def run(args: argparse.Namespace) -> int:
    """Parse every prompt, merge, validate, then write (or print the diff with --dry-run)."""
    catalog: Path = args.catalog
    prompts: list[Prompt] = [parse_prompt(_read_text(p, "prompt file"), str(p))
                             for p in args.prompts]
    text = _read_text(catalog, "catalog file (create an empty one to start a new catalog)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
        load_catalog(catalog, display=str(catalog))  # reports the YAML problem with its line
    if data is not None:
        load_catalog(catalog, display=str(catalog))  # refuse to merge into a broken catalog
    result = merge(data, prompts)
    new_text = render(text, result)
    for line in result.report:
        print(line)
    if new_text == text:
        print(f"{catalog}: nothing to change")
        return 0
    _validate(new_text, catalog)
    if args.dry_run:
        diff = difflib.unified_diff(text.splitlines(keepends=True),
                                    new_text.splitlines(keepends=True),
                                    fromfile=f"a/{catalog}", tofile=f"b/{catalog}")
        sys.stdout.writelines(diff)
        print(f"{catalog}: dry run, nothing written")
        return 0
    try:
        atomic_write(catalog, new_text)
    except OSError as exc:
        raise ModelkbError(f"{catalog}: cannot write the catalog: {exc.strerror}; "
                           "nothing was changed") from None
    print(f"{catalog}: updated")
    return 0
