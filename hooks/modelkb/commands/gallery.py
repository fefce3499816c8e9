"""`modelkb gallery`: run the gallery workflows into the cache, outside MkDocs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from modelkb.errors import ModelkbError
from modelkb.registry import DEVICES

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `modelkb gallery`."""
    parser.add_argument("--config", "-f", default="mkdocs.yml", type=Path, metavar="FILE",
                        help="the site's mkdocs.yml (default: mkdocs.yml)")
    parser.add_argument("--device", default=None, metavar="|".join(DEVICES),
                        help="where models run (default: extra.modelkb.device)")
    parser.add_argument("--weights", default=None, metavar="FILE|URL",
                        help="MSSNet weights (default: extra.modelkb.weights, "
                             "$MODELKB_WEIGHTS, then the shipped file)")
    parser.add_argument("--prune", action="store_true",
                        help="delete cache entries no gallery entry uses any more")
    parser.add_argument("--shard", default=None, metavar="I/N", type=parse_shard,
                        help="render only share I of N (1 <= I <= N) into the shared cache, "
                             "so several machines can fill it; the site build then only reads")
    parser.add_argument("--workers", default=None, metavar="N", type=parse_workers,
                        help="photos in flight at once: one runs the model while the others "
                             "are decoded, encoded and measured (default: 2)")


def parse_workers(text: str) -> int:
    """--workers N: a whole number from 1 to 64."""
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"workers {text}: give a whole number from 1 to 64")
    return int(text)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N), with 1 <= I <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"shard {text}: I must be between 1 and N")
    return index, count


def in_shard(entry_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether a gallery entry belongs to shard I/N: a stable hash of its id, not its order."""
    if shard is None:
        return True
    import hashlib

    index, count = shard
    return int(hashlib.sha256(entry_id.encode()).hexdigest()[:12], 16) % count == index - 1


def main_config(config_file: str | Path, device: str | None = None,
                weights: str | None = None, prune: bool = False,
                shard: tuple[int, int] | None = None,
                workers: int | None = None):  # -> GalleryReport
    """Run the gallery of the site configured in ``config_file``; returns the report.

    The site's :class:`~modelkb.site.project.Project` loads the catalog and runs the gallery
    exactly as the build does; ``device`` and ``weights`` replace the settings' values."""
    from modelkb.gallery.runner import prune_cache
    from modelkb.site.project import Project

    if prune and shard is not None:
        raise ModelkbError("--prune needs the whole gallery: run it without --shard, after "
                           "every shard has finished")
    project = Project.from_config_file(Path(config_file)).with_options(device, weights)
    catalog = project.load_catalog()
    entries = [e for e in catalog.gallery if in_shard(e, shard)] if shard else None
    report = project.run_gallery(catalog, entries=entries, workers=workers)
    if prune:
        deleted = prune_cache(project.cache_dir, report)
        log.info("gallery: pruned %d unused cache entr%s", len(deleted),
                 "y" if len(deleted) == 1 else "ies")
    return report


def run(args: argparse.Namespace) -> int:
    """Run the gallery; exit 1 listing the inputs that failed."""
    report = main_config(args.config, args.device, args.weights, args.prune, args.shard,
                         args.workers)
    if report.failures:
        print(f"modelkb gallery: {len(report.failures)} input(s) failed:", file=sys.stderr)
        for failure in report.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0
