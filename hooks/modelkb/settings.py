"""Settings under ``extra.modelkb`` in mkdocs.yml, validated with messages a user can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelkb.errors import ModelkbError

DEFAULT_MAX_PIXELS = 60_000_000  # largest image accepted unless extra.modelkb.max_pixels says


class Settings(BaseModel):
    """What ``extra.modelkb`` may hold; paths are relative to mkdocs.yml."""

    model_config = ConfigDict(extra="forbid", strict=True)

    catalog: str = Field("catalog.yml", description="The catalog file.")
    gallery: str = Field("gallery_src", description="Folder of gallery input photos.")
    cache: str = Field(".cache/modelkb", description="Folder for computed gallery results.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="Where the gallery's models run; auto picks a GPU when present.")
    weights: str | None = Field(
        None,
        description="Weights file or URL (with #sha256=...) used instead of the shipped ones.")
    max_pixels: Annotated[int, Field(gt=0)] = Field(
        DEFAULT_MAX_PIXELS, description="Largest gallery image accepted (width x height); "
        "larger ones, such as decompression bombs, are refused before decoding.")
    drafts: Literal["show", "warn", "error"] = Field(
        "show", description="What a build does with draft answers.")


def parse_settings(raw: object, config_file: str = "mkdocs.yml") -> Settings:
    """Validate the raw ``extra.modelkb`` mapping; raise ModelkbError naming every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ModelkbError(f"{config_file}: extra.modelkb must be a mapping of settings "
                           f"(known keys: {', '.join(Settings.model_fields)})")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"])
            if err["type"] == "extra_forbidden":
                lines.append(f"unknown setting 'extra.modelkb.{key}' (known: "
                             f"{', '.join(Settings.model_fields)})")
            else:
                lines.append(f"extra.modelkb.{key}: {err['msg']}")
        raise ModelkbError(f"{config_file}: " + "; ".join(lines)) from None


def resolve(base: Path, value: str) -> Path:
    """A settings path made absolute against the folder of mkdocs.yml."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)
