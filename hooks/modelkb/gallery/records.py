"""Typed records of a gallery run: what each entry computed, what it published, what failed.

``metrics.json`` (published beside each entry's images) is :class:`GalleryRecord` as JSON;
:meth:`GalleryRecord.from_dict` reads it back, checking every field's type, so pages, cards
and exports read attributes, never string keys.

:class:`KeyParts` is what an entry's two cache keys are made of; the cache remembers each
entry's last parts (``gallery-keys.json``), and :func:`change_reasons` turns the parts that
differ into the reasons an impact report and ``modelkb plan`` give ("input photo changed").
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class RecordError(ValueError):
    """A record file does not have the expected shape."""


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as type ``tp``: dataclasses, lists, dicts, optionals, scalars."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except RecordError:
                continue
        raise RecordError(f"{where}: {value!r} is none of {tp}")
    if origin is list:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected a mapping")
        _key, item = typing.get_args(tp)
        return {k: _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise RecordError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise RecordError(f"{where}: unsupported type {tp}")  # pragma: no cover


def from_dict(cls: type[T], data: Any, where: str = "record") -> T:
    """An instance of dataclass ``cls`` from parsed JSON (unknown keys are ignored)."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected a mapping")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{where}: missing {f.name!r}")
    return cls(**values)


@dataclass(frozen=True)
class Size:
    """An image's size in pixels."""

    width: int
    height: int


@dataclass(frozen=True)
class StepInfo:
    """What one workflow step did; restore steps name the model, device and weights."""

    op: str
    seconds: float
    model: str | None = None
    device: str | None = None
    device_name: str | None = None
    variant: str | None = None
    weights_sha256: str | None = None
    weights_provenance: str | None = None
    weights_name: str | None = None
    weights_stand_in: bool = False
    load_seconds: float | None = None
    fallback: str | None = None
    scale: float | None = None
    filter: str | None = None


@dataclass(frozen=True)
class WeightsInfo:
    """The weights a picture was made with."""

    sha256: str
    provenance: str
    name: str | None = None
    model: str | None = None
    model_name: str | None = None
    licence: str | None = None
    stand_in: bool = False

    def label(self) -> str:
        """'NAME (provenance; sha256 0123456789ab)', with the stand-in wording when so."""
        text = f"{self.name or 'weights'} ({self.provenance}; sha256 {self.sha256[:12]})"
        if self.stand_in:
            return (f"stand-in weights, not {self.model_name or self.model}'s own: {text}")
        return text


@dataclass(frozen=True)
class Score:
    """PSNR (None: identical, infinite) and SSIM of one image against the reference."""

    psnr: float | None
    ssim: float


@dataclass(frozen=True)
class ReferenceScores:
    """Input and restored image against the sharp reference, and the gain."""

    input: Score
    restored: Score
    gain: Score


@dataclass(frozen=True)
class Stats:
    """Mean and 95th percentile of a per-pixel measure."""

    mean: float
    p95: float


@dataclass(frozen=True)
class SkinScores:
    """Colour change on skin-like pixels (None when too few pixels match the rule)."""

    fraction: float
    pixels: int
    delta_e2000: Stats | None
    rule: str


@dataclass(frozen=True)
class ColourScores:
    """CIEDE2000 colour change between input and restored image."""

    delta_e2000: Stats
    skin: SkinScores


@dataclass(frozen=True)
class Sharpness:
    """Laplacian variance of input and restored image (relative to the reference's if any)."""

    relative_to_reference: bool
    input: float
    restored: float


@dataclass(frozen=True)
class Metrics:
    """Every measure of one entry (see modelkb.gallery.metrics)."""

    colour: ColourScores
    reference: ReferenceScores | None = None
    sharpness: Sharpness | None = None


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


@dataclass(frozen=True)
class GalleryRecord:
    """One entry's ``metrics.json``: the run, its measurements and its published crops."""

    id: str
    key: str
    workflow: str
    input: Size
    output: Size
    steps: list[StepInfo]
    seconds: float
    device: str
    scale: float = 1.0
    render_version: int = 0
    code_version: int = 0
    input_file: str | None = None
    reference_file: str | None = None
    variant: str | None = None
    weights: WeightsInfo | None = None
    metrics: Metrics | None = None
    crops: list[CropInfo] = field(default_factory=list)
    images: dict[str, Size] = field(default_factory=dict)  # published file -> its size
    focus: Focus | None = None  # where the viewer opens at 1:1
    timings: dict[str, float] = field(default_factory=dict)

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
    """What one entry's cache keys are made of: the results key hashes the first five
    (input and reference bytes' SHA-256, weights' SHA-256 by model, the workflow's JSON, the
    pixel code's digest); the renders key adds the results key, the entry id, the crops, the
    render version and the render code's digest."""

    input: str
    reference: str | None
    weights: dict[str, str]
    workflow: Any
    code: str
    crops: list[Any]
    render: int
    render_code: str


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
        """PSNR/SSIM/ΔE00 figures (see modelkb.gallery.metrics.image_metrics)."""
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
