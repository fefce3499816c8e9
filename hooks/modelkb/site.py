"""The MkDocs side of modelkb: what each build event does, kept out of the hook file."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from modelkb import figures, publish
from modelkb.answers import plain
from modelkb.catalog import Catalog, Question, load_catalog
from modelkb.errors import ModelkbError
from modelkb.pages import (
    absolute_links_to_relative,
    answer_uri,
    answers_list,
    build_pages,
    front_matter,
    resolve_shortcodes,
)
from modelkb.settings import Settings, parse_settings, resolve

log = logging.getLogger("mkdocs.plugins.modelkb")

HOME_SHORTCODE = "[[!answers]]"
ASSETS = Path(__file__).parent / "assets"
CSS_URI = "assets/modelkb/modelkb.css"
JS_URI = "assets/modelkb/modelkb.js"
PUBLISH_JS_URI = "assets/modelkb/publish.js"
PUBLISH_CSS_URI = "assets/modelkb/publish.css"


@dataclass
class BuildState:
    """What one build knows: settings, the validated catalog, the generated page sources."""

    root: Path
    settings: Settings
    catalog: Catalog
    generated: set[str] = field(default_factory=set)
    gallery: object | None = None  # modelkb.gallery.GalleryReport once on_files ran
    use_directory_urls: bool = True


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
        catalog = load_catalog(catalog_path, display=_display(catalog_path, root),
                               snapshot_dir=resolve(root, settings.cache) / "catalog")
    except ModelkbError as exc:
        raise PluginError(str(exc)) from None
    _state = BuildState(root=root, settings=settings, catalog=catalog,
                        use_directory_urls=config.use_directory_urls)
    publish.warn_without_site_url(config)
    for key, uri in (("extra_css", CSS_URI), ("extra_javascript", JS_URI),
                     ("extra_javascript", PUBLISH_JS_URI), ("extra_css", PUBLISH_CSS_URI)):
        if uri not in [str(x) for x in config[key]]:
            config[key].append(uri)
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
    """Run the gallery, then add the catalog's pages and images as generated files.

    Nothing is written into docs/: pages and images are File.generated pointing at files
    in the cache folder. A page's file is rewritten only when its text changes, so its
    modification time is stable and `mkdocs serve --dirty` rebuilds only what changed.
    """
    st = state()
    if st.catalog.gallery:
        st.gallery = _run_gallery(st)
        from modelkb.gallery import publish_list

        for site_path, cache_file in publish_list(st.gallery, figures.GALLERY_DIR):
            files.append(File.generated(config, site_path, abs_src_path=str(cache_file)))
    pages = build_pages(st.catalog, workflow_md=lambda q: _workflow_md(st, q),
                        extra_md=lambda kind, entry_id: _model_weights_md(st, kind, entry_id,
                                                                          files))
    pages[f"{figures.GALLERY_DIR}/index.md"] = _gallery_page(st)
    st.generated = set(pages)
    pages_dir = resolve(st.root, st.settings.cache) / "pages"
    for uri, content in pages.items():
        if files.get_file_from_path(uri) is not None:
            raise PluginError(f"docs/{uri} exists, but modelkb generates that page from the "
                              "catalog; rename or delete the file in docs/")
        source = _write_if_changed(pages_dir / uri, content)
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    for uri in (CSS_URI, JS_URI, PUBLISH_JS_URI, PUBLISH_CSS_URI):
        files.append(File.generated(config, uri, abs_src_path=str(ASSETS / Path(uri).name)))
    cards_dir = resolve(st.root, st.settings.cache) / "cards"
    for card in publish.card_files(config, st.catalog, st.gallery, lambda q: _entries_for(st, q),
                                   cards_dir):
        files.append(card)
    return files


def _write_if_changed(path: Path, content: str) -> Path:
    """Write ``content`` to ``path`` atomically unless the file already holds exactly that."""
    data = content.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PluginError(f"cannot write {path}: {exc.strerror or exc}; check free space and "
                          "permissions of extra.modelkb.cache") from None
    return path


def _run_gallery(st: BuildState):
    """Run every gallery entry (cached results are reused); report faults as warnings."""
    from modelkb.gallery import run_gallery

    settings = st.settings
    weights = settings.weights
    if weights and "://" not in weights:
        weights = str(resolve(st.root, weights))  # relative to mkdocs.yml, not the cwd
    try:
        report = run_gallery(st.catalog, resolve(st.root, settings.gallery),
                             resolve(st.root, settings.cache), device=settings.device,
                             weights=weights, max_pixels=settings.max_pixels)
    except ModelkbError as exc:
        raise PluginError(str(exc)) from None
    for failure in report.failures:
        log.warning("gallery: %s", failure)
    return report


def _entries_for(st: BuildState, q: Question) -> list[str]:
    """Gallery entries shown in a question's section 2: its own list, else its workflow's."""
    if q.gallery:
        return list(q.gallery)
    if q.workflow:
        return [g.id for g in st.catalog.gallery.values() if g.workflow == q.workflow]
    return []


def _entry_figure(st: BuildState, entry_id: str, page_dir: str) -> str:
    entry = st.catalog.gallery[entry_id]
    workflow = st.catalog.workflows[entry.workflow]
    report = st.gallery
    result = report.results.get(entry_id) if report else None
    failure = next((f.reason for f in report.failures if f.entry == entry_id), None) \
        if report else None
    return figures.result_block(entry, workflow, result.info if result else None, st.catalog,
                                page_dir, failure)


def _workflow_md(st: BuildState, q: Question) -> str:
    """Section 2's pictures: for each gallery entry, nodes, slider, crops and metrics."""
    page_dir = figures.page_url_dir(answer_uri(q.slug), st.use_directory_urls)
    blocks = [_entry_figure(st, entry_id, page_dir) for entry_id in _entries_for(st, q)]
    return "\n\n".join(blocks)


def _model_weights_md(st: BuildState, kind: str, entry_id: str, files: Files) -> str:
    """On a model's page: the weights this build ran it with, and how to use the official ones."""
    if kind != "models":
        return ""
    restoring = [wf for wf in st.catalog.workflows.values()
                 if any(getattr(step, "model", None) == entry_id for step in wf.steps)]
    if not restoring:
        return ""
    report = st.gallery
    used = {(r.info["weights"]["provenance"], r.info["weights"]["sha256"], r.info.get("variant"))
            for r in (report.results.values() if report else ())
            if r.info.get("weights") and r.info.get("workflow") in {w.id for w in restoring}}
    lines = ["## Weights used on this site", ""]
    if used:
        for provenance, sha, variant in sorted(used, key=str):
            lines.append(f"- `{variant}` weights, {plain(provenance)}; sha256 `{sha}`")
    else:
        lines.append("*No gallery image was computed with this model in this build.*")
    lines.append("")
    if files.get_file_from_path("model-card.md") is not None:
        lines += [("The shipped weights, their training data and measured quality are described "
                  "in the [model card](/model-card.md)."), ""]
    lines += [
        ("To build the gallery with another checkpoint, such as the authors' own RealBlur-J "
        "release (a file like `model_03000E.pt`, linked from the authors' code repository), "
        "download it yourself and point the build at it, by path or by URL pinned with its "
        "sha256:"), "",
        "```yaml", "extra:", "  modelkb:", "    weights: path/to/model_03000E.pt",
        "    # or: https://host/file.pt#sha256=<64 hex digits>", "```", "",
        ("or set the environment variable `MODELKB_WEIGHTS`. The variant is inferred from the "
        "checkpoint's shapes, and every gallery image then names the weights that made it."), ""]
    return "\n".join(lines)


def _gallery_page(st: BuildState) -> str:
    """The gallery page: every result, with the answers that show it."""
    uri = f"{figures.GALLERY_DIR}/index.md"
    page_dir = figures.page_url_dir(uri, st.use_directory_urls)
    lines = front_matter("Gallery", "Every workflow result, computed when this site was built.")
    lines += ["# Gallery", "", ("Every picture here was produced when this site was built, by "
              "running the workflow shown on the photo in `gallery_src/`."), ""]
    if not st.catalog.gallery:
        lines += ["*The catalog has no gallery entries yet.*", ""]
    for entry in st.catalog.gallery.values():
        lines += [f"## {plain(entry.caption)}", ""]
        lines += [_entry_figure(st, entry.id, page_dir), ""]
        shown = [q for q in st.catalog.published_questions() if entry.id in _entries_for(st, q)]
        if shown:
            lines += ["Shown in: " + ", ".join(f"[{plain(q.question)}](/{answer_uri(q.slug)})"
                                               for q in shown), ""]
    return "\n".join(lines)


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


def on_post_page(output: str, page, config) -> str:
    """Page HTML as written, plus its link-preview meta tags (Open Graph, Twitter)."""
    st = state()
    tags = publish.head_tags(page, config, st.catalog, st.gallery, lambda q: _entries_for(st, q))
    return publish.add_head_tags(output, tags)


def on_post_template(output: str, template_name: str, config) -> str:
    """Static templates as written; the 404 page gains links to home, answers and search."""
    if template_name == "404.html":
        return publish.not_found_html(output, config)
    return output


def on_post_build(config) -> None:
    """Exports after the site is written: answers as Markdown, catalog.json."""
    st = state()
    publish.write_exports(config, st.catalog, st.gallery, lambda q: _entries_for(st, q))
