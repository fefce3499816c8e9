"""URLs that last: the record of every URL the site has published, and the pages that keep
an old URL working when its page moves or goes.

The record (setting ``published_urls``, ``published-urls.txt`` beside mkdocs.yml) is a
sorted text file kept in git, one URL a line with what it was: its kind (answer, export,
card, model, paper, tool, task, page), the catalog key of its entry (an answer's slug, an
entry's id, a hand-written page's source path) and a fingerprint of the entry's identity
(the question's or name's text, hashed). A page's identity is its catalog entry, not its
URL, so a build that no longer makes a recorded URL looks for where its entry went:

1. the URL is listed under ``retired:`` in the catalog (directly, or its answer's page for
   the answer's Markdown export and card): a page saying it was removed, or a redirect;
2. the entry still exists under the same key (``use_directory_urls`` changed): redirect;
3. an entry lists the key in ``previous:``: redirect to it;
4. exactly one entry that the record does not know has the same fingerprint, and exactly
   one recorded entry of that fingerprint is missing (a slug or id renamed, the question or
   name unchanged): redirect to it;
5. otherwise the build fails, naming the URL and the fixes.

A redirect is a static HTML file at the old URL (meta refresh, canonical link, and a script
that keeps the query and the ``#anchor``); an answer's old Markdown export is a copy of the
new one (tools that fetch it get the answer, not a note they cannot follow), its old card a
copy of the new card. A removed page is a themed page saying so, out of the sitemap and the
search index. The record is rewritten (atomically, only when it changes) after a build for
publishing succeeds (a real ``site_url``, see :func:`~modelkb.site.publish.is_publishing`);
``mkdocs serve`` and local builds compare without writing it and report broken URLs as
warnings, so scratch pages and the names typed while editing never become published URLs.

What is recorded is what MkDocs publishes, taken after every other plugin (the plugin's
late ``on_nav``): a blog post at its final URL, the site's own pages only while the setting
``protect_pages`` is on, and no page another plugin generates. A URL that mkdocs-redirects
serves (its ``redirect_maps``) counts as kept.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.structure.files import File, Files, InclusionLevel

from modelkb.catalog import Catalog
from modelkb.catalog.yamlsrc import SourceError, read_yaml
from modelkb.errors import ModelkbError
from modelkb.files import write_if_changed
from modelkb.site.gallery_pages import GALLERY_URI
from modelkb.site.link_health import LINK_HEALTH_URI
from modelkb.site.publish import (
    CARDS_DIR,
    CATALOG_JSON,
    SITE_CARD,
    base_url,
    card_path,
    entry_card_path,
    export_path,
    is_publishing,
    site_link,
)
from modelkb.site.render import attr, markdown_text, plain
from modelkb.site.sections import ANSWERS, PAGE_KINDS, REFERENCE_URI, PageKind
from modelkb.site.urls import Urls

if TYPE_CHECKING:
    from modelkb.site.project import Project

log = logging.getLogger(__name__)

RECORD_HEAD = """\
# Every URL this site has published: URL, kind, catalog key, fingerprint (one a line, sorted).
# A build for publishing adds new URLs (modelkb; see docs/publishing.md, "URLs that last"): commit
# this file with catalog.yml. When a build no longer makes a URL listed here, it writes a
# redirect there if the entry was renamed, and otherwise fails until the URL is listed under
# `retired:` in the catalog. Delete a line only for a URL that was never published.
"""
EXPORT = "export"  # an answer's Markdown export (answers alone have one)
# a catalog section's page kind in the record ('page': a page of the site itself)
GROUP_KIND = {**{k.kind: k.record for k in PAGE_KINDS.values()}, "page": "page"}
# an entry's preview card follows its page (renamed, retired) like an answer's card
CARD_KINDS = {k.card: k.kind for k in PAGE_KINDS.values() if k is not ANSWERS}
# kind -> the catalog section whose entries it belongs to ('page': a page of the site itself)
KIND_GROUP = {ANSWERS.record: ANSWERS.kind, EXPORT: ANSWERS.kind, ANSWERS.card: ANSWERS.kind,
              **{k.record: k.kind for k in PAGE_KINDS.values()}, **CARD_KINDS, "page": "page"}
NO_FINGERPRINT = "-"
# A record line names a canonical path inside the site: bounded like file systems bound names
MAX_URL_LENGTH = 1024
MAX_SEGMENT_BYTES = 200
MAX_DEPTH = 16
GONE_TITLE = "Page removed"
NOINDEX = '<meta name="robots" content="noindex">'


@dataclass(frozen=True)
class Published:
    """One line of the record: a URL (from the site's root, '/answers/x/') and what it was."""

    url: str
    kind: str
    key: str
    fingerprint: str = NO_FINGERPRINT
    line_no: int = field(default=0, compare=False)  # where the record holds it (0: new)

    @property
    def group(self) -> str:
        return KIND_GROUP[self.kind]

    def line(self) -> str:
        return f"{self.url}\t{self.kind}\t{self.key}\t{self.fingerprint}"


def fingerprint(text: str) -> str:
    """A short hash of an entry's identity text (whitespace and case do not count)."""
    norm = " ".join(text.split()).casefold()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:12]


def url_problem(url: str, kind: str) -> str | None:
    """Why ``url`` cannot be a record line of ``kind`` (None when it can): the record is a
    file a pull request can edit, and its URLs become paths the build writes, so each must
    be a canonical path inside the site of the shape its kind publishes."""
    if not url.startswith("/"):
        return "the URL must start with '/'"
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(ch in url for ch in "\\?#") or any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "the URL holds a backslash, '?', '#' or a control character"
    segments = url[1:].split("/")
    inner = segments[:-1] if url.endswith("/") else segments
    if url != "/" and any(seg in ("", ".", "..") for seg in inner):
        return "the URL holds an empty, '.' or '..' segment (a canonical path has none)"
    if len(segments) > MAX_DEPTH:
        return f"the URL is more than {MAX_DEPTH} folders deep"
    if any(len(seg.encode("utf-8")) > MAX_SEGMENT_BYTES for seg in segments):
        return f"a segment of the URL is longer than {MAX_SEGMENT_BYTES} bytes"
    if kind == EXPORT:
        return None if url.endswith(".md") else "an export's URL ends in '.md'"
    if kind == "card" or kind in CARD_KINDS:
        if url.startswith(f"/{CARDS_DIR}/") and url.endswith(".png"):
            return None
        return f"a card's URL is a '.png' under /{CARDS_DIR}/"
    if url.endswith(("/", ".html")):
        return None
    return "a page's URL ends in '/' or '.html'"


def refuse_symlink(path: Path, display: str, what: str) -> None:
    """A ModelkbError if ``path`` is a symbolic link: files that come with a pull request
    are read and written in place, never through a link to somewhere else."""
    if path.is_symlink():
        raise ModelkbError(f"{display}: is a symbolic link; modelkb reads and writes {what} "
                           "only as a regular file of the project (replace the link with "
                           "the file it points to)")


def read_record(path: Path, display: str) -> dict[str, Published]:
    """The record at ``path`` ({} when there is none yet); a line that cannot be read is a
    ModelkbError naming it."""
    refuse_symlink(path, display, "the record of published URLs")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelkbError(f"{display}: cannot read the record of published URLs: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    found: dict[str, Published] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith(("<<<<<<<", "=======", ">>>>>>>", "|||||||")):
            raise ModelkbError(f"{display}:{n}: an unresolved merge conflict; keep the lines "
                               "of both sides (the file is a set of URLs) and delete the "
                               "conflict markers")
        parts = line.split()
        if len(parts) != 4 or not parts[0].startswith("/") or parts[1] not in KIND_GROUP:
            raise ModelkbError(f"{display}:{n}: cannot read this line (expected 'URL KIND KEY "
                               f"FINGERPRINT', KIND one of {', '.join(KIND_GROUP)}); restore "
                               "it from git, or delete it if the URL was never published")
        problem = url_problem(parts[0], parts[1])
        if problem:
            raise ModelkbError(f"{display}:{n}: {problem}; restore the line from git, or "
                               "delete it if the URL was never published")
        found[parts[0]] = Published(*parts, line_no=n)
    return found


def format_record(entries: dict[str, Published]) -> str:
    return RECORD_HEAD + "".join(entries[url].line() + "\n" for url in sorted(entries))


def rooted(url: str) -> str:
    """A URL MkDocs gives relative to the site's root ('answers/x/', './' for the home page)
    as the record writes it ('/answers/x/', '/')."""
    return "/" + (url if url not in (".", "./") else "")


def output_path(url: str) -> str:
    """Where the file served at ``url`` lies in the site folder ('/a/b/' -> 'a/b/index.html')."""
    path = url.lstrip("/")
    return path + "index.html" if path.endswith("/") or not path else path


def redirect_html(target: str, canonical: str, title: str | None = None,
                  preview: str = "") -> str:
    """A page that sends the reader on to ``target`` (relative to it), keeping the query
    and the anchor; ``canonical`` is the target's address for search engines. ``title`` and
    ``preview`` (the target's link-preview meta tags) make a link to the old address show
    the new page's title and card in forums and chats, which read a page without following
    its refresh."""
    script = json.dumps(target).replace("<", "\\u003c")
    name = html.escape(title) if title else html.escape(canonical)
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title) if title else 'Moved'}</title>\n" + NOINDEX + "\n"
        f"<link rel=\"canonical\" href=\"{attr(canonical)}\">\n"
        f"<meta http-equiv=\"refresh\" content=\"0; url={attr(target)}\">\n"
        + (preview.strip() + "\n" if preview.strip() else "") +
        f"<script>location.replace({script} + location.search + location.hash)</script>\n"
        "</head>\n<body>\n"
        f"<p>This page has moved to <a href=\"{attr(target)}\">{name}</a>."
        "</p>\n</body>\n</html>\n")


@dataclass
class Outcome:
    """What becomes of one recorded key that the build no longer serves."""

    how: str  # 'moved', 'retired', 'missing' or 'draft' (a published answer made a draft)
    key: str = ""  # moved: the entry's key now
    redirect: str | None = None  # retired: the URL it leads to (None: gone)
    retired: str = ""  # retired: the url of its entry under 'retired:'
    note: str | None = None  # retired and gone: why


@dataclass
class Permalinks:
    """One site's published URLs across its builds: read the record, keep old URLs alive,
    write the record back. The plugin calls :meth:`on_files` and :meth:`after_build`."""

    record_file: Path
    display: str  # the record's name in messages
    write: bool = True  # only publishing builds: otherwise broken URLs warn, the record is kept
    protect_pages: bool = True  # the site's own pages are recorded and checked too
    gone_pages: set[str] = field(default_factory=set)  # src_uri of 'removed' pages
    _record: dict[str, Published] = field(default_factory=dict)
    _changed: bool = False
    _copies: list[tuple[str, str]] = field(default_factory=list)  # (old, new) export paths
    _notes: dict[str, str] = field(default_factory=dict)  # site path -> Markdown
    _clashes: list[str] = field(default_factory=list)  # record lines that collide
    _taken: _Taken | None = None  # the paths this build writes
    _recorded: dict[str, Published] = field(default_factory=dict)  # the record as read
    _preview: Callable[[str], tuple[str | None, str]] | None = None  # a page URL's title and tags

    @classmethod
    def for_project(cls, project: Project, command: str | None,
                    site_url: str | None = None) -> Permalinks:
        """The record of a project's site (its setting ``published_urls``), written only by
        a publishing build (:func:`~modelkb.site.publish.is_publishing`)."""
        record = project.published_urls or project.root / "published-urls.txt"
        return cls(record_file=record, display=project.display(record),
                   write=is_publishing(site_url, command),
                   protect_pages=project.protect_pages)

    def head(self, src_uri: str) -> str:
        """Extra head tags of a page: a removed page asks not to be indexed."""
        return "\n    " + NOINDEX if src_uri in self.gone_pages else ""

    # -- during the build -------------------------------------------------------------------

    def on_files(self, files: Files, config, catalog: Catalog, urls: Urls,
                 site_url: str | None,
                 preview: Callable[[str], tuple[str | None, str]] | None = None,
                 redirects: dict[str, str] | None = None) -> Files:
        """Add a redirect or a 'removed' page at every recorded URL this build does not make;
        raise ModelkbError naming the URLs that would break (a build that is not for
        publishing: warn). Called after every other plugin's ``on_files``, so page URLs are
        the ones MkDocs publishes (a blog post's from its date and slug). ``redirects``: the
        old URLs another plugin (mkdocs-redirects' ``redirect_maps``) serves as redirects."""
        self.gone_pages = set()
        self._copies, self._notes, self._clashes = [], {}, []
        self._preview = preview
        before = read_record(self.record_file, self.display)
        self._recorded = before
        self._taken = _Taken(files)
        old = dict(before)
        current = current_urls(catalog, files, urls, self.protect_pages)
        built = [f for f in files if f.inclusion.is_included()]  # no draft blog post
        served = {rooted(f.url) for f in built}
        served |= set(redirects or {})
        served |= {rooted(f.url[:-len("index.html")]) for f in built
                   if f.url.endswith("index.html")}
        served |= set(current) | {"/" + CATALOG_JSON}
        pages = {rooted(f.url): f for f in files.documentation_pages()}
        resolver = _Resolver(catalog, files, urls, old, current)
        for url, published in resolver.previous_urls().items():
            old.setdefault(url, published)
        record = dict(old)
        problems: list[str] = []
        missing: dict[tuple[str, str], list[str]] = {}
        drafts: set[str] = set()
        base = base_url(site_url)
        for url, published in sorted(old.items()):
            if url in served or (published.group == "page" and not self.protect_pages
                                  and url not in catalog.retired):
                continue
            outcome = resolver.outcome(published)
            if outcome.how in ("missing", "draft"):
                missing.setdefault((published.group, published.key), []).append(url)
                if outcome.how == "draft":
                    drafts.add(published.key)
                continue
            if outcome.how == "moved":
                record[url] = Published(url, published.kind, outcome.key,
                                        resolver.fingerprint_of(published.group, outcome.key))
                target = resolver.url_of(published.group, outcome.key)
            else:
                target = outcome.redirect
                if target is not None and target not in pages:
                    problems.append(self._retired_problem(
                        catalog, outcome.retired, "redirect", f"the retired URL "
                        f"{outcome.retired} redirects to {target}, which is not a page of "
                        "this site", "give the URL of a page this build makes, e.g. "
                        "/answers/<slug>/"))
                    continue
            self._keep(files, config, urls, base, url, published.kind, target,
                       resolver.answer_at(target), outcome.note,
                       card=_card_now(published, outcome))
        for url, retired in catalog.retired.items():
            if url in served:
                problems.append(self._retired_problem(
                    catalog, url, "url", f"the retired URL {url} is a page of this build",
                    "remove this retired entry: the page is back"))
            elif url not in old:  # an address from before the record: kept alive too
                target = retired.redirect
                if target is not None and target not in pages:
                    problems.append(self._retired_problem(
                        catalog, url, "redirect", f"the retired URL {url} redirects to "
                        f"{target}, which is not a page of this site",
                        "give the URL of a page this build makes, e.g. /answers/<slug>/"))
                    continue
                kind = EXPORT if url.endswith(".md") else "page"
                self._keep(files, config, urls, base, url, kind, target,
                           resolver.answer_at(target), retired.note)
        for (group, key), lost in missing.items():
            problems.append(_missing_problem(catalog, group, key, lost, self.display,
                                             draft=group == "questions" and key in drafts))
        problems += self._clashes
        problems = list(dict.fromkeys(problems))  # an answer's export and card: said once
        if problems:
            if self.write:
                head = (f"{len(problems)} published URL problem"
                        f"{'s' if len(problems) != 1 else ''} (a link to the site would "
                        "break):")
                raise ModelkbError("\n".join([head, *(f"  {p}" for p in problems)]))
            for problem in problems:
                log.warning("%s", problem)
        record.update(current)
        self._changed = record != before or not self.record_file.is_file()
        self._record = record
        return files

    def _keep(self, files: Files, config, urls: Urls, base: str | None, url: str,
              kind: str, target: str | None, answer: str | None, note: str | None,
              card: str | None = None) -> None:
        """Keep ``url`` (of ``kind``) alive: lead to ``target`` (a page URL; ``answer``: the
        answer's slug when it is one), or say it is gone (``target`` None). An old card URL
        serves a copy of ``card`` (the moved entry's card), else the site's card."""
        path = output_path(url)
        clash = self._taken.clash(path) if self._taken is not None else None
        if clash:
            line = self._record_line(url)
            self._clashes.append(
                f"{self.display}{line}: {url} would be written at {path}, where this build "
                f"{clash}; delete the line (restore it from git if a change made it)")
            return
        if self._taken is not None:
            self._taken.add(path)
        if kind == EXPORT:
            if answer is not None:
                self._copies.append((path, export_path(answer)))
            else:
                self._notes[path] = _export_note(url, target, note, base)
            return
        if kind == ANSWERS.card or kind in CARD_KINDS:
            source = card or (card_path(answer) if answer else None)
            found = files.get_file_from_path(source) if source else None
            found = found or files.get_file_from_path(SITE_CARD)
            if found is not None and found.abs_src_path:
                files.append(File.generated(config, path, abs_src_path=found.abs_src_path))
            return
        if target is not None:
            rel = Urls.relative(target.lstrip("/"), url.lstrip("/") or ".")
            title, tags = self._preview(target) if self._preview else (None, "")
            files.append(File.generated(config, path, content=redirect_html(
                rel, site_link(base, target.lstrip("/")), title, tags)))
            log.info("%s moved: it redirects to %s", url, target)
            return
        src = _gone_source(url, urls, files)
        if src is None:  # no page source is served at this URL: a plain page
            files.append(File.generated(config, path, content=_gone_html(url, note)))
            return
        self.gone_pages.add(src)
        gone = File.generated(config, src, content=_gone_markdown(url, src, note))
        gone.inclusion = InclusionLevel.NOT_IN_NAV  # added after the menu is made
        files.append(gone)

    def _record_line(self, url: str) -> str:
        """':LINE' of ``url`` in the record ('' when it is not a line of the file)."""
        found = self._recorded.get(url)
        return f":{found.line_no}" if found is not None and found.line_no else ""

    def _retired_problem(self, catalog: Catalog, url: str, key: str, message: str,
                         hint: str) -> str:
        return f"{_retired_where(catalog, url, key)}: {message} ({hint})"

    def after_build(self, site_dir: Path) -> None:
        """After the exports are written: the old exports' copies and notes, then the
        record (atomically, only when it changed; never for `mkdocs serve`)."""
        for old, new in self._copies:
            source = site_dir / new
            if source.is_file() and not source.is_symlink():
                _write_new(site_dir, old, source.read_bytes())
        for path, text in self._notes.items():
            _write_new(site_dir, path, text.encode("utf-8"))
        if not self.write or not self._changed:
            return
        refuse_symlink(self.record_file, self.display, "the record of published URLs")
        try:
            write_if_changed(self.record_file, format_record(self._record))
        except OSError as exc:
            log.warning("cannot update %s: %s; the URLs this build added are not recorded, so "
                        "a later rename cannot redirect them", self.display,
                        exc.strerror or exc)
            return
        log.info("%s updated: commit it with catalog.yml", self.display)


class _Taken:
    """The paths a build writes (its files and the folders holding them), so that no record
    line becomes a file where the build has one, a file where it needs a folder, or a folder
    where it writes a file."""

    def __init__(self, files: Files):
        self.files: set[str] = set()
        self.folders: set[str] = set()
        for f in files:
            self.add(f.dest_uri)

    def add(self, path: str) -> None:
        self.files.add(path)
        parts = path.split("/")
        self.folders.update("/".join(parts[:i]) for i in range(1, len(parts)))

    def clash(self, path: str) -> str | None:
        """What the build already writes that ``path`` would collide with (None: nothing)."""
        if path in self.files:
            return "writes a file of its own"
        if path in self.folders:
            return "needs a folder of that name"
        parts = path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self.files:
                return f"writes the file {'/'.join(parts[:i])}"
        return None


def _write_new(site_dir: Path, rel: str, data: bytes) -> None:
    """Write a kept export's copy or note at ``rel`` inside ``site_dir``: only there, never
    over a file the build wrote, never through a link."""
    root = site_dir.resolve()
    dest = root / rel
    if not dest.resolve().is_relative_to(root) or dest.exists() or dest.is_symlink():
        raise ModelkbError(f"{rel}: a kept URL's file would leave the site folder or replace "
                           "a file of the build; check the record of published URLs")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    except OSError as exc:
        raise ModelkbError(f"{rel}: cannot write a kept URL's file: "
                           f"{exc.strerror or exc}") from None


def current_urls(catalog: Catalog, files: Files, urls: Urls,
                 protect_pages: bool = True) -> dict[str, Published]:
    """The URLs this build publishes for good, with their identities: the pages of the
    catalog's entries (not drafts), answers' exports and cards, modelkb's section pages,
    and (``protect_pages``) the site's own pages from its docs folder, each at the URL
    MkDocs publishes it at (a blog post's from its date and slug). Pages another plugin
    generates (a blog's archive, category and pagination pages) are not recorded: they
    list other pages, and come and go with them."""
    by_src: dict[str, tuple[str, str, str]] = {}
    published = {kind: _published(catalog, kind) for kind in PAGE_KINDS.values()}
    for kind, entries in published.items():
        for key, entry in entries.items():
            by_src[kind.page_uri(key)] = (kind.record, key, fingerprint(entry.title))
    own = {s.index_uri for s in PAGE_KINDS.values()} | {GALLERY_URI, REFERENCE_URI,
                                                         LINK_HEALTH_URI}
    found: dict[str, Published] = {}
    for f in files.documentation_pages():
        ident = by_src.get(f.src_uri)
        if ident is None and ((f.generated_by is None and protect_pages) or f.src_uri in own):
            ident = ("page", f.src_uri, NO_FINGERPRINT)
        if ident is not None:
            found[rooted(f.url)] = Published(rooted(f.url), *ident)
    for q in published[ANSWERS].values():
        url = "/" + export_path(q.slug)
        found[url] = Published(url, EXPORT, q.slug, fingerprint(q.title))
    for kind, entries in published.items():
        for key, entry in entries.items():
            path = entry_card_path(kind.kind, key)
            if files.get_file_from_path(path) is not None:
                found["/" + path] = Published("/" + path, kind.card, key,
                                              fingerprint(entry.title))
    return found


REDIRECTS_PLUGIN = "redirects"  # mkdocs-redirects' name in mkdocs.yml's plugins


def declared_redirects(config, urls: Urls) -> dict[str, str]:
    """The old URLs (from the site's root) that another plugin serves as redirects, with
    where they lead: mkdocs-redirects' ``redirect_maps``, read from its loaded settings. A
    recorded URL listed there moved the ecosystem's way, and needs no ``retired:`` entry."""
    found: dict[str, str] = {}
    for name, plugin in (config.get("plugins") or {}).items():
        module = type(plugin).__module__ or ""
        if name.split(" ")[0] != REDIRECTS_PLUGIN and not module.startswith("mkdocs_redirects"):
            continue
        maps = getattr(plugin, "config", {}).get("redirect_maps") or {}
        for old, new in maps.items():
            url = urls.page(str(old).replace("\\", "/").lstrip("/"))
            found[rooted(url)] = str(new)
            if url.endswith("index.html"):
                found[rooted(url[:-len("index.html")])] = str(new)
    return found


def same_url_clashes(files: Files, own: set[str], docs: str) -> list[str]:
    """One message for every file that MkDocs would write where modelkb writes one of its
    generated files (``own``: their source paths), naming both sources: the site's own
    ``docs/models.md`` and the generated ``models/index.md`` are both ``/models/``."""
    by_dest: dict[str, list[File]] = {}
    for f in files:
        by_dest.setdefault(f.dest_uri, []).append(f)
    problems = []
    for dest, found in sorted(by_dest.items()):
        mine = [f for f in found if f.src_uri in own]
        others = [f for f in found if f.src_uri not in own]
        if not mine or not others:
            continue
        url = rooted(found[0].url)
        names = ", ".join(f"{docs}/{f.src_uri}" if f.generated_by is None
                          else f"{f.src_uri} (made by {f.generated_by})" for f in others)
        problems.append(f"{names} and modelkb's generated {mine[0].src_uri} are both "
                        f"published at {url} ({dest}): rename or move {names}, or link to "
                        "the generated page instead")
    return problems


def _published(catalog: Catalog, kind: PageKind) -> dict:
    """The entries of ``kind`` that have published pages (drafts have none), by key."""
    return {key: entry for key, entry in getattr(catalog, kind.kind).items()
            if not getattr(entry, "draft", False)}


class _Resolver:
    """Where the entry of a recorded URL went (see the module docstring's steps)."""

    def __init__(self, catalog: Catalog, files: Files, urls: Urls,
                 old: dict[str, Published], current: dict[str, Published]):
        self.catalog, self.files, self.urls = catalog, files, urls
        self.current = current
        self.previous: dict[tuple[str, str], str] = {}
        for group in PAGE_KINDS:
            for key, entry in getattr(catalog, group).items():
                for before in entry.previous:
                    self.previous[(group, before)] = key
        recorded = {(p.group, p.key) for p in old.values()}
        now = {(p.group, p.key, p.fingerprint) for p in current.values()}
        self.new_by_fp: dict[tuple[str, str], list[str]] = {}
        for group, key, fp in now:
            if (group, key) not in recorded and fp != NO_FINGERPRINT:
                self.new_by_fp.setdefault((group, fp), []).append(key)
        self.lost_by_fp: dict[tuple[str, str], set[str]] = {}
        for p in old.values():
            if p.fingerprint != NO_FINGERPRINT and not self.exists(p.group, p.key):
                self.lost_by_fp.setdefault((p.group, p.fingerprint), set()).add(p.key)
        self._memo: dict[tuple[str, str], Outcome] = {}
        # an answer's export and card follow its page: (group, key) -> the retired entry
        self.retired_by_key = {(p.group, p.key): catalog.retired[p.url] for p in old.values()
                               if p.kind in GROUP_KIND.values() and p.url in catalog.retired}

    def page_uri(self, group: str, key: str) -> str:
        return key if group == "page" else PAGE_KINDS[group].page_uri(key)

    def exists(self, group: str, key: str) -> bool:
        if group == "page":
            return self.files.get_file_from_path(key) is not None
        return key in getattr(self.catalog, group)

    def url_of(self, group: str, key: str) -> str:
        """The URL (from the site's root) the entry or page ``key`` is published at now."""
        if group == "page":
            found = self.files.get_file_from_path(key)
            if found is not None:
                return rooted(found.url)
        return rooted(self.urls.page(self.page_uri(group, key)))

    def fingerprint_of(self, group: str, key: str) -> str:
        if group == "page":
            return NO_FINGERPRINT
        return fingerprint(getattr(self.catalog, group)[key].title)

    def previous_urls(self) -> dict[str, Published]:
        """The URLs of every ``previous:`` key (they may predate the record)."""
        found: dict[str, Published] = {}
        for (group, before), _key in self.previous.items():
            page = rooted(self.urls.page(self.page_uri(group, before)))
            found[page] = Published(page, GROUP_KIND[group], before)
            path = entry_card_path(group, before)
            found["/" + path] = Published("/" + path, PAGE_KINDS[group].card, before)
            if group == ANSWERS.kind:
                found["/" + export_path(before)] = Published("/" + export_path(before), EXPORT,
                                                             before)
        return found

    def answer_at(self, url: str | None) -> str | None:
        """The slug of the answer whose page is at ``url``, if it is one."""
        found = self.current.get(url or "")
        return found.key if found is not None and found.kind == ANSWERS.record else None

    def outcome(self, published: Published) -> Outcome:
        retired = self.catalog.retired.get(published.url) \
            or self.retired_by_key.get((published.group, published.key))
        if retired is not None:
            return Outcome("retired", redirect=retired.redirect, note=retired.note,
                           retired=retired.url)
        ident = (published.group, published.key)
        if ident not in self._memo:
            self._memo[ident] = self._moved(published)
        return self._memo[ident]

    def _moved(self, published: Published) -> Outcome:
        group, key = published.group, published.key
        if self.exists(group, key):
            return self._moved_to(group, key)
        if (group, key) in self.previous:
            return self._moved_to(group, self.previous[(group, key)])
        fp = published.fingerprint
        candidates = self.new_by_fp.get((group, fp), [])
        if fp != NO_FINGERPRINT and len(candidates) == 1 \
                and len(self.lost_by_fp.get((group, fp), ())) == 1:
            return Outcome("moved", key=candidates[0])
        return Outcome("missing")


    def _moved_to(self, group: str, key: str) -> Outcome:
        """The entry is at ``key`` now; an answer made a draft publishes nothing there."""
        if group == "questions" and self.catalog.questions[key].draft:
            return Outcome("draft", key=key)
        return Outcome("moved", key=key)


def _card_now(published: Published, outcome: Outcome) -> str | None:
    """Where the card of a moved entry is now (None for other kinds and outcomes)."""
    if published.kind in CARD_KINDS and outcome.how == "moved":
        return entry_card_path(published.group, outcome.key)
    return None


def _missing_problem(catalog: Catalog, group: str, key: str, urls: list[str],
                     record: str, draft: bool = False) -> str:
    """The message for a recorded entry whose URLs this build would break."""
    pages = [u for u in urls if not u.endswith((".md", ".png"))] or urls
    url = pages[0]
    others = [u for u in urls if u != url]
    also = f" (and {', '.join(others)})" if others else ""
    name = catalog.path.name
    if draft:
        return (f"{name}: {url}{also} was published ({record} lists it as answer '{key}'), "
                f"but that answer is a draft now, and a draft has no Markdown export: "
                f"publish it again (remove 'draft: true'), or list each URL under 'retired:' "
                f"in {name} (- url: {url}, with 'redirect: /another/page/' or 'note: why it "
                "is gone')")
    if group == "page":
        what = f"the page {key}"
        keep = (f"restore docs/{key}, or give its old URL a redirect in mkdocs-redirects' "
                "redirect_maps")
    else:
        kind = GROUP_KIND[group]
        what = f"{kind} '{key}'"
        keep = (f"restore the {kind}; if it was renamed, add 'previous: [{key}]' to the "
                f"{kind} it became")
    return (f"{name}: {url}{also} was published ({record} lists it as {what}) but this build "
            f"no longer makes it: {keep}; or, to remove it for good, list it under "
            f"'retired:' in {name} (- url: {url}, with 'redirect: /another/page/' or "
            "'note: why it is gone')")


def _retired_where(catalog: Catalog, url: str, key: str) -> str:
    """'catalog.yml:LINE:COL' of a retired entry's ``key`` (the file's name if unreadable)."""
    try:
        src = read_yaml(catalog.path, display=catalog.path.name)
    except SourceError:
        return catalog.path.name
    items = src.data.get("retired") if isinstance(src.data, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("url") == url:
            line, col = src.where(("retired", i, key))
            return f"{src.file}:{line}:{col}"
    return catalog.path.name


def _gone_source(url: str, urls: Urls, files: Files) -> str | None:
    """A page source MkDocs would serve at ``url``, for a themed 'removed' page."""
    path = url.strip("/")
    candidates = ([f"{path}.md", f"{path}/index.md"] if url.endswith("/")
                  else [path[:-len(".html")] + ".md"] if url.endswith(".html") else [])
    for src in candidates:
        if urls.page(src) == url.lstrip("/") and files.get_file_from_path(src) is None:
            return src
    return None


def _why(note: str | None) -> str:
    return f" {plain(note)}" if note else ""


def _gone_markdown(url: str, src: str, note: str | None) -> str:
    here = posixpath.dirname(src) or "."
    home = posixpath.relpath("index.md", here)
    answers = posixpath.relpath(ANSWERS.index_uri, here)
    return (f"---\ntitle: {GONE_TITLE}\nsearch:\n  exclude: true\n---\n\n"
            f"# {GONE_TITLE}\n\n"
            f"The page that was at {plain(url)} has been removed from this site.{_why(note)}\n\n"
            f"- [Home page]({home})\n- [All answers]({answers})\n")


def _gone_html(url: str, note: str | None) -> str:
    why = f" {html.escape(note)}" if note else ""
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{GONE_TITLE}</title>\n{NOINDEX}\n</head>\n<body>\n<h1>{GONE_TITLE}</h1>\n"
            f"<p>The page that was at <code>{html.escape(url)}</code> has been removed from "
            f"this site.{why}</p>\n</body>\n</html>\n")


def _export_note(url: str, target: str | None, note: str | None, base: str | None) -> str:
    """The Markdown served at an old export's URL when no answer's export takes its place."""
    if target is not None:
        link = site_link(base, target.lstrip("/"))
        return f"# Moved\n\nThis page moved to <{link}>.\n"
    why = f" {markdown_text(note)}" if note else ""
    return (f"# {GONE_TITLE}\n\nThe page that was at {markdown_text(url)} has been "
            f"removed.{why}\n")
