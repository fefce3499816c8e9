"""Settings under ``extra.modelkb`` in mkdocs.yml, validated with messages a user can act on.

They are checked with MkDocs' own config options (what MkDocs plugins use), which MkDocs has
already imported: a build pays nothing extra for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from mkdocs.config import config_options as opt
from mkdocs.config.base import ValidationError

from modelkb.errors import ModelkbError

DEFAULT_MAX_PIXELS = 60_000_000  # largest image accepted unless extra.modelkb.max_pixels says


class _PositiveInt(opt.Type):
    """A whole number above zero (true/false are not numbers here)."""

    def __init__(self, default: int):
        super().__init__(int, default=default)

    def run_validation(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(f"must be a whole number above 0, not {value!r}")
        return value


def _setting(option: opt.BaseConfigOption, description: str):
    return field(metadata={"option": option, "description": description})


@dataclass(frozen=True)
class Settings:
    """What ``extra.modelkb`` may hold; paths are relative to mkdocs.yml."""

    catalog: str = _setting(opt.Type(str, default="catalog.yml"), "The catalog file.")
    gallery: str = _setting(opt.Type(str, default="gallery_src"),
                            "Folder of gallery input photos.")
    cache: str = _setting(opt.Type(str, default=".cache/modelkb"),
                          "Folder for computed gallery results.")
    device: str = _setting(opt.Choice(("auto", "cpu", "cuda", "mps"), default="auto"),
                           "Where the gallery's models run; auto picks a GPU when present.")
    weights: str | None = _setting(
        opt.Optional(opt.Type(str)),
        "Weights file or URL (with #sha256=...) used instead of the shipped ones.")
    max_pixels: int = _setting(
        _PositiveInt(DEFAULT_MAX_PIXELS),
        "Largest gallery image accepted (width x height); larger ones, such as "
        "decompression bombs, are refused before decoding.")
    drafts: str = _setting(opt.Choice(("show", "warn", "error"), default="show"),
                           "What a build does with draft answers.")


SETTING_NAMES = tuple(f.name for f in fields(Settings))


def parse_settings(raw: object, config_file: str = "mkdocs.yml") -> Settings:
    """Validate the raw ``extra.modelkb`` mapping; raise ModelkbError naming every problem."""
    known = ", ".join(SETTING_NAMES)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ModelkbError(f"{config_file}: extra.modelkb must be a mapping of settings "
                           f"(known keys: {known})")
    problems = [f"unknown setting 'extra.modelkb.{key}' (known: {known})"
                for key in raw if key not in SETTING_NAMES]
    values = {}
    for f in fields(Settings):
        option: opt.BaseConfigOption = f.metadata["option"]
        try:  # each key on its own, so every problem is reported, not only the first
            values[f.name] = option.validate(raw.get(f.name))
        except ValidationError as exc:
            problems.append(f"extra.modelkb.{f.name}: {exc}")
    if problems:
        raise ModelkbError(f"{config_file}: " + "; ".join(problems))
    return Settings(**values)


def resolve(base: Path, value: str) -> Path:
    """A settings path made absolute against the folder of mkdocs.yml."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)
