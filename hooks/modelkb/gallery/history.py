"""What the gallery's cache remembers between runs: each entry's key parts, and timings.

``gallery-keys.json``: each entry's :class:`~modelkb.gallery.records.KeyParts` as its last
run made them, so a result says why it was computed ("input photo changed").
``timings.json``: the seconds per megapixel measured per device and architecture/variant
(each restore step), the CPU side of computed entries, and rendering; the cost model
(:mod:`modelkb.gallery.forecast`) reads them. Both are written atomically under a lock, and
only when they change (an unchanged build writes nothing: a read-only cache still works).

Both are caches: one that is not JSON, holds NaN or Infinity, or fails its schema
(:func:`keys_problem`, :func:`timings_problem`) is treated as missing, with one warning
naming it, and the next run writes it again whole.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from modelkb.catalog import Catalog
from modelkb.catalog.schema import architecture_of
from modelkb.gallery.records import GalleryRecord, GalleryReport, KeyMemory, strict_json
from modelkb.pixels.runrecord import RecordError, StepInfo, from_dict

log = logging.getLogger(__name__)

KEYS_FILE = "gallery-keys.json"  # in the cache folder: {entry id: KeyMemory} of the last run
TIMINGS_FILE = "timings.json"  # in the cache folder: seconds per megapixel, by device
_HISTORY_VERSION = 1
_TIMING_WINDOW = 20  # timings weigh about the last 20 samples
OTHER_STEPS = "decode, metrics, encode"  # the CPU side of a computed entry
RENDER = "render"  # publishing one entry's files (CPU)


def keys_problem(data: Any) -> str | None:
    """What is wrong with parsed ``gallery-keys.json`` (None when it fits its schema)."""
    entries = data.get("entries", {})
    if not isinstance(entries, dict):
        return "'entries' is not a mapping"
    for entry_id, value in entries.items():
        try:
            from_dict(KeyMemory, value, f"entries.{entry_id}")
        except RecordError as exc:
            return str(exc)
    return None


STAT_NUMBERS = ("seconds", "megapixels", "seconds_per_megapixel", "load_seconds")


MAX_TIMING = 1e9  # no timing of a picture, nor a count of megapixels, comes near this


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= MAX_TIMING)


def timings_problem(data: Any) -> str | None:
    """What is wrong with parsed ``timings.json`` (None when it fits its schema): devices ->
    names -> {samples, seconds, megapixels, seconds_per_megapixel, load_seconds}, finite
    numbers at least 0 (seconds_per_megapixel required); variants: weights digest -> name."""
    devices, variants = data.get("devices", {}), data.get("variants", {})
    if not isinstance(devices, dict) or not isinstance(variants, dict):
        return "'devices' or 'variants' is not a mapping"
    if not all(isinstance(v, str) for v in variants.values()):
        return "a variant is not a name"
    for label, table in devices.items():
        if not isinstance(table, dict):
            return f"devices.{label} is not a mapping"
        for name, stat in table.items():
            where = f"devices.{label}.{name}"
            if not isinstance(stat, dict) or "seconds_per_megapixel" not in stat:
                return f"{where} has no seconds_per_megapixel"
            if not isinstance(stat.get("samples", 0), int) or isinstance(stat.get("samples"),
                                                                          bool):
                return f"{where}.samples is not a whole number"
            for key in STAT_NUMBERS:
                if key in stat and not _number(stat[key]):
                    return f"{where}.{key} is {stat[key]!r}, not a number from 0 to 1e9"
    return None


_warned: set[tuple[str, int, int]] = set()  # (file, mtime, size) already warned about
_warned_lock = threading.Lock()


def _read_json(path: Path, problem: Callable[[Any], str | None]) -> dict:
    """A history file's content; {} when missing, unreadable, of another version, or failing
    its schema check ``problem`` (then one warning per process names it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        return _damaged(path, f"cannot be read: {exc}")
    try:
        data = strict_json(text, path.name)
    except RecordError as exc:
        return _damaged(path, str(exc).removeprefix(f"{path.name}: "))
    if not isinstance(data, dict):
        return _damaged(path, "not a JSON object")
    if data.get("version") != _HISTORY_VERSION:
        return {}  # another modelkb's: as if missing, expected
    found = problem(data)
    return _damaged(path, found) if found else data


def _damaged(path: Path, problem: str) -> dict:
    """{} for the damaged history file ``path``, after a warning (once per state of it)."""
    try:
        info = path.stat()
        state = (str(path), info.st_mtime_ns, info.st_size)
    except OSError:
        state = (str(path), 0, 0)
    with _warned_lock:
        first = state not in _warned
        _warned.add(state)
    if first:
        log.warning("gallery: %s is damaged (%s); treated as missing: the next gallery run "
                    "writes it again", path, problem)
    return {}


def _update_json(path: Path, change, problem: Callable[[Any], str | None]) -> None:
    """Apply ``change(data)`` to a history file under its lock and write it atomically, only
    when it changed (an unchanged build writes nothing: a read-only cache still works)."""
    from modelkb.files import atomic_write, file_lock

    current = _read_json(path, problem)
    if change(json.loads(json.dumps(current)) or {"version": _HISTORY_VERSION}) == current:
        return  # nothing new: no lock, no write
    try:
        with file_lock(path.with_name(f".{path.name}.lock")):
            before = _read_json(path, problem)
            after = change(json.loads(json.dumps(before)) or {"version": _HISTORY_VERSION})
            if after != before:
                atomic_write(path, json.dumps(after, indent=1, sort_keys=True))
    except OSError as exc:
        log.info("gallery: cannot record %s (%s); the next impact report may lack reasons",
                 path.name, exc.strerror or exc)


def load_memory(cache_dir: str | Path) -> dict[str, KeyMemory]:
    """Each entry's key parts as the last gallery run using ``cache_dir`` made them."""
    entries = _read_json(Path(cache_dir) / KEYS_FILE, keys_problem).get("entries") or {}
    return {entry_id: from_dict(KeyMemory, data, f"{KEYS_FILE}: {entry_id}")
            for entry_id, data in entries.items()}  # checked by keys_problem


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

    _update_json(Path(cache_dir) / KEYS_FILE, change, keys_problem)


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


def _step_megapixels(record: GalleryRecord) -> list[tuple[StepInfo, float]]:
    """Each step of a computed record with the megapixels it worked on."""
    from modelkb.pixels.workflows import resized_size

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
    stat["samples"] = stat.get("samples", 0) + 1
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
        _update_json(Path(cache_dir) / TIMINGS_FILE, change, timings_problem)


def read_timings(cache_dir: str | Path) -> dict:
    """The cache's ``timings.json`` ({} when there is none yet)."""
    return _read_json(Path(cache_dir) / TIMINGS_FILE, timings_problem)
