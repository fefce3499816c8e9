"""One gallery entry: its cache keys, its result (computed or cached), its published files.

:class:`EntryRunner` makes an entry's keys (:meth:`~EntryRunner.prepare`: hashes of its
photo, reference and weights, its workflow, and the code digests), looks them up in the two
cache levels under the cache folder (both :class:`modelkb.gallery.cache.Cache`), and fills
what is missing:

- ``results/<key>``: what :func:`modelkb.pixels.compute.compute` makes (``output.png``,
  ``restored.png``, ``run.json``). The key hashes the input's and the reference's bytes,
  the weights' SHA-256, the workflow's canonical JSON, :func:`code_key` (the pixel package:
  see :mod:`modelkb.pixels`) and :data:`modelkb.pixels.PIXEL_VERSION`.
- ``renders/<key>``: the files published from it (:mod:`modelkb.gallery.webimages`). Its
  key adds the entry id, the crops, :data:`~modelkb.gallery.webimages.RENDER_VERSION` and
  :func:`render_code_key`, so editing a crop re-renders in a second without rerunning a
  model.

Faults of one entry (a missing photo, unknown weights...) are :class:`EntryFault`; the run
over all entries (:mod:`modelkb.gallery.runner`) reports them. A fully cached entry never
imports numpy or torch.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from modelkb.catalog import Catalog, GalleryEntry, RestoreStep, Workflow
from modelkb.catalog.schema import architecture_of
from modelkb.errors import ModelkbError
from modelkb.gallery.cache import Cache, canonical_json, hash_file, make_key
from modelkb.gallery.history import load_memory
from modelkb.gallery.records import (
    EntryResult,
    GalleryRecord,
    KeyParts,
    change_reasons,
    read_record,
)
from modelkb.gallery.webimages import RENDER_VERSION
from modelkb.models.weights import WeightsFile
from modelkb.pixels import PIXEL_VERSION
from modelkb.pixels.compute import EntryFault
from modelkb.pixels.runrecord import RecordError, RunRecord
from modelkb.sourcehash import code_digest

# The code that computes pixels and numbers: the pixel package as its compute module
# imports it (with the registered architectures' modules), and the libraries that change
# them. Editing any of it (or upgrading a library) changes the key, so results are computed
# again; editing anything else (this module, the catalog, the site) does not.
PIXEL_SEEDS = ("modelkb.pixels.compute",)
PIXEL_LIBRARIES = ("torch", "numpy", "pillow", "scikit-image", "scipy")
# The code that renders published files: its module and what it imports.
RENDER_SEEDS = ("modelkb.gallery.webimages",)
RENDER_LIBRARIES = ("pillow",)


@functools.cache
def code_key() -> str:
    """SHA-256 of the pixel-computing code, the registered architectures and the library
    versions (computed once per process)."""
    return code_digest(PIXEL_SEEDS, PIXEL_LIBRARIES)


@functools.cache
def render_code_key() -> str:
    """SHA-256 of the code that renders published files (computed once per process)."""
    return code_digest(RENDER_SEEDS, RENDER_LIBRARIES, with_architectures=False)


def result_problem(folder: Path) -> str | None:
    """What is wrong with the records of the results entry ``folder`` (its ``run.json``
    against :class:`RunRecord`: every field's type, no NaN or Infinity), None when nothing."""
    try:
        read_record(folder / "run.json", RunRecord)
    except RecordError as exc:
        return f"has a record outside its schema ({exc})"
    return None


def render_problem(folder: Path) -> str | None:
    """What is wrong with the record of the renders entry ``folder`` (its ``metrics.json``
    against :class:`GalleryRecord`), None when nothing."""
    try:
        read_record(folder / "metrics.json", GalleryRecord)
    except RecordError as exc:
        return f"has a record outside its schema ({exc})"
    return None


def gallery_caches(cache_dir: Path) -> tuple[Cache, Cache]:
    """The results and renders caches under ``cache_dir``, checking their records."""
    return (Cache(cache_dir / "results", check=result_problem),
            Cache(cache_dir / "renders", check=render_problem))


def workflow_json(workflow: Workflow) -> str:
    """The canonical JSON of a workflow's steps (what determines its output)."""
    return canonical_json([asdict(step) for step in workflow.steps])


def _hash_input(path: Path, display: str) -> str:
    if not path.is_file():
        raise EntryFault(display, "file not found")
    try:
        return hash_file(path)
    except OSError as exc:
        raise EntryFault(display, f"cannot read it ({exc.strerror or exc})") from None


@dataclass(frozen=True)
class WeightsChoice:
    """How the gallery picks each model's weights (see modelkb.models.weights)."""

    site_weights: str | None = None  # the site-wide override (setting ``weights``)
    models: dict[str, str] = field(default_factory=dict)  # setting ``models``: id -> file/URL
    base: Path | None = None  # relative paths in settings are relative to mkdocs.yml
    download_dir: Path | None = None  # the weights download cache (default: user cache)
    allow_download: bool = False  # setting ``download_weights``


@dataclass(frozen=True)
class Prepared:
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
    from modelkb.gallery.webimages import render_entry
    from modelkb.pixels.compute import decode

    reference = decode(ref_path, ref_display, max_pixels) if ref_path else None
    render_entry(folder, entry, workflow, decode(input_path, display, max_pixels), result_dir,
                 key, reference=reference)


class EntryRunner:
    """Runs gallery entries one at a time (from as many threads as the run uses): their
    keys, their cache entries, their weights, the worker processes of the CPU side."""

    def __init__(self, catalog: Catalog, gallery_dir: Path, cache_dir: Path, device: str,
                 choice: WeightsChoice, max_pixels: int | None = None,
                 cpu_workers: int | None = None):
        self.catalog = catalog
        self.gallery_dir = gallery_dir
        self.max_pixels = max_pixels
        self.results, self.renders = gallery_caches(cache_dir)
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
            raise EntryFault(f"weights of {model_id}", str(found))
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
            raise EntryFault(self.display(relpath), f"cannot resolve the path ({exc})") from None
        if not real.is_relative_to(root):
            raise EntryFault(
                self.display(relpath),
                f"it is a symbolic link to {real}, outside the gallery folder {root}; gallery "
                "inputs must be files inside it: copy the photo in instead of linking to it")
        return path

    def prepare(self, entry: GalleryEntry) -> Prepared:
        """The entry's inputs, weights and cache keys (hashes files; runs nothing)."""
        workflow = self.catalog.workflows.get(entry.workflow)
        if workflow is None:
            raise EntryFault(entry.workflow, "unknown workflow")
        input_path = self.inside(entry.input)
        input_hash = _hash_input(input_path, self.display(entry.input))
        ref_path = self.inside(entry.reference) if entry.reference else None
        ref_hash = _hash_input(ref_path, self.display(entry.reference)) if ref_path else None
        weights = {step.model: self.weights_for(step.model) for step in workflow.steps
                   if isinstance(step, RestoreStep)}
        parts = KeyParts(input=input_hash, reference=ref_hash,
                         weights={m: w.sha256 for m, w in sorted(weights.items())},
                         workflow=json.loads(workflow_json(workflow)), code=code_key(),
                         pixel=PIXEL_VERSION, crops=[asdict(c) for c in entry.crops],
                         render=RENDER_VERSION, render_code=render_code_key())
        key = make_key(input=parts.input, reference=parts.reference, weights=parts.weights,
                       workflow=parts.workflow, code=parts.code, pixel=parts.pixel)
        # per entry: two entries on one photo share the computation, never id or caption
        render_key = make_key(result=key, entry=entry.id, crops=parts.crops,
                              render=parts.render, code=parts.render_code)
        return Prepared(workflow, input_path, ref_path, weights, parts, key, render_key)

    def run(self, entry: GalleryEntry) -> EntryResult:
        start = time.perf_counter()
        job = self.prepare(entry)
        workflow, input_path, ref_path, key = job.workflow, job.input_path, job.ref_path, job.key
        ran: list[bool] = []  # set when this process really runs the workflow

        def compute(folder: Path) -> None:
            from modelkb.models.networks import MODELS
            from modelkb.pixels.compute import compute as compute_picture

            ran.append(True)
            compute_picture(folder, workflow, input_path, self.display(entry.input), ref_path,
                            self.display(entry.reference or ""), job.weights,
                            device=self.device, architectures=self.architectures(job.weights),
                            models=MODELS, max_pixels=self.max_pixels,
                            model_lock=self.model_lock, offload=self.offload)

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
            raise EntryFault(entry.input, f"unreadable cached metrics.json ({exc})") from None
        files = {"output.png": result_dir / "output.png"}
        files.update({p.name: p for p in sorted(render_dir.iterdir())
                      if p.is_file() and p.name != "manifest.json"})
        reasons = (change_reasons(self.memory.get(entry.id), job.parts, bool(ran))
                   if ran or rendered else [])
        return EntryResult(entry.id, status, time.perf_counter() - start, files, record,
                           (key, job.render_key), job.parts, rendered, reasons)


def shown(text: str, runner: EntryRunner, limit: int = 300) -> str:
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
