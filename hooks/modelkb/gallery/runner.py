"""The build-time gallery: every catalog gallery entry run through its workflow, cached.

:func:`run_gallery` runs the entries (:mod:`modelkb.gallery.single`, one entry) on a few
threads, then records what the next run compares with (:mod:`modelkb.gallery.history`):
each entry's key parts and the measured timings. :func:`gallery_keys` makes the keys a
build looks up (to check merged shard caches), :func:`prune_cache` deletes what no entry
uses, :func:`publish_list` lists the files a site publishes. What a run would do is
:func:`modelkb.gallery.forecast.plan_gallery`.

Faulty inputs (missing, unreadable, truncated, not an image, too many pixels, a symlink
leading out of the gallery folder, reference of another size, a model that outputs NaN) are
collected in the report by entry, never raised mid-way; the caller decides whether they
fail the build. A full disk stops the run with a
:class:`modelkb.gallery.cache.CacheFullError` (every later entry would fail the same way).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from modelkb.catalog import Catalog, GalleryEntry
from modelkb.errors import ModelkbError
from modelkb.gallery.cache import Cache, CacheFullError
from modelkb.gallery.history import record_timings, remember_keys
from modelkb.gallery.records import EntryResult, Failure, GalleryReport
from modelkb.gallery.single import EntryFault, EntryRunner, WeightsChoice, shown

log = logging.getLogger(__name__)


def publish_list(report: GalleryReport, prefix: str = "gallery") -> list[tuple[str, Path]]:
    """(site path, cache file) pairs to publish: ``gallery/<id>/<name>`` for every file."""
    return [(f"{prefix}/{entry_id}/{name}", path)
            for entry_id, result in report.results.items()
            for name, path in result.files.items()]


def run_gallery(catalog: Catalog, gallery_dir: str | Path, cache_dir: str | Path,
                device: str = "auto", weights: str | WeightsChoice | None = None,
                entries: list[str] | None = None,
                max_pixels: int | None = None, workers: int | None = None,
                cpu_workers: int | None = None) -> GalleryReport:
    """Produce every gallery entry (or those in ``entries``) into the cache; never raises for
    a faulty input (see ``report.failures``), only CacheFullError for a full disk.

    Entries run on ``workers`` threads (default :data:`DEFAULT_WORKERS`): one runs its
    model while the others decode, encode, crop and measure theirs (Pillow, NumPy and
    torch release the GIL there). ``workers=1`` runs them one after another.
    ``weights`` is a :class:`WeightsChoice`, or a site-wide weights file/URL (or None).
    ``cpu_workers`` processes take the CPU side (metrics, web images, crops) off the GIL;
    None: none on the CPU, up to 8 once a model ran on a GPU.
    """
    choice = weights if isinstance(weights, WeightsChoice) else WeightsChoice(weights)
    report = GalleryReport()
    start = time.perf_counter()
    runner = EntryRunner(catalog, Path(gallery_dir), Path(cache_dir), device, choice, max_pixels,
                     cpu_workers)
    chosen = [(entry_id, entry) for entry_id, entry in catalog.gallery.items()
              if entries is None or entry_id in entries]
    workers = max(1, min(workers or DEFAULT_WORKERS, len(chosen)))
    try:
        _run_entries(report, runner, chosen, workers)
    finally:
        runner.close()
    report.seconds = time.perf_counter() - start
    remember_keys(cache_dir, report, keep=list(catalog.gallery) if entries is None else None)
    record_timings(cache_dir, catalog, report, runner.render_seconds)
    log.info("%s", report.summary())
    return report


def gallery_keys(catalog: Catalog, gallery_dir: str | Path, cache_dir: str | Path,
                 weights: str | WeightsChoice | None = None
                 ) -> tuple[dict[str, tuple[str, str]], list[Failure]]:
    """The (results key, renders key) a build looks up for each gallery entry, computing
    nothing (entries whose keys cannot be made, e.g. a missing photo, are the failures)."""
    choice = weights if isinstance(weights, WeightsChoice) else WeightsChoice(weights)
    runner = EntryRunner(catalog, Path(gallery_dir), Path(cache_dir), "cpu", choice)
    keys: dict[str, tuple[str, str]] = {}
    failures: list[Failure] = []
    for entry_id, entry in catalog.gallery.items():
        try:
            job = runner.prepare(entry)
            keys[entry_id] = (job.key, job.render_key)
        except EntryFault as fault:
            failures.append(Failure(entry_id, shown(fault.path, runner),
                                    shown(fault.reason, runner)))
    return keys, failures


def _run_entries(report: GalleryReport, runner: EntryRunner, chosen: list, workers: int) -> None:
    """Run the chosen (id, entry) pairs on ``workers`` threads into ``report``."""
    if workers == 1:
        for entry_id, entry in chosen:
            _record(report, entry_id, entry, _outcome(runner, entry))
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="modelkb-gallery") as pool:
            futures = [pool.submit(_outcome, runner, entry) for _, entry in chosen]
            try:
                for (entry_id, entry), future in zip(chosen, futures, strict=True):
                    _record(report, entry_id, entry, future.result())
            except BaseException:
                for future in futures:
                    future.cancel()  # a full disk (or Ctrl-C): start nothing more
                raise


DEFAULT_WORKERS = 2  # see BENCHMARKS.md, "Gallery: overlapping work with inference"


def _outcome(runner: EntryRunner, entry: GalleryEntry) -> EntryResult | Failure:
    """What running one entry gave: its result, or the failure to report (one line, paths
    relative to the project). Only a full disk (and Ctrl-C) stops the whole gallery."""
    try:
        return runner.run(entry)
    except EntryFault as fault:
        return Failure(entry.id, shown(fault.path, runner), shown(fault.reason, runner))
    except CacheFullError:
        raise
    except ModelkbError as exc:  # e.g. weights that do not load
        return Failure(entry.id, runner.display(entry.input), shown(str(exc), runner))
    except Exception as exc:  # noqa: BLE001 - torch's RuntimeError, an OSError, MemoryError...
        log.debug("gallery: %s failed", entry.id, exc_info=True)  # the traceback for -v only
        return Failure(entry.id, runner.display(entry.input),
                       shown(f"{type(exc).__name__}: {exc}", runner))


def _record(report: GalleryReport, entry_id: str, entry: GalleryEntry,
            outcome: EntryResult | Failure) -> None:
    if isinstance(outcome, Failure):
        report.failures.append(outcome)
        return
    report.results[entry_id] = outcome
    if outcome.status == "computed":
        log.info("gallery: %s computed in %.1f s", entry_id, outcome.seconds)
    else:
        log.debug("gallery: %s cached", entry_id)


def prune_cache(cache_dir: str | Path, report: GalleryReport) -> list[str]:
    """Delete cache entries the report does not use; returns the deleted keys."""
    keep_results = {r.keys[0] for r in report.results.values()}
    keep_renders = {r.keys[1] for r in report.results.values()}
    root = Path(cache_dir)
    return (Cache(root / "results").prune(keep_results)
            + Cache(root / "renders").prune(keep_renders))
