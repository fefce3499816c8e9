"""Gallery results on pages: section 2 of answers, the gallery page, the weights on model pages.

These read a finished :class:`~modelkb.gallery.records.GalleryReport` (or None when the
catalog has no gallery) and return Markdown with the HTML fragments of
:mod:`modelkb.site.figures`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelkb.catalog import Catalog, Question
from modelkb.gallery.records import GalleryRecord
from modelkb.site import figures
from modelkb.site.answers import AnswerPictures, front_matter, plain
from modelkb.site.pages import answer_uri
from modelkb.site.render import code_span, link_markdown
from modelkb.site.sections import GALLERY_DIR
from modelkb.site.urls import Urls

GALLERY_URI = f"{GALLERY_DIR}/index.md"


def _shipped_size(name: str | None) -> int | None:
    """Size in bytes of a weights file shipped with modelkb, if present."""
    if not name:
        return None
    from modelkb.errors import ModelkbError
    from modelkb.registry import shipped_weights

    try:
        path = shipped_weights(name)
    except ModelkbError:  # outside the weights folder: `modelkb check` refuses it
        return None
    return path.stat().st_size if path.is_file() else None


@dataclass
class GalleryView:
    """What the pages need to show gallery results: the catalog and the run's report."""

    catalog: Catalog
    report: object | None  # modelkb.gallery.records.GalleryReport
    urls: Urls = field(default_factory=Urls)

    def entries_for(self, q: Question) -> list[str]:
        """Gallery entries shown in a question's section 2: its own list, else its workflow's."""
        if q.gallery:
            return list(q.gallery)
        if q.workflow:
            return [g.id for g in self.catalog.gallery.values() if g.workflow == q.workflow]
        return []

    def entry_figure(self, entry_id: str, page_uri: str, crops_elsewhere: bool = False,
                     explain: bool = True) -> str:
        """The figure of one gallery entry as seen from the page of ``page_uri`` (with the
        stand-in explanation unless ``explain`` is False: the page gives it once)."""
        entry = self.catalog.gallery[entry_id]
        workflow = self.catalog.workflows[entry.workflow]
        report = self.report
        result = report.results.get(entry_id) if report else None
        failure = next((f.reason for f in report.failures if f.entry == entry_id), None) \
            if report else None
        link = (self.urls.link(GALLERY_URI, page_uri) + f"#photo-{entry_id}"
                if crops_elsewhere else None)
        return figures.result_block(entry, workflow, result.record if result else None,
                                    self.catalog, self.urls.page(page_uri), failure,
                                    crops_link=link, explain=explain)

    def _records(self, ids: list[str]) -> list[tuple[str, GalleryRecord]]:
        """(entry id, record) of the entries of ``ids`` that have a result."""
        results = self.report.results if self.report else {}
        return [(i, results[i].record) for i in ids if i in results]

    def lead_entry(self, ids: list[str]) -> str | None:
        """The entry of ``ids`` where the model changed its photo most (the largest mean
        change in its recorded focus window); None when none has a focus."""
        focused = [(r.focus.change, i) for i, r in self._records(ids) if r.focus]
        return max(focused)[1] if focused else None

    def workflow_md(self, q: Question) -> AnswerPictures:
        """An answer's pictures: for its first screen the photo the model changed most
        (opening at 1:1 where it changed most), then for section 2 a strip of the photos, the
        stand-in explanation once, and for each gallery entry a heading, nodes, comparison,
        one-line result, metrics and crops (collapsed)."""
        uri = answer_uri(q.slug)
        here = self.urls.page(uri)
        ids = [i for i in self.entries_for(q) if i in self.catalog.gallery]
        lead_id = self.lead_entry(ids)
        lead = ""
        if lead_id:
            result = self.report.results[lead_id]
            lead = figures.lead_block(self.catalog.gallery[lead_id], result.record,
                                      self.catalog, here, f"#photo-{lead_id}")
        notes = dict.fromkeys(figures.standin_note(r, self.catalog)
                              for _, r in self._records(ids))
        parts = [self.photo_strip(ids, uri, anchors=True)] if len(ids) > 1 else []
        parts += [note for note in notes if note]
        for entry_id in ids:
            parts.append(f"### {plain(photo_title(self.catalog.gallery[entry_id].caption))} "
                         f"{{#photo-{entry_id}}}")
            parts.append(self.entry_figure(entry_id, uri, crops_elsewhere=len(ids) > 2,
                                           explain=False))
        return AnswerPictures(lead=lead, section="\n\n".join(parts))

    def photo_strip(self, ids: list[str], page_uri: str, anchors: bool = False,
                    link: str = "") -> str:
        """Thumbnails of the outputs of ``ids`` on the page of ``page_uri``: links to each
        photo's heading (``anchors``) or on the page of ``link`` (a source path)."""
        here = self.urls.page(page_uri)
        cells = []
        for entry_id in ids:
            result = self.report.results.get(entry_id) if self.report else None
            size = result.record.images.get("thumb-output") if result else None
            entry = self.catalog.gallery[entry_id]
            href = (f"#photo-{entry_id}" if anchors
                    else self.urls.link(link, page_uri) + f"#photo-{entry_id}")
            cells.append({"href": href, "title": photo_title(entry.caption),
                          "url": figures.asset_url(here, entry_id, "thumb-output.webp")
                          if size else None,
                          "width": size.width if size else None,
                          "height": size.height if size else None})
        return figures.render("strip.html", cells=cells)

    def model_weights_md(self, kind: str, entry_id: str, has_model_card: bool) -> str:
        """On a model's page: every weights entry, and which weights the last build ran."""
        if kind != "models":
            return ""
        model = self.catalog.models[entry_id]
        used: dict[str, tuple[str, str]] = {}  # sha256 -> (name, provenance)
        for result in (self.report.results.values() if self.report else ()):
            for step in result.record.steps:
                if step.op == "restore" and step.model == entry_id and step.weights_sha256:
                    used[step.weights_sha256] = (step.weights_name or "weights",
                                                 step.weights_provenance or "")
        lines = ["## Weights", ""]
        if not model.weights and not used:
            lines += ["*The catalog lists no weights for this model.*", ""]
        for w in model.weights:
            role = "official" if w.official else ("stand-in" if w.stand_in else "weights")
            lines += [f"### {plain(w.name)} ({role})", ""]
            facts = [f"**Provenance:** {plain(w.provenance)}",
                     f"**Licence:** {plain(w.licence) if w.licence else 'not stated'}"]
            if w.sha256:
                facts.append(f"**SHA-256:** `{w.sha256}`")
            size = _shipped_size(w.file)
            if size:
                facts.append(f"**Size:** {size / 1e6:.1f} MB")
            if w.file:
                where = f"shipped with modelkb ({code_span(w.file)})"
            elif w.url:
                where = "download: " + link_markdown(w.url, w.url) + (
                    f", member {code_span(w.member)} of the archive" if w.member else "")
            else:
                where = ("from the authors (see the model's code link); give its file or URL "
                         f"with the setting `models: {{{entry_id}: ...}}`")
            facts.append(f"**Where to get it:** {where}")
            if w.sha256 and w.sha256 in used:
                facts.append("**Used by this build** for the gallery pictures.")
                used.pop(w.sha256)
            lines += [f"{fact}  " for fact in facts] + [""]
        for sha, (name, provenance) in sorted(used.items()):
            lines += [f"### {plain(name)} (given by the site's settings)", "",
                      f"**Provenance:** {plain(provenance)}  ", f"**SHA-256:** `{sha}`  ",
                      "**Used by this build** for the gallery pictures.", ""]
        if not self.report or not any(
                s.model == entry_id for r in self.report.results.values()
                for s in r.record.steps):
            lines += ["*No gallery picture was computed with this model in this build.*", ""]
        if has_model_card and any(w.file for w in model.weights):
            lines += [("The shipped weights, their training data and measured quality are "
                       "described in the [model card](/model-card.md)."), ""]
        return "\n".join(lines)

    def home_photos(self, page_uri: str) -> str:
        """For the home page: each published answer's photos (model outputs), linking to them."""
        blocks = []
        for q in self.catalog.published_questions():
            ids = [i for i in self.entries_for(q) if i in self.catalog.gallery]
            if not ids:
                continue
            blocks.append(f"[{plain(q.question)}](/{answer_uri(q.slug)})\n\n"
                          + self.photo_strip(ids, page_uri, link=answer_uri(q.slug)))
        return "\n\n".join(blocks)

    def gallery_page(self) -> str:
        """The gallery page: every result, with the answers that show it."""
        uri = GALLERY_URI
        lines = front_matter("Gallery",
                             "Every workflow result, computed when this site was built.")
        lines += ["# Gallery", "", ("Every picture here was produced when this site was built, "
                  "by running the workflow shown on the photo in `gallery_src/`."), ""]
        if not self.catalog.gallery:
            lines += ["*The catalog has no gallery entries yet.*", ""]
        elif len(self.catalog.gallery) > 1:
            lines += [self.photo_strip(list(self.catalog.gallery), uri, anchors=True), ""]
        for entry in self.catalog.gallery.values():
            lines += [f"## {plain(photo_title(entry.caption))} {{#photo-{entry.id}}}", ""]
            lines += [self.entry_figure(entry.id, uri), ""]
            shown = [q for q in self.catalog.published_questions()
                     if entry.id in self.entries_for(q)]
            if shown:
                lines += ["Shown in: " + ", ".join(
                    f"[{plain(q.question)}](/{answer_uri(q.slug)})" for q in shown), ""]
        return "\n".join(lines)


def photo_title(caption: str) -> str:
    """A photo's short title: its caption up to the first colon."""
    return caption.split(":", 1)[0].strip()
