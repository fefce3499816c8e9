"""Loading the catalog: YAML with positions, schema validation entry by entry, then the
references between entries and the grounding of answers; every problem reported at once.

Sizes are bounded before any work that grows with them: a list inside an entry holds at most
:data:`MAX_LIST_ITEMS` items, a Markdown field is checked by ``markup.markdown_problem``
(length and nesting) before it is parsed, and each field is parsed once.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import fields
from pathlib import Path
from typing import Any

from modelkb.catalog.kinds import ANSWERS, LINKED
from modelkb.catalog.markup import (
    MARKDOWN_HINT,
    Link,
    find_links,
    image_problem,
    markdown_problem,
    url_problem,
)
from modelkb.catalog.schema import (
    KEY_FIELD,
    SECTIONS,
    STEPS,
    Catalog,
    CatalogError,
    Entry,
    _adapter,
    _schema,
    nested_entries,
)
from modelkb.catalog.snapshot import load_snapshot, save_snapshot, snapshot_key
from modelkb.catalog.yamlsrc import Located, Problem, SourceError, read_yaml

MAX_LIST_ITEMS = 500  # items of one list or mapping inside an entry (cited ids, notes, crops)


def load_catalog(path: Path | str, *, display: str | None = None,
                 snapshot_dir: Path | None = None) -> Catalog:
    """Load and validate ``path``; raise CatalogError listing every problem found.

    With ``snapshot_dir``, a catalog whose bytes validated before is loaded from its
    snapshot there (no YAML parsing, no checks between entries, no grounding: its entries
    are read back by the schema), and a newly validated one is saved.
    """
    path = Path(path)
    name = display or path.name
    try:
        raw = path.read_bytes()
    except OSError:
        raw = None  # read_yaml reports it
    key = snapshot_key(raw) if raw is not None and snapshot_dir is not None else None
    if key is not None:
        catalog = load_snapshot(snapshot_dir / f"{key}.json", path)
        if catalog is not None:
            return catalog
    try:
        src = read_yaml(path, display=name, raw=raw)
    except SourceError as exc:
        raise CatalogError(exc.problems) from None
    catalog = Validator(src, path).run()
    if key is not None:
        save_snapshot(snapshot_dir, key, catalog)
    return catalog



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
        adapter = _adapter(SECTIONS[name])
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
            self.list_sizes(path, item)
            try:
                entry = adapter.validate_python(item)
            except schema["error"] as exc:
                for err in exc.errors():
                    self.schema_problem(path, err, name)
                continue
            if key is not None:
                target[key] = entry

    def list_sizes(self, path: tuple, value: Any) -> None:
        """Lists and mappings inside an entry hold at most MAX_LIST_ITEMS items."""
        if not isinstance(value, (list, dict)):
            return
        if len(value) > MAX_LIST_ITEMS and len(path) > 2:
            noun = "items" if isinstance(value, list) else "keys"
            self.add(path, f"'{path[-1]}' has {len(value):,} {noun}, more than the "
                     f"{MAX_LIST_ITEMS} allowed", "keep the ones that matter", key=True)
            return
        for k, v in (enumerate(value) if isinstance(value, list) else value.items()):
            if isinstance(v, (list, dict)):
                self.list_sizes(path + (k,), v)

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
            self.add(full, f"'{what}' {msg}", MARKDOWN_HINT if "Markdown" in msg
                     else "" if section == "retired" else _value_hint(loc))
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
        linkable = {k.kind: getattr(cat, k.kind) for k in LINKED}  # [[id]]: one id space
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
            self.weights_files(("models", i, "weights"), m.get("weights"))
            for j, w in enumerate(m.get("weights") if isinstance(m.get("weights"), list) else []):
                trained = w.get("trained_on") if isinstance(w, dict) else None
                for k, ref in enumerate(trained if isinstance(trained, list) else []):
                    check(("models", i, "weights", j, "trained_on", k), ref, "gallery")
            self.variant_of(("models", i, "variant"), m.get("architecture"), m.get("variant"))
        for i, wf in _raw_entries(self.src.data, "workflows"):
            for j, step in enumerate(wf.get("steps") if isinstance(wf.get("steps"), list) else []):
                if isinstance(step, dict) and step.get("op") == "restore":
                    check(("workflows", i, "steps", j, "model"), step.get("model"), "models")
                    self.runnable(("workflows", i, "steps", j, "model"), step.get("model"))
        for i, g in _raw_entries(self.src.data, "gallery"):
            check(("gallery", i, "workflow"), g.get("workflow"), "workflows")
        self.urls = self.catalog.urls()
        for kind in linkable:
            for i, item in _raw_entries(self.src.data, kind):
                self.summary_links((kind, i, "summary"), item.get("summary"))
        for i, q in _raw_entries(self.src.data, "questions"):
            self.question_references(("questions", i), q, check, tuple(linkable))
        for kind in (*linkable, ANSWERS.kind):
            self.previous_keys(kind)
        for i, item in _raw_entries(self.src.data, "retired"):
            self.retired(("retired", i), item)

    def previous_keys(self, kind: str) -> None:
        """An entry's ``previous`` keys name no current entry of its section and no other
        entry's ``previous`` (each old URL leads to one page)."""
        key_field = KEY_FIELD[kind]
        claimed: dict[str, str] = {}
        for i, item in _raw_entries(self.src.data, kind):
            previous = item.get("previous")
            for j, old in enumerate(previous if isinstance(previous, list) else []):
                if not isinstance(old, str):
                    continue
                path = (kind, i, "previous", j)
                if old in self.known_ids[kind]:
                    self.add(path, f"previous {key_field} '{old}' is the {key_field} of an "
                             f"entry in {kind}, whose page is at that URL",
                             "drop it from 'previous', or rename that entry")
                elif old in claimed:
                    self.add(path, f"previous {key_field} '{old}' is also listed by "
                             f"'{claimed[old]}'", "an old URL can lead to one page only; "
                             "keep it on one entry")
                else:
                    claimed[old] = str(item.get(key_field))

    def retired(self, path: tuple, item: dict) -> None:
        """A retired URL leads elsewhere or says it is gone, never to itself."""
        if item.get("url") == "/":
            self.add(path + ("url",), "the home page cannot be retired",
                     "list the URL of the page that is gone")
        if item.get("redirect") is not None and item.get("redirect") == item.get("url"):
            self.add(path + ("redirect",), "a retired URL cannot redirect to itself",
                     "name another page, or drop 'redirect:' to mark the URL gone")
        if item.get("redirect") is not None and item.get("note") is not None:
            self.add(path + ("note",), "'note' is shown only on a page that says the URL is "
                     "gone, and this one redirects", "drop 'note:' or 'redirect:'")

    def weights_files(self, path: tuple, entries: object) -> None:
        """A weights entry's ``file`` must resolve inside the shipped weights folder."""
        from modelkb.errors import ModelkbError
        from modelkb.pixels.registry import WEIGHTS_DIR, shipped_weights

        for j, entry in enumerate(entries if isinstance(entries, list) else []):
            name = entry.get("file") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                continue
            try:
                shipped_weights(name)
            except ModelkbError:
                self.add(path + (j, "file"), f"weights file '{name}' is outside modelkb's "
                         "shipped weights folder",
                         f"name a file in modelkb's {WEIGHTS_DIR.name}/ folder, without "
                         "'..', an absolute path or a symlink out; or use 'url:' with "
                         "'sha256:'")

    def variant_of(self, path: tuple, architecture: object, variant: object) -> None:
        """A model that names a registered architecture names one of its variants (at the
        variant's own line); an unknown architecture is reported by the schema."""
        from modelkb.pixels import registry

        known = registry.architectures()
        if not isinstance(architecture, str) or architecture not in known \
                or not isinstance(variant, str):
            return
        variants = tuple(known[architecture].variants)
        if variant not in variants:
            self.add(path, f"variant '{variant}' is not one of {architecture}'s "
                     f"({', '.join(variants)})", f"set 'variant:' to one of {', '.join(variants)}")

    def runnable(self, path: tuple, model_id: object) -> None:
        """A restore step's model must say what runs it and have weights to run with."""
        model = self.catalog.models.get(model_id) if isinstance(model_id, str) else None
        if model is None:
            return  # unknown or invalid: reported elsewhere
        from modelkb.catalog.schema import runnable_problem

        problem = runnable_problem(model)
        if problem:
            self.add(path, f"model '{model.id}' cannot run in a workflow: {problem[0]}",
                     problem[1])

    def links(self, path: tuple, text: object) -> list[Link]:
        """The links of a Markdown field (parsed once); [] for text that may not be read."""
        if not isinstance(text, str):
            return []
        try:
            return find_links(text)
        except ValueError as exc:
            if not markdown_problem(text):  # too long or too deep: the schema reported it
                self.add(path, f"'{path[-1]}' {exc}", MARKDOWN_HINT)
            return []

    def image(self, path: tuple, link: Link) -> None:
        """Images in catalog text come from this site (a relative path)."""
        problem = image_problem(link.target)
        if problem:
            self.add(path, f"image '{link.target}' {problem}",
                     "put the picture in docs/ and give its relative path, or link to it",
                     pos=self.src.line_of_text(path, link.target))

    def summary_links(self, path: tuple, text: object) -> None:
        """Links in a summary may go anywhere on the web, but only by http(s) or mailto."""
        for link in self.links(path, text):
            if link.kind == "image":
                self.image(path, link)
                continue
            problem = url_problem(link.target, outside=False) if link.kind == "url" else None
            if problem and not link.target.startswith("#"):
                self.add(path, f"link to '{link.target}': {problem}",
                         "summaries may link to http://, https:// and mailto: addresses",
                         pos=self.src.line_of_text(path, link.target))

    def question_references(self, base: tuple, q: dict, check, linkable: tuple) -> None:
        """A question's ids, section-3 notes and the grounding of its answer's links."""
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
        listed = {r for f in ("models", "papers", "tools")  # a set: 10,000 notes stay linear
                  for r in (q.get(f) if isinstance(q.get(f), list) else [])
                  if isinstance(r, Hashable)}
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
            path = base + sub
            for link in self.links(path, text):
                if link.kind == "image":
                    self.image(path, link)
                elif link.kind == "shortcode":
                    if not any(link.target in self.known_ids[k] for k in linkable):
                        self.add(path, f"[[{link.target}]] names no model, paper, tool or task",
                                 "use the id of a catalog entry",
                                 pos=self.src.line_of_text(path, link.target))
                elif link.target not in urls and not link.target.startswith("#"):
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
            candidates = nested_entries(candidates[0], part)
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

