"""The plugin's settings as a typed MkDocs ``Config`` (the way Material's plugins are written).

As a plugin (``plugins: [modelkb]``) MkDocs validates them from the plugin's own entry in
mkdocs.yml. A site that uses the hook file instead keeps them under ``extra.modelkb``;
:func:`parse_settings` validates that mapping with the same ``Config`` and names every
problem. Paths are relative to mkdocs.yml.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config import base
from mkdocs.config import config_options as opt
from mkdocs.config.base import ValidationError

from modelkb.errors import ModelkbError
from modelkb.limits import DEFAULT_MAX_PIXELS
from modelkb.registry import DEVICES


class _PositiveInt(opt.Type):
    """A whole number above zero (true/false are not numbers here)."""

    def __init__(self, default: int):
        super().__init__(int, default=default)

    def run_validation(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(f"must be a whole number above 0, not {value!r}")
        return value


class ModelkbConfig(base.Config):
    """What the plugin's settings may hold (``extra.modelkb`` for the hook file)."""

    catalog = opt.Type(str, default="catalog.yml")
    gallery = opt.Type(str, default="gallery_src")
    cache = opt.Type(str, default=".cache/modelkb")
    device = opt.Choice(DEVICES, default="auto")
    weights = opt.Optional(opt.Type(str))
    models = opt.DictOfItems(opt.Type(str), default={})
    download_weights = opt.Type(bool, default=False)
    max_pixels = _PositiveInt(DEFAULT_MAX_PIXELS)
    drafts = opt.Choice(("show", "warn", "error"), default="show")
    gallery_failures = opt.Choice(("warn", "error"), default="warn")


# One line per setting, published in docs/publishing.md and used in error messages.
DESCRIPTIONS = {
    "catalog": "The catalog file.",
    "gallery": "Folder of gallery input photos.",
    "cache": "Folder for computed gallery results, generated pages and cards.",
    "device": "Where the gallery's models run; auto picks a GPU when present.",
    "weights": ("Weights file or URL (with #sha256=...) that every model runs with, instead "
                "of the catalog's weights entries."),
    "models": ("Per model id, the weights file or URL (with #sha256=...[&member=PATH]) it "
               "runs with; $MODELKB_WEIGHTS_<ID> does the same."),
    "download_weights": ("true: the build may download the catalog's weights URLs (once, "
                         "verified by SHA-256, into the user cache); false: only files "
                         "already there or configured are used."),
    "max_pixels": ("Largest gallery image accepted (width x height); larger ones, such as "
                   "decompression bombs, are refused before decoding."),
    "drafts": "What a build does with draft answers: show, warn or error.",
    "gallery_failures": ("warn: a gallery entry that fails becomes a placeholder and a "
                         "warning (which fails --strict); error: the build stops."),
}
SETTING_NAMES = tuple(name for name, _ in ModelkbConfig._schema)
assert set(DESCRIPTIONS) == set(SETTING_NAMES)


def parse_settings(raw: object, config_file: str = "mkdocs.yml",
                   prefix: str = "extra.modelkb") -> ModelkbConfig:
    """Validate a raw settings mapping; raise ModelkbError naming every problem."""
    known = ", ".join(SETTING_NAMES)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ModelkbError(f"{config_file}: {prefix} must be a mapping of settings "
                           f"(known keys: {known})")
    problems = [f"unknown setting '{prefix}.{key}' (known: {known})"
                for key in raw if key not in SETTING_NAMES]
    for name, option in ModelkbConfig._schema:  # each on its own: every problem reported
        try:
            option.validate(raw[name] if raw.get(name) is not None else option.default)
        except ValidationError as exc:
            problems.append(f"{prefix}.{name}: {exc}")
    if problems:
        raise ModelkbError(f"{config_file}: " + "; ".join(problems))
    config = ModelkbConfig(config_file_path=config_file)
    config.load_dict(dict(raw))
    errors, _warnings = config.validate()
    if errors:  # pragma: no cover - each option passed on its own above
        raise ModelkbError(f"{config_file}: " + "; ".join(f"{prefix}.{k}: {e}" for k, e in errors))
    return config


def resolve(base_dir: Path, value: str) -> Path:
    """A settings path made absolute against the folder of mkdocs.yml."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def weights_choice(settings: ModelkbConfig, root: Path):
    """The gallery's WeightsChoice from the settings (paths relative to mkdocs.yml)."""
    from modelkb.gallery.runner import WeightsChoice

    return WeightsChoice(site_weights=settings.weights, models=dict(settings.models or {}),
                         base=root, allow_download=bool(settings.download_weights))
