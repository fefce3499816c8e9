"""The catalog schema, loading and validation: every problem reported at once, with its line.

The schema is the frozen dataclasses below, validated by pydantic; their field descriptions
are also the text of the published "Catalog reference" page, so the documentation cannot
drift from the code.

pydantic is imported only to validate. A catalog that validated once is kept as a
*snapshot* (plain JSON of the validated entries, keyed by the file's bytes and this
package's validation code) in the build cache; a rebuild whose catalog did not change loads
the snapshot instead, which is most of what keeps a cached rebuild as cheap as plain MkDocs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from modelkb.errors import ModelkbError
from modelkb.yamlsrc import Located, Problem, SourceError, read_yaml

log = logging.getLogger("mkdocs.plugins.modelkb")

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


def _f(description: str, default: Any = MISSING, factory: Any = MISSING) -> Any:
    """A field with its description (published on the Catalog reference page)."""
    return field(default=default, default_factory=factory, metadata={"description": description})


if TYPE_CHECKING:  # what type checkers see; _schema() defines the validating versions
    Id = Slug = Url = RelPath = Text = Markdown = Summary = Sha256 = str
    Bool = bool
    NonNegInt = PosInt = int
    Scale = float
    Steps = list["RestoreStep | ResizeStep"]

# Every entry is a frozen, keyword-only dataclass. Annotations name the validated types
# (Id, Text, Url, ...) that _schema() defines when a catalog is validated, so a build that
# reuses a validated snapshot never imports pydantic.
_entry = dataclass(frozen=True, kw_only=True)


@_entry
class Entry:
    """Base of every catalog entry: unknown keys are errors, values are not coerced."""

    __pydantic_config__ = {"extra": "forbid"}  # read by pydantic when validating


@_entry
class Task(Entry):
    """A task people want to perform (deblurring, super-resolution, ...)."""

    id: Id = _f("Stable identifier; the task's page is /tasks/<id>/.")
    name: Text = _f("Display name, plain text.")
    summary: Markdown = _f("One or two sentences, Markdown without HTML.", "")


@_entry
class WeightsSource(Entry):
    """Where a model's weights come from."""

    name: Text = _f("Display name, e.g. 'authors' RealBlur-J checkpoint'.")
    url: Url | None = _f("Download link (http/https), if public.", None)
    sha256: Sha256 | None = _f("SHA-256 of the file, required for downloads.", None)
    provenance: Text = _f("Who trained it, on what data.")
    official: Bool = _f("True for the paper authors' own release.", False)


@_entry
class Model(Entry):
    """A model that answers can recommend."""

    id: Id = _f("Stable identifier; the model's page is /models/<id>/.")
    name: Text = _f("The model's name as recommended, e.g. Deblur-MSSNet-RealBlurJ.")
    task: Id = _f("The id of a task in `tasks`.")
    variant: Text | None = _f("Architecture variant, e.g. 'mssnet'.", None)
    paper: Url | None = _f("Link to the model's paper.", None)
    code: Url | None = _f("Link to the model's source code.", None)
    summary: Markdown = _f("What the model does, Markdown without HTML.", "")
    weights: list[WeightsSource] = _f("Known weights releases.", factory=list)


@_entry
class Paper(Entry):
    """A paper that answers can cite."""

    id: Id = _f("Stable identifier (the arXiv id for arXiv papers).")
    title: Text = _f("The paper's title, plain text.")
    link: Url = _f("Link to the paper (abstract or PDF).")
    code: Url | None = _f("Link to the paper's code, if any.", None)
    summary: Markdown = _f("Abstract or summary, Markdown without HTML.", "")


@_entry
class Tool(Entry):
    """A tool or library (code, not a model) that answers can cite."""

    id: Id = _f("Stable identifier; the tool's page is /tools/<id>/.")
    name: Text = _f("Display name, plain text.")
    link: Url = _f("Link to the tool (repository or homepage).")
    summary: Markdown = _f("What the tool does, Markdown without HTML.", "")


@_entry
class RestoreStep(Entry):
    """Workflow step: run a catalog model on the image."""

    op: Literal["restore"] = _f("`restore`.")
    model: Id = _f("The id of a model in `models`.")


@_entry
class ResizeStep(Entry):
    """Workflow step: resize the image."""

    op: Literal["resize"] = _f("`resize`.")
    scale: Scale = _f("Scale factor, e.g. 2 for 2x.")
    filter: Literal["lanczos", "bicubic", "bilinear", "nearest"] = _f(
        "Resampling filter.", "lanczos")


STEPS = {"restore": RestoreStep, "resize": ResizeStep}  # a step's class by its op


@_entry
class Workflow(Entry):
    """A named pipeline of steps, run at build time on gallery inputs."""

    id: Id = _f("Stable identifier.")
    name: Text = _f("Display name, plain text.")
    steps: Steps = _f("Steps in order (`op: restore|resize`).")


@_entry
class Crop(Entry):
    """A zoomed crop to show side by side, in input pixels."""

    x: NonNegInt = _f("Left edge.")
    y: NonNegInt = _f("Top edge.")
    width: PosInt = _f("Width.")
    height: PosInt = _f("Height.")
    label: Text | None = _f("What the crop shows.", None)


@_entry
class GalleryEntry(Entry):
    """A photo in the gallery folder, run through a workflow at build time."""

    id: Id = _f("Stable identifier; images are published under /gallery/<id>/.")
    input: RelPath = _f("Input image, relative to the gallery folder.")
    reference: RelPath | None = _f("Sharp reference image, if any.", None)
    workflow: Id = _f("The id of a workflow in `workflows`.")
    caption: Text = _f("Caption, plain text.")
    source: Text = _f("Where the photo comes from.")
    source_url: Url | None = _f("Link to the source.", None)
    licence: Text = _f("The photo's licence.")
    crops: list[Crop] = _f("Zoomed crops to show.", factory=list)


@_entry
class Answer(Entry):
    """The answer to a question: three sections, Markdown without HTML."""

    summary: Summary = _f("One line (at most 200 characters): the task, for link previews.")
    task: Markdown = _f("Section 1: what the person is trying to do.")
    workflow: Markdown = _f("Section 2: how the model works, input -> model -> output.")
    notes: dict[Id, Markdown] = _f(
        "Section 3: for each recommended model, related paper and tool id, how it bears on "
        "the question (say 'not directly relevant because ...' when so).", factory=dict)


@_entry
class Question(Entry):
    """A question as asked, with the models and papers recommended for it, and its answer."""

    slug: Slug = _f("Stable URL part: the answer is at /answers/<slug>/.")
    question: Text = _f("The question exactly as asked, plain text.")
    task: Id = _f("The id of a task in `tasks`.")
    models: list[Id] = _f("Recommended model ids.", factory=list)
    papers: list[Id] = _f("Related paper ids.", factory=list)
    tools: list[Id] = _f("Related tool ids.", factory=list)
    workflow: Id | None = _f("Workflow shown in section 2.", None)
    gallery: list[Id] = _f("Gallery entries shown in section 2.", factory=list)
    draft: Bool = _f("Drafts build with a banner, outside home and exports.", False)
    answer: Answer = _f("The answer's three sections.")


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

# What each validated type name in the annotations above means, for the Catalog reference.
TYPE_NAMES = {
    "Id": "id", "Slug": "slug", "Url": "URL", "RelPath": "path", "Text": "text",
    "Markdown": "Markdown", "Summary": "text (≤ 200)", "Sha256": "SHA-256 hex", "Bool": "bool",
    "NonNegInt": "int ≥ 0", "PosInt": "int > 0", "Scale": "number (0, 8]",
    "Steps": "list[step]",
}

_SCHEMA: dict[str, Any] = {}


def _schema() -> dict[str, Any]:
    """pydantic's validators for the sections (built once per process, on first use).

    The annotations of the dataclasses name types (Id, Text, ...) that are defined here, with
    pydantic, and added to this module's namespace, where pydantic resolves them.
    """
    if _SCHEMA:
        return _SCHEMA
    from typing import Annotated

    from pydantic import AfterValidator, Field, Strict, TypeAdapter, ValidationError

    strict_str = Annotated[str, Strict()]
    text_check = AfterValidator(_check_text)
    step = Annotated[RestoreStep | ResizeStep, Field(discriminator="op")]
    types = {
        "Id": Annotated[strict_str, AfterValidator(_check_id)],
        "Slug": Annotated[strict_str, AfterValidator(_check_slug)],
        "Url": Annotated[strict_str, AfterValidator(_check_url)],
        "RelPath": Annotated[strict_str, AfterValidator(_check_relpath)],
        "Text": Annotated[strict_str, Field(min_length=1), text_check],
        "Markdown": Annotated[strict_str, text_check],
        "Summary": Annotated[strict_str, Field(min_length=1, max_length=200)],
        "Sha256": Annotated[strict_str, Field(pattern=r"^[0-9a-f]{64}$")],
        "Bool": Annotated[bool, Strict()],
        "NonNegInt": Annotated[int, Strict(), Field(ge=0)],
        "PosInt": Annotated[int, Strict(), Field(gt=0)],
        "Scale": Annotated[float, Strict(), Field(gt=0, le=8)],
        "Steps": Annotated[list[step], Field(min_length=1)],
    }
    assert set(types) == set(TYPE_NAMES)
    globals().update(types)
    adapters = {cls: TypeAdapter(cls) for cls in ENTRY_CLASSES}
    _SCHEMA.update(adapters=adapters, error=ValidationError)
    return _SCHEMA


def validate_entry(cls: type[E], data: Any) -> E:
    """``data`` validated as one ``cls`` entry (raises pydantic's ValidationError)."""
    return _schema()["adapters"][cls].validate_python(data)


ENTRY_CLASSES: tuple[type[Entry], ...] = (
    Task, WeightsSource, Model, Paper, Tool, RestoreStep, ResizeStep, Workflow, Crop,
    GalleryEntry, Answer, Question)
E = TypeVar("E", bound=Entry)


def _nested_entries(cls: type[Entry], name: str) -> tuple[type[Entry], ...]:
    """The entry classes a field of ``cls`` holds (one, or a list of them), else ()."""
    annotation = next(f.type for f in fields(cls) if f.name == name)
    words = set(re.findall(r"\w+", str(annotation)))
    if "Steps" in words:
        return tuple(STEPS.values())
    return tuple(c for c in ENTRY_CLASSES if c.__name__ in words)


def entry_from_data(cls: type[E], data: dict[str, Any]) -> E:
    """Rebuild an entry from the JSON of one that was validated (no validation, no pydantic)."""
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        inner = _NESTED[cls].get(f.name)
        if inner:
            value = ([_nested_from_data(inner, x) for x in value] if isinstance(value, list)
                     else _nested_from_data(inner, value))
        values[f.name] = value
    return cls(**values)


def _nested_from_data(inner: tuple[type[Entry], ...], item: dict[str, Any]) -> Entry:
    """One nested entry: a step's class is chosen by its op, as pydantic's discriminator does."""
    return entry_from_data(STEPS[item["op"]] if len(inner) > 1 else inner[0], item)


# For each entry class, its fields that hold entries: field name -> the possible classes.
_NESTED = {cls: {f.name: inner for f in fields(cls) if (inner := _nested_entries(cls, f.name))}
           for cls in ENTRY_CLASSES}


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


def load_catalog(path: Path | str, *, display: str | None = None,
                 snapshot_dir: Path | None = None) -> Catalog:
    """Load and validate ``path``; raise CatalogError listing every problem found.

    With ``snapshot_dir``, a catalog whose bytes validated before is loaded from its
    snapshot there (no YAML parsing, no pydantic), and a newly validated one is saved.
    """
    path = Path(path)
    name = display or path.name
    try:
        raw = path.read_bytes()
    except OSError:
        raw = None  # read_yaml reports it
    key = _snapshot_key(raw) if raw is not None and snapshot_dir is not None else None
    if key is not None:
        catalog = _load_snapshot(snapshot_dir / f"{key}.json", path)
        if catalog is not None:
            return catalog
    try:
        src = read_yaml(path, display=name, raw=raw)
    except SourceError as exc:
        raise CatalogError(exc.problems) from None
    catalog = Validator(src, path).run()
    if key is not None:
        _save_snapshot(snapshot_dir, key, catalog)
    return catalog


SNAPSHOT_FORMAT = 1
SNAPSHOTS_KEPT = 8
_code_hash: list[str] = []


def _snapshot_key(raw: bytes) -> str:
    """SHA-256 of the catalog's bytes and of the code that validates it."""
    if not _code_hash:
        digest = hashlib.sha256(f"modelkb catalog snapshot {SNAPSHOT_FORMAT}".encode())
        here = Path(__file__).parent
        for module in ("catalog.py", "yamlsrc.py", "answers.py"):  # the validation code
            digest.update((here / module).read_bytes())
        _code_hash.append(digest.hexdigest())
    return hashlib.sha256(_code_hash[0].encode() + raw).hexdigest()


def _load_snapshot(file: Path, path: Path) -> Catalog | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        catalog = Catalog(path=path)
        for name, cls in SECTIONS.items():
            target = getattr(catalog, name)
            for item in data["sections"][name]:
                target[item[KEY_FIELD[name]]] = entry_from_data(cls, item)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.debug("catalog snapshot %s unusable (%s); validating the catalog", file, exc)
        return None
    return catalog


def _save_snapshot(folder: Path, key: str, catalog: Catalog) -> None:
    """Write the snapshot atomically; keep the newest few; never fail the build over it."""
    data = {"format": SNAPSHOT_FORMAT,
            "sections": {name: [asdict(e) for e in getattr(catalog, name).values()]
                         for name in SECTIONS}}
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, folder / f"{key}.json")
        older = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in older[SNAPSHOTS_KEPT:]:
            stale.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("catalog snapshot not saved in %s: %s", folder, exc)
        tmp.unlink(missing_ok=True)


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
        schema = _schema()
        adapter = schema["adapters"][SECTIONS[name]]
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
                entry = adapter.validate_python(item)
            except schema["error"] as exc:
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
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            model = SECTIONS[section]
            self.add(full, f"unknown key '{loc[-1]}'",
                     _known_keys_hint(model, tuple(err["loc"])), key=True)
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
    """The keys allowed where ``loc`` (pydantic's error location, step tags included) ends."""
    candidates: tuple[type[Entry], ...] = (model,)
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if part in STEPS and STEPS[part] in candidates:  # the step kind pydantic picked
            candidates = (STEPS[part],)
        elif len(candidates) == 1 and part in {f.name for f in fields(candidates[0])}:
            candidates = _NESTED[candidates[0]].get(part, ())
        else:
            candidates = ()
            break
    if len(candidates) != 1:
        return "remove it"
    return f"known keys here: {', '.join(f.name for f in fields(candidates[0]))}"


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
        "dataclass_type": "write a mapping of 'key: value' lines",
        "bool_type": "write true or false",
        "int_type": "write a whole number",
        "string_too_long": "shorten it",
    }.get(kind, "")
