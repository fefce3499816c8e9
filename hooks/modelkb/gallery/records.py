"""Typed records of a gallery run: what each entry computed, what it published, what failed.

``metrics.json`` (published beside each entry's images) is :class:`GalleryRecord` as JSON;
:meth:`GalleryRecord.from_dict` reads it back, checking every field's type, so pages, cards
and exports read attributes, never string keys.

:class:`KeyParts` is what an entry's two cache keys are made of; the cache remembers each
entry's last parts (``gallery-keys.json``), and :func:`change_reasons` turns the parts that
differ into the reasons an impact report and ``modelkb plan`` give ("input photo changed").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkb.pixels.runrecord import Metrics, RecordError, RunRecord, Size, from_dict

MAX_RECORD_BYTES = 1 << 20  # a record or history file of the cache (the largest are a few KB)


def _no_constant(name: str) -> float:
    raise RecordError(f"holds {name}, which JSON has no number for")


def _finite(value: Any, where: str) -> None:
    """Refuse (RecordError) infinite numbers anywhere in parsed JSON (``1e999`` parses as
    infinity), and nesting deeper than a record has."""
    stack = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if depth > 32:
            raise RecordError(f"{at}: nested more deeply than a record is")
        if isinstance(item, float) and not math.isfinite(item):
            raise RecordError(f"{at}: holds Infinity, which is not a measured number")
        if isinstance(item, dict):
            stack.extend((v, f"{at}.{k}", depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(item))


def strict_json(text: str, where: str) -> Any:
    """Parsed JSON of a record or cache file, refusing (RecordError, naming ``where``) what
    no record holds: NaN and Infinity, numbers that overflow to infinity, more than
    :data:`MAX_RECORD_BYTES`, text that is not JSON."""
    if len(text) > MAX_RECORD_BYTES:
        raise RecordError(f"{where}: {len(text):,} characters, more than a record holds")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecordError as exc:
        raise RecordError(f"{where}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"{where}: not JSON ({exc})") from None
    _finite(data, where)
    return data


def read_record(path: Path, cls: type, where: str | None = None) -> Any:
    """The record of dataclass ``cls`` in the JSON file ``path`` (RecordError when it cannot
    be read or does not fit its schema)."""
    name = where or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{name}: cannot be read ({exc})") from None
    return from_dict(cls, strict_json(text, name), name)


@dataclass(frozen=True)
class CropInfo:
    """A zoomed crop: where (input pixels), why, and its published files by role."""

    name: str
    label: str | None
    auto: bool
    x: int
    y: int
    width: int
    height: int
    files: dict[str, str]


@dataclass(frozen=True)
class Focus:
    """The window of the output (its pixels) where the model changed the photo most, against
    the plain resize, and how much: the mean luminance difference there (0-255)."""

    x: int
    y: int
    width: int
    height: int
    change: float


@dataclass(frozen=True, kw_only=True)
class GalleryRecord(RunRecord):
    """One entry's ``metrics.json``: the run (:class:`~modelkb.pixels.runrecord.RunRecord`,
    ``run.json``), its published crops and images, and where the viewer opens."""

    id: str
    key: str
    scale: float = 1.0
    render_version: int = 0
    input_file: str | None = None
    reference_file: str | None = None
    crops: list[CropInfo] = field(default_factory=list)
    images: dict[str, Size] = field(default_factory=dict)  # published file -> its size
    focus: Focus | None = None  # where the viewer opens at 1:1

    @classmethod
    def from_dict(cls, data: Any) -> GalleryRecord:
        """Read parsed ``metrics.json`` (a RecordError when its shape is wrong)."""
        return from_dict(cls, data, "metrics.json")


# Each part of the results key, and of the renders key, in an impact report's words.
RESULT_REASONS = {
    "input": "input photo changed",
    "reference": "reference changed",
    "weights": "weights changed",
    "workflow": "workflow changed",
    "code": "pixel code or library versions changed",
    "pixel": "pixel code or library versions changed",
}
RENDER_REASONS = {
    "crops": "settings changed (crops)",
    "render": "render code or library versions changed",
    "render_code": "render code or library versions changed",
}
NEW_ENTRY = "new entry"
NOT_CACHED = "not in the cache (pruned, damaged or deleted)"


@dataclass(frozen=True)
class KeyParts:
    """What one entry's cache keys are made of: the results key hashes the input and
    reference bytes' SHA-256, the weights' SHA-256 by model, the workflow's JSON, the pixel
    package's digest (``code``, :func:`modelkb.gallery.single.code_key`) and its version
    (``pixel``, :data:`modelkb.pixels.PIXEL_VERSION`); the renders key hashes the results
    key, the entry id, the crops, the render version
    (:data:`modelkb.gallery.webimages.RENDER_VERSION`) and the render code's digest."""

    input: str
    reference: str | None
    weights: dict[str, str]
    workflow: Any
    code: str
    crops: list[Any]
    render: int
    render_code: str
    pixel: int = 0


@dataclass(frozen=True)
class KeyMemory:
    """An entry's keys and their parts, as the last gallery run made them."""

    key: str
    render_key: str
    parts: KeyParts


def change_reasons(before: KeyMemory | None, after: KeyParts, computed: bool) -> list[str]:
    """Why an entry was computed (``computed``) or only rendered again: the parts that differ
    from ``before`` (the entry's last run), "new entry" without one, or "not in the cache"
    when its parts are the same (the entry was pruned, damaged or deleted)."""
    if before is None:
        return [NEW_ENTRY]
    old = before.parts
    table = {**RESULT_REASONS, **RENDER_REASONS}
    reasons = list(dict.fromkeys(text for name, text in table.items()
                                 if getattr(old, name) != getattr(after, name)))
    if computed and not any(getattr(old, name) != getattr(after, name)
                            for name in RESULT_REASONS):
        reasons.append(NOT_CACHED)
    return reasons or [NOT_CACHED]


@dataclass(frozen=True)
class PlannedEntry:
    """What the next run would do with one entry: "compute" (run its workflow), "render"
    (publish its cached output again) or "cached"; why; and the estimated seconds (None:
    no timing recorded for its model on this device yet)."""

    id: str
    input: str
    action: str
    reasons: list[str]
    megapixels: float
    seconds: float | None


@dataclass
class GalleryPlan:
    """What a gallery run would do, predicted from the cache without running anything."""

    device: str  # the device label timings are recorded under, e.g. "cpu (2 cores)"
    entries: list[PlannedEntry] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def to_do(self) -> list[PlannedEntry]:
        """The entries a run would compute or render."""
        return [e for e in self.entries if e.action != "cached"]

    @property
    def seconds(self) -> float | None:
        """Estimated seconds for everything to do (None when any estimate is unknown)."""
        times = [e.seconds for e in self.to_do()]
        return None if any(t is None for t in times) else sum(t or 0.0 for t in times)


@dataclass
class Failure:
    """A gallery entry that could not be produced, with the file and the reason."""

    entry: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.path}: {self.reason}"


@dataclass
class EntryResult:
    """One entry's published files (name -> file in the cache) and its record."""

    id: str
    status: str  # "computed" (the workflow ran) or "cached"
    seconds: float
    files: dict[str, Path]
    record: GalleryRecord
    keys: tuple[str, str]  # (results key, renders key)
    parts: KeyParts | None = None  # what the keys are made of
    rendered: bool = False  # its published files were rendered in this run
    reasons: list[str] = field(default_factory=list)  # why computed or rendered (if it was)

    @property
    def metrics(self) -> Metrics | None:
        """PSNR/SSIM/ΔE00 figures (see modelkb.pixels.metrics.image_metrics)."""
        return self.record.metrics


@dataclass
class GalleryReport:
    """What a gallery run produced: results by entry id, failures, counts."""

    results: dict[str, EntryResult] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def computed(self) -> int:
        """Entries whose workflow ran in this run."""
        return sum(r.status == "computed" for r in self.results.values())

    @property
    def cached(self) -> int:
        """Entries whose workflow output came from the cache."""
        return sum(r.status == "cached" for r in self.results.values())

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per stage (load, decode, model, metrics, encode) summed over computed
        entries."""
        totals: dict[str, float] = {}
        for result in self.results.values():
            if result.status == "computed":
                for stage, seconds in result.record.timings.items():
                    totals[stage] = totals.get(stage, 0.0) + seconds
        return totals

    def summary(self) -> str:
        """'gallery: C computed, N cached[, F failed][; computed in S s: decode .., model ..]'."""
        text = f"gallery: {self.computed} computed, {self.cached} cached"
        text += f", {len(self.failures)} failed" if self.failures else ""
        stages = self.stage_seconds()
        order = [s for s in ("load", "decode", "model", "metrics", "encode") if s in stages]
        if self.computed and order:
            text += f"; computed in {self.seconds:.1f} s: " + ", ".join(
                f"{s} {stages[s]:.1f}" for s in order)
        return text
