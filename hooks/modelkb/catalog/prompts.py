"""Recommender prompts -> catalog entries: parsing, stable ids and slugs, and a text merge.

Everything here is pure: ``parse_prompt`` turns a prompt's text into a ``Prompt``,
``merge`` decides which tasks, models, papers and questions are new, and ``render`` appends
them to the catalog's text without touching a byte of what is already there.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from modelkb.catalog.kinds import LINKED
from modelkb.catalog.schema import _reserved
from modelkb.errors import ModelkbError

QUESTION_MARKER = "a user has asked the following question:"
MODELS_HEADING = "recommended ai models"
PAPERS_HEADING = "related papers"
MAX_ID = 80
MAX_SLUG = 100
MAX_SLUG_WORDS = 8
WRAP = 92
UNCATEGORISED = "uncategorised"
TODO_NOTE = "TODO: how this bears on the question."

_KEY_RE = re.compile(r"^\s*(model|paper|github|summary)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_HEADING_RE = re.compile(r"^\s*#{1,6}\s*(.*?)\s*:?\s*$")
_ANSWER_RE = re.compile(r"^\s*answer\s*:\s*$", re.IGNORECASE)
# libyaml's safe loader when PyYAML has it (as catalog/yamlsrc.py reads the catalog).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN_QUOTES = '"\u201c'
_CLOSE_QUOTES = '"\u201d'



def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that say nothing about a question's topic: English function words, and the filler
# of questions about models ("how do models learn to handle ...").
STOP_WORDS = _words("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
dont doesnt didnt cant cannot wont isnt arent im ive id whats hows thats theres
may might must shall also really actually something anything
""")
FILLER_WORDS = _words("""
model models learn learns handle handles work works use uses using used make makes get gets
help helps way ways best good better thing things able possible
""")
# Words too generic to tie a model to a task on their own (see infer_model_task).
GENERIC_TASK_WORDS = _words("image images photo photos video videos real model models")


@dataclass(frozen=True)
class PromptModel:
    """A recommended model as the prompt gives it."""

    name: str
    paper: str
    code: str | None
    summary: str
    line: int


@dataclass(frozen=True)
class PromptPaper:
    """A related paper as the prompt gives it (its title is on the 'Model:' line)."""

    title: str
    link: str
    code: str | None
    summary: str
    line: int


@dataclass(frozen=True)
class Prompt:
    """One parsed recommender prompt."""

    name: str
    question: str
    question_line: int
    models: tuple[PromptModel, ...]
    papers: tuple[PromptPaper, ...]


@dataclass
class MergeResult:
    """What importing adds: new entries per section (raw mappings), and a report per prompt."""

    added: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"tasks": [], "models": [], "papers": [], "questions": []})
    report: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything is added at all."""
        return any(self.added.values())


# --------------------------------------------------------------------------------------
# Parsing


def _fail(name: str, line: int, message: str) -> ModelkbError:
    return ModelkbError(f"{name}:{line}: {message}")


def _check_link(name: str, line: int, key: str, value: str) -> str:
    parts = urlsplit(value) if value and not any(c.isspace() for c in value) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc \
            or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _fail(name, line, f"expected an http:// or https:// link after '{key}:', "
                                f"got {value!r}")
    return value


def _clean(text: str) -> str:
    return " ".join(text.split())


def parse_prompt(text: str, name: str) -> Prompt:
    """Parse a recommender prompt; raise ModelkbError 'NAME:LINE: what was expected'."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    for number, raw in enumerate(lines, 1):
        bad = next((c for c in raw if ord(c) < 32 and c != "\t" or ord(c) == 127), None)
        if bad is not None:
            raise _fail(name, number, f"unexpected control character {bad!r}")
    question, question_line, end = _parse_question(lines, name)
    models: list[PromptModel] = []
    papers: list[PromptPaper] = []
    seen_models_heading = False
    section: str | None = None
    block: dict[str, Any] | None = None
    last_key: str | None = None

    def finish() -> None:
        nonlocal block
        if block is None:
            return
        what = "model" if section == "models" else "paper"
        if not block.get("paper"):
            raise _fail(name, block["line"], f"{what} '{block['model']}' has no 'Paper:' line "
                        "(expected 'Paper: <link>' after 'Model:')")
        summary = _clean(" ".join(block.get("summary", [])))
        if section == "models":
            models.append(PromptModel(block["model"], block["paper"], block.get("github"),
                                      summary, block["line"]))
        else:
            papers.append(PromptPaper(block["model"], block["paper"], block.get("github"),
                                      summary, block["line"]))
        block = None

    for number in range(end + 1, len(lines) + 1):
        raw = lines[number - 1]
        stripped = raw.strip()
        if _ANSWER_RE.match(raw):
            break
        heading = _HEADING_RE.match(raw)
        if heading:
            finish()
            title = heading.group(1).lower()
            section = ("models" if title == MODELS_HEADING else
                       "papers" if title == PAPERS_HEADING else "other")
            seen_models_heading = seen_models_heading or section == "models"
            last_key = None
            continue
        if section not in ("models", "papers"):
            continue  # instructions and unknown sections are not data
        if not stripped:
            last_key = None
            continue
        key_match = _KEY_RE.match(raw)
        if key_match is None:
            if last_key == "summary" and block is not None:
                block["summary"].append(stripped)
                continue
            keys = "'Model:', 'Paper:' or 'GitHub:'" if section == "models" else \
                "'Model:', 'Paper:' or 'Summary:'"
            raise _fail(name, number, f"expected {keys}, got {stripped[:60]!r}")
        key, value = key_match.group(1).lower(), key_match.group(2)
        if key == "model":
            finish()
            if not value:
                raise _fail(name, number, "expected a name after 'Model:'")
            block = {"model": _clean(value), "line": number, "summary": []}
        else:
            label = {"paper": "Paper", "github": "GitHub", "summary": "Summary"}[key]
            if block is None:
                raise _fail(name, number, f"expected 'Model:' before '{label}:'")
            if key in block and (key != "summary" or block["summary"]):
                raise _fail(name, number, f"expected one '{label}:' line per 'Model:'")
            if key == "summary":
                block["summary"] = [value] if value else []
            else:
                block[key] = _check_link(name, number, label, value)
        last_key = key
    finish()
    if not seen_models_heading:
        last = max(1, len(lines) - (lines[-1] == ""))
        raise _fail(name, last, "expected a '### Recommended AI Models:' section "
                    "of 'Model:', 'Paper:' and 'GitHub:' lines")
    return Prompt(name, question, question_line, tuple(models), tuple(papers))


def _parse_question(lines: list[str], name: str) -> tuple[str, int, int]:
    """The question, the line it starts on and the line it ends on."""
    marker = next((i for i, line in enumerate(lines) if QUESTION_MARKER in line.lower()), None)
    if marker is None:
        raise _fail(name, 1, "expected 'A user has asked the following question:' followed by "
                    "the question in double quotes")
    rest = lines[marker]
    rest = rest[rest.lower().index(QUESTION_MARKER) + len(QUESTION_MARKER):]
    start = marker
    if not rest.strip():
        start = marker + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        rest = lines[start] if start < len(lines) else ""
    end = start
    block = [rest]
    while end + 1 < len(lines) and lines[end + 1].strip():
        end += 1
        block.append(lines[end])
    quoted = " ".join(part.strip() for part in block).strip()
    if len(quoted) < 2 or quoted[0] not in _OPEN_QUOTES or quoted[-1] not in _CLOSE_QUOTES:
        raise _fail(name, min(start, len(lines) - 1) + 1,
                    "expected the question in double quotes after 'A user has asked the "
                    "following question:'")
    question = _clean(quoted[1:-1])
    if not question:
        raise _fail(name, start + 1, "expected a question between the double quotes, got none")
    return question, start + 1, end + 1


# --------------------------------------------------------------------------------------
# Ids, slugs and links


def _ascii_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    folded = re.sub(r"['\u2019]", "", folded)
    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", folded)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def _cap(words: list[str], limit: int) -> str:
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or words[0][:limit].strip("-")


def slugify(text: str, limit: int = MAX_ID) -> str:
    """Lowercase ASCII words of ``text`` joined by '-', cut at a word boundary; '' if none."""
    words = ["-".join(re.findall(r"[a-z0-9]+", w)) for w in _ascii_words(text)]
    words = [w for w in words if w]
    return _cap(words, limit) if words else ""


def question_slug(question: str) -> str:
    """A question's slug: the topic words of its last interrogative sentence.

    The last sentence ending in '?' (the whole question when none does), minus stop-words and
    question filler ('models', 'learn', 'handle', ...), at most 8 words and 100 characters.
    """
    sentences = re.findall(r"[^.?!]*\?", question)
    candidates = [sentences[-1]] if sentences else []
    candidates.append(question)
    for sentence in candidates:
        words = [w for w in _ascii_words(sentence)
                 if w not in STOP_WORDS and w not in FILLER_WORDS]
        if words:
            return _cap(words[:MAX_SLUG_WORDS], MAX_SLUG)
    return f"question-{_digest(question)}"


_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.-]*/\d{7})(?:v\d+)?(?:\.pdf)?$", re.IGNORECASE)


def arxiv_id(url: str) -> str | None:
    """The arXiv id of an arxiv.org abs/pdf link (any version, http or https), else None."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().split("@")[-1].split(":")[0]
    if host not in ("arxiv.org", "www.arxiv.org", "export.arxiv.org"):
        return None
    match = re.match(r"^/(?:abs|pdf)/(.+?)/?$", parts.path)
    if not match:
        return None
    tail = match.group(1)
    found = _ARXIV_NEW.match(tail) or _ARXIV_OLD.match(tail)
    return found.group(1).lower() if found else None


def link_key(url: str) -> str:
    """What two links must share to be the same: the arXiv id, or host and path.

    Scheme, 'www.', default ports, a trailing slash and the fragment are ignored.
    """
    found = arxiv_id(url)
    if found:
        return f"arxiv:{found}"
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().split("@")[-1]
    host = re.sub(r":(80|443)$", "", host)
    host = host.removeprefix("www.")
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def paper_id(link: str, title: str) -> str:
    """A paper's stable id: its arXiv id ('/' as '-'), else the slug of its title."""
    found = arxiv_id(link)
    if found:
        return found.replace("/", "-")
    return slugify(title) or f"paper-{_digest(link)}"


def model_id(name: str) -> str:
    """A model's stable id: the slug of its name, e.g. 'deblur-mssnet-realblurj'."""
    return slugify(name) or f"model-{_digest(name)}"


def _name_key(name: str) -> str:
    return slugify(name, limit=10_000)


# --------------------------------------------------------------------------------------
# Tasks


def _words_match(a: str, b: str) -> bool:
    """Same word stem: a shared prefix of at least 5 letters that covers all but the last
    letter of the shorter word ('deblur' ~ 'deblurring', 'denoise' ~ 'denoising')."""
    n = max(5, min(len(a), len(b)) - 1)
    return len(a) >= 5 and len(b) >= 5 and a[:n] == b[:n]


def infer_model_task(name: str, tasks: list[dict[str, Any]]) -> str | None:
    """The first task whose id or name shares a word stem with ``name``, or None."""
    model_words = [w for w in re.findall(r"[a-z0-9]+", " ".join(_ascii_words(name)))
                   if w not in GENERIC_TASK_WORDS]
    for task in tasks:
        task_text = f"{task.get('id', '')} {task.get('name', '')}"
        task_words = {w for w in re.findall(r"[a-z0-9]+", " ".join(_ascii_words(task_text)))
                      if w not in GENERIC_TASK_WORDS}
        if any(_words_match(m, t) for m in model_words for t in task_words):
            return str(task["id"])
    return None


def infer_question_task(question: str, tasks: list[dict[str, Any]]) -> str | None:
    """The task whose name appears in the question (the longest such name), or None."""
    text = " " + " ".join(re.findall(r"[a-z0-9]+", " ".join(_ascii_words(question)))) + " "
    best: tuple[int, str] | None = None
    for task in tasks:
        words = re.findall(r"[a-z0-9]+", " ".join(_ascii_words(str(task.get("name", "")))))
        phrase = " ".join(words)
        if phrase and f" {phrase} " in text and (best is None or len(phrase) > best[0]):
            best = (len(phrase), str(task["id"]))
    return best[1] if best else None


# --------------------------------------------------------------------------------------
# Merging


def _entries(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    items = data.get(section)
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _unique(base: str, taken: set[str], limit: int, memo: dict[str, int] | None = None) -> str:
    """``base``, or ``base-N`` with the smallest free N; ``memo`` (for a ``taken`` set that
    only grows) remembers where each base's search ended, so N equal bases stay linear.
    A name the site reserves for its own pages ('search', 'gallery', ...) is taken too."""
    if base not in taken and not _reserved(base):
        return base
    n = memo.get(base, 2) if memo is not None else 2
    while True:
        suffix = f"-{n}"
        candidate = base[:limit - len(suffix)].rstrip("-._") + suffix
        if candidate not in taken and not _reserved(candidate):
            if memo is not None:
                memo[base] = n + 1
            return candidate
        n += 1


class _Lookup:
    """Entries found by any of their keys in constant time; the earliest entry wins, as a
    scan of the list in order would find it."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[int, dict[str, Any]]] = {}
        self._count = 0

    def add(self, entry: dict[str, Any], keys: list[str | None]) -> None:
        """Index ``entry`` (after every entry added before it) under ``keys``."""
        for key in keys:
            if key is not None and key not in self._found:
                self._found[key] = (self._count, entry)
        self._count += 1

    def find(self, *keys: str | None) -> dict[str, Any] | None:
        """The earliest entry indexed under any of ``keys``, or None."""
        hits = [self._found[k] for k in keys if k is not None and k in self._found]
        return min(hits, key=lambda hit: hit[0])[1] if hits else None


def _model_keys(entry: dict[str, Any]) -> list[str | None]:
    return [_name_key(str(entry.get("name", ""))), _as_key(entry.get("id"))]


def _paper_keys(entry: dict[str, Any]) -> list[str | None]:
    return ["link:" + link_key(str(entry.get("link", ""))), "id:" + str(entry.get("id"))]


def _as_key(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def merge(data: dict[str, Any] | None, prompts: list[Prompt]) -> MergeResult:
    """Decide what ``prompts`` add to the catalog ``data`` (raw YAML); reuse what exists.

    Papers are matched by link (arXiv links by id), models by name, questions by their
    text; new ids and slugs never collide with existing ones or with the names the site
    reserves for its own pages (they get a -N suffix, as collisions do).
    """
    data = copy.deepcopy(data) if isinstance(data, dict) else {}
    result = MergeResult()
    ids = {str(e.get("id")) for kind in LINKED for e in _entries(data, kind.kind)}

    models, papers, questions = _Lookup(), _Lookup(), _Lookup()
    for m in _entries(data, "models"):
        models.add(m, _model_keys(m))
    for p in _entries(data, "papers"):
        papers.add(p, _paper_keys(p))
    for q in _entries(data, "questions"):
        questions.add(q, [_clean(str(q.get("question", "")))])
    slugs = {str(q.get("slug")) for q in _entries(data, "questions")}
    id_memo: dict[str, int] = {}
    slug_memo: dict[str, int] = {}

    def add(section: str, entry: dict[str, Any]) -> None:
        result.added[section].append(entry)
        if not isinstance(data.get(section), list):
            data[section] = []
        data[section].append(entry)
        if section == "models":
            models.add(entry, _model_keys(entry))
        elif section == "papers":
            papers.add(entry, _paper_keys(entry))
        elif section == "questions":
            questions.add(entry, [_clean(str(entry.get("question", "")))])
            slugs.add(str(entry.get("slug")))

    for prompt in prompts:
        tasks = _entries(data, "tasks")
        model_ids: list[str] = []
        paper_ids: list[str] = []
        listed: set[str] = set()  # model and paper ids share one namespace
        counts = {"models added": 0, "models reused": 0, "papers added": 0, "papers reused": 0}
        for model in prompt.models:
            key = _name_key(model.name)
            found = models.find(key)
            if found is not None:
                counts["models reused"] += 1
                mid = str(found.get("id"))
            else:
                task = infer_model_task(model.name, tasks) or _uncategorised(data, ids, add)
                mid = _unique(model_id(model.name), ids, MAX_ID, id_memo)
                ids.add(mid)
                entry: dict[str, Any] = {"id": mid, "name": model.name, "task": task,
                                         "paper": model.paper}
                if model.code:
                    entry["code"] = model.code
                if model.summary:
                    entry["summary"] = model.summary
                add("models", entry)
                counts["models added"] += 1
            if mid not in listed:
                listed.add(mid)
                model_ids.append(mid)
        for paper in prompt.papers:
            key = link_key(paper.link)
            arxiv = arxiv_id(paper.link)
            found = papers.find("link:" + key,
                                "id:" + arxiv.replace("/", "-") if arxiv else None)
            if found is not None:
                counts["papers reused"] += 1
                pid = str(found.get("id"))
            else:
                pid = _unique(paper_id(paper.link, paper.title), ids, MAX_ID, id_memo)
                ids.add(pid)
                entry = {"id": pid, "title": paper.title, "link": paper.link}
                if paper.code:
                    entry["code"] = paper.code
                if paper.summary:
                    entry["summary"] = paper.summary
                add("papers", entry)
                counts["papers added"] += 1
            if pid not in listed:
                listed.add(pid)
                paper_ids.append(pid)
        done = ", ".join(f"{v} {k.replace('s ', ' ', 1) if v == 1 else k}"
                         for k, v in counts.items() if v)
        existing = questions.find(prompt.question)
        if existing is not None:
            slug = existing.get("slug")
            has = {str(i) for section in ("models", "papers")
                   if isinstance(existing.get(section), list) for i in existing[section]}
            missing = [i for i in model_ids + paper_ids if i not in has]
            note = f" (not listed by it: {', '.join(missing)})" if missing else ""
            result.report.append(f"{prompt.name}: question already in the catalog as "
                                 f"'{slug}', left as it is{note}; {done or 'nothing new'}")
            continue
        slug = _unique(question_slug(prompt.question), slugs, MAX_SLUG, slug_memo)
        task = infer_question_task(prompt.question, _entries(data, "tasks")) or \
            infer_model_task(prompt.question, _entries(data, "tasks"))
        if task is None:
            model_tasks = [str(m.get("task")) for m in _entries(data, "models")
                           if m.get("id") in model_ids]
            task = model_tasks[0] if model_tasks else _uncategorised(data, ids, add)
        notes = {ref: TODO_NOTE for ref in model_ids + paper_ids}
        add("questions", {
            "slug": slug,
            "question": prompt.question,
            "task": task,
            "models": model_ids,
            "papers": paper_ids,
            "draft": True,
            "answer": {
                "summary": "TODO: one line saying what the person is trying to do.",
                "task": "TODO: section 1, what the person is trying to do.",
                "workflow": "TODO: section 2, how the models work: input -> model -> output.",
                "notes": notes,
            },
        })
        result.report.append(f"{prompt.name}: question '{slug}' added as a draft; "
                             f"{done or 'no models or papers'}")
    return result


def _uncategorised(data: dict[str, Any], ids: set[str], add: Any) -> str:
    if any(t.get("id") == UNCATEGORISED for t in _entries(data, "tasks")):
        return UNCATEGORISED
    if UNCATEGORISED in ids:
        raise ModelkbError(f"no task fits, and the id '{UNCATEGORISED}' is taken by another "
                           "entry: add a task for the imported model first")
    ids.add(UNCATEGORISED)
    add("tasks", {"id": UNCATEGORISED, "name": "Uncategorised",
                  "summary": "Imported models whose task was not recognised: move each to "
                             "its real task."})
    return UNCATEGORISED


# --------------------------------------------------------------------------------------
# Rendering: append YAML text, keeping every existing byte


def _printable(ch: str) -> bool:
    code = ord(ch)
    return not (code < 32 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF
                or ch in "\u2028\u2029\ufeff\ufffe\uffff")


def _double_quoted(value: str) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _printable(ch):
            out.append(ch)
        else:
            out.append(json.dumps(ch)[1:-1] if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def scalar(value: Any) -> str:
    """``value`` as a one-line YAML scalar: plain where that reads back the same, else quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    plain_ok = (text and text == text.strip() and all(_printable(c) for c in text)
                and text[0] not in "-?:,[]{}#&*!|>'\"%@`" and ": " not in text
                and " #" not in text and not text.endswith(":"))
    if plain_ok:
        try:
            if yaml.load(f"k: {text}", Loader=_LOADER) == {"k": text}:  # noqa: S506 (safe)
                return text
        except yaml.YAMLError:
            pass
    return _double_quoted(text)


def _text_field(key: str, value: str, indent: int) -> list[str]:
    """A long text as a folded block (``>-``) when that is exact, else a quoted line."""
    pad = " " * indent
    words = value.split(" ")
    foldable = (len(pad) + len(key) + 2 + len(value) > WRAP and all(words)
                and all(_printable(c) for c in value))
    if not foldable:
        return [f"{pad}{key}: {scalar(value)}"]
    lines, current = [], ""
    inner = pad + "  "
    for word in words:
        if current and len(inner) + len(current) + 1 + len(word) > WRAP:
            lines.append(inner + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(inner + current)
    return [f"{pad}{key}: >-", *lines]


def _entry_lines(entry: dict[str, Any], item_indent: int) -> list[str]:
    lines = _mapping_lines(entry, item_indent + 2)
    first = lines[0]
    lines[0] = " " * item_indent + "- " + first[item_indent + 2:]
    return lines


def _mapping_lines(mapping: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for key, value in mapping.items():
        key_text = scalar(key)
        if isinstance(value, dict) and not value:
            out.append(f"{pad}{key_text}: {{}}")
        elif isinstance(value, dict):
            out.append(f"{pad}{key_text}:")
            out.extend(_mapping_lines(value, indent + 2))
        elif isinstance(value, list):
            out.append(f"{pad}{key_text}: [{', '.join(scalar(v) for v in value)}]")
        elif isinstance(value, str):
            out.extend(_text_field(key_text, value, indent))
        else:
            out.append(f"{pad}{key_text}: {scalar(value)}")
    return out


_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?=\s|$)")
_EMPTY_VALUE = re.compile(r"^([A-Za-z_][\w-]*\s*:)\s*(\[\s*\]|~|null|Null|NULL)?(\s+#.*)?$")
SECTION_ORDER = ("tasks", "models", "papers", "tools", "workflows", "gallery", "questions")


def render(text: str, result: MergeResult) -> str:
    """``text`` with the new entries appended to their sections; existing bytes unchanged."""
    if not result.changed:
        return text
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    newline = "\r\n" if "\r\n" in body.split("\n", 1)[0] + "\n" else "\n"
    lines = body.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    for section in SECTION_ORDER:
        entries = result.added.get(section) or []
        if entries:
            lines = _append_section(lines, section, entries, newline)
    original = _safe_load(text)
    expected = copy.deepcopy(original) if isinstance(original, dict) else {}
    for section, entries in result.added.items():
        if entries:
            current = expected.get(section)
            expected[section] = (current if isinstance(current, list) else []) + entries
    merged = bom + "".join(lines)
    if _safe_load(merged) != expected:
        raise ModelkbError("could not add the new entries to this catalog's layout without "
                           "changing existing ones; nothing was written (write each section "
                           "as a block list, one '- id: ...' entry per item)")
    return merged


def _safe_load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise ModelkbError(f"the catalog is not valid YAML: {exc}") from None


def _append_section(lines: list[str], section: str, entries: list[dict[str, Any]],
                    newline: str) -> list[str]:
    keys = [(i, m.group(1)) for i, line in enumerate(lines)
            if (m := _TOP_KEY.match(line))]
    where = next((k for k, (_, name) in enumerate(keys) if name == section), None)
    if where is None:
        return _new_section(lines, keys, section, entries, newline)
    start = keys[where][0]
    stop = keys[where + 1][0] if where + 1 < len(keys) else len(lines)
    last = start
    indent = None
    for i in range(start + 1, stop):
        stripped = lines[i].strip()
        if not stripped or lines[i].startswith("#"):
            continue  # blank lines and column-0 comments may belong to the next section
        last = i
        if indent is None and stripped.startswith("- "):
            indent = len(lines[i]) - len(lines[i].lstrip(" "))
    block = [line + newline for e in entries for line in _entry_lines(e, 2 if indent is None
                                                                       else indent)]
    if last == start:
        empty = _EMPTY_VALUE.match(lines[start].rstrip("\r\n"))
        if empty is None:
            raise ModelkbError(f"cannot add entries to '{section}:' as written on line "
                               f"{start + 1}; write it as a block list ('- id: ...' lines)")
        head = empty.group(1) + (empty.group(3) or "")
        return lines[:start] + [head + newline] + block + lines[start + 1:]
    return lines[:last + 1] + block + lines[last + 1:]


def _new_section(lines: list[str], keys: list[tuple[int, str]], section: str,
                 entries: list[dict[str, Any]], newline: str) -> list[str]:
    block = [f"{section}:{newline}"] + [line + newline for e in entries
                                         for line in _entry_lines(e, 2)]
    later = [i for i, name in keys if name in SECTION_ORDER
             and SECTION_ORDER.index(name) > SECTION_ORDER.index(section)]
    if later:
        at = later[0]
        while at > 0 and lines[at - 1].startswith("#"):
            at -= 1  # keep a section's leading comment with it
        return lines[:at] + block + [newline] + lines[at:]
    has_content = any(line.strip() for line in lines)
    gap = [newline] if has_content and lines[-1].strip() else []
    return lines + gap + block
