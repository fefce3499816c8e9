"""The catalog schema, loading and validation: every problem reported at once, with its line.

The schema is the pydantic models below; their field descriptions are also the text of the
published "Catalog reference" page, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from modelkb.errors import ModelkbError
from modelkb.yamlsrc import Located, Problem, SourceError, read_yaml

ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,78}[a-z0-9])?$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 100


def _check_id(value: str) -> str:
    if not ID_RE.match(value) or ".." in value:
        raise ValueError(
            "must be 1-80 characters of a-z, 0-9, '.', '_' and '-', starting and ending "
            "with a letter or digit, e.g. 'mssnet' or '2401.00261'")
    return value


def _check_slug(value: str) -> str:
    if len(value) > MAX_SLUG or not SLUG_RE.match(value):
        raise ValueError(
            "must be lowercase words of a-z and 0-9 joined by single hyphens, at most "
            f"{MAX_SLUG} characters, e.g. 'real-image-super-resolution-noise'")
    return value


def _check_url(value: str) -> str:
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// link")
    return value


def _check_relpath(value: str) -> str:
    p = Path(value)
    if not value or p.is_absolute() or value.startswith(("/", "\\")) or ".." in p.parts \
            or "\\" in value or ":" in value:
        raise ValueError("must be a plain path inside the gallery folder, without '..'")
    return value


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Id = Annotated[str, AfterValidator(_check_id)]
Slug = Annotated[str, AfterValidator(_check_slug)]
Url = Annotated[str, AfterValidator(_check_url)]
RelPath = Annotated[str, AfterValidator(_check_relpath)]
Text = Annotated[str, Field(min_length=1), AfterValidator(_check_text)]
Markdown = Annotated[str, AfterValidator(_check_text)]


class Entry(BaseModel):
    """Base of every catalog entry: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Task(Entry):
    """A task people want to perform (deblurring, super-resolution, ...)."""

    id: Id = Field(description="Stable identifier; the task's page is /tasks/<id>/.")
    name: Text = Field(description="Display name, plain text.")
    summary: Markdown = Field("", description="One or two sentences, Markdown without HTML.")


class WeightsSource(Entry):
    """Where a model's weights come from."""

    name: Text = Field(description="Display name, e.g. 'authors' RealBlur-J checkpoint'.")
    url: Url | None = Field(None, description="Download link (http/https), if public.")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="SHA-256 of the file, required for downloads.")
    provenance: Text = Field(description="Who trained it, on what data.")
    official: bool = Field(False, description="True for the paper authors' own release.")


class Model(Entry):
    """A model that answers can recommend."""

    id: Id = Field(description="Stable identifier; the model's page is /models/<id>/.")
    name: Text = Field(description="The model's name as recommended, e.g. Deblur-MSSNet-RealBlurJ.")
    task: Id = Field(description="The id of a task in `tasks`.")
    variant: Text | None = Field(None, description="Architecture variant, e.g. 'mssnet'.")
    paper: Url | None = Field(None, description="Link to the model's paper.")
    code: Url | None = Field(None, description="Link to the model's source code.")
    summary: Markdown = Field("", description="What the model does, Markdown without HTML.")
    weights: list[WeightsSource] = Field(default_factory=list,
                                         description="Known weights releases.")


class Paper(Entry):
    """A paper that answers can cite."""

    id: Id = Field(description="Stable identifier (the arXiv id for arXiv papers).")
    title: Text = Field(description="The paper's title, plain text.")
    link: Url = Field(description="Link to the paper (abstract or PDF).")
    code: Url | None = Field(None, description="Link to the paper's code, if any.")
    summary: Markdown = Field("", description="Abstract or summary, Markdown without HTML.")


class Tool(Entry):
    """A tool or library (code, not a model) that answers can cite."""

    id: Id = Field(description="Stable identifier; the tool's page is /tools/<id>/.")
    name: Text = Field(description="Display name, plain text.")
    link: Url = Field(description="Link to the tool (repository or homepage).")
    summary: Markdown = Field("", description="What the tool does, Markdown without HTML.")


class RestoreStep(Entry):
    """Workflow step: run a catalog model on the image."""

    op: Literal["restore"] = Field(description="`restore`.")
    model: Id = Field(description="The id of a model in `models`.")


class ResizeStep(Entry):
    """Workflow step: resize the image."""

    op: Literal["resize"] = Field(description="`resize`.")
    scale: Annotated[float, Field(gt=0, le=8)] = Field(
        description="Scale factor, e.g. 2 for 2x.")
    filter: Literal["lanczos", "bicubic", "bilinear", "nearest"] = Field(
        "lanczos", description="Resampling filter.")


Step = Annotated[RestoreStep | ResizeStep, Field(discriminator="op")]


class Workflow(Entry):
    """A named pipeline of steps, run at build time on gallery inputs."""

    id: Id = Field(description="Stable identifier.")
    name: Text = Field(description="Display name, plain text.")
    steps: list[Step] = Field(min_length=1, description="Steps in order (`op: restore|resize`).")


class Crop(Entry):
    """A zoomed crop to show side by side, in input pixels."""

    x: Annotated[int, Field(ge=0)] = Field(description="Left edge.")
    y: Annotated[int, Field(ge=0)] = Field(description="Top edge.")
    width: Annotated[int, Field(gt=0)] = Field(description="Width.")
    height: Annotated[int, Field(gt=0)] = Field(description="Height.")
    label: Text | None = Field(None, description="What the crop shows.")


class GalleryEntry(Entry):
    """A photo in the gallery folder, run through a workflow at build time."""

    id: Id = Field(description="Stable identifier; images are published under /gallery/<id>/.")
    input: RelPath = Field(description="Input image, relative to the gallery folder.")
    reference: RelPath | None = Field(None, description="Sharp reference image, if any.")
    workflow: Id = Field(description="The id of a workflow in `workflows`.")
    caption: Text = Field(description="Caption, plain text.")
    source: Text = Field(description="Where the photo comes from.")
    source_url: Url | None = Field(None, description="Link to the source.")
    licence: Text = Field(description="The photo's licence.")
    crops: list[Crop] = Field(default_factory=list, description="Zoomed crops to show.")


class Answer(Entry):
    """The answer to a question: three sections, Markdown without HTML."""

    summary: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="One line (at most 200 characters): the task, for link previews.")
    task: Markdown = Field(description="Section 1: what the person is trying to do.")
    workflow: Markdown = Field(
        description="Section 2: how the model works, input -> model -> output.")
    notes: dict[Id, Markdown] = Field(
        default_factory=dict,
        description="Section 3: for each recommended model, related paper and tool id, how it "
                    "bears on the question (say 'not directly relevant because ...' when so).")


class Question(Entry):
    """A question as asked, with the models and papers recommended for it, and its answer."""

    slug: Slug = Field(description="Stable URL part: the answer is at /answers/<slug>/.")
    question: Text = Field(description="The question exactly as asked, plain text.")
    task: Id = Field(description="The id of a task in `tasks`.")
    models: list[Id] = Field(default_factory=list, description="Recommended model ids.")
    papers: list[Id] = Field(default_factory=list, description="Related paper ids.")
    tools: list[Id] = Field(default_factory=list, description="Related tool ids.")
    workflow: Id | None = Field(None, description="Workflow shown in section 2.")
    gallery: list[Id] = Field(default_factory=list,
                              description="Gallery entries shown in section 2.")
    draft: bool = Field(False, description="Drafts build with a banner, outside home and exports.")
    answer: Answer = Field(description="The answer's three sections.")


SECTIONS: dict[str, type[Entry]] = {
    "tasks": Task,
    "models": Model,
    "papers": Paper,
    "tools": Tool,
    "workflows": Workflow,
    "gallery": GalleryEntry,
    "questions": Question,
}
KEY_FIELD = {name: ("slug" if name == "questions" else "id") for name in SECTIONS}
_ADAPTERS = {name: TypeAdapter(model) for name, model in SECTIONS.items()}


@dataclass
class Catalog:
    """The validated catalog: entries by id, in file order, plus the set of allowed URLs."""

    path: Path
    tasks: dict[str, Task] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    papers: dict[str, Paper] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    gallery: dict[str, GalleryEntry] = field(default_factory=dict)
    questions: dict[str, Question] = field(default_factory=dict)

    def entry(self, entry_id: str) -> tuple[str, Any] | None:
        """The (kind, entry) a ``[[id]]`` shortcode refers to, or None."""
        for kind in ("models", "papers", "tools", "tasks"):
            found = getattr(self, kind).get(entry_id)
            if found is not None:
                return kind, found
        return None

    def urls(self) -> set[str]:
        """Every URL the catalog itself lists: the only outside links answers may use."""
        found: set[str] = set()
        for m in self.models.values():
            found.update(u for u in (m.paper, m.code) if u)
            found.update(w.url for w in m.weights if w.url)
        for p in self.papers.values():
            found.update(u for u in (p.link, p.code) if u)
        for t in self.tools.values():
            found.add(t.link)
        for g in self.gallery.values():
            if g.source_url:
                found.add(g.source_url)
        return found

    def published_questions(self) -> list[Question]:
        """Questions that are not drafts, in catalog order."""
        return [q for q in self.questions.values() if not q.draft]


class CatalogError(ModelkbError):
    """The catalog has problems; ``problems`` lists each with its position."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the catalog:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


def load_catalog(path: Path | str, *, display: str | None = None) -> Catalog:
    """Load and validate ``path``; raise CatalogError listing every problem found."""
    path = Path(path)
    try:
        src = read_yaml(path, display=display or path.name)
    except SourceError as exc:
        raise CatalogError(exc.problems) from None
    return Validator(src, path).run()


class Validator:
    """Schema validation entry by entry, then the references between entries."""

    def __init__(self, src: Located, path: Path):
        self.src = src
        self.catalog = Catalog(path=path)
        self.problems: list[Problem] = []
        self.known_ids: dict[str, set[str]] = {name: set() for name in SECTIONS}

    def add(self, path: tuple, message: str, hint: str = "", *, key: bool = False,
            pos: tuple[int, int] | None = None) -> None:
        line, col = pos or self.src.where(path, key=key)
        self.problems.append(Problem(self.src.file, line, col, message, hint))

    def run(self) -> Catalog:
        data = self.src.data
        if not isinstance(data, dict):
            self.add((), "the catalog must be a mapping with sections such as 'models:'",
                     "start the file with 'models:', 'papers:' or 'questions:'")
            raise CatalogError(self.problems)
        for key in data:
            if key not in SECTIONS:
                self.add((key,), f"unknown section '{key}'",
                         f"use one of: {', '.join(SECTIONS)}", key=True)
        for name in SECTIONS:
            self.section(name, data.get(name))
        self.references()
        if self.problems:
            self.problems.sort(key=lambda p: (p.line, p.col))
            raise CatalogError(self.problems)
        return self.catalog

    def section(self, name: str, items: Any) -> None:
        if items is None:
            return
        if not isinstance(items, list):
            self.add((name,), f"'{name}' must be a list of entries", "start each entry with '- '")
            return
        key_field = KEY_FIELD[name]
        target: dict[str, Any] = getattr(self.catalog, name)
        for i, item in enumerate(items):
            path = (name, i)
            key = item.get(key_field) if isinstance(item, dict) else None
            if isinstance(key, str):
                if key in self.known_ids[name]:
                    self.add(path + (key_field,), f"duplicate {key_field} '{key}' in {name}",
                             f"each {key_field} must be unique; rename one")
                    key = None
                else:
                    self.known_ids[name].add(key)
            try:
                entry = _ADAPTERS[name].validate_python(item)
            except ValidationError as exc:
                for err in exc.errors():
                    self.schema_problem(path, err, name)
                continue
            if key is not None:
                target[key] = entry

    def schema_problem(self, path: tuple, err: dict, section: str) -> None:
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x in ("restore", "resize")
                                                  and err["type"] != "union_tag_invalid"))
        full = path + loc
        kind = err["type"]
        what = ".".join(str(x) for x in loc) or "entry"
        if kind == "extra_forbidden":
            model = SECTIONS[section]
            self.add(full, f"unknown key '{loc[-1]}'",
                     _known_keys_hint(model, loc), key=True)
        elif kind == "missing":
            noun = "gallery entry" if section == "gallery" else section[:-1]
            self.add(full[:-1], f"missing required key '{loc[-1]}'",
                     f"add '{loc[-1]}:' to this {noun}")
        elif kind == "value_error":
            msg = str(err.get("ctx", {}).get("error", err["msg"]))
            self.add(full, f"'{what}' {msg}", _value_hint(loc))
        elif kind == "union_tag_invalid":
            given = err.get("input")
            op = given.get("op") if isinstance(given, dict) else ""
            self.add(full, f"'{what}': unknown step '{op}'", "use op: restore or op: resize")
        elif kind == "union_tag_not_found":
            self.add(full, f"'{what}': a step needs 'op'", "use op: restore or op: resize")
        else:
            self.add(full, f"'{what}': {err['msg'].lower()}", _type_hint(kind))

    def references(self) -> None:
        cat = self.catalog
        linkable = {"models": cat.models, "papers": cat.papers, "tools": cat.tools,
                    "tasks": cat.tasks}
        owner: dict[str, str] = {}
        for kind in linkable:
            for i, item in _raw_entries(self.src.data, kind):  # a section may be any value
                if not isinstance(item.get("id"), str):
                    continue
                other = owner.get(item["id"])
                if other and other != kind:
                    self.add((kind, i, "id"), f"id '{item['id']}' is already used in {other}",
                             "ids are shared by models, papers, tools and tasks; rename one")
                owner.setdefault(item["id"], kind)

        def check(path: tuple, value: Any, kind: str) -> None:
            if isinstance(value, str) and value not in self.known_ids[kind]:
                choices = ", ".join(sorted(self.known_ids[kind])[:8]) or "none defined yet"
                noun = "gallery entry" if kind == "gallery" else kind[:-1]
                self.add(path, f"unknown {noun} '{value}'", f"known: {choices}")

        # References are checked on the raw data, so entries with schema errors are checked too.
        for i, m in _raw_entries(self.src.data, "models"):
            check(("models", i, "task"), m.get("task"), "tasks")
        for i, wf in _raw_entries(self.src.data, "workflows"):
            for j, step in enumerate(wf.get("steps") if isinstance(wf.get("steps"), list) else []):
                if isinstance(step, dict) and step.get("op") == "restore":
                    check(("workflows", i, "steps", j, "model"), step.get("model"), "models")
        for i, g in _raw_entries(self.src.data, "gallery"):
            check(("gallery", i, "workflow"), g.get("workflow"), "workflows")
        self.urls = self.catalog.urls()
        for i, q in _raw_entries(self.src.data, "questions"):
            self.question_references(("questions", i), q, check, tuple(linkable))

    def question_references(self, base: tuple, q: dict, check, linkable: tuple) -> None:
        """A question's ids, section-3 notes and the grounding of its answer's links."""
        from modelkb.answers import find_links  # late: answers imports this module

        check(base + ("task",), q.get("task"), "tasks")
        check(base + ("workflow",), q.get("workflow"), "workflows")
        cited: list[str] = []
        for field_name in ("models", "papers", "tools", "gallery"):
            refs = q.get(field_name)
            for j, ref in enumerate(refs if isinstance(refs, list) else []):
                check(base + (field_name, j), ref, field_name)
                if field_name != "gallery" and isinstance(ref, str) \
                        and ref in self.known_ids[field_name]:
                    cited.append(ref)
        answer = q.get("answer") if isinstance(q.get("answer"), dict) else {}
        notes = answer.get("notes") if isinstance(answer.get("notes"), dict) else {}
        if "answer" in q and q.get("draft") is not True:
            for ref in cited:
                if ref not in notes:
                    self.add(base + ("answer",), f"section 3 has no note for '{ref}'",
                             f"add '{ref}: how it bears on the question' under answer.notes")
        listed = [r for f in ("models", "papers", "tools")
                  for r in (q.get(f) if isinstance(q.get(f), list) else [])]
        for ref in notes:
            if ref not in listed:
                self.add(base + ("answer", "notes", ref),
                         f"note for '{ref}', which this question does not list",
                         "add it to the question's models, papers or tools, or drop the note",
                         key=True)
        texts = {("answer", key): answer.get(key) for key in ("task", "workflow")}
        texts.update({("answer", "notes", k): v for k, v in notes.items()})
        urls = self.urls
        for sub, text in texts.items():
            if not isinstance(text, str):
                continue
            path = base + sub
            for link in find_links(text):
                if link.kind == "shortcode":
                    if not any(link.target in self.known_ids[k] for k in linkable):
                        self.add(path, f"[[{link.target}]] names no model, paper, tool or task",
                                 "use the id of a catalog entry",
                                 pos=self.src.line_of_text(path, link.target))
                elif link.target not in urls:
                    self.add(path, f"link to '{link.target}', which the catalog does not list",
                             "answers may link only to catalog entries ([[id]]) and the URLs "
                             "of their models, papers and tools",
                             pos=self.src.line_of_text(path, link.target))


def _raw_entries(data: dict, section: str) -> list[tuple[int, dict]]:
    """(index, mapping) of each entry of a raw section that is a mapping."""
    items = data.get(section)
    return [(i, e) for i, e in enumerate(items if isinstance(items, list) else [])
            if isinstance(e, dict)]


def _known_keys_hint(model: type[Entry], loc: tuple) -> str:
    target: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = getattr(target, "model_fields", {}).get(part)
        if info is None:
            break
        ann = info.annotation
        inner = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type)
                 and issubclass(a, Entry)]
        if isinstance(ann, type) and issubclass(ann, Entry):
            target = ann
        elif inner:
            target = inner[0]
    fields = ", ".join(getattr(target, "model_fields", {}))
    return f"known keys here: {fields}" if fields else "remove it"


def _value_hint(loc: tuple) -> str:
    last = str(loc[-1]) if loc else ""
    if last in ("paper", "code", "link", "url", "source_url"):
        return "write the full https:// address"
    return ""


def _type_hint(kind: str) -> str:
    return {
        "string_type": "write text (quote it if it looks like a number or yes/no)",
        "list_type": "write a list, one '- item' per line",
        "dict_type": "write a mapping of 'key: value' lines",
        "model_type": "write a mapping of 'key: value' lines",
        "bool_type": "write true or false",
        "int_type": "write a whole number",
        "string_too_long": "shorten it",
    }.get(kind, "")
