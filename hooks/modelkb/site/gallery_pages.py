"""Gallery results on pages: section 2 of answers, the gallery page, the home page's hero
and photos, and a model's page (its pictures before and after, what they measure, how to run
it, its weights).

These read a finished :class:`~modelkb.gallery.records.GalleryReport` (or None when the
catalog has no gallery) and return Markdown with the HTML fragments of
:mod:`modelkb.site.figures`.
"""

from __future__ import annotations

import html
import posixpath
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from modelkb.catalog import Catalog, Model, Question
from modelkb.gallery.records import GalleryRecord
from modelkb.site import figures
from modelkb.site.answers import AnswerPictures, front_matter, plain
from modelkb.site.pages import answer_uri, entry_uri
from modelkb.site.render import code_span, link_markdown
from modelkb.site.sections import GALLERY_DIR
from modelkb.site.urls import Urls

GALLERY_URI = f"{GALLERY_DIR}/index.md"
# The commands a model's page shows (tests run them through `modelkb`'s own parser).
RUN_COMMAND = "modelkb restore in.jpg -o out.png"
RUN_WEIGHTS_COMMAND = "modelkb restore in.jpg -o out.png --weights FILE.safetensors"
RUN_MANY_COMMAND = "modelkb restore a.jpg b.jpg -o restored/"
RUN_OPTIONS = ("--device cpu", "--tile 512")


def _shipped_size(name: str | None) -> int | None:
    """Size in bytes of a weights file shipped with modelkb, if present (outside the weights
    folder: None; `modelkb check` refuses it)."""
    path = _shipped_path(name)
    return path.stat().st_size if path is not None and path.is_file() else None


@dataclass
class GalleryView:
    """What the pages need to show gallery results: the catalog and the run's report."""

    catalog: Catalog
    report: object | None  # modelkb.gallery.records.GalleryReport
    urls: Urls = field(default_factory=Urls)
    _by_model: tuple[object, dict] | None = field(default=None, repr=False)

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
        """The entry of ``ids`` whose picture shows the model's effect best: the largest mean
        change in its recorded focus window, among photos the weights were not trained on
        (one they were is chosen only when there is no other); None when none has a focus."""
        ranked = self.showcase(ids)
        return ranked[0] if ranked else None

    def showcase(self, ids) -> list[str]:
        """``ids`` with a recorded focus, best first for leading a page or a card: photos the
        weights never saw before those they were trained on, then the largest change in the
        focus window (what a visitor sees at 1:1 or in a zoomed crop)."""
        focused = [(figures.seen_in_training(r, self.catalog), -r.focus.change, n, i)
                   for n, (i, r) in enumerate(self._records(list(ids))) if r.focus]
        return [i for *_, i in sorted(focused)]

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
            size = self._image_size(entry_id, "thumb-output")
            entry = self.catalog.gallery[entry_id]
            cells.append({"href": self._photo_href(entry_id, page_uri, anchors, link),
                          "title": photo_title(entry.caption),
                          "url": figures.asset_url(here, entry_id, "thumb-output.webp")
                          if size else None,
                          "width": size.width if size else None,
                          "height": size.height if size else None})
        return figures.render("strip.html", cells=cells)

    def pair_strip(self, ids: list[str], page_uri: str, anchors: bool = False,
                   link: str = "", notes: dict[str, str] | None = None) -> str:
        """Each photo of ``ids`` as a before/after pair of thumbnails (the workflow's input
        and its output), linking as :meth:`photo_strip` does; ``notes`` adds a short line
        (e.g. the measured gain) under a photo's title."""
        here = self.urls.page(page_uri)
        cells = []
        for entry_id in ids:
            sides = []
            for role, tag, alt in (("thumb-input", "before", "before: the input"),
                                   ("thumb-output", "after", "after: the workflow's output")):
                size = self._image_size(entry_id, role)
                sides.append({"tag": tag, "alt": alt,
                              "url": figures.asset_url(here, entry_id, f"{role}.webp")
                              if size else None,
                              "width": size.width if size else None,
                              "height": size.height if size else None})
            cells.append({"href": self._photo_href(entry_id, page_uri, anchors, link),
                          "title": photo_title(self.catalog.gallery[entry_id].caption),
                          "note": (notes or {}).get(entry_id, ""), "sides": sides})
        return figures.render("pairs.html", cells=cells,
                              label="Photos before and after the workflow")

    def _image_size(self, entry_id: str, name: str):
        """The published size of one of an entry's images, None when it was not made."""
        result = self.report.results.get(entry_id) if self.report else None
        return result.record.images.get(name) if result else None

    def _photo_href(self, entry_id: str, page_uri: str, anchors: bool, link: str) -> str:
        if anchors:
            return f"#photo-{entry_id}"
        return self.urls.link(link, page_uri) + f"#photo-{entry_id}"

    # -- model pages ----------------------------------------------------------------------

    def model_results(self, model_id: str) -> list[tuple[str, GalleryRecord]]:
        """(gallery entry id, record) of every picture a workflow made with the model, in
        the catalog's order (indexed once per gallery run: pages and cards ask per model)."""
        if not self.report:
            return []
        if self._by_model is None or self._by_model[0] is not self.report:
            index: dict[str, list[tuple[str, GalleryRecord]]] = {}
            for entry_id in self.catalog.gallery:
                result = self.report.results.get(entry_id)
                steps = result.record.steps if result else ()
                for model in dict.fromkeys(s.model for s in steps
                                           if s.op == "restore" and s.model):
                    index.setdefault(model, []).append((entry_id, result.record))
            self._by_model = (self.report, index)
        return self._by_model[1].get(model_id, [])

    def entry_lead_md(self, kind: str, entry_id: str) -> str:
        """What an entry's page leads with: on a model's page its gallery pictures before
        and after with a summary of their measurements; on a task's page (after its
        answers) the pictures its models made."""
        if kind == "models":
            return self.model_results_md(entry_id)
        if kind != "tasks":
            return ""
        ids = list(dict.fromkeys(i for m in self.catalog.models.values() if m.task == entry_id
                                 for i, _ in self.model_results(m.id)))
        if not ids:
            return ""
        uri = entry_uri("tasks", entry_id)
        return "\n".join([
            (f"The {_count(len(ids), 'gallery photo')} this task's models ran on when the "
             "site was built, before and after:"), "",
            self.pair_strip(ids, uri, link=GALLERY_URI), ""])

    def model_page_md(self, kind: str, entry_id: str, has_model_card: bool) -> str:
        """What a model's page shows below its summary: how to run it, its weights."""
        if kind != "models":
            return ""
        model = self.catalog.models[entry_id]
        return "\n\n".join(part for part in (
            glance_md(model), run_md(model),
            self.model_weights_md(entry_id, has_model_card)) if part)

    def model_results_md(self, model_id: str) -> str:
        """The model's gallery pictures as before/after pairs, what they measure across the
        gallery (PSNR gain and fine detail against the sharp photos) and per photo ('' when
        no picture was made with it)."""
        results = self.model_results(model_id)
        if not results:
            return ""
        uri = entry_uri("models", model_id)
        summary = ResultsSummary.of(results)
        notes = {entry_id: f"{gain:+.2f} dB" for entry_id, gain in summary.gains.items()}
        lines = ["## Results on the gallery", "",
                 (f"The {_count(len(results), 'gallery photo')} this build ran it on, before "
                  "(as given to the workflow) and after (the workflow's output); open one to "
                  "compare them at 1:1 with every measurement."), "",
                 self.pair_strip([i for i, _ in results], uri, link=GALLERY_URI, notes=notes),
                 ""]
        labels = sorted({_weights_label(r.weights) for _, r in results if r.weights})
        if labels:
            lines += ["Made with " + "; ".join(plain(label) for label in labels)
                      + " (see Weights below).", ""]
        lines += summary.markdown()
        if summary.rows:
            # a Markdown link names the page's source file (MkDocs turns it into the URL)
            gallery = posixpath.relpath(GALLERY_URI, posixpath.dirname(uri) or ".")
            lines += ["| Photo | Closeness to the sharp photo (PSNR), input → output | "
                      "Fine detail, input → output | What the model did |",
                      "|---|---|---|---|"]
            for entry_id, row in summary.rows.items():
                title = plain(photo_title(self.catalog.gallery[entry_id].caption))
                lines.append(f"| [{title}]({gallery}#photo-{entry_id}) | {row.psnr} | "
                             f"{row.detail} | {plain(row.skill)} |")
            lines.append("")
        return "\n".join(lines)

    def model_weights_md(self, entry_id: str, has_model_card: bool) -> str:
        """On a model's page: a table of every weights entry with where to get it (links
        only to the URLs the catalog gives), which weights this build ran, their
        provenance and full SHA-256."""
        model = self.catalog.models[entry_id]
        used: dict[str, tuple[str, str]] = {}  # sha256 -> (name, provenance)
        for _, record in self.model_results(entry_id):
            for step in record.steps:
                if step.op == "restore" and step.model == entry_id and step.weights_sha256:
                    used[step.weights_sha256] = (step.weights_name or "weights",
                                                 step.weights_provenance or "")
        lines = ["## Weights", ""]
        if not model.weights and not used:
            lines += ["*The catalog lists no weights for this model.*", ""]
        rows: list[str] = []
        details: list[str] = []
        default = _default_weights_file(model)
        for w in model.weights:
            role = "official" if w.official else ("stand-in" if w.stand_in else "weights")
            sha = f"<code>{w.sha256[:12]}</code>" if w.sha256 else "not recorded"
            if w.file:
                size = _shipped_size(w.file)
                where = "shipped with modelkb" + (f", {size / 1e6:.1f} MB" if size else "")
                if default is not None and _shipped_path(w.file) == default:
                    where += "; `modelkb restore` uses it when no `--weights` is given"
            elif w.url:
                where = link_markdown(w.url, "download") + (
                    f" (member {code_span(w.member)} of the archive)" if w.member else "")
            elif model.code:
                where = ("from the authors: " + link_markdown(model.code, "code repository")
                         + "; give the file with `--weights`")
            else:
                where = "from the authors; give the file with `--weights`"
            in_build = "yes" if w.sha256 and used.pop(w.sha256, None) else "no"
            rows.append(f"| **{plain(w.name)}** | {role} | "
                        f"{plain(w.licence) if w.licence else 'not stated'} | {sha} | "
                        f"{where} | {in_build} |")
            details.append(f"- **{plain(w.name)}**: {plain(_sentence(w.provenance))}"
                           + (f" SHA-256 <code>{w.sha256}</code>." if w.sha256 else ""))
        for sha, (name, provenance) in sorted(used.items()):
            rows.append(f"| **{plain(name)}** | given by the site's settings | not stated | "
                        f"<code>{sha[:12]}</code> | the site's settings | yes |")
            details.append(f"- **{plain(name)}**: {plain(_sentence(provenance))} "
                           f"SHA-256 <code>{sha}</code>.")
        if rows:
            lines += ["| Weights | Role | Licence | SHA-256 | Where to get it | Used by this "
                      "build |", "|---|---|---|---|---|---|", *rows, "",
                      "Where each comes from:", "", *details, ""]
        if not self.model_results(entry_id):
            lines += ["*No gallery picture was computed with this model in this build.*", ""]
        if has_model_card and any(w.file for w in model.weights):
            lines += [("The shipped weights, their training data and measured quality are "
                       "described in the [model card](/model-card.md)."), ""]
        return "\n".join(lines)

    # -- home page ------------------------------------------------------------------------

    def home_hero(self, page_uri: str) -> str:
        """The home page's first screen: one before/after pair (the zoomed region where the
        model changed the first answer's first photo most) and what the site holds."""
        here = self.urls.page(page_uri)
        parts = [f"<p class=\"mkb-hero__counts\">{self._holdings()}</p>"]
        found = self._hero_photo()
        if found is not None:
            q, entry_id, record, crop = found
            title = photo_title(self.catalog.gallery[entry_id].caption)
            sides = []
            for role, tag, label in (("baseline", "Before", "the photo enlarged 2x, no model"),
                                     ("output", "After", "the workflow with the model")):
                size = record.images.get(crop.name)
                sides.append({"url": figures.asset_url(here, entry_id, crop.files[role]),
                              "tag": tag, "label": label,
                              "alt": f"{title}, {tag.lower()}: {label} ({crop.label})",
                              "width": size.width if size else None,
                              "height": size.height if size else None})
            verdict = figures.skill_verdict(record)
            caption = f"{title}, zoomed on {crop.label or 'a detail'}."
            if record.weights and record.weights.stand_in:
                caption += " Made with stand-in weights."
            if verdict:
                caption += f" {verdict}"
            parts.append(figures.render(
                "hero.html", sides=sides, caption=caption,
                href=self.urls.link(answer_uri(q.slug), page_uri) + f"#photo-{entry_id}",
                link_text="See it in the answer: " + " ".join(q.question.split())))
        return "\n\n".join(parts)

    def _hero_photo(self):
        """(question, entry id, record, crop) of the published answers' photo that shows the
        model's effect best (:meth:`showcase`: never one the weights were trained on while
        another exists) and has a zoomed crop with before and after (the automatic one, on
        the region that changed most, when there)."""
        if not self.report:
            return None
        shown = {}  # entry id -> the first published answer showing it
        for q in self.catalog.published_questions():
            for entry_id in self.entries_for(q):
                shown.setdefault(entry_id, q)
        ranked = self.showcase(shown) + [i for i in shown if i not in self.showcase(shown)]
        for entry_id in ranked:
            result = self.report.results.get(entry_id)
            if result is None:
                continue
            crops = [c for c in result.record.crops
                     if "baseline" in c.files and "output" in c.files]
            crops.sort(key=lambda c: not c.auto)
            if crops:
                return shown[entry_id], entry_id, result.record, crops[0]
        return None

    def _holdings(self) -> str:
        """One sentence of what the site holds: answers, models, papers, photos."""
        c = self.catalog
        made = len(self.report.results) if self.report else 0
        counts = [_count(len(c.published_questions()), "answer"), _count(len(c.models), "model"),
                  _count(len(c.papers), "paper"), _count(len(c.gallery), "gallery photo")]
        text = "This site holds " + ", ".join(counts[:-1]) + " and " + counts[-1] + "."
        if c.gallery:
            text += (f" {made} of the photos were run through their workflow when the site "
                     "was built" if made != len(c.gallery) else
                     " Every photo was run through its workflow when the site was built")
            text += ", so each before/after pair shows what the model really did."
        return html.escape(text, quote=False)

    def home_photos(self, page_uri: str) -> str:
        """For the home page: each published answer's photos as before/after pairs,
        linking to them in the answer."""
        blocks = []
        for q in self.catalog.published_questions():
            ids = [i for i in self.entries_for(q) if i in self.catalog.gallery]
            if not ids:
                continue
            blocks.append(f"[{plain(q.question)}](/{answer_uri(q.slug)})\n\n"
                          + self.pair_strip(ids, page_uri, link=answer_uri(q.slug)))
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
            lines += [self.pair_strip(list(self.catalog.gallery), uri, anchors=True), ""]
        # each stand-in explanation once, above the photos (each picture keeps its label)
        notes = dict.fromkeys(figures.standin_note(r, self.catalog)
                              for _, r in self._records(list(self.catalog.gallery)))
        lines += [x for note in notes if note for x in (note, "")]
        for entry in self.catalog.gallery.values():
            lines += [f"## {plain(photo_title(entry.caption))} {{#photo-{entry.id}}}", ""]
            lines += [self.entry_figure(entry.id, uri, explain=False), ""]
            shown = [q for q in self.catalog.published_questions()
                     if entry.id in self.entries_for(q)]
            if shown:
                lines += ["Shown in: " + ", ".join(
                    f"[{plain(q.question)}](/{answer_uri(q.slug)})" for q in shown), ""]
        return "\n".join(lines)


def _weights_label(weights) -> str:
    """Which weights made a picture, short: name, sha256 prefix, and the stand-in wording."""
    text = f"{weights.name or 'weights'} (sha256 {weights.sha256[:12]})"
    if weights.stand_in:
        return (f"the stand-in weights {text}, not {weights.model_name or weights.model}'s "
                "own")
    return text


def _sentence(text: str) -> str:
    """``text`` ending in a full stop."""
    text = " ".join(text.split())
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _shipped_path(name: str | None) -> Path | None:
    """The real path of a weights file shipped with modelkb, None outside its folder."""
    if not name:
        return None
    from modelkb.errors import ModelkbError
    from modelkb.pixels.registry import shipped_weights

    try:
        return shipped_weights(name)
    except ModelkbError:
        return None


def _default_weights_file(model: Model) -> Path | None:
    """The file `modelkb restore` runs without --weights, when it is of this model's
    architecture (else the bare command would run another network): None otherwise."""
    if not model.architecture:
        return None
    from modelkb.models.weights.resolve import default_weights
    from modelkb.pixels.registry import architecture_of_variant

    found = default_weights(None)
    arch = architecture_of_variant(found[0]) if found else None
    return found[1] if arch is not None and arch.name == model.architecture else None


def parameter_count(path: Path) -> int | None:
    """The parameters a .safetensors file holds, from its header alone (no tensor read, no
    torch): the sum of the element counts of its floating-point tensors."""
    import json
    import math
    import struct

    try:
        with path.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > 50_000_000:
                return None
            header = json.loads(fh.read(size))
    except (OSError, ValueError, struct.error):
        return None
    return sum(math.prod(t["shape"]) for name, t in header.items()
               if name != "__metadata__" and str(t.get("dtype", "")).startswith(("F", "BF")))


def glance_md(model: Model) -> str:
    """A model page's facts at a glance, as a model hub shows them: what goes in and comes
    out, the variant in words, the size of the shipped weights (parameters, file, sha256),
    their licence, and the install line before `modelkb restore`."""
    if not model.architecture:
        return ""
    facts = ["**Input and output**: an RGB photo of any size in, the restored photo at the "
             "same size out (scale 1x: it removes blur and noise; a workflow may enlarge "
             "after it)"]
    if model.variant:
        facts.append(f"**Variant**: {code_span(model.variant)}, the size of the network that "
                     "runs it (the authors' full model is `mssnet`; `mssnet-small` is a "
                     "smaller one, faster and weaker)")
    for w in model.weights:
        path = _shipped_path(w.file) if w.file else None
        if path is None or not path.is_file():
            continue
        params = parameter_count(path)
        size = path.stat().st_size
        facts.append(f"**{plain(w.name)}**" + (" (stand-in)" if w.stand_in else "")
                     + (f": {params / 1e6:.2f} million numbers (parameters and fixed "
                        "buffers)" if params else "")
                     + f", {size / 1e6:.1f} MB fp16 safetensors, shipped with modelkb"
                     + (f", licence {plain(w.licence)}" if w.licence else "")
                     + (f", sha256 <code>{w.sha256[:12]}</code>" if w.sha256 else ""))
    official = next((w for w in model.weights if w.official), None)
    if official is not None:
        facts.append(f"**{plain(official.name)}** (the authors'): licence "
                     + (plain(official.licence) if official.licence else "not stated"))
    return "\n".join(["## At a glance", "", *(f"- {f}" for f in facts), "",
                      ("Install modelkb (Python 3.10 or newer) from a checkout of its "
                       "repository, the CPU build of PyTorch first, then run it as below:"), "",
                      "```sh", INSTALL_COMMAND, "```", ""])


# the README's install, as one line (torch first: plain `torch` would pull a CUDA build)
INSTALL_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && "
                   ".venv/bin/pip install .")


def run_md(model: Model) -> str:
    """How to run the model on one's own photos with `modelkb restore` (a model with an
    architecture modelkb runs); the bare command only where its default weights are of
    this model's architecture."""
    if not model.architecture:
        return ""
    lines = ["## Run it on your photo", ""]
    default = _default_weights_file(model)
    if default is not None:
        shipped = next((w for w in model.weights if w.file and _shipped_path(w.file) == default),
                       None)
        what = (f"the {plain(shipped.name)} weights" + (" (the stand-in)" if shipped.stand_in
                                                        else "")
                if shipped else f"the weights {code_span(default.name)}")
        lines += [f"With {what}, which come with modelkb:", "", "```sh", RUN_COMMAND, "```", ""]
    lines += [("With other weights of this model, such as a checkpoint from the table below (a "
               "`.pt` or `.safetensors` file; the network's variant is read from the weights):"),
              "", "```sh", RUN_WEIGHTS_COMMAND, "```", "",
              (f"Several photos go into a folder: `{RUN_MANY_COMMAND}`. "
               f"`{RUN_OPTIONS[0]}` (or `cuda`, `mps`; default `auto`) chooses where it runs; "
               f"`{RUN_OPTIONS[1]}` bounds the memory a large photo needs. "
               "`modelkb restore --help` lists every option."), ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class PhotoRow:
    """One photo's measurements as a model page's table shows them."""

    psnr: str
    detail: str
    skill: str


def _skill(record: GalleryRecord) -> str | None:
    """figures.skill_verdict's finding without its numbers: 'Mostly noise removal', ..."""
    verdict = figures.skill_verdict(record)
    if not verdict:
        return None
    return verdict.split(":", 1)[0].split(" (", 1)[0].rstrip(".")


_NOISE_REMOVAL = ("Noise removal", "Mostly noise removal")


@dataclass
class ResultsSummary:
    """What a model's gallery pictures measure against their sharp photos, across photos."""

    photos: int
    gains: dict[str, float]  # entry id -> PSNR gain (dB)
    detail: dict[str, tuple[float, float]]  # entry id -> fine detail (input, output)
    skills: dict[str, str]  # entry id -> figures.skill_verdict's finding
    rows: dict[str, PhotoRow]

    @classmethod
    def of(cls, results: list[tuple[str, GalleryRecord]]) -> ResultsSummary:
        gains, detail, skills, rows = {}, {}, {}, {}
        for entry_id, record in results:
            m = record.metrics
            ref, sharp = (m.reference, m.sharpness) if m else (None, None)
            if ref is None:
                continue
            if ref.gain.psnr is not None:
                gains[entry_id] = ref.gain.psnr
            if sharp is not None and sharp.relative_to_reference:
                detail[entry_id] = (sharp.input, sharp.restored)
            skill = _skill(record)
            if skill:
                skills[entry_id] = skill
            psnr = (f"{_db(ref.input.psnr)} → {_db(ref.restored.psnr)} dB"
                    + (f" ({ref.gain.psnr:+.2f})" if ref.gain.psnr is not None else ""))
            pair = detail.get(entry_id)
            rows[entry_id] = PhotoRow(psnr, f"{pair[0]:.2f} → {pair[1]:.2f}" if pair else "—",
                                      skill or "—")
        return cls(len(results), gains, detail, skills, rows)

    def markdown(self) -> list[str]:
        """The summary's paragraphs (Markdown lines)."""
        if not self.gains:
            return ["*None of these photos has a sharp original, so no gain is measured.*", ""]
        n = len(self.gains)
        values = list(self.gains.values())
        # the typical photo (the median: one very noisy photo cannot pull it), and the range
        typical = statistics.median(values)
        lines = [(f"**Across the {_count(n, 'photo')} with a sharp original**, the typical "
                  f"output is {_closer(typical)} than the input (the middle photo of the "
                  f"{n}; from {min(values):+.2f} dB on one to {max(values):+.2f} dB on "
                  "another)."
                  if n > 1 else
                  f"**On the one photo with a sharp original** the output is "
                  f"{_closer(typical)} than the input."), ""]
        if self.detail:
            fell = sum(b < a for a, b in self.detail.values())
            rose = len(self.detail) - fell
            lines += [(f"Fine detail, against the sharp photo's: it rose on {rose} of "
                       f"{len(self.detail)} photos and fell on {fell} (removing noise lowers "
                       "it, sharpening edges raises it; each photo's details table has the "
                       "figures)."), ""]
        if self.skills:
            lines += [self._verdict(), ""]
        return lines

    def _verdict(self) -> str:
        """The honest reading of the gain, as figures.skill_verdict words it per photo."""
        n = len(self.skills)
        found = list(self.skills.values())
        noise = sum(s in _NOISE_REMOVAL for s in found)
        sharper = found.count("Sharper")
        if noise * 2 > n:
            lead = (f"**The gain is mostly noise removal, not sharper edges.** On {noise} of {n} "
                    "photos it comes from removing noise: the output holds less fine detail "
                    "than the input, or the input is noisier than the sharp photo so the "
                    "measure cannot tell. Compare the pictures at 1:1.")
        elif sharper * 2 > n:
            lead = (f"**The gain comes from sharper edges.** On {sharper} of {n} photos the "
                    "output holds more fine detail than the input and is closer to the sharp "
                    "photo.")
        else:
            lead = "**The gain is mixed.**"
        counts = sorted({s: found.count(s) for s in found}.items(), key=lambda kv: -kv[1])
        return lead + " Per photo: " + "; ".join(f"{s.lower()} on {k}" for s, k in counts) + "."


def _closer(gain: float) -> str:
    """'1.13 dB closer to it' / '0.40 dB further from it' (the sharp photo)."""
    return (f"{gain:.2f} dB closer to it" if gain >= 0 else f"{-gain:.2f} dB further from it")


def _db(value: float | None) -> str:
    return "∞" if value is None else f"{value:.2f}"




def photo_title(caption: str) -> str:
    """A photo's short title: its caption up to the first colon."""
    return caption.split(":", 1)[0].strip()
