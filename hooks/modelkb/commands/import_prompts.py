"""`modelkb import`: merge recommender prompts into the catalog, keeping its formatting."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import glob
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import filelock
import yaml

from modelkb.catalog import CatalogError, load_catalog
from modelkb.catalog.prompts import Prompt, merge, parse_prompt, render
from modelkb.catalog.validate import Validator
from modelkb.catalog.yamlsrc import SourceError, read_yaml
from modelkb.commands.site_files import add_config_option, site_catalog
from modelkb.errors import ModelkbError, terminal_safe
from modelkb.files import atomic_write, lock_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `modelkb import`."""
    parser.add_argument("prompts", nargs="+", type=Path, metavar="PROMPT",
                        help="recommender prompt files (text) to import")
    add_config_option(parser, "the site's mkdocs.yml: merge into the catalog it names "
                              "(default: mkdocs.yml in the working folder, else catalog.yml)")
    parser.add_argument("--catalog", default=None, type=Path, metavar="FILE",
                        help="the catalog file to merge into (instead of --config)")
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


def _validate(text: str, catalog: Path, old_lines: int) -> None:
    """Validate ``text`` as the catalog would be, in memory (no copy of it is written).
    Lines after ``old_lines`` are what the import would append."""
    try:
        source = read_yaml(catalog, display=str(catalog), raw=text.encode("utf-8"))
        Validator(source, catalog).run()
    except SourceError as exc:
        problems = exc.problems
    except CatalogError as exc:
        problems = exc.problems
    else:
        return
    lines = "\n".join(f"  {p}" for p in problems)
    raise ModelkbError(f"the imported catalog would not be valid; nothing was written "
                       f"(lines after {old_lines} are the entries the import would append: "
                       f"see them with --dry-run):\n{lines}") from None


def _target(catalog: Path) -> Path:
    """The file really written: a symlinked catalog's target (the link is kept)."""
    return Path(os.path.realpath(catalog)) if catalog.is_symlink() else catalog


def _import_lock(catalog: Path) -> filelock.BaseFileLock:
    """One import at a time per catalog file (the lock lives in the temporary folder). Its
    name comes from the catalog's real path, every symlink resolved (the file's, and any
    folder's on the way), so imports that spell the same file differently share it."""
    return lock_for(catalog, tempfile.gettempdir(), prefix="modelkb-import-")


@contextlib.contextmanager
def _holding(lock: filelock.BaseFileLock, catalog: Path) -> Iterator[None]:
    """Hold ``lock``, saying so when another import of the catalog makes this one wait."""
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        print(terminal_safe(f"{catalog}: another modelkb import of this catalog is running; "
                            "waiting for it to finish"), file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _remove_stale(catalog: Path) -> int:
    """Remove what an import killed mid-write left beside the catalog: ``.NAME.*.tmp``
    files (atomic_write's temporaries; only called while holding the import lock)."""
    target = _target(catalog)
    removed = 0
    with contextlib.suppress(OSError):
        for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
    return removed


def run(args: argparse.Namespace) -> int:
    """Parse every prompt, merge, validate, then write (or print the diff with --dry-run)."""
    args.catalog = site_catalog(args.catalog, getattr(args, "config", None))[0]
    with _holding(_import_lock(args.catalog), args.catalog):
        if not args.dry_run:
            _remove_stale(args.catalog)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
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
    if new_text == text:
        _report(result.report)
        print(f"{catalog}: nothing to change")
        return 0
    _validate(new_text, catalog, len(text.splitlines()))
    if args.dry_run:
        diff = difflib.unified_diff(text.splitlines(keepends=True),
                                    new_text.splitlines(keepends=True),
                                    fromfile=f"a/{catalog}", tofile=f"b/{catalog}")
        sys.stdout.writelines(diff)
        _report(result.report, " (dry run: not written)")
        print(f"{catalog}: dry run, nothing written")
        return 0
    try:
        atomic_write(catalog, new_text)
    except OSError as exc:
        raise ModelkbError(f"{catalog}: cannot write the catalog: {exc.strerror}; "
                           "nothing was changed") from None
    _report(result.report)
    print(f"{catalog}: updated")
    return 0


def _report(lines: list[str], note: str = "") -> None:
    """Print what the merge did, only once it is done (a dry run adds ``note``)."""
    for line in lines:
        print(terminal_safe(line + note))
