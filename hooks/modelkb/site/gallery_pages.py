"""Gallery results on pages: section 2 of answers, the gallery page, the weights on model pages.

These read a finished :class:`~modelkb.gallery.records.GalleryReport` (or None when the
catalog has no gallery) and return Markdown with the HTML fragments of
:mod:`modelkb.site.figures`.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelkb.catalog import Catalog, Question
from modelkb.site import figures
from modelkb.site.answers import front_matter, plain
from modelkb.site.pages import answer_uri


@dataclass
class GalleryView:
    """What the pages need to show gallery results: the catalog and the run's report."""

    catalog: Catalog
    report: object | None  # modelkb.gallery.records.GalleryReport
    use_directory_urls: bool = True

    def entries_for(self, q: Question) -> list[str]:
        """Gallery entries shown in a question's section 2: its own list, else its workflow's."""
        if q.gallery:
            return list(q.gallery)
        if q.workflow:
            return [g.id for g in self.catalog.gallery.values() if g.workflow == q.workflow]
        return []

    def entry_figure(self, entry_id: str, page_dir: str) -> str:
        """The figure of one gallery entry as seen from a page served from ``page_dir``."""
        entry = self.catalog.gallery[entry_id]
        workflow = self.catalog.workflows[entry.workflow]
        report = self.report
        result = report.results.get(entry_id) if report else None
        failure = next((f.reason for f in report.failures if f.entry == entry_id), None) \
            if report else None
        return figures.result_block(entry, workflow, result.record if result else None,
                                    self.catalog, page_dir, failure)

    def workflow_md(self, q: Question) -> str:
        """Section 2's pictures: for each gallery entry, nodes, comparison, crops, metrics."""
        page_dir = figures.page_url_dir(answer_uri(q.slug), self.use_directory_urls)
        return "\n\n".join(self.entry_figure(entry_id, page_dir)
                           for entry_id in self.entries_for(q))

    def model_weights_md(self, kind: str, entry_id: str, has_model_card: bool) -> str:
        """On a model's page: the weights this build ran it with, and how to use others."""
        if kind != "models":
            return ""
        restoring = {wf.id for wf in self.catalog.workflows.values()
                     if any(getattr(step, "model", None) == entry_id for step in wf.steps)}
        if not restoring:
            return ""
        results = self.report.results.values() if self.report else ()
        used = {(r.record.weights.provenance, r.record.weights.sha256, r.record.variant)
                for r in results if r.record.weights and r.record.workflow in restoring}
        lines = ["## Weights used on this site", ""]
        if used:
            for provenance, sha, variant in sorted(used, key=str):
                lines.append(f"- `{variant}` weights, {plain(provenance)}; sha256 `{sha}`")
        else:
            lines.append("*No gallery image was computed with this model in this build.*")
        lines.append("")
        if has_model_card:
            lines += [("The shipped weights, their training data and measured quality are "
                       "described in the [model card](/model-card.md)."), ""]
        lines += [
            ("To build the gallery with another checkpoint, such as the authors' own RealBlur-J "
             "release (a file like `model_03000E.pt`, linked from the authors' code "
             "repository), download it yourself and point the build at it, by path or by URL "
             "pinned with its sha256:"), "",
            "```yaml", "extra:", "  modelkb:", "    weights: path/to/model_03000E.pt",
            "    # or: https://host/file.pt#sha256=<64 hex digits>", "```", "",
            ("or set the environment variable `MODELKB_WEIGHTS`. The variant is inferred from "
             "the checkpoint's shapes, and every gallery image then names the weights that "
             "made it."), ""]
        return "\n".join(lines)

    def gallery_page(self) -> str:
        """The gallery page: every result, with the answers that show it."""
        uri = f"{figures.GALLERY_DIR}/index.md"
        page_dir = figures.page_url_dir(uri, self.use_directory_urls)
        lines = front_matter("Gallery",
                             "Every workflow result, computed when this site was built.")
        lines += ["# Gallery", "", ("Every picture here was produced when this site was built, "
                  "by running the workflow shown on the photo in `gallery_src/`."), ""]
        if not self.catalog.gallery:
            lines += ["*The catalog has no gallery entries yet.*", ""]
        for entry in self.catalog.gallery.values():
            lines += [f"## {plain(entry.caption)}", ""]
            lines += [self.entry_figure(entry.id, page_dir), ""]
            shown = [q for q in self.catalog.published_questions()
                     if entry.id in self.entries_for(q)]
            if shown:
                lines += ["Shown in: " + ", ".join(
                    f"[{plain(q.question)}](/{answer_uri(q.slug)})" for q in shown), ""]
        return "\n".join(lines)
