"""The plugin's settings as a typed MkDocs ``Config`` (the way Material's plugins are written).

As a plugin (``plugins: [modelkb]``) MkDocs validates them from the plugin's own entry in
mkdocs.yml. A site that uses the hook file instead keeps them under ``extra.modelkb``;
:func:`parse_settings` validates that mapping with the same ``Config`` and names every
problem. Paths are relative to mkdocs.yml (see :class:`modelkb.site.project.Project`).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tempfile
from pathlib import Path

from mkdocs.config import base
from mkdocs.config import config_options as opt
from mkdocs.config.base import ValidationError

from modelkb.errors import ModelkbError
from modelkb.limits import DEFAULT_MAX_PIXELS
from modelkb.pixels.registry import DEVICES


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
    # The record of every URL the site has published (modelkb.site.permalinks): kept in git
    # beside the catalog; builds add to it, and fail when a URL in it would break.
    published_urls = opt.Type(str, default="published-urls.txt")
    # Whether the site's own pages (docs/, blog posts) are protected like catalog pages
    protect_pages = opt.Type(bool, default=True)
    # The pages written for the catalog's authors, not its readers: the catalog reference
    # (reference/catalog/) and Link health (reference/link-health/). Off: not published.
    writer_pages = opt.Type(bool, default=False)


SETTING_NAMES = tuple(name for name, _ in ModelkbConfig._schema)


def unknown_setting(prefix: str, key: object) -> str:
    """The message for a setting modelkb does not know, with the nearest known name."""
    close = difflib.get_close_matches(str(key), SETTING_NAMES, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (f"unknown setting '{prefix}{key}' ({hint}known: {', '.join(SETTING_NAMES)})")


def parse_settings(raw: object, config_file: str = "mkdocs.yml",
                   prefix: str = "extra.modelkb") -> ModelkbConfig:
    """Validate a raw settings mapping; raise ModelkbError naming every problem."""
    known = ", ".join(SETTING_NAMES)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ModelkbError(f"{config_file}: {prefix} must be a mapping of settings "
                           f"(known keys: {known})")
    problems = [unknown_setting(f"{prefix}.", key) for key in raw if key not in SETTING_NAMES]
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


def load_mkdocs_config(config_file: Path):
    """A site's mkdocs.yml loaded by MkDocs' own loader, without its pages (a command that
    reads the settings needs no docs folder); problems become one ModelkbError."""
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError

    if not config_file.is_file():
        raise ModelkbError(not_found(config_file))
    quiet = logging.getLogger("mkdocs")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # load_config logs its own progress
    try:  # an empty docs folder spares projects without one
        with tempfile.TemporaryDirectory(prefix="modelkb-nodocs-") as empty:
            return load_config(str(config_file), docs_dir=empty)
    except (ConfigurationError, Abort, OSError) as exc:
        raise ModelkbError(f"{config_file}: {exc}") from None
    finally:
        quiet.setLevel(level)


def not_found(config_file: Path) -> str:
    """What a command run outside a site folder says: the file it looked for, where."""
    where = Path(os.path.abspath(config_file))
    return (f"no site configuration: looked for {where.name} in {where.parent} and found "
            "none; run the command in the site's folder (beside its mkdocs.yml) or pass "
            "--config PATH/TO/mkdocs.yml")


_ENV_TAG = re.compile(r"^site_url:\s*!ENV\s*(\[.*\]|\S+)", re.M)


def site_url_env(config_file: str | os.PathLike | None) -> list[str]:
    """The environment variables ``site_url`` is read from in ``config_file``
    (``site_url: !ENV [SITE_URL, ...]``); empty where the line is plain or absent."""
    if not config_file:
        return []
    try:
        text = Path(config_file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = _ENV_TAG.search(text)
    if found is None:
        return []
    value = found.group(1)
    if not value.startswith("["):
        return [value]
    names = [part.strip().strip("'\"") for part in value[1:-1].split(",")]
    # the last item is the default unless it is the only one
    names = names[:-1] if len(names) > 1 else names
    return [n for n in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)]
