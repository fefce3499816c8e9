"""Virtual pages made from the catalog: answers, models, papers, tools, tasks, reference."""

from __future__ import annotations

import html
import posixpath
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import MISSING, fields

from modelkb.catalog import SECTIONS, TYPE_NAMES, Catalog, Entry
from modelkb.catalog.markup import shortcode_extension
from modelkb.site.answers import (
    link_markdown,
    plain,
    reference_links,
    render_answer,
    render_links,
)
from modelkb.site.render import Renderer, plain_text, shortcode_link
from modelkb.site.sections import (
    ANSWERS,
    BY_FOLDER,
    PAGE_KINDS,
    REFERENCE_URI,
    TASKS,
)
from modelkb.site.urls import Urls

WorkflowRenderer = Callable[[object], str]
PageMeta = dict[str, tuple[str, str, bool]]  # src_uri -> (title, description, hidden)


def answer_uri(slug: str) -> str:
    """Source path of an answer page (published at /answers/<slug>/)."""
    return ANSWERS.page_uri(slug)


def entry_uri(kind: str, entry_id: str) -> str:
    """Source path of the page of an entry of ``kind`` (a model, a paper, ...)."""
    return PAGE_KINDS[kind].page_uri(entry_id)


class CitedBy:
    """Which answers cite each model, paper and tool, and which answers belong to each task
    (their own task, or the task of a model their workflow runs): built once, linear in the
    catalog."""

    def __init__(self, catalog: Catalog):
        self.by_id: dict[str, list[str]] = defaultdict(list)
        self.by_task: dict[str, list[str]] = defaultdict(list)
        self.via: dict[tuple[str, str], list[str]] = {}  # (task, slug) -> workflow's models
        for q in catalog.published_questions():
            for ref in dict.fromkeys([*q.models, *q.papers, *q.tools]):
                self.by_id[ref].append(q.slug)
            self.by_task[q.task].append(q.slug)
            workflow = catalog.workflows.get(q.workflow) if q.workflow else None
            for step in workflow.steps if workflow else ():
                model = catalog.models.get(getattr(step, "model", None) or "")
                if model is None or model.task == q.task:
                    continue
                if (model.task, q.slug) not in self.via:
                    self.by_task[model.task].append(q.slug)
                    self.via[(model.task, q.slug)] = []
                if model.id not in self.via[(model.task, q.slug)]:
                    self.via[(model.task, q.slug)].append(model.id)

    def task_answers(self, task_id: str, catalog: Catalog) -> list[str]:
        """Markdown list items of a task's answers; one that belongs through its workflow
        says which of its models does the task."""
        items = []
        for slug in self.by_task.get(task_id, []):
            item = f"- [{plain(catalog.questions[slug].question)}](/{answer_uri(slug)})"
            models = self.via.get((task_id, slug))
            if models:
                item += " — its workflow runs " + ", ".join(f"[[{m}]]" for m in models)
            items.append(item)
        return items


def make_resolver(catalog: Catalog, urls: Urls | None = None):
    """``[[id]]`` -> (URL of the entry's page relative to the page showing it, its title)."""
    urls = urls or Urls()

    def resolve(entry_id: str, page_uri: str) -> tuple[str, str] | None:
        found = catalog.entry(entry_id)
        if found is None:
            return None
        kind, entry = found
        return urls.link(entry_uri(kind, entry_id), page_uri), entry.title
    return resolve


def default_renderer(catalog: Catalog) -> Renderer:
    """A renderer with this repository's extensions (when no MkDocs config is at hand)."""
    return Renderer(make_resolver(catalog))


def summary_text(renderer: Renderer, text: str) -> str:
    """A Markdown field as plain text (its rendered, sanitised HTML without tags)."""
    return plain_text(renderer.markdown_to_html(text)) if text else ""


def build_pages(catalog: Catalog, workflow_md: WorkflowRenderer | None = None,
                extra_md: Callable[[str, str], str] | None = None,
                renderer: Renderer | None = None,
                meta: PageMeta | None = None,
                lead_md: Callable[[str, str], str] | None = None) -> dict[str, str]:
    """Every generated page as {src_uri: markdown}; ``meta`` gets each page's metadata.

    ``lead_md(kind, id)`` is what an entry's page shows first (a model's pictures; a task's
    come after its answers); ``extra_md(kind, id)`` what it shows after its summary (how
    to run a model, its weights)."""
    r = renderer or default_renderer(catalog)
    meta = {} if meta is None else meta
    cited = CitedBy(catalog)
    pages: dict[str, str] = {}
    for q in catalog.questions.values():
        uri = answer_uri(q.slug)
        pages[uri] = render_answer(q, catalog, r, workflow_md(q) if workflow_md else "")
        meta[uri] = (q.question, q.answer.summary, q.draft)
    pages[ANSWERS.index_uri] = _answers_index(catalog)
    meta[ANSWERS.index_uri] = (ANSWERS.title, "", False)
    for section in PAGE_KINDS.values():
        if section is ANSWERS:
            continue
        kind = section.kind
        for entry_id, entry in getattr(catalog, kind).items():
            uri = section.page_uri(entry_id)
            if section is TASKS:
                pages[uri] = _task_page(entry, catalog, cited, r,
                                        lead_md(kind, entry_id) if lead_md else "")
            else:
                extra = extra_md(kind, entry_id) if extra_md else ""
                lead = lead_md(kind, entry_id) if lead_md else ""
                pages[uri] = _entry_page(kind, entry, catalog, cited, extra, r, lead)
            meta[uri] = (entry.title, summary_text(r, entry.summary), False)
        pages[section.index_uri] = (_tasks_index(catalog, cited) if section is TASKS
                                    else _kind_index(kind, catalog, r))
        meta[section.index_uri] = (section.title, "", False)
    pages[REFERENCE_URI] = catalog_reference()
    meta[REFERENCE_URI] = ("Catalog reference", "", False)
    return pages


def answers_list(catalog: Catalog) -> str:
    """Markdown list of published answers (home page, answers index)."""
    items = [f"- [{plain(q.question)}](/{answer_uri(q.slug)}) — {plain(q.answer.summary)}"
             for q in catalog.published_questions()]
    return "\n".join(items) if items else "*No answers published yet.*"


def _answers_index(catalog: Catalog) -> str:
    lines = [f"# {ANSWERS.title}", "", answers_list(catalog), ""]
    drafts = [q for q in catalog.questions.values() if q.draft]
    if drafts:
        # Material's search leaves out a section whose heading has data-search-exclude.
        lines += ["## Drafts { data-search-exclude }", "",
                  *(f"- [{plain(q.question)}](/{answer_uri(q.slug)})" for q in drafts), ""]
    return "\n".join(lines)


def _entry_page(kind: str, entry: Entry, catalog: Catalog, cited: CitedBy, extra: str,
                renderer: Renderer, lead: str = "") -> str:
    uri = entry_uri(kind, entry.id)
    lines = [f"# {plain(entry.title)}", ""]
    facts: list[str] = []
    if kind == "models":
        facts.append(f"**Task:** [[{entry.task}]]")
        if entry.variant:
            facts.append(f"**Variant:** {plain(entry.variant)}")
    links = reference_links(kind, entry)
    if links:
        facts.append(f"**Links:** {render_links(links)}")
    lines += [f"{fact}  " for fact in facts] + [""]
    if lead:
        lines += [lead.strip(), ""]
    if entry.summary:
        lines += (["## What it is", ""] if lead else []) + [renderer.block(entry.summary, uri),
                                                             ""]
    if kind == "models" and entry.weights and not extra:  # the plugin's extra lists them
        lines += ["## Weights", ""]
        for w in entry.weights:
            url = f" — {link_markdown(w.url, 'download')}" if w.url else ""
            sha = f" — sha256 `{w.sha256}`" if w.sha256 else ""
            official = " (official)" if w.official else ""
            lines.append(f"- **{plain(w.name)}**{official}: {plain(w.provenance)}{url}{sha}")
        lines.append("")
    if extra:
        lines += [extra.strip(), ""]
    lines += ["## Cited by", ""]
    slugs = cited.by_id.get(entry.id, [])
    lines += [f"- [{plain(catalog.questions[s].question)}](/{answer_uri(s)})" for s in slugs] \
        or ["*No published answer cites it yet.*"]
    return "\n".join(lines) + "\n"


def _kind_index(kind: str, catalog: Catalog, renderer: Renderer) -> str:
    lines = [f"# {PAGE_KINDS[kind].title}", ""]
    entries = getattr(catalog, kind)
    lines += [f"- [[{eid}]]" + (f" — {plain(_first_sentence(summary_text(renderer, e.summary)))}"
                                if e.summary else "")
              for eid, e in entries.items()] or [f"*No {kind} in the catalog yet.*"]
    return "\n".join(lines) + "\n"


def _task_page(task, catalog: Catalog, cited: CitedBy, renderer: Renderer,
               pictures: str = "") -> str:
    lines = [f"# {plain(task.name)}", ""]
    if task.summary:
        lines += [renderer.block(task.summary, entry_uri("tasks", task.id)), ""]
    models = [m for m in catalog.models.values() if m.task == task.id]
    lines += ["## Models", ""] + ([f"- [[{m.id}]]" for m in models] or ["*None yet.*"]) + [""]
    lines += ["## Answers", ""]
    lines += cited.task_answers(task.id, catalog) or ["*None yet.*"]
    if pictures:
        lines += ["", "## What its models did", "", pictures.strip()]
    return "\n".join(lines) + "\n"


def _tasks_index(catalog: Catalog, cited: CitedBy) -> str:
    lines = [f"# {TASKS.title}", ""]
    for task in catalog.tasks.values():
        lines += [f"## {plain(task.name)}", "", f"[[{task.id}]]", ""]
        lines += cited.task_answers(task.id, catalog) or ["*No answers yet.*"]
        lines.append("")
    return "\n".join(lines)


_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "et al.", "vs.", "cf.", "approx.", "Fig.", "No.")


def _first_sentence(text: str) -> str:
    """The first sentence (20-200 characters), not cut at abbreviations such as 'e.g.'."""
    text = " ".join(text.split())
    for m in re.finditer(r"[.!?](?=\s|$)", text):
        end = m.end()
        if end < 20:
            continue
        if end > 200:
            break
        if text[:end].endswith(_ABBREVIATIONS):
            continue
        following = text[end:].lstrip()
        if following and not (following[0].isupper() or following[0].isdigit()):
            continue  # "... 2.5 times", "... the e.g. list": no sentence start follows
        return text[:end]
    if len(text) <= 200:
        return text
    return text[:199].rsplit(" ", 1)[0].rstrip(",;:") + "…"


# One YAML example per part of the Catalog reference. The top-level ones together make a valid
# catalog, and each nested one validates as its entries (tests/test_pages_text.py checks both
# with the catalog's own validation). Lines stay short: they are read on phones.
REFERENCE_EXAMPLES: dict[str, str] = {
    "tasks": """\
tasks:
  - id: image-deblurring
    name: Image deblurring
    summary: >-
      Removing blur, such as camera
      shake, from a photo.
""",
    "models": """\
models:
  - id: deblur-mssnet-realblurj
    name: Deblur-MSSNet-RealBlurJ
    task: image-deblurring
    architecture: mssnet
    variant: mssnet
    code: https://github.com/kky7/MSSNet
    summary: >-
      Removes camera-shake blur,
      coarse to fine.
    weights:
      - name: Authors' RealBlur-J
        url: https://example.org/w.zip
        member: mssnet/realblurj.pt
        provenance: The paper's authors
""",
    "papers": """\
papers:
  - id: "2401.00261"
    title: A paper's title
    link: https://arxiv.org/abs/2401.00261
    summary: Its abstract, *Markdown*.
""",
    "tools": """\
tools:
  - id: pillow
    name: Pillow
    link: https://python-pillow.org/
    summary: Image files in Python.
""",
    "workflows": """\
workflows:
  - id: deblur-then-2x
    name: Deblur, then enlarge 2x
    steps:
      - op: restore
        model: deblur-mssnet-realblurj
      - op: resize
        scale: 2
""",
    "gallery": """\
gallery:
  - id: portrait
    input: portrait_blurred.jpg
    reference: portrait_sharp.png
    workflow: deblur-then-2x
    caption: A portrait in daylight
    source: Taken by the site's owner
    licence: CC0
    crops:
      - {x: 40, y: 30, width: 120,
         height: 120, label: face}
""",
    "questions": """\
questions:
  - slug: deblur-a-shaky-photo
    question: How do I fix a shaky photo?
    task: image-deblurring
    models: [deblur-mssnet-realblurj]
    papers: ["2401.00261"]
    tools: [pillow]
    workflow: deblur-then-2x
    answer:
      summary: Deblurring a shaky photo.
      task: You want a sharp photo.
      workflow: >-
        [[deblur-mssnet-realblurj]]
        removes the blur, then a
        resize enlarges it.
      notes:
        deblur-mssnet-realblurj: >-
          The model to run.
        "2401.00261": >-
          Not directly relevant
          because ...
        pillow: Reads the photo.
""",
    "retired": """\
retired:
  - url: /answers/old-slug/
    redirect: /answers/new-slug/
  - url: /models/old-model/
    note: >-
      Withdrawn by its authors.
""",
    "answer (in questions)": """\
answer:
  summary: Deblurring a shaky photo.
  task: You want a sharp photo.
  workflow: >-
    [[deblur-mssnet-realblurj]]
    removes the blur.
  notes:
    deblur-mssnet-realblurj: >-
      The model to run.
""",
    "weights (in models)": """\
weights:
  - name: Authors' RealBlur-J
    url: https://example.org/w.zip
    member: mssnet/realblurj.pt
    provenance: >-
      The paper's authors, on
      RealBlur-J pairs
    licence: MIT
    official: true
""",
    "step `op: restore` (in workflows)": """\
steps:
  - op: restore
    model: deblur-mssnet-realblurj
""",
    "step `op: resize` (in workflows)": """\
steps:
  - op: resize
    scale: 2
    filter: bicubic
""",
    "crops (in gallery)": """\
crops:
  - x: 40
    y: 30
    width: 120
    height: 120
    label: face
""",
}


def reference_parts() -> list[tuple[str, type[Entry]]]:
    """The Catalog reference's parts in page order: (heading, entry class)."""
    from modelkb.catalog import Answer, Crop, ResizeStep, RestoreStep, WeightsEntry

    parts: list[tuple[str, type[Entry]]] = list(SECTIONS.items())
    parts += [("answer (in questions)", Answer), ("weights (in models)", WeightsEntry),
              ("step `op: restore` (in workflows)", RestoreStep),
              ("step `op: resize` (in workflows)", ResizeStep), ("crops (in gallery)", Crop)]
    return parts


def catalog_reference() -> str:
    """The "Catalog reference" page, generated from the schema's own field descriptions.

    Each part is a heading, the entry's docstring, a list of its keys (a definition list that
    is two columns on a wide screen and stacked on a phone: see assets/reference.css) and a
    YAML example from REFERENCE_EXAMPLES.
    """
    parts = reference_parts()
    lines = [
        "# Catalog reference", "",
        ("`catalog.yml` is the single source of truth of this site. It is a YAML mapping "
         "with the sections below, each a list of entries. Unknown keys are errors; every "
         "problem is reported with its line (`catalog.yml:LINE:COL: what (hint)`). Text "
         "fields marked *Markdown* accept Markdown but never raw HTML; links in answers may "
         "point only at catalog entries (`[[id]]`) and at the URLs the catalog lists."), "",
        "Run `modelkb check` to validate the file without building the site.", "",
        "Sections: " + " · ".join(
            f"[{name}](#{_heading_anchor(name)})" for name, _ in parts if name in SECTIONS)
        + ". Inside them: " + " · ".join(
            f"[{name.split(' (')[0].replace('`', '')}](#{_heading_anchor(name)})"
            for name, _ in parts if name not in SECTIONS) + ".", "",
    ]
    for name, model in parts:
        lines += [f"## `{name}`" if " " not in name else f"## {name}", "",
                  '<div class="mkb-ref">',
                  f"<p>{_trusted_html((model.__doc__ or '').strip())}</p>",
                  '<dl class="mkb-ref__keys">']
        for f in fields(model):
            required = f.default is MISSING and f.default_factory is MISSING
            lines.append(
                '<div class="mkb-ref__key">'
                f"<dt><code>{html.escape(f.name)}</code>"
                + ('<span class="mkb-ref__need mkb-ref__need--required">required</span>'
                   if required else '<span class="mkb-ref__need">optional</span>')
                + "</dt>"
                f'<dd><span class="mkb-ref__type">{_type_name(str(f.type))}</span> '
                f"{_trusted_html(f.metadata.get('description', ''))}</dd></div>")
        example = REFERENCE_EXAMPLES[name].rstrip("\n")
        lines += ["</dl>", '<p class="mkb-ref__example-title">Example</p>',
                  '<pre class="mkb-ref__example"><code class="language-yaml">'
                  + _no_shortcodes(html.escape(example, quote=False)) + "</code></pre>",
                  "</div>", ""]
    return "\n".join(lines)


def _heading_anchor(name: str) -> str:
    """The id the toc extension gives the heading of part ``name``."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


def _no_shortcodes(text: str) -> str:
    """HTML text whose '[[id]]' stays text (the page's shortcode pass would link it)."""
    return text.replace("[", "&#91;").replace("]", "&#93;")


def _trusted_html(text: str) -> str:
    """Our own schema text as HTML: `backticks` become code, everything else is text."""
    escaped = html.escape(" ".join(text.split()), quote=False)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _plural(word: str) -> str:
    if word.endswith("entry"):
        return word[:-1] + "ies"
    return word if word.endswith("s") else word + "s"


def _type_name(annotation: str) -> str:
    """A field's annotation in plain words, as HTML: 'list[WeightsEntry] | None' -> 'list of
    weights entries' (whether a key may be left out is shown beside it, not here)."""
    text = annotation.replace(" | None", "").strip()
    entries = {cls.__name__: name for name, cls in reference_parts()}

    def words(name: str, plural: bool = False) -> str:
        if name in entries:
            label = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower()
            label = _plural(label) if plural else label
            return f'<a href="#{_heading_anchor(entries[name])}">{html.escape(label)}</a>'
        label = TYPE_NAMES.get(name, name)
        return html.escape(_plural(label) if plural else label)

    if m := re.fullmatch(r"list\[(\w+)\]", text):
        return "list of " + words(m.group(1), plural=True)
    if m := re.fullmatch(r"dict\[(\w+), (\w+)\]", text):
        return f"mapping of {words(m.group(1))} to {words(m.group(2))}"
    if m := re.fullmatch(r"Literal\[(.*)\]", text):
        values = [f"<code>{html.escape(v)}</code>" for v in re.findall(r"'([^']*)'", m.group(1))]
        return "always " + values[0] if len(values) == 1 else "one of " + ", ".join(values)
    return words(text)


def page_shortcodes(catalog: Catalog, page_uri: Callable[[], str],
                    on_unknown: Callable[[str], None]):
    """The ``[[id]]`` extension for the site's own pages (docs/ and the generated ones) as
    MkDocs reads them: a link to the source of the entry's page, relative to the page being
    read (``page_uri()``), which MkDocs turns into its URL as it does every page link."""

    def resolve(entry_id: str) -> tuple[str, str] | None:
        found = catalog.entry(entry_id)
        if found is None:
            return None
        kind, entry = found
        page_dir = posixpath.dirname(page_uri())
        up = "../" * (page_dir.count("/") + 1) if page_dir else ""  # back to the docs root
        return shortcode_link(f"{up}{entry_uri(kind, entry_id)}", entry.title)

    return shortcode_extension(resolve, on_unknown)


def absolute_links_to_relative(markdown: str, page_uri: str) -> str:
    """Rewrite our generated ``(/answers/x.md)`` links relative to the page (MkDocs needs it)."""
    page_dir = posixpath.dirname(page_uri) or "."

    def fix(m: re.Match) -> str:
        return "](" + posixpath.relpath(m.group(1), page_dir) + ")"

    return _GENERATED_LINK_RE.sub(fix, markdown)


_GENERATED_LINK_RE = re.compile(
    r"\]\(/((?:" + "|".join([*BY_FOLDER, REFERENCE_URI.split("/")[0]])
    + r")/[^)\s]+\.md|model-card\.md)\)")
