"""The MkDocs side of modelkb: what each build event does, kept out of the hook file."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from modelkb.catalog import Catalog, load_catalog
from modelkb.errors import ModelkbError
from modelkb.pages import absolute_links_to_relative, answers_list, build_pages, resolve_shortcodes
from modelkb.settings import Settings, parse_settings, resolve

log = logging.getLogger("mkdocs.plugins.modelkb")

HOME_SHORTCODE = "[[!answers]]"


@dataclass
class BuildState:
    """What one build knows: settings, the validated catalog, the generated page sources."""

    root: Path
    settings: Settings
    catalog: Catalog
    generated: set[str] = field(default_factory=set)


_state: BuildState | None = None


def state() -> BuildState:
    """The current build's state (set by on_config)."""
    if _state is None:
        raise PluginError("modelkb: the hooks ran out of order (on_config has not run)")
    return _state


def on_startup(command: str, dirty: bool) -> None:
    """Nothing to prepare yet: models load lazily, once per process."""


def on_config(config):
    """Validate settings and load the catalog; any problem stops the build with its lines."""
    global _state
    root = Path(config.config_file_path).parent if config.config_file_path else Path.cwd()
    try:
        settings = parse_settings(config.extra.get("modelkb"), Path(config.config_file_path
                                                                  or "mkdocs.yml").name)
        catalog_path = resolve(root, settings.catalog)
        catalog = load_catalog(catalog_path, display=_display(catalog_path, root))
    except ModelkbError as exc:
        raise PluginError(str(exc)) from None
    _state = BuildState(root=root, settings=settings, catalog=catalog)
    drafts = [q.slug for q in catalog.questions.values() if q.draft]
    if drafts and settings.drafts == "error":
        raise PluginError(f"draft answers present: {', '.join(drafts)} (remove 'draft: true' "
                          "or set extra.modelkb.drafts to show)")
    if drafts and settings.drafts == "warn":
        log.warning("draft answers present: %s", ", ".join(drafts))
    return config


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def on_files(files: Files, config) -> Files:
    """Add the catalog's pages as generated files (never written into docs/)."""
    st = state()
    pages = build_pages(st.catalog)
    st.generated = set(pages)
    for uri, content in pages.items():
        if files.get_file_from_path(uri) is not None:
            raise PluginError(f"docs/{uri} exists, but modelkb generates that page from the "
                              "catalog; rename or delete the file in docs/")
        files.append(File.generated(config, uri, content=content))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Expand ``[[id]]`` shortcodes and the home page's answer list."""
    st = state()
    uri = page.file.src_uri
    if HOME_SHORTCODE in markdown:
        markdown = markdown.replace(HOME_SHORTCODE, answers_list(st.catalog))
    unknown: list[str] = []
    markdown = resolve_shortcodes(markdown, uri, st.catalog, unknown.append)
    for entry_id in unknown:
        log.warning("%s: [[%s]] names no model, paper, tool or task in the catalog",
                    f"docs/{uri}" if uri not in st.generated else uri, entry_id)
    return absolute_links_to_relative(markdown, uri)


_DESCRIPTION_RE = re.compile(r'<meta name="description" content="[^"]*">')


def on_post_page(output: str, page, config) -> str:
    """Page HTML as written (link-preview tags are added here)."""
    return output


def on_post_build(config) -> None:
    """Exports after the site is written."""
