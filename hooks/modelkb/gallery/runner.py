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

Beside them the cache folder keeps what the next run compares with: ``gallery-keys.json``,
each entry's :class:`~modelkb.gallery.records.KeyParts` as its last run made them (so a
result says why it was computed: "input photo changed"), and ``timings.json``, the seconds
per megapixel measured per device and architecture/variant. :func:`plan_gallery` makes the
same keys without computing anything and predicts what a run would do, why, and how long it
would take.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelkb.catalog import Catalog, GalleryEntry, RestoreStep, Workflow
from modelkb.catalog.schema import architecture_of
from modelkb.errors import ModelkbError
from modelkb.gallery.cache import Cache, CacheFullError, hash_file, make_key
from modelkb.gallery.records import (
    EntryResult,
    Failure,
    GalleryPlan,
    GalleryRecord,
    GalleryReport,
    KeyMemory,
    KeyParts,
    PlannedEntry,
    RecordError,
    StepInfo,
    change_reasons,
    from_dict,
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


@dataclass(frozen=True)
class _Prepared:
    """An entry made ready to run: its workflow, files, weights and cache keys."""

    workflow: Workflow
    input_path: Path
    ref_path: Path | None
    weights: dict[str, WeightsFile]
    parts: KeyParts
    key: str
    render_key: str


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
        self.memory = load_memory(cache_dir)  # each entry's keys as the last run made them
        self.render_seconds: dict[str, float] = {}  # entry id -> seconds its render took

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

    def prepare(self, entry: GalleryEntry) -> _Prepared:
        """The entry's inputs, weights and cache keys (hashes files; runs nothing)."""
        workflow = self.catalog.workflows.get(entry.workflow)
        if workflow is None:
            raise _EntryFault(entry.workflow, "unknown workflow")
        input_path = self.inside(entry.input)
        input_hash = _hash_input(input_path, self.display(entry.input))
        ref_path = self.inside(entry.reference) if entry.reference else None
        ref_hash = _hash_input(ref_path, self.display(entry.reference)) if ref_path else None
        weights = {step.model: self.weights_for(step.model) for step in workflow.steps
                   if isinstance(step, RestoreStep)}
        parts = KeyParts(input=input_hash, reference=ref_hash,
                         weights={m: w.sha256 for m, w in sorted(weights.items())},
                         workflow=json.loads(workflow_json(workflow)), code=code_key(),
                         crops=[asdict(c) for c in entry.crops], render=RENDER_VERSION,
                         render_code=render_code_key())
        key = make_key(input=parts.input, reference=parts.reference, weights=parts.weights,
                       workflow=parts.workflow, code=parts.code)
        # per entry: two entries on one photo share the computation, never id or caption
        render_key = make_key(result=key, entry=entry.id, crops=parts.crops,
                              render=parts.render, code=parts.render_code)
        return _Prepared(workflow, input_path, ref_path, weights, parts, key, render_key)

    def run(self, entry: GalleryEntry) -> EntryResult:
        start = time.perf_counter()
        job = self.prepare(entry)
        workflow, input_path, ref_path, key = job.workflow, job.input_path, job.ref_path, job.key
        ran: list[bool] = []  # set when this process really runs the workflow

        def compute(folder: Path) -> None:
            ran.append(True)
            self.compute(folder, entry, workflow, input_path, ref_path, job.weights)

        result_dir = self.results.get(key) or self.results.put(key, compute)
        status = "computed" if ran else "cached"
        render_dir = self.renders.get(job.render_key)
        rendered = render_dir is None
        if render_dir is None:
            clock = time.perf_counter()
            render_dir = self.renders.put(
                job.render_key, lambda folder: self.offload(
                    _render_job, folder, entry, workflow, input_path,
                    self.display(entry.input), ref_path, self.display(entry.reference or ""),
                    self.max_pixels, result_dir, key))
            self.render_seconds[entry.id] = time.perf_counter() - clock
        try:
            record = GalleryRecord.from_dict(
                json.loads((render_dir / "metrics.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, RecordError) as exc:
            raise _EntryFault(entry.input, f"unreadable cached metrics.json ({exc})") from None
        files = {"output.png": result_dir / "output.png"}
        files.update({p.name: p for p in sorted(render_dir.iterdir())
                      if p.is_file() and p.name != "manifest.json"})
        reasons = (change_reasons(self.memory.get(entry.id), job.parts, bool(ran))
                   if ran or rendered else [])
        return EntryResult(entry.id, status, time.perf_counter() - start, files, record,
                           (key, job.render_key), job.parts, rendered, reasons)

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
    runner = _Runner(catalog, Path(gallery_dir), Path(cache_dir), "cpu", choice)
    keys: dict[str, tuple[str, str]] = {}
    failures: list[Failure] = []
    for entry_id, entry in catalog.gallery.items():
        try:
            job = runner.prepare(entry)
            keys[entry_id] = (job.key, job.render_key)
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


# -- what the cache remembers between runs: each entry's key parts, timings per device -------

KEYS_FILE = "gallery-keys.json"  # in the cache folder: {entry id: KeyMemory} of the last run
TIMINGS_FILE = "timings.json"  # in the cache folder: seconds per megapixel, by device
_HISTORY_VERSION = 1
_TIMING_WINDOW = 20  # timings weigh about the last 20 samples
OTHER_STEPS = "decode, metrics, encode"  # the CPU side of a computed entry
RENDER = "render"  # publishing one entry's files (CPU)


def _read_json(path: Path) -> dict:
    """A history file's content; {} when missing, unreadable or of another version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == _HISTORY_VERSION else {}


def _update_json(path: Path, change) -> None:
    """Apply ``change(data)`` to a history file under its lock and write it atomically, only
    when it changed (an unchanged build writes nothing: a read-only cache still works)."""
    from modelkb.files import atomic_write, file_lock

    current = _read_json(path)
    if change(json.loads(json.dumps(current)) or {"version": _HISTORY_VERSION}) == current:
        return  # nothing new: no lock, no write
    try:
        with file_lock(path.with_name(f".{path.name}.lock")):
            before = _read_json(path)
            after = change(json.loads(json.dumps(before)) or {"version": _HISTORY_VERSION})
            if after != before:
                atomic_write(path, json.dumps(after, indent=1, sort_keys=True))
    except OSError as exc:
        log.info("gallery: cannot record %s (%s); the next impact report may lack reasons",
                 path.name, exc.strerror or exc)


def load_memory(cache_dir: str | Path) -> dict[str, KeyMemory]:
    """Each entry's key parts as the last gallery run using ``cache_dir`` made them."""
    entries = _read_json(Path(cache_dir) / KEYS_FILE).get("entries")
    memory: dict[str, KeyMemory] = {}
    for entry_id, data in (entries or {}).items():
        try:
            memory[entry_id] = from_dict(KeyMemory, data, f"{KEYS_FILE}: {entry_id}")
        except RecordError:
            continue  # an entry written by another version: as if never run
    return memory


def remember_keys(cache_dir: str | Path, report: GalleryReport,
                  keep: Iterable[str] | None = None) -> None:
    """Record the key parts of every entry in ``report`` (failed entries keep their last);
    with ``keep``, forget entries whose id is not in it (removed from the catalog)."""
    def change(data: dict) -> dict:
        entries = data.setdefault("entries", {})
        for entry_id, result in report.results.items():
            if result.parts is not None:
                entries[entry_id] = {"key": result.keys[0], "render_key": result.keys[1],
                                     "parts": asdict(result.parts)}
        if keep is not None:
            wanted = set(keep)
            data["entries"] = {k: v for k, v in entries.items() if k in wanted}
        return data

    _update_json(Path(cache_dir) / KEYS_FILE, change)


def cpu_label() -> str:
    """This machine's CPU as a timings device label, e.g. 'cpu (2 cores)'."""
    return f"cpu ({os.cpu_count() or 1} cores)"


def device_label(device: str | None, device_name: str | None = None) -> str:
    """The label timings are recorded under for a step that ran on ``device``."""
    if device and device.startswith("cuda"):
        return device_name or "cuda"
    if device and device.startswith("mps"):
        return "mps"
    return cpu_label()


def planned_device(device: str) -> str:
    """The device label a run with the setting ``device`` would use here (imports torch
    only when the setting is not 'cpu')."""
    if device == "cpu":
        return cpu_label()
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return device_label("cuda", torch.cuda.get_device_name(0))
    mps = getattr(torch.backends, "mps", None)
    if device in ("auto", "mps") and mps is not None and mps.is_available():
        return "mps"
    return cpu_label() if device == "auto" else f"{device} (not available here)"


def _step_megapixels(record: GalleryRecord) -> list[tuple[StepInfo, float]]:
    """Each step of a computed record with the megapixels it worked on."""
    from modelkb.gallery.workflows import resized_size

    width, height = record.input.width, record.input.height
    out = []
    for step in record.steps:
        out.append((step, width * height / 1e6))
        if step.op == "resize" and step.scale:
            width, height = resized_size(width, height, step.scale)
    return out


def _add_sample(table: dict, label: str, name: str, seconds: float, megapixels: float,
                load: float | None = None) -> None:
    """Add one measurement to the timing ``table[label][name]``: the ratio of the (decayed)
    sums of seconds and megapixels, so large photos weigh more than small ones."""
    if megapixels <= 0:
        return
    stat = table.setdefault(label, {}).setdefault(name, {"samples": 0})
    keep = 1 - 1 / _TIMING_WINDOW  # older samples fade out
    stat["seconds"] = round(stat.get("seconds", 0.0) * keep + max(seconds, 0.0), 6)
    stat["megapixels"] = round(stat.get("megapixels", 0.0) * keep + megapixels, 6)
    stat["seconds_per_megapixel"] = round(stat["seconds"] / stat["megapixels"], 6)
    stat["samples"] += 1
    if load:  # the first use of a network in a run loads it
        stat["load_seconds"] = round(load, 3)


def record_timings(cache_dir: str | Path, catalog: Catalog, report: GalleryReport,
                   render_seconds: dict[str, float]) -> None:
    """Add this run's measured seconds per megapixel to the cache's timings: per restore
    step by device and architecture/variant, the CPU side of computed entries by the same
    device, and rendering by this machine's CPU."""
    def change(data: dict) -> dict:
        devices = data.setdefault("devices", {})
        variants = data.setdefault("variants", {})
        for entry_id, result in report.results.items():
            record = result.record
            megapixels = record.input.width * record.input.height / 1e6
            if entry_id in render_seconds:
                _add_sample(devices, cpu_label(), RENDER, render_seconds[entry_id],
                            megapixels)
            if result.status != "computed":
                continue
            label = cpu_label()
            for step, step_mp in _step_megapixels(record):
                model = catalog.models.get(step.model or "")
                if step.op != "restore" or model is None:
                    continue
                label = device_label(step.device, step.device_name)
                name = f"{architecture_of(model)}/{step.variant}"
                load = step.load_seconds or 0.0
                _add_sample(devices, label, name, step.seconds - load, step_mp, load)
                if step.weights_sha256 and step.variant:
                    variants[step.weights_sha256] = step.variant
            other = sum(record.timings.get(k, 0.0) for k in ("decode", "metrics", "encode"))
            _add_sample(devices, label, OTHER_STEPS, other, megapixels)
        return data

    if report.computed or render_seconds:
        _update_json(Path(cache_dir) / TIMINGS_FILE, change)


def _estimate(timings: dict, label: str, prepared: _Prepared, catalog: Catalog,
              megapixels: float, action: str, loaded: set[str]) -> float | None:
    """Estimated seconds for one entry's ``action`` on device ``label`` (None: unknown)."""
    devices = timings.get("devices", {})
    render = devices.get(cpu_label(), {}).get(RENDER)
    seconds = render["seconds_per_megapixel"] * megapixels if render else 0.0
    if action == "render":
        return seconds if render else None
    here = devices.get(label, {})
    other = here.get(OTHER_STEPS)
    seconds += other["seconds_per_megapixel"] * megapixels if other else 0.0
    area = 1.0  # the pixels a step works on, relative to the input's: resize steps scale it
    for step in prepared.workflow.steps:
        if isinstance(step, RestoreStep):
            weights = prepared.weights[step.model]
            model = catalog.models[step.model]
            variant = timings.get("variants", {}).get(weights.sha256) or model.variant
            stat = here.get(f"{architecture_of(model)}/{variant}")
            if stat is None:
                return None
            seconds += stat["seconds_per_megapixel"] * megapixels * area
            if weights.sha256 not in loaded:
                loaded.add(weights.sha256)
                seconds += stat.get("load_seconds", 0.0)
        else:
            area *= step.scale ** 2
    return seconds


def plan_gallery(catalog: Catalog, gallery_dir: str | Path, cache_dir: str | Path,
                 device: str = "auto", weights: str | WeightsChoice | None = None,
                 entries: list[str] | None = None,
                 max_pixels: int | None = None) -> GalleryPlan:
    """What :func:`run_gallery` with the same arguments would do, and why, from the cache
    alone: the same keys, looked up without computing, rendering or downloading anything;
    estimated seconds from the timings recorded per device (see :func:`record_timings`)."""
    from PIL import Image

    choice = weights if isinstance(weights, WeightsChoice) else WeightsChoice(weights)
    runner = _Runner(catalog, Path(gallery_dir), Path(cache_dir), device,
                     replace(choice, allow_download=False), max_pixels)
    timings = _read_json(Path(cache_dir) / TIMINGS_FILE)
    plan = GalleryPlan(device=cpu_label())
    jobs = []
    for entry_id, entry in catalog.gallery.items():
        if entries is not None and entry_id not in entries:
            continue
        try:
            job = runner.prepare(entry)
            with Image.open(job.input_path) as image:
                width, height = image.size
        except _EntryFault as fault:
            plan.failures.append(Failure(entry_id, _relative(fault.path, runner),
                                         _relative(fault.reason, runner)))
            continue
        except OSError as exc:
            plan.failures.append(Failure(entry_id, runner.display(entry.input),
                                         _relative(f"not a readable image ({exc})", runner)))
            continue
        computed = runner.results.get(job.key, warn=False) is None
        rendered = runner.renders.get(job.render_key, warn=False) is None
        action = "compute" if computed else "render" if rendered else "cached"
        reasons = change_reasons(runner.memory.get(entry_id), job.parts, computed) \
            if action != "cached" else []
        jobs.append((entry_id, entry, job, action, reasons, width * height / 1e6))
    if any(action == "compute" for *_, action, _r, _m in jobs):
        plan.device = planned_device(device)
    loaded: set[str] = set()
    for entry_id, entry, job, action, reasons, megapixels in jobs:
        seconds = (_estimate(timings, plan.device, job, catalog, megapixels, action, loaded)
                   if action != "cached" else 0.0)
        plan.entries.append(PlannedEntry(entry_id, entry.input, action, reasons,
                                         round(megapixels, 4), seconds))
    return plan
