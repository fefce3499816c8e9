"""The MkDocs plugin: each build event of a modelkb site, with the build's state on the object.

Used two ways, with the same code:

- as a plugin: ``pip install modelkb`` and ``plugins: [modelkb]`` in mkdocs.yml (the
  ``mkdocs.plugins`` entry point); settings under the plugin's entry;
- through a hook file (this repository's ``hooks/modelkb_hooks.py``), which creates one
  :class:`ModelkbPlugin` with ``from_extra=True`` and hands it MkDocs' events; settings
  under ``extra.modelkb``.

The plugin is a thin adapter: it turns MkDocs' config into a
:class:`~modelkb.site.project.Project` (which loads the catalog and runs the gallery, as the
commands do) and a :class:`~modelkb.site.publish.Publication`, hands the generated pages
and files to MkDocs, and gives each page its meta tags through the theme's ``extrahead``
block (``theme/main.html``). Pages, figures and exports know nothing of MkDocs beyond the
URLs of :class:`~modelkb.site.urls.Urls`.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import pathspec
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority, get_plugin_logger
from mkdocs.structure.files import File, Files

from modelkb.catalog import Catalog
from modelkb.errors import ModelkbError, TerminalFilter, terminal_safe
from modelkb.files import file_lock, hash_bytes, write_if_changed
from modelkb.site import navigation, publish
from modelkb.site.config import SETTING_NAMES, ModelkbConfig, site_url_env, unknown_setting
from modelkb.site.gallery_pages import GALLERY_URI, GalleryView
from modelkb.site.impact import Impact, card_files_present, finish_report
from modelkb.site.link_health import LINK_HEALTH_TITLE, LINK_HEALTH_URI, link_health_page
from modelkb.site.pages import (
    PageMeta,
    absolute_links_to_relative,
    answer_uri,
    answers_list,
    build_pages,
    make_resolver,
    page_shortcodes,
)
from modelkb.site.permalinks import Permalinks, declared_redirects, same_url_clashes
from modelkb.site.project import Project
from modelkb.site.render import Renderer, attr
from modelkb.site.sections import BY_FOLDER, GALLERY_DIR, REFERENCE_URI
from modelkb.site.urls import Urls

log = get_plugin_logger("modelkb")


class _ToMkDocs(logging.Handler):
    """Hands the core modules' records ('modelkb.*' loggers, which know nothing of MkDocs)
    to the plugin's logger, so MkDocs shows them, counts warnings for --strict and filters
    by its verbosity. Installed for the length of a build (on_config to on_post_build)."""

    def emit(self, record: logging.LogRecord) -> None:
        log.log(record.levelno, record.getMessage())


def _forward_core_logs(on: bool) -> None:
    """Start (on) or stop handing core records to MkDocs; while on, every line the build
    logs has its control characters escaped (TerminalFilter on the plugin's logger)."""
    core = logging.getLogger("modelkb")
    mine = [h for h in core.handlers if isinstance(h, _ToMkDocs)]
    filters = [f for f in log.logger.filters if isinstance(f, TerminalFilter)]
    if on:
        if not mine:
            core.addHandler(_ToMkDocs())
            core.setLevel(logging.DEBUG)  # MkDocs' own logger level decides what is shown
        if not filters:
            log.logger.addFilter(TerminalFilter())
    else:
        for handler in mine:
            core.removeHandler(handler)
        core.setLevel(logging.NOTSET)
        for found in filters:
            log.logger.removeFilter(found)


BUILD_LOCK = ".build.lock"  # in the cache folder: one build of a project at a time
HOME_SHORTCODE = "[[!answers]]"
HOME_PHOTOS_SHORTCODE = "[[!answer-photos]]"
HOME_HERO_SHORTCODE = "[[!hero]]"
ASSETS = Path(__file__).parent / "assets"
THEME = Path(__file__).parent / "theme"  # main.html: the meta tags in the extrahead block
HEAD_META = "modelkb_head"  # the template context's key the theme's partial prints
ASSET_URIS = {
    "extra_css": ("assets/modelkb/modelkb.css", "assets/modelkb/publish.css",
                  "assets/modelkb/pages.css", "assets/modelkb/reference.css"),
    "extra_javascript": ("assets/modelkb/modelkb.js", "assets/modelkb/publish.js"),
}


@dataclass
class BuildState:
    """What one build knows: the project, the validated catalog, what it generated."""

    project: Project
    catalog: Catalog
    view: GalleryView
    renderer: Renderer
    publication: publish.Publication
    permalinks: Permalinks
    generated: set[str] = field(default_factory=set)
    own_files: set[str] = field(default_factory=set)  # src_uri of every file modelkb adds
    meta: PageMeta = field(default_factory=dict)  # src_uri -> (title, description, hidden)
    impact: Impact = field(default_factory=Impact)  # what the build wrote (impact report)


class ModelkbPlugin(BasePlugin[ModelkbConfig]):
    """Generates a modelkb site from its catalog; see the module docstring for the two uses."""

    supports_multiple_instances = False

    def __init__(self, from_extra: bool = False) -> None:
        super().__init__()
        self.from_extra = from_extra
        self._state: BuildState | None = None
        self._command: str | None = None
        self._build_lock: filelock.BaseFileLock | None = None
        self._highlighted: list = []
        self._page_uri = ""  # the page MkDocs is reading ([[id]] links are relative to it)
        self._shortcodes = None  # the [[id]] extension added to MkDocs' (one per config)

    @property
    def state(self) -> BuildState:
        """The current build's state (set by on_config)."""
        if self._state is None:
            raise PluginError("modelkb: the build events ran out of order (on_config has "
                              "not run)")
        return self._state

    def load_config(self, options, config_file_path=None):
        """The plugin's settings, validated by MkDocs; a name modelkb does not know is an
        error (MkDocs makes it a warning, which only ``--strict`` would stop on), with the
        nearest known name."""
        errors, warnings = super().load_config(options, config_file_path)
        unknown = [key for key in options if key not in SETTING_NAMES]
        errors = list(errors) + [(key, unknown_setting("", key)) for key in unknown]
        warnings = [(key, text) for key, text in warnings if key not in unknown]
        return errors, warnings

    # -- events ---------------------------------------------------------------------------

    def on_startup(self, *, command: str, dirty: bool) -> None:
        """Remember the command: ``serve`` may use a loopback site_url, builds may not."""
        self._command = command

    def on_config(self, config):
        """Validate settings and load the catalog; any problem stops the build with its lines."""
        _forward_core_logs(True)
        try:
            project = Project.from_mkdocs_config(config,
                                                 None if self.from_extra else self.config)
            self._lock_build(project)
            catalog = project.load_catalog()
            permalinks = Permalinks.for_project(project, self._command,
                                                config.get("site_url"))
        except ModelkbError as exc:
            raise PluginError(terminal_safe(str(exc))) from None
        urls = Urls(config.use_directory_urls)
        view = GalleryView(catalog, None, urls)
        renderer = Renderer(make_resolver(catalog, urls))
        publication = publish.Publication(
            view, site_name=config.get("site_name") or "",
            site_description=config.get("site_description") or "",
            site_url=config.get("site_url"), urls=urls, renderer=renderer)
        self._state = BuildState(project=project, catalog=catalog, view=view,
                                 renderer=renderer, publication=publication,
                                 permalinks=permalinks)
        config_name = Path(config.config_file_path or "mkdocs.yml").name
        try:
            publish.check_site_url(config.get("site_url"), self._command, config_name,
                                   site_url_env(config.config_file_path))
        except ModelkbError as exc:
            raise PluginError(terminal_safe(str(exc))) from None
        publish.warn_without_site_url(config.get("site_url"), config_name)
        _place_in_nav(config, project.writer_pages)
        _add_theme_folder(config)
        # [[id]] in the site's pages: the extension catalog text is read with, in MkDocs'
        if self._shortcodes in config.markdown_extensions:
            config.markdown_extensions.remove(self._shortcodes)
        self._shortcodes = page_shortcodes(catalog, lambda: self._page_uri,
                                           self._unknown_shortcode)
        config.markdown_extensions.append(self._shortcodes)
        for key, uris in ASSET_URIS.items():
            present = [str(x) for x in config[key]]
            config[key].extend(uri for uri in uris if uri not in present)
        drafts = [q.slug for q in catalog.questions.values() if q.draft]
        if drafts and project.drafts == "error":
            raise PluginError(f"draft answers present: {', '.join(drafts)} (remove "
                              "'draft: true' or set the modelkb setting drafts to show)")
        if drafts and project.drafts == "warn":
            log.warning("draft answers present: %s", ", ".join(drafts))
        return config

    @event_priority(50)  # before other plugins, so they see the generated pages
    def on_files(self, files: Files, config) -> Files:
        """Run the gallery, then add the catalog's pages and images as generated files.

        Nothing is written into docs/: pages and images are File.generated pointing at files
        in the cache folder. A page's file is rewritten only when its text changes, so its
        modification time is stable and `mkdocs serve --dirty` rebuilds only what changed.
        """
        st = self.state
        cache_dir = st.project.cache_dir
        st.own_files = {uri for uris in ASSET_URIS.values() for uri in uris}
        if st.catalog.gallery:
            st.view.report = self._run_gallery()
            from modelkb.gallery.runner import publish_list

            for site_path, cache_file in publish_list(st.view.report, GALLERY_DIR):
                files.append(File.generated(config, site_path, abs_src_path=str(cache_file)))
                st.own_files.add(site_path)
        has_card = files.get_file_from_path("model-card.md") is not None
        st.meta = {}
        st.renderer.unknown.clear()
        pages = build_pages(st.catalog, workflow_md=st.view.workflow_md,
                            extra_md=lambda kind, entry_id: st.view.model_page_md(
                                kind, entry_id, has_card),
                            lead_md=st.view.entry_lead_md,
                            renderer=st.renderer, meta=st.meta)
        for uri, entry_id in dict.fromkeys(st.renderer.unknown):
            log.warning("%s: [[%s]] names no model, paper, tool or task in the catalog",
                        uri, entry_id)
        pages[GALLERY_URI] = st.view.gallery_page()
        if st.project.writer_pages:  # the pages for the catalog's authors: opt-in
            pages[LINK_HEALTH_URI] = link_health_page(st.catalog, cache_dir)  # modelkb links'
            st.meta[LINK_HEALTH_URI] = (LINK_HEALTH_TITLE, "", False)
        else:
            pages.pop(REFERENCE_URI, None)
            st.meta.pop(REFERENCE_URI, None)
        st.generated = set(pages)
        pages_dir = cache_dir / "pages"
        for uri, content in pages.items():
            if files.get_file_from_path(uri) is not None:
                raise PluginError(f"docs/{uri} exists, but modelkb generates that page from "
                                  "the catalog; rename or delete the file in docs/")
            source = pages_dir / uri
            try:
                write_if_changed(source, content)
            except OSError as exc:
                raise PluginError(f"cannot write {source}: {exc.strerror or exc}; check free "
                                  "space and permissions of the modelkb cache folder") from None
            files.append(File.generated(config, uri, abs_src_path=str(source)))
        for uris in ASSET_URIS.values():
            for uri in uris:
                files.append(File.generated(config, uri,
                                            abs_src_path=str(ASSETS / Path(uri).name)))
        drawn_before = card_files_present(cache_dir / "cards")
        try:
            cards = publish.card_files(st.publication, cache_dir / "cards")
        except ModelkbError as exc:
            raise PluginError(terminal_safe(str(exc))) from None
        st.impact.cards(cards, drawn_before)
        for site_path, card in cards:
            files.append(File.generated(config, site_path, abs_src_path=str(card)))
        st.own_files |= st.generated | {site_path for site_path, _card in cards}
        return files

    def on_page_markdown(self, markdown: str, page, config, files) -> str:
        """Set a generated page's metadata; expand the home page's shortcodes (``[[id]]``
        is read with the page: :func:`~modelkb.site.pages.page_shortcodes`).

        Titles and descriptions of catalog pages are set here, HTML-escaped as the theme
        prints them raw, rather than written as front matter (no YAML, any character).
        """
        st = self.state
        uri = page.file.src_uri
        if uri in st.meta:
            title, description, hidden = st.meta[uri]
            page.meta = dict(page.meta or {})
            page.meta["title"] = attr(title)
            if description:
                page.meta["description"] = attr(publish.clip(description))
            if hidden:
                page.meta["search"] = {"exclude": True}
        if HOME_SHORTCODE in markdown:
            markdown = markdown.replace(HOME_SHORTCODE, answers_list(st.catalog))
        if HOME_PHOTOS_SHORTCODE in markdown:
            markdown = markdown.replace(HOME_PHOTOS_SHORTCODE, st.view.home_photos(uri))
        if HOME_HERO_SHORTCODE in markdown:
            markdown = markdown.replace(HOME_HERO_SHORTCODE, st.view.home_hero(uri))
        self._page_uri = uri  # MkDocs reads this page's Markdown next
        return absolute_links_to_relative(markdown, uri)

    def on_page_content(self, html: str, page, config, files) -> str:
        """The pages modelkb writes are marked (``mkb-page``), so its styles (links in running
        text underlined, not told apart by colour alone) stay off the site's own pages."""
        if page.file.src_uri in self.state.generated:
            return f'<div class="mkb-page">\n{html}\n</div>'
        return html

    def _unknown_shortcode(self, entry_id: str) -> None:
        uri = self._page_uri
        log.warning("%s: [[%s]] names no model, paper, tool or task in the catalog",
                    f"docs/{uri}" if uri not in self.state.generated else uri, entry_id)

    def on_nav(self, nav, config, files):
        """Leave sections with nothing in them (e.g. no tools yet) out of the menu."""
        catalog = self.state.catalog
        empty = set()
        for section in BY_FOLDER.values():
            entries = (catalog.published_questions() if section.kind == "questions"
                       else getattr(catalog, section.kind, None))
            if entries is not None and not entries:
                empty.add(section.index_uri)
        if not catalog.gallery:
            empty.add(GALLERY_URI)
        nav.items[:] = navigation.drop_pages(nav.items, empty)
        self.state.impact.urls = [f.url for f in files.documentation_pages()]
        return nav

    @event_priority(-100)
    def _on_nav_record(self, nav, config, files: Files):
        """After every other plugin's ``on_files`` and ``on_nav``, when the URLs and the
        pages MkDocs publishes are settled (a blog post's URL comes from its date and slug,
        and a draft post is left out only in ``on_nav``): no file of the site at a URL
        modelkb generates; then every URL published before keeps working
        (:class:`~modelkb.site.permalinks.Permalinks`)."""
        st = self.state
        clashes = same_url_clashes(files, st.own_files,
                                   st.project.display(Path(config["docs_dir"])))
        if clashes:
            raise PluginError("\n".join(["a page or file of the site is published where "
                                         "modelkb publishes a generated one:",
                                         *(f"  {c}" for c in clashes)]))
        pages = {"/" + (f.url if f.url not in (".", "./") else ""): f
                 for f in files.documentation_pages()}

        def preview(target: str) -> tuple[str, str]:
            """A page's title and link-preview tags, for a redirect that leads to it."""
            found = pages.get(target)
            if found is None:
                return None, ""
            title, description, _hidden = st.meta.get(found.src_uri, (None, "", False))
            meta = {"title": attr(title)} if title else {}
            if description:
                meta["description"] = attr(publish.clip(description))
            return title, publish.head_tags(st.publication, publish.PageInfo(
                found.src_uri, found.url, None, title, meta, False))

        try:  # every URL published before keeps working (or the build stops)
            st.permalinks.on_files(files, config, st.catalog, st.publication.urls,
                                   config.get("site_url"), preview,
                                   declared_redirects(config, st.publication.urls))
        except ModelkbError as exc:
            raise PluginError(terminal_safe(str(exc))) from None
        return nav

    _on_nav_menu = on_nav
    on_nav = CombinedEvent(_on_nav_menu, _on_nav_record)

    def on_serve(self, server, config, builder):
        """``mkdocs serve`` rebuilds when what the build reads changes: the catalog, the
        gallery folder and the weights files of the settings, whatever ``watch:`` says."""
        if self._state is not None:
            for path in self._state.project.watched():
                server.watch(str(path))
        return server

    def on_page_context(self, context, page, config, nav):
        """Hand the template the page's link-preview meta tags (Open Graph, Twitter), which
        the theme's extrahead block prints; on a page outside the menu (an answer, a model),
        highlight its section's item."""
        context[HEAD_META] = publish.head_tags(self.state.publication, publish.PageInfo(
            page.file.src_uri, page.url, page.canonical_url, page.title, page.meta or {},
            page.is_homepage)) + self.state.permalinks.head(page.file.src_uri)
        folder = page.file.src_uri.split("/", 1)[0]
        if folder in BY_FOLDER and page.file.src_uri != f"{folder}/index.md":
            index = next((p for p in nav.pages if p.file.src_uri == f"{folder}/index.md"), None)
            if index is not None and not index.active:
                index.active = True
                self._highlighted.append(index)
        return context

    def on_post_page(self, output: str, page, config) -> str:
        """Page HTML as written; the menu item highlighted for it is reset."""
        while self._highlighted:
            self._highlighted.pop().active = False
        self.state.impact.page(page.url, output)
        return output

    def on_template_context(self, context, template_name: str, config):
        """The sitemap lists no draft answer and no removed page."""
        if template_name == "sitemap.xml":
            drafts = {answer_uri(q.slug) for q in self.state.catalog.questions.values()
                      if q.draft} | self.state.permalinks.gone_pages
            context["pages"] = [f for f in context["pages"] if f.src_uri not in drafts]
        return context

    def on_post_template(self, output_content: str, template_name: str, config) -> str:
        """Static templates as written; the 404 page gains links to home, answers and search."""
        if template_name == "404.html":
            return publish.not_found_html(output_content, self.state.publication)
        return output_content

    def on_post_build(self, config) -> None:
        """Exports after the site is written: answers as Markdown, catalog.json, old URLs'
        exports, the record of published URLs; the impact report (site/impact.py); then the
        build lock is released."""
        st = self.state
        try:
            publish.write_exports(st.publication, Path(config["site_dir"]))
            st.permalinks.after_build(Path(config["site_dir"]))
            finish_report(st.impact, st.view.report, st.project.cache_dir,
                          st.project.display, self._command, config.get("site_url"))
        finally:
            self._unlock_build()
            _forward_core_logs(False)

    def on_build_error(self, *, error: Exception) -> None:
        """A failed build releases the build lock (the next build may start)."""
        self._unlock_build()
        _forward_core_logs(False)

    def on_shutdown(self) -> None:
        """``mkdocs serve`` stopping releases the build lock."""
        self._unlock_build()
        _forward_core_logs(False)

    # -- the build lock -------------------------------------------------------------------

    def _lock_build(self, project: Project) -> None:
        """Wait for any other build of this project (same cache folder) to finish, then hold
        the lock until this build ends, so two builds never write or clean the site at once.

        The lock is ``<cache>/.build.lock``; a read-only cache (an unchanged build needs no
        writes) uses a lock named after the cache folder in the temporary folder instead.
        """
        self._unlock_build()  # a previous build of `mkdocs serve` that never finished
        cache_dir = project.cache_dir
        name = hash_bytes(str(cache_dir.resolve()).encode("utf-8"))[:16]
        candidates = [cache_dir / BUILD_LOCK,
                      Path(tempfile.gettempdir()) / f"modelkb-build-{name}.lock"]
        for path in candidates:
            try:
                lock = file_lock(path, timeout=0)
                try:
                    lock.acquire()
                except filelock.Timeout:
                    log.info("another build of this site is running (lock %s); waiting for it "
                             "to finish", project.display(path))
                    lock = file_lock(path)
                    lock.acquire()
            except OSError:
                continue  # not writable here: try the next place
            self._build_lock = lock
            return
        log.info("modelkb: no place to hold the build lock; building without it")

    def _unlock_build(self) -> None:
        lock, self._build_lock = self._build_lock, None
        if lock is not None:
            lock.release(force=True)

    # -- helpers --------------------------------------------------------------------------

    def _run_gallery(self):
        """Run every gallery entry (cached results are reused); report faults as warnings."""
        project = self.state.project
        try:
            report = project.run_gallery(self.state.catalog)
        except ModelkbError as exc:
            raise PluginError(terminal_safe(str(exc))) from None
        for failure in report.failures:
            log.warning("gallery: %s", failure)
        if report.failures and project.gallery_failures == "error":
            raise PluginError(f"{len(report.failures)} gallery entr"
                              f"{'y' if len(report.failures) == 1 else 'ies'} failed (see "
                              "above); the modelkb setting gallery_failures is 'error'")
        return report


def _place_in_nav(config, writer_pages: bool) -> None:
    """An explicit ``nav:`` gets the generated sections where it has the placeholder
    ``modelkb``, and every generated page counts as "not in nav" (no MkDocs message about
    pages left out of it): see :mod:`modelkb.site.navigation`."""
    if config.nav is None:
        return
    config["nav"], dropped = navigation.expand(config.nav, writer_pages)
    for uri in dropped:
        log.info("nav: %s left out: the writer pages are not published (the modelkb setting "
                 "writer_pages is off)", uri)
    own = pathspec.GitIgnoreSpec.from_lines(navigation.not_in_nav_patterns())
    current = config.get("not_in_nav")
    if current is None or not any(p.pattern == own.patterns[0].pattern
                                  for p in current.patterns):
        config["not_in_nav"] = own if current is None else current + own


def _add_theme_folder(config) -> None:
    """Put modelkb's main.html (the meta tags in the extrahead block) after the theme's
    custom_dir, so a site's own templates still win; warn when the site's own main.html
    leaves the meta tags out."""
    dirs = config.theme.dirs
    if str(THEME) in dirs:
        return
    custom = config.theme.custom_dir
    dirs.insert(1 if custom else 0, str(THEME))
    own = Path(custom) / "main.html" if custom else None
    if own is not None and own.is_file() \
            and "modelkb_head.html" not in own.read_text(encoding="utf-8", errors="replace"):
        log.warning("%s replaces modelkb's main.html, so pages lose their link-preview meta "
                    "tags; add {%% include \"partials/modelkb_head.html\" %%} to its extrahead "
                    "block", own)
