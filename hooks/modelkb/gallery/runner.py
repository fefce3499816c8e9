"""The build-time gallery: every catalog gallery entry run through its workflow, cached.

Two cache levels under the configured cache folder (both
:class:`modelkb.gallery.cache.Cache`):

- ``results/<key>``: what the workflow computed -- ``output.png`` (full resolution),
  ``restored.png`` (the restore step's output, at the input's size) and ``run.json``
  (per-step times, device, variant, weights SHA-256 and provenance, metrics). The key is the
  SHA-256 of the input's bytes hash, the reference's bytes hash, the weights' SHA-256, the
  workflow's canonical JSON and :func:`code_key` (the code that computes pixels, found by
  following its imports, and the registered architectures).
- ``renders/<key>``: the files published from it (web-sized WebP images, thumbnails, the
  resize-only baseline, zoomed crops, ``metrics.json``). Its key adds the crops and
  :data:`RENDER_VERSION`, so editing a crop re-renders in a second without rerunning a model.

A fully cached gallery never imports torch. Faulty inputs (missing, unreadable, truncated,
not an image, too many pixels, a symlink leading out of the gallery folder, reference of
another size, a model that outputs NaN) are collected in the report by entry, never raised
mid-way; the caller decides whether they fail the build. A full disk stops the run with a
:class:`modelkb.gallery.cache.CacheFullError` (every later entry would fail the same way).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelkb.catalog import Catalog, GalleryEntry, RestoreStep, Workflow
from modelkb.catalog.schema import architecture_of
from modelkb.errors import ModelkbError
from modelkb.gallery.cache import Cache, CacheFullError, hash_file, make_key
from modelkb.gallery.records import (
    EntryResult,
    Failure,
    GalleryRecord,
    GalleryReport,
    RecordError,
)
from modelkb.gallery.render import RENDER_VERSION, as_u8, read_rgb, render_entry
from modelkb.gallery.render import to_pil8 as _to_pil
from modelkb.gallery.workflows import workflow_json
from modelkb.models.weights import WeightsFile
from modelkb.registry import code_digest

if TYPE_CHECKING:  # numpy loads only to compute or render: cached builds skip it
    import numpy as np

log = logging.getLogger(__name__)

CODE_VERSION = 3  # the record format; outputs are keyed by the code itself (code_key)

# The code that computes pixels and numbers is this module and everything it imports (with
# the registered architectures' modules), found by following the imports; with the
# libraries that change them. Editing any of it (or upgrading a library) changes the key,
# so results are computed again.
_PIXEL_SEEDS = ("modelkb.gallery.runner",)
_PIXEL_LIBRARIES = ("torch", "numpy", "pillow", "scikit-image", "scipy")
_RENDER_SEEDS = ("modelkb.gallery.render",)
_RENDER_LIBRARIES = ("pillow",)


@functools.cache
def code_key() -> str:
    """SHA-256 of the pixel-computing code, the registered architectures and the library
    versions (computed once per process)."""
    return code_digest(_PIXEL_SEEDS, _PIXEL_LIBRARIES)


@functools.cache
def render_code_key() -> str:
    """SHA-256 of the code that renders published files (computed once per process)."""
    return code_digest(_RENDER_SEEDS, _RENDER_LIBRARIES, with_architectures=False)


def publish_list(report: GalleryReport, prefix: str = "gallery") -> list[tuple[str, Path]]:
    """(site path, cache file) pairs to publish: ``gallery/<id>/<name>`` for every file."""
    return [(f"{prefix}/{entry_id}/{name}", path)
            for entry_id, result in report.results.items()
            for name, path in result.files.items()]


# -- one entry --------------------------------------------------------------------------------

class _EntryFault(Exception):
    """An entry-level problem: (path, reason)."""

    def __init__(self, path: str, reason: str):
        super().__init__(reason)
        self.path = path
        self.reason = reason

    def __reduce__(self):  # raised in worker processes: travels back whole
        return (_EntryFault, (self.path, self.reason))


def _hash_input(path: Path, display: str) -> str:
    if not path.is_file():
        raise _EntryFault(display, "file not found")
    try:
        return hash_file(path)
    except OSError as exc:
        raise _EntryFault(display, f"cannot read it ({exc.strerror or exc})") from None


def _decode(path: Path, display: str, max_pixels: int | None = None) -> np.ndarray:

    from modelkb.imaging import read_image

    try:
        picture = read_image(path, max_pixels=max_pixels)
    except ModelkbError as exc:
        reason = str(exc)
        if path.stat().st_size == 0:
            reason = "the file is empty (0 bytes)"
        raise _EntryFault(display, reason) from None
    return picture.rgb


@dataclass(frozen=True)
class WeightsChoice:
    """How the gallery picks each model's weights (see modelkb.models.weights)."""

    site_weights: str | None = None  # the site-wide override (setting ``weights``)
    models: dict[str, str] = field(default_factory=dict)  # setting ``models``: id -> file/URL
    base: Path | None = None  # relative paths in settings are relative to mkdocs.yml
    download_dir: Path | None = None  # the weights download cache (default: user cache)
    allow_download: bool = False  # setting ``download_weights``


def _render_job(folder: Path, entry: GalleryEntry, workflow: Workflow, input_path: Path,
                display: str, ref_path: Path | None, ref_display: str, max_pixels: int | None,
                result_dir: Path, key: str) -> None:
    """render_entry, decoding its inputs where it runs (a worker process, or here)."""
    reference = _decode(ref_path, ref_display, max_pixels) if ref_path else None
    render_entry(folder, entry, workflow, _decode(input_path, display, max_pixels), result_dir,
                 key, reference=reference)


class _Runner:
    def __init__(self, catalog: Catalog, gallery_dir: Path, cache_dir: Path, device: str,
                 choice: WeightsChoice, max_pixels: int | None = None,
                 cpu_workers: int | None = None):
        self.catalog = catalog
        self.gallery_dir = gallery_dir
        self.max_pixels = max_pixels
        self.results = Cache(cache_dir / "results")
        self.renders = Cache(cache_dir / "renders")
        self.device = device
        self.choice = choice
        self._weights: dict[str, WeightsFile | ModelkbError] = {}
        self._weights_lock = threading.Lock()  # weights are chosen (maybe downloaded) once
        self.model_lock = threading.Lock()  # one network runs at a time
        self.cpu_workers = cpu_workers
        self.pool = None  # worker processes for the CPU side (see _pool)
        self._pool_lock = threading.Lock()

    def _pool(self, model_device: str | None = None):
        """The process pool for CPU-side work, made on first need: when ``cpu_workers`` is
        set, or (default) once a model ran on a GPU, which the CPU side must keep fed. On
        a CPU-only machine the model already uses every core, so the default there is none.
        """
        with self._pool_lock:
            if self.pool is None:
                count = self.cpu_workers
                if count is None and model_device and not model_device.startswith("cpu"):
                    count = max(1, min(8, (os.cpu_count() or 2) - 1))
                if count:
                    import multiprocessing
                    from concurrent.futures import ProcessPoolExecutor

                    self.pool = ProcessPoolExecutor(
                        count, mp_context=multiprocessing.get_context("spawn"))
            return self.pool

    def offload(self, function, *args, model_device: str | None = None):
        """``function(*args)`` in a worker process when there is a pool, else here."""
        pool = self._pool(model_device)
        if pool is None:
            return function(*args)
        return pool.submit(function, *args).result()

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def weights_for(self, model_id: str) -> WeightsFile:
        """The weights the model ``model_id`` runs with, resolved once per run."""
        from modelkb.models.weights import resolve_model_weights

        with self._weights_lock:
            if model_id not in self._weights:
                c = self.choice
                try:
                    self._weights[model_id] = resolve_model_weights(
                        self.catalog.models[model_id], c.models, c.site_weights, base=c.base,
                        cache_dir=c.download_dir, allow_download=c.allow_download)
                except ModelkbError as exc:
                    self._weights[model_id] = exc
        found = self._weights[model_id]
        if isinstance(found, ModelkbError):
            raise _EntryFault(f"weights of {model_id}", str(found))
        return found

    def architectures(self, model_ids: Iterable[str]) -> dict[str, str | None]:
        """The architecture each model runs (the catalog's, checked when it was loaded)."""
        return {m: architecture_of(self.catalog.models[m]) for m in model_ids}

    def display(self, relpath: str) -> str:
        return f"{self.gallery_dir.name}/{relpath}"

    def inside(self, relpath: str) -> Path:
        """The file ``relpath`` names, refused when it resolves (symlinks followed) outside
        the gallery folder; the catalog schema already refuses '..' and absolute paths."""
        path = self.gallery_dir / relpath
        try:
            real = path.resolve(strict=False)
            root = self.gallery_dir.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # e.g. a symlink loop
            raise _EntryFault(self.display(relpath), f"cannot resolve the path ({exc})") from None
        if not real.is_relative_to(root):
            raise _EntryFault(
                self.display(relpath),
                f"it is a symbolic link to {real}, outside the gallery folder {root}; gallery "
                "inputs must be files inside it: copy the photo in instead of linking to it")
        return path

    def decode(self, path: Path, relpath: str) -> np.ndarray:

        return _decode(path, self.display(relpath), self.max_pixels)

    def keys(self, entry: GalleryEntry) -> tuple[str, str, Workflow, Path, Path | None,
                                                   dict[str, WeightsFile]]:
        """The entry's (results key, renders key) and what they were made of: its workflow,
        input and reference paths and the weights each model runs with."""
        workflow = self.catalog.workflows.get(entry.workflow)
        if workflow is None:
            raise _EntryFault(entry.workflow, "unknown workflow")
        input_path = self.inside(entry.input)
        input_hash = _hash_input(input_path, self.display(entry.input))
        ref_path = self.inside(entry.reference) if entry.reference else None
        ref_hash = _hash_input(ref_path, self.display(entry.reference)) if ref_path else None
        weights = {step.model: self.weights_for(step.model) for step in workflow.steps
                   if isinstance(step, RestoreStep)}
        key = make_key(input=input_hash, reference=ref_hash,
                       weights={m: w.sha256 for m, w in sorted(weights.items())},
                       workflow=json.loads(workflow_json(workflow)), code=code_key())
        crops = [asdict(c) for c in entry.crops]
        # per entry: two entries on one photo share the computation, never id or caption
        render_key = make_key(result=key, entry=entry.id, crops=crops, render=RENDER_VERSION,
                              code=render_code_key())
        return key, render_key, workflow, input_path, ref_path, weights

    def run(self, entry: GalleryEntry) -> EntryResult:
        start = time.perf_counter()
        key, render_key, workflow, input_path, ref_path, weights = self.keys(entry)

        ran: list[bool] = []  # set when this process really runs the workflow

        def compute(folder: Path) -> None:
            ran.append(True)
            self.compute(folder, entry, workflow, input_path, ref_path, weights)

        result_dir = self.results.get(key) or self.results.put(key, compute)
        status = "computed" if ran else "cached"
        render_dir = self.renders.get(render_key)
        if render_dir is None:
            render_dir = self.renders.put(
                render_key, lambda folder: self.offload(
                    _render_job, folder, entry, workflow, input_path,
                    self.display(entry.input), ref_path, self.display(entry.reference or ""),
                    self.max_pixels, result_dir, key))
        try:
            record = GalleryRecord.from_dict(
                json.loads((render_dir / "metrics.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, RecordError) as exc:
            raise _EntryFault(entry.input, f"unreadable cached metrics.json ({exc})") from None
        files = {"output.png": result_dir / "output.png"}
        files.update({p.name: p for p in sorted(render_dir.iterdir())
                      if p.is_file() and p.name != "manifest.json"})
        return EntryResult(entry.id, status, time.perf_counter() - start, files, record,
                           (key, render_key))

    def compute(self, folder: Path, entry: GalleryEntry, workflow: Workflow, input_path: Path,
                ref_path: Path | None, weights: dict[str, WeightsFile]) -> None:
        import numpy as np

        from modelkb.gallery.metrics import image_metrics
        from modelkb.gallery.workflows import run_workflow

        clock = time.perf_counter()
        rgb = self.decode(input_path, entry.input)
        reference = self.decode(ref_path, entry.reference or "") if ref_path else None
        if reference is not None and reference.shape != rgb.shape:
            raise _EntryFault(self.display(entry.reference or ""),
                              f"reference is {reference.shape[1]}x{reference.shape[0]} but the "
                              f"input is {rgb.shape[1]}x{rgb.shape[0]}; they must match")
        timings = {"decode": time.perf_counter() - clock}
        result = run_workflow(workflow, rgb, weights, self.device,
                              architectures=self.architectures(weights),
                              label=self.display(entry.input), model_lock=self.model_lock)
        steps = result.summary()["steps"]
        for step in steps:
            if step["op"] == "restore":
                chosen = weights[step["model"]]
                step.update(weights_name=chosen.name, weights_stand_in=chosen.stand_in)
        load = sum(s.get("load_seconds", 0.0) for s in steps)
        timings["load"] = load
        timings["model"] = sum(s["seconds"] for s in steps) - load
        clock = time.perf_counter()
        _to_pil(result.output).save(folder / "output.png")
        restored = None
        if result.restored is not None:
            _to_pil(result.restored).save(folder / "restored.png")
            restored = read_rgb(folder / "restored.png")
        timings["encode"] = time.perf_counter() - clock
        # Metrics on the 8-bit images as published, so readers can reproduce them.
        clock = time.perf_counter()
        quantised_in = as_u8(rgb).astype(np.float32) / 255
        quantised_ref = as_u8(reference).astype(np.float32) / 255 if reference is not None \
            else None
        used = next((s["device"] for s in reversed(steps) if s["op"] == "restore"), None)
        metrics = (self.offload(image_metrics, quantised_in, restored, quantised_ref,
                                model_device=used) if restored is not None else None)
        timings["metrics"] = time.perf_counter() - clock
        restore_steps = [s for s in steps if s["op"] == "restore"]
        last = weights[restore_steps[-1]["model"]] if restore_steps else None
        run = {
            "workflow": workflow.id,
            "input": {"width": rgb.shape[1], "height": rgb.shape[0]},
            "output": {"width": result.output.shape[1], "height": result.output.shape[0]},
            "steps": steps,
            "seconds": round(sum(s["seconds"] for s in steps), 4),
            "timings": {k: round(v, 4) for k, v in timings.items()},
            "device": restore_steps[-1]["device"] if restore_steps else "cpu",
            "variant": restore_steps[-1]["variant"] if restore_steps else None,
            "weights": ({"sha256": last.sha256, "provenance": last.provenance,
                         "name": last.name, "model": last.model_id,
                         "model_name": last.model_name, "licence": last.licence,
                         "stand_in": last.stand_in} if last else None),
            "metrics": metrics,
            "code_version": CODE_VERSION,
        }
        (folder / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")

# -- the whole gallery ------------------------------------------------------------------------

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
    runner = _Runner(catalog, Path(gallery_dir), Path(cache_dir), device, choice, max_pixels,
                     cpu_workers)
    chosen = [(entry_id, entry) for entry_id, entry in catalog.gallery.items()
              if entries is None or entry_id in entries]
    workers = max(1, min(workers or DEFAULT_WORKERS, len(chosen)))
    try:
        _run_entries(report, runner, chosen, workers)
    finally:
        runner.close()
    report.seconds = time.perf_counter() - start
    log.info("%s", report.summary())
    return report


def gallery_keys(catalog: Catalog, gallery_dir: str | Path, cache_dir: str | Path,
                 weights: str | WeightsChoice | None = None
                 ) -> tuple[dict[str, tuple[str, str]], list[Failure]]:
    """The (results key, renders key) a build looks up for each gallery entry, computing
    nothing (entries whose keys cannot be made, e.g. a missing photo, are the failures)."""
    choice = weights if isinstance(weights, WeightsChoice) else WeightsChoice(weights)
    runner = _Runner(catalog, Path(gallery_dir), Path(cache_dir), "cpu", choice)
    keys: dict[str, tuple[str, str]] = {}
    failures: list[Failure] = []
    for entry_id, entry in catalog.gallery.items():
        try:
            keys[entry_id] = runner.keys(entry)[:2]
        except _EntryFault as fault:
            failures.append(Failure(entry_id, _relative(fault.path, runner),
                                    _relative(fault.reason, runner)))
    return keys, failures


def _run_entries(report: GalleryReport, runner: _Runner, chosen: list, workers: int) -> None:
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


def _outcome(runner: _Runner, entry: GalleryEntry) -> EntryResult | Failure:
    """What running one entry gave: its result, or the failure to report (one line, paths
    relative to the project). Only a full disk (and Ctrl-C) stops the whole gallery."""
    try:
        return runner.run(entry)
    except _EntryFault as fault:
        return Failure(entry.id, _relative(fault.path, runner), _relative(fault.reason, runner))
    except CacheFullError:
        raise
    except ModelkbError as exc:  # e.g. weights that do not load
        return Failure(entry.id, runner.display(entry.input), _relative(str(exc), runner))
    except Exception as exc:  # noqa: BLE001 - torch's RuntimeError, an OSError, MemoryError...
        log.debug("gallery: %s failed", entry.id, exc_info=True)  # the traceback for -v only
        return Failure(entry.id, runner.display(entry.input),
                       _relative(f"{type(exc).__name__}: {exc}", runner))


def _relative(text: str, runner: _Runner, limit: int = 300) -> str:
    """``text`` on one line, absolute paths of this machine shown relative to the project
    (the gallery folder's parent) or the home folder, cut to ``limit`` characters."""
    project = runner.gallery_dir.parent
    for root, shown in ((project.resolve(), ""), (project.absolute(), ""),
                        (Path.home(), "~/")):
        prefix = str(root).rstrip("/") + "/"
        if len(prefix) > 1:
            text = text.replace(prefix, shown)
    text = " ".join(text.split()) or "unknown error"
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
