"""The typed record of one computed picture: ``run.json``, written and read as :class:`RunRecord`.

A computed result (``results/<key>`` in the gallery's cache) is ``output.png``,
``restored.png`` and ``run.json``: the workflow, sizes, each step (device, variant, weights),
the stage timings, the weights and the metrics. :func:`from_dict` reads parsed JSON back into
these dataclasses, checking every field's type; the gallery's published record
(:class:`modelkb.gallery.records.GalleryRecord`, ``metrics.json``) extends :class:`RunRecord`.
"""

from __future__ import annotations

import dataclasses
import json
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
    variant: str | None = None
    weights_sha256: str | None = None
    weights_provenance: str | None = None
    load_seconds: float | None = None
    fallback: str | None = None  # set when a restore fell back (smaller tiles, the CPU)
    device_name: str | None = None  # a GPU's name
    weights_name: str | None = None
    weights_stand_in: bool | None = None
    scale: float | None = None
    filter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as ``run.json`` writes it: the fields its op has (None ones left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


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
    """Every measure of one entry (:func:`modelkb.pixels.metrics.image_metrics`)."""

    colour: ColourScores
    reference: ReferenceScores | None = None
    sharpness: Sharpness | None = None


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """``run.json``: what computing one picture did (the fields in the order written)."""

    workflow: str
    input: Size
    output: Size
    steps: list[StepInfo]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    device: str
    variant: str | None = None
    weights: WeightsInfo | None = None
    metrics: Metrics | None = None
    pixel_version: int = 0  # modelkb.pixels.PIXEL_VERSION of the code that computed it

    def run_dict(self) -> dict[str, Any]:
        """The fields of :class:`RunRecord` as JSON-ready data, in their order."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(RunRecord)}
        data = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v)
                for k, v in data.items()}
        data["steps"] = [step.to_dict() for step in self.steps]
        return data

    def write(self, path: Path) -> None:
        """Write ``run.json``."""
        path.write_text(json.dumps(self.run_dict(), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        """Read ``run.json`` (a RecordError when its shape is wrong; an OSError or ValueError
        when it cannot be read or parsed)."""
        return from_dict(cls, json.loads(path.read_text(encoding="utf-8")), path.name)
