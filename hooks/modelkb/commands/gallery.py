"""`modelkb gallery`: run the gallery workflows into the cache, outside MkDocs; one share of
it (``--shard I/N``, balanced by estimated cost: :mod:`modelkb.gallery.shards`), or merge
the cache folders of shares run elsewhere (``--merge``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from modelkb.errors import ModelkbError
from modelkb.pixels.registry import DEVICES

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
                        help="render only share I of N (1 <= I <= N; shares balanced by "
                             "estimated cost, the same on every machine), so several "
                             "machines can fill the cache; the site build then only reads")
    parser.add_argument("--workers", default=None, metavar="N", type=parse_workers,
                        help="photos in flight at once: one runs the model while the others "
                             "are decoded, encoded and measured (default: 2)")
    parser.add_argument("--cache", default=None, type=Path, metavar="DIR",
                        help="the cache folder to fill or merge into (default: "
                             "extra.modelkb.cache)")
    parser.add_argument("--export", default=None, type=Path, metavar="DIR",
                        help="after the run, copy the cache entries it used into DIR (a "
                             "cache folder to upload and --merge elsewhere)")
    parser.add_argument("--merge", default=None, type=Path, nargs="+", metavar="DIR",
                        help="run nothing: merge the cache folders shards wrote into the "
                             "cache, after checking every entry (files against their "
                             "manifest, made for this catalog, weights and code)")


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


def main_config(config_file: str | Path, device: str | None = None,
                weights: str | None = None, prune: bool = False,
                shard: tuple[int, int] | None = None,
                workers: int | None = None, cache: Path | None = None,
                export: Path | None = None):  # -> GalleryReport
    """Run the gallery of the site configured in ``config_file``; returns the report.

    The site's :class:`~modelkb.site.project.Project` loads the catalog and runs the gallery
    exactly as the build does; ``device``, ``weights`` and ``cache`` replace the settings'
    values. ``export``: a folder the entries of the run are copied into."""
    from modelkb.gallery.runner import prune_cache
    from modelkb.gallery.shards import export_entries, shard_entries

    if prune and shard is not None:
        raise ModelkbError("--prune needs the whole gallery: run it without --shard, after "
                           "every shard has finished")
    project = _project(config_file, device, weights, cache)
    catalog = project.load_catalog()
    entries = shard_entries(catalog, project.gallery_dir, shard) if shard else None
    if shard:
        log.info("gallery: shard %d/%d has %d of %d entries", *shard, len(entries),
                 len(catalog.gallery))
    report = project.run_gallery(catalog, entries=entries, workers=workers)
    if prune:
        deleted = prune_cache(project.cache_dir, report)
        log.info("gallery: pruned %d unused cache entr%s", len(deleted),
                 "y" if len(deleted) == 1 else "ies")
    if export is not None:
        copied = export_entries(project.cache_dir, export,
                                [r.keys for r in report.results.values()])
        log.info("gallery: exported %d entr%s into %s", copied, "y" if copied == 1 else "ies",
                 export)
    return report


def _project(config_file: str | Path, device: str | None, weights: str | None,
             cache: Path | None):
    """The site's project with the command line's options."""
    from modelkb.site.project import Project

    project = Project.from_config_file(Path(config_file)).with_options(device, weights)
    if cache is not None:
        project = dataclasses.replace(project, cache_dir=cache.absolute())
    return project


def merge(config_file: str | Path, sources: list[Path], weights: str | None = None,
          cache: Path | None = None):  # -> MergeReport
    """Merge the shard cache folders ``sources`` into the site's cache (or ``cache``)."""
    from modelkb.gallery.runner import gallery_keys
    from modelkb.gallery.shardcheck import EntryChecker
    from modelkb.gallery.shards import merge_caches

    project = _project(config_file, None, weights, cache)
    catalog = project.load_catalog()
    keys, failures = gallery_keys(catalog, project.gallery_dir, project.cache_dir,
                                  project.weights_choice())
    checker = EntryChecker(catalog, project.gallery_dir, keys, project.max_pixels)
    report = merge_caches([(s, str(s)) for s in sources], project.cache_dir, keys, checker)
    report.missing += [str(f) for f in failures]
    return report


def run(args: argparse.Namespace) -> int:
    """Run the gallery (exit 1 listing the inputs that failed), or merge shard caches (exit
    1 when gallery entries are still missing)."""
    if args.merge:
        if args.shard or args.prune or args.export or args.device or args.workers:
            raise ModelkbError("--merge runs nothing: give it only --config, --cache and "
                               "--weights")
        merged = merge(args.config, args.merge, args.weights, args.cache)
        log.info("gallery: %s", merged.summary())
        if merged.missing:
            print(f"modelkb gallery: {len(merged.missing)} gallery entr"
                  f"{'y' if len(merged.missing) == 1 else 'ies'} missing from the merged cache "
                  "(a build would compute them): merge every shard's folder",
                  file=sys.stderr)
            return 1
        return 0
    report = main_config(args.config, args.device, args.weights, args.prune, args.shard,
                         args.workers, args.cache, args.export)
    if report.failures:
        print(f"modelkb gallery: {len(report.failures)} input(s) failed:", file=sys.stderr)
        for failure in report.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0
