"""The catalog schema: frozen entry dataclasses whose field descriptions are the published
"Catalog reference", the validated types behind their annotations, and :class:`Catalog`.

pydantic reads every entry, from catalog.yml and from a validated snapshot
(:mod:`modelkb.catalog.snapshot`) alike: :func:`validate_entry`. It is imported on first use
(see :func:`_schema`), so importing the schema stays cheap.
"""

from __future__ import annotations

import logging
import re
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args, get_type_hints

from modelkb.catalog.kinds import BY_FOLDER, LINKED
from modelkb.catalog.yamlsrc import Problem
from modelkb.errors import ModelkbError
from modelkb.pixels import registry

log = logging.getLogger(__name__)

ID_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,78}[a-z0-9])?\Z")
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
MAX_SLUG = 100
# A gallery entry's zoomed crops (here, not in limits.py, so that a change re-validates
# catalogs: the snapshot key hashes this module).
MAX_CROPS = 8
MAX_CROPS_AREA = 500_000  # input pixels all of an entry's crops cover together (8 of 250x250)
# Names the site itself uses for pages and folders (at the root and in each section folder):
# an id or slug equal to one of them, before its first '.', ignoring case, is refused.
RESERVED_NAMES = frozenset({
    "index", "site", "assets", "search", "gallery", "404", "reference", "sitemap", "catalog",
    "robots", "favicon", *BY_FOLDER})
# C0 controls but tab and line breaks, DEL, C1 controls, lone surrogates, U+FFFE/U+FFFF.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _reserved(value: str) -> str | None:
    stem = value.lower().split(".", 1)[0]
    return stem if stem in RESERVED_NAMES or value.lower() in RESERVED_NAMES else None


def _check_id(value: str) -> str:
    if not ID_RE.match(value) or ".." in value:
        raise ValueError(
            "must be 1-80 characters of a-z, 0-9, '.', '_' and '-', starting and ending "
            "with a letter or digit, e.g. 'mssnet' or '2401.00261'")
    if _reserved(value):
        raise ValueError(f"is a name the site uses for its own pages ('{_reserved(value)}'); "
                         "choose another")
    return value


def _check_slug(value: str) -> str:
    if len(value) > MAX_SLUG or not SLUG_RE.match(value):
        raise ValueError(
            "must be lowercase words of a-z and 0-9 joined by single hyphens, at most "
            f"{MAX_SLUG} characters, e.g. 'real-image-super-resolution-noise'")
    if _reserved(value):
        raise ValueError(f"is a name the site uses for its own pages ('{_reserved(value)}'); "
                         "choose another")
    return value


SITE_PATH_RE = re.compile(r"/(?:[A-Za-z0-9._~%-]+/)*(?:[A-Za-z0-9._~%-]+\.(?:html|md))?\Z")


def _check_site_path(value: str) -> str:
    parts = value.split("/")
    if len(value) > 300 or not SITE_PATH_RE.match(value) \
            or any(p in (".", "..") for p in parts):
        raise ValueError(
            "must be a URL of this site as published-urls.txt lists it: a path from the "
            "site's address starting with '/' and ending with '/', '.html' or '.md', of "
            "a-z, A-Z, 0-9, '.', '_', '~', '%' and '-', e.g. '/answers/old-slug/'")
    return value


def _check_url(value: str) -> str:
    from modelkb.catalog.markup import url_problem

    problem = url_problem(value, outside=True)
    if problem:
        raise ValueError(problem)
    return value


def _check_relpath(value: str) -> str:
    _check_text(value)
    p = Path(value)
    if not value or p.is_absolute() or value.startswith(("/", "\\")) or ".." in p.parts \
            or "\\" in value or ":" in value:
        raise ValueError("must be a plain path inside the gallery folder, without '..'")
    return value


def _check_text(value: str) -> str:
    bad = _CONTROL_RE.search(value)
    if bad:
        raise ValueError(f"must not contain control characters (found U+{ord(bad.group(0)):04X} "
                         f"at character {bad.start() + 1})")
    if not value.isascii():
        _check_format_characters(value)
    return value


# Invisible format characters (Unicode category Cf) that text may hold: the joiners of emoji
# and of scripts that need them, the soft hyphen, and the tag characters of flag emoji.
# Every other one is refused, bidi controls above all (U+202A-202E, U+2066-2069, U+200E/F,
# U+061C): they make a shell line in a code block display differently from what it copies.
ALLOWED_FORMAT_CHARACTERS = frozenset({0x00AD, 0x200C, 0x200D, *range(0xE0020, 0xE0080)})


def _check_format_characters(value: str) -> None:
    import unicodedata

    for index, char in enumerate(value):
        if (char > "\x7f" and unicodedata.category(char) == "Cf"
                and ord(char) not in ALLOWED_FORMAT_CHARACTERS):
            name = unicodedata.name(char, "a format character")
            raise ValueError(
                f"must not contain invisible format characters (found U+{ord(char):04X} "
                f"{name} at character {index + 1}; bidi and other invisible controls make text "
                "display differently from what it says: delete it)")


def _check_markdown(value: str) -> str:
    from modelkb.catalog.markup import markdown_problem

    problem = markdown_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_crops(crops: list[Crop]) -> list[Crop]:
    """Crops are details: few of them, small together (each is cropped, encoded and
    published for every view, so their number and area multiply a build's work)."""
    if len(crops) > MAX_CROPS:
        raise ValueError(f"lists {len(crops)} crops, more than the {MAX_CROPS} allowed; keep "
                         "the ones that show the most")
    area = sum(c.width * c.height for c in crops)
    if area > MAX_CROPS_AREA:
        raise ValueError(f"cover {area:,} input pixels together (width x height of each), more "
                         f"than the {MAX_CROPS_AREA:,} allowed; make them smaller: a crop shows "
                         "a detail")
    return crops


def _check_architecture(value: str) -> str:
    known = registry.architectures()
    if value not in known:
        raise ValueError(f"is not a registered architecture (known: {', '.join(known)})")
    return value


PREVIOUS_IDS = ("Ids this entry had before (only needed when its name or title changed too; a "
                "renamed id is recognised by the unchanged name): their URLs redirect here.")


def _f(description: str, default: Any = MISSING, factory: Any = MISSING) -> Any:
    """A field with its description (published on the Catalog reference page)."""
    return field(default=default, default_factory=factory, metadata={"description": description})


if TYPE_CHECKING:  # what type checkers see; _types() defines the validating versions
    Id = Slug = SitePath = Url = RelPath = Text = Markdown = Summary = Sha256 = Architecture = str
    Bool = bool
    NonNegInt = PosInt = int
    Scale = float
    Steps = list["RestoreStep | ResizeStep"]
    Crops = list["Crop"]

# Every entry is a frozen, keyword-only dataclass. Annotations name the validated types
# (Id, Text, Url, ...) that _types() makes with pydantic on first use; pydantic resolves the
# names in that namespace (_schema), nothing is added to this module's.
_entry = dataclass(frozen=True, kw_only=True)


@_entry
class Entry:
    """Base of every catalog entry: unknown keys are errors, values are not coerced."""

    # read by pydantic: unknown keys are errors; the schema is built once the annotations'
    # names are given (_schema)
    __pydantic_config__ = {"extra": "forbid", "defer_build": True}


@_entry
class Task(Entry):
    """A task people want to perform (deblurring, super-resolution, ...)."""

    id: Id = _f("Stable identifier; the task's page is /tasks/<id>/.")
    name: Text = _f("Display name, plain text.")
    summary: Markdown = _f("One or two sentences, Markdown without HTML.", "")
    previous: list[Id] = _f(PREVIOUS_IDS, factory=list)

    @property
    def title(self) -> str:
        """What its page, links and card are titled."""
        return self.name


@_entry
class WeightsEntry(Entry):
    """Where a model's weights come from."""

    name: Text = _f("Display name, e.g. 'authors' RealBlur-J checkpoint'.")
    url: Url | None = _f("Download link (http/https), if public.", None)
    member: Text | None = _f(
        "When `url` is a zip archive: the path of the weights file inside it.", None)
    file: Text | None = _f(
        "A weights file shipped with modelkb (in its `weights/` folder), by file name.", None)
    sha256: Sha256 | None = _f(
        "SHA-256 of the weights file (the archive member for archives); required for "
        "shipped files, recorded on first download when missing.", None)
    provenance: Text = _f("Who trained it, on what data.")
    licence: Text | None = _f("The weights' licence or terms of use.", None)
    official: Bool = _f("True for the paper authors' own release.", False)
    stand_in: Bool = _f(
        "True for weights that are not this model's own but may run in its place when its "
        "own are unavailable; every picture they make is labelled as a stand-in.", False)
    trained_on: list[Id] = _f(
        "Gallery entries whose photos were among these weights' training photos: their "
        "pictures say so, and never lead a page, the home page or a link-preview card.",
        factory=list)


@_entry
class Model(Entry):
    """A model that answers can recommend."""

    id: Id = _f("Stable identifier; the model's page is /models/<id>/.")
    name: Text = _f("The model's name as recommended, e.g. Deblur-MSSNet-RealBlurJ.")
    task: Id = _f("The id of a task in `tasks`.")
    architecture: Architecture | None = _f(
        "The network that runs it at build time, a registered architecture (`mssnet`); "
        "omit for a model the site describes but does not run.", None)
    variant: Text | None = _f("Architecture variant, e.g. 'mssnet' or 'mssnet-small'.", None)
    paper: Url | None = _f("Link to the model's paper.", None)
    code: Url | None = _f("Link to the model's source code.", None)
    summary: Markdown = _f("What the model does, Markdown without HTML.", "")
    weights: list[WeightsEntry] = _f("Known weights releases.", factory=list)
    previous: list[Id] = _f(PREVIOUS_IDS, factory=list)

    @property
    def title(self) -> str:
        """What its page, links and card are titled."""
        return self.name


@_entry
class Paper(Entry):
    """A paper that answers can cite."""

    id: Id = _f("Stable identifier (the arXiv id for arXiv papers).")
    title: Text = _f("The paper's title, plain text.")
    link: Url = _f("Link to the paper (abstract or PDF).")
    code: Url | None = _f("Link to the paper's code, if any.", None)
    summary: Markdown = _f("Abstract or summary, Markdown without HTML.", "")
    previous: list[Id] = _f(PREVIOUS_IDS, factory=list)


@_entry
class Tool(Entry):
    """A tool or library (code, not a model) that answers can cite."""

    id: Id = _f("Stable identifier; the tool's page is /tools/<id>/.")
    name: Text = _f("Display name, plain text.")
    link: Url = _f("Link to the tool (repository or homepage).")
    summary: Markdown = _f("What the tool does, Markdown without HTML.", "")
    previous: list[Id] = _f(PREVIOUS_IDS, factory=list)

    @property
    def title(self) -> str:
        """What its page, links and card are titled."""
        return self.name


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
    degradation: Text | None = _f("How the input was degraded from the reference, with its "
                                  "parameters (shown beside the photo).", None)
    crops: Crops = _f(f"Zoomed crops to show: at most {MAX_CROPS}, together at most "
                      f"{MAX_CROPS_AREA:,} input pixels (each crop's width x height).",
                      factory=list)


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
    previous: list[Slug] = _f(
        "Slugs this answer had before (only needed when its question text changed too; a "
        "renamed slug is recognised by the unchanged question): their URLs, Markdown "
        "export and card redirect here.", factory=list)

    @property
    def title(self) -> str:
        """What its page, links and card are titled: the question as asked."""
        return self.question


@_entry
class Retired(Entry):
    """A URL the site published (see published-urls.txt) whose page is gone for good: it
    shows a page saying so, or leads to another page. A build that no longer makes a
    published URL fails until the URL is listed here (or its entry is back)."""

    url: SitePath = _f("The URL as published-urls.txt lists it, e.g. `/answers/old-slug/`. "
                       "Retiring an answer's page retires its Markdown export and card too.")
    redirect: SitePath | None = _f(
        "A page of this site the URL now leads to, e.g. `/answers/new-slug/`; without it the "
        "URL shows a page saying it was removed.", None)
    note: Text | None = _f("Why it was removed, shown on that page (without `redirect`).",
                           None)


SECTIONS: dict[str, type[Entry]] = {
    "tasks": Task,
    "models": Model,
    "papers": Paper,
    "tools": Tool,
    "workflows": Workflow,
    "gallery": GalleryEntry,
    "questions": Question,
    "retired": Retired,
}
KEY_FIELD = {name: {"questions": "slug", "retired": "url"}.get(name, "id") for name in SECTIONS}

# What each validated type name in the annotations above means, for the Catalog reference.
TYPE_NAMES = {
    "Id": "id", "Architecture": "architecture name", "Slug": "slug", "SitePath": "site path",
    "Url": "URL", "RelPath": "path", "Text": "text", "Markdown": "Markdown",
    "Summary": "text, at most 200 characters", "Sha256": "SHA-256 (64 hex digits)",
    "Bool": "true or false", "NonNegInt": "whole number ≥ 0", "PosInt": "whole number > 0",
    "Scale": "number > 0, at most 8", "Steps": "list of steps", "Crops": "list of crops",
}

_SCHEMA: dict[str, Any] = {}


def _types() -> dict[str, Any]:
    """The validated types the annotations name (Id, Text, ...), made with pydantic."""
    from typing import Annotated

    from pydantic import AfterValidator, Field, Strict

    strict_str = Annotated[str, Strict()]
    text_check = AfterValidator(_check_text)
    step = Annotated[RestoreStep | ResizeStep, Field(discriminator="op")]
    types = {
        "Id": Annotated[strict_str, AfterValidator(_check_id)],
        "Architecture": Annotated[strict_str, AfterValidator(_check_architecture)],
        "Slug": Annotated[strict_str, AfterValidator(_check_slug)],
        "SitePath": Annotated[strict_str, AfterValidator(_check_site_path)],
        "Url": Annotated[strict_str, AfterValidator(_check_url)],
        "RelPath": Annotated[strict_str, AfterValidator(_check_relpath)],
        "Text": Annotated[strict_str, Field(min_length=1), text_check],
        "Markdown": Annotated[strict_str, text_check, AfterValidator(_check_markdown)],
        "Summary": Annotated[strict_str, Field(min_length=1, max_length=200), text_check],
        "Sha256": Annotated[strict_str, Field(pattern=r"^[0-9a-f]{64}$")],
        "Bool": Annotated[bool, Strict()],
        "NonNegInt": Annotated[int, Strict(), Field(ge=0)],
        "PosInt": Annotated[int, Strict(), Field(gt=0)],
        "Scale": Annotated[float, Strict(), Field(gt=0, le=8)],
        "Steps": Annotated[list[step], Field(min_length=1)],
        "Crops": Annotated[list[Crop], AfterValidator(_check_crops)],
    }
    assert set(types) == set(TYPE_NAMES)
    return types


def _schema() -> dict[str, Any]:
    """The validated types and pydantic's ValidationError (made once per process, on first
    use); the validators of the entry classes are added as they are first needed."""
    if not _SCHEMA:
        from pydantic import ValidationError

        _SCHEMA.update(types=_types(), error=ValidationError, adapters={}, nested={})
    return _SCHEMA


def _adapter(cls: type[Entry]) -> Any:
    """pydantic's validator of entry class ``cls``, its annotations' names resolved in
    :func:`_types`' namespace."""
    schema = _schema()
    adapter = schema["adapters"].get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = TypeAdapter(cls)
        adapter.rebuild(force=True, _types_namespace=schema["types"])
        schema["adapters"][cls] = adapter
    return adapter


def _entries_in(hint: Any) -> tuple[type[Entry], ...]:
    """The entry classes a type holds (itself, in a list, in a union, annotated), in order."""
    if isinstance(hint, type) and issubclass(hint, Entry):
        return (hint,)
    return tuple(dict.fromkeys(c for arg in get_args(hint) for c in _entries_in(arg)))


def validate_entry(cls: type[E], data: Any) -> E:
    """``data`` validated as one ``cls`` entry (raises pydantic's ValidationError)."""
    return _adapter(cls).validate_python(data)


def nested_entries(cls: type[Entry], name: str) -> tuple[type[Entry], ...]:
    """The entry classes field ``name`` of ``cls`` holds (one, or a list of them), else ()."""
    schema = _schema()
    if cls not in schema["nested"]:
        hints = get_type_hints(cls, localns=schema["types"], include_extras=True)
        schema["nested"][cls] = {field_name: inner for field_name, hint in hints.items()
                                 if (inner := _entries_in(hint))}
    return schema["nested"][cls].get(name, ())


ENTRY_CLASSES: tuple[type[Entry], ...] = (
    Task, WeightsEntry, Model, Paper, Tool, RestoreStep, ResizeStep, Workflow, Crop,
    GalleryEntry, Answer, Question, Retired)
E = TypeVar("E", bound=Entry)


def architecture_of(model: Model) -> str | None:
    """The architecture that runs a model: its own, or the registered one its variant names."""
    if model.architecture is not None:
        return model.architecture
    found = registry.architecture_of_variant(model.variant)
    return found.name if found is not None else None


def runnable_problem(model: Model) -> tuple[str, str] | None:
    """Why a model cannot run at build time (message, hint), or None when it can."""
    arch = architecture_of(model)
    if arch is None:
        known = ", ".join(registry.architectures())
        return ("it names no architecture",
                f"add 'architecture:' ({known}) and its 'variant:' to the model, or drop the "
                "step")
    if arch not in registry.architectures():
        return (f"architecture {arch!r} is not registered", "")
    variants = tuple(registry.get(arch).variants)
    if model.variant not in variants:
        return (f"variant {model.variant!r} is not one of {', '.join(variants)}",
                f"set 'variant:' to one of {', '.join(variants)}")
    return None


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
    retired: dict[str, Retired] = field(default_factory=dict)

    def entry(self, entry_id: str) -> tuple[str, Any] | None:
        """The (kind, entry) a ``[[id]]`` shortcode refers to, or None."""
        for kind in LINKED:
            found = getattr(self, kind.kind).get(entry_id)
            if found is not None:
                return kind.kind, found
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


