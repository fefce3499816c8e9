"""The catalog's outbound links, each with the entry that holds it and where it is written.

:func:`catalog_links` walks the validated entries (any field typed ``Url``, and every
absolute http(s) link that a ``Markdown`` field renders, found by
:func:`modelkb.catalog.markup.find_links`), so a field added to the schema is covered without
a change here. It needs no YAML: the site calls it on a catalog read from its snapshot.
:func:`locate` adds each link's line and column from the YAML read with positions
(:mod:`modelkb.catalog.yamlsrc`), for ``modelkb links``' ``catalog.yml:LINE:COL`` reports.
Only text that can hold an absolute link (it has ``//`` or a character reference) is parsed,
so a build that shows the Link health page does not read every answer's Markdown again.

arXiv is checked offline for form (:func:`arxiv_problem`, :func:`offline_problems`): a link
to an arXiv paper must name a well-formed identifier, new style ``YYMM.NNNNN`` (four digits
after the dot until 1412) or old style ``archive/YYMMNNN``, with an optional ``vN``; a
paper whose id has the new style's shape must be a well-formed one, and agree with the
arXiv link it gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass, replace
from urllib.parse import urlsplit

from modelkb.catalog import KEY_FIELD, SECTIONS, Catalog
from modelkb.catalog.markup import find_links, url_problem
from modelkb.catalog.yamlsrc import Located

ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org"})
_ARXIV_PAPER_PATH = re.compile(r"/(?:abs|pdf|html|ps|format)/(.+?)(?:\.pdf)?/?\Z")
_NEW_ID = re.compile(r"(\d{2})(\d{2})\.(\d{4,5})(?:v[1-9]\d*)?\Z")
_OLD_ID = re.compile(r"[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/(\d{2})(\d{2})(\d{3})(?:v[1-9]\d*)?\Z")
_ARXIV_SHAPED = re.compile(r"\d{4}\.\d+(?:v\d+)?\Z")  # a paper id meant as a new-style id


@dataclass(frozen=True)
class LinkUse:
    """One outbound link where the catalog writes it.

    ``path`` is its place in the YAML data (``("papers", 0, "link")``; a Markdown field's
    path for a link inside text); ``section`` and ``key`` name the entry (a question's key
    is its slug); ``line`` and ``col`` are 0 until :func:`locate` fills them.
    """

    url: str
    path: tuple
    section: str
    key: str
    in_text: bool = False
    line: int = 0
    col: int = 0

    @property
    def field(self) -> str:
        """The field that holds it, as in ``weights.0.url`` or ``answer.notes.2401.00261``."""
        return ".".join(str(p) for p in self.path[2:])


@dataclass(frozen=True)
class OfflineProblem:
    """Something wrong with a link or an id that is known without a request."""

    subject: str  # the URL or the paper id
    message: str
    hint: str
    path: tuple
    needle: str | None = None  # for a link inside text: its text, to find its column


def catalog_links(catalog: Catalog) -> list[LinkUse]:
    """Every outbound http(s) link of the catalog, in file order (a URL used twice is listed
    twice, once per place)."""
    found: list[LinkUse] = []
    for section in SECTIONS:
        for index, entry in enumerate(getattr(catalog, section).values()):
            key = str(getattr(entry, KEY_FIELD[section]))
            found += [LinkUse(url, path, section, key, in_text)
                      for url, path, in_text in _walk(entry, (section, index))]
    return found


def _walk(obj: object, path: tuple) -> Iterator[tuple[str, tuple, bool]]:
    """(url, path, inside text) of each link in an entry and the entries nested in it."""
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        words = set(re.findall(r"\w+", str(f.type)))
        here = path + (f.name,)
        if "Url" in words and isinstance(value, str):
            yield value, here, False
        elif "Markdown" in words and isinstance(value, str):
            yield from _text_links(value, here)
        elif "Markdown" in words and isinstance(value, dict):
            for k, text in value.items():
                if isinstance(text, str):
                    yield from _text_links(text, here + (k,))
        elif is_dataclass(value):
            yield from _walk(value, here)
        elif isinstance(value, list):
            for j, item in enumerate(value):
                if is_dataclass(item):
                    yield from _walk(item, here + (j,))


def _text_links(text: str, path: tuple) -> Iterator[tuple[str, tuple, bool]]:
    # An absolute link has '//' before its host, written out or as a character reference:
    # text with neither (most answers, which link with [[id]]) is not parsed again.
    if "//" not in text and "&" not in text:
        return
    try:
        links = find_links(text)
    except ValueError:  # text the catalog would refuse: not in a validated catalog
        return
    for link in links:
        if link.kind == "url" and url_problem(link.target, outside=True) is None:
            yield link.target, path, True


def locate(uses: list[LinkUse], located: Located) -> list[LinkUse]:
    """``uses`` with their line and column in the YAML ``located`` (the catalog's file)."""
    placed = []
    for use in uses:
        line, col = (located.line_of_text(use.path, use.url) if use.in_text
                     else located.where(use.path))
        placed.append(replace(use, line=line, col=col))
    return placed


def arxiv_id(url: str) -> str | None:
    """The identifier part of a link to an arXiv paper (``/abs/``, ``/pdf/``, ``/html/``...;
    a ``.pdf`` ending dropped), or None for any other link, arXiv's other pages included."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in ARXIV_HOSTS:
        return None
    m = _ARXIV_PAPER_PATH.match(parts.path)
    return m.group(1) if m else None


def arxiv_id_problem(ident: str) -> str | None:
    """Why ``ident`` is not a well-formed arXiv identifier, or None when it is."""
    m = _NEW_ID.match(ident)
    if m:
        yy, mm, number = int(m.group(1)), int(m.group(2)), m.group(3)
        if not 1 <= mm <= 12:
            return f"month {m.group(2)} does not exist (new-style ids are YYMM.NNNNN)"
        if (yy, mm) < (7, 4):
            return "new-style ids start in April 2007 (0704); older ones are archive/YYMMNNN"
        digits = 4 if (yy, mm) <= (14, 12) else 5
        if len(number) != digits:
            return (f"ids of {m.group(1)}{m.group(2)} have {digits} digits after the dot, "
                    f"not {len(number)}")
        return None
    m = _OLD_ID.match(ident)
    if m:
        yy, mm = int(m.group(1)), int(m.group(2))
        if not 1 <= mm <= 12:
            return f"month {m.group(2)} does not exist (old-style ids are archive/YYMMNNN)"
        if 8 <= yy <= 90 or (yy == 7 and mm > 3):
            return "old-style ids run from 1991 to March 2007; later ones are YYMM.NNNNN"
        return None
    return ("is neither YYMM.NNNNN (e.g. 2401.00261, with an optional v2) nor "
            "archive/YYMMNNN (e.g. hep-th/9901001)")


def arxiv_problem(url: str) -> str | None:
    """Why a link to an arXiv paper names no well-formed identifier, or None (also for a
    link that is not to an arXiv paper)."""
    ident = arxiv_id(url)
    if ident is None:
        return None
    problem = arxiv_id_problem(ident)
    return f"arXiv identifier '{ident}' {problem}" if problem else None


def _bare(ident: str) -> str:
    return re.sub(r"v\d+\Z", "", ident)


def offline_problems(catalog: Catalog, uses: list[LinkUse]) -> list[OfflineProblem]:
    """What is wrong without a request: malformed arXiv links; papers whose id has the shape
    of a new-style arXiv id but is not one, or names another paper than its arXiv link."""
    found: list[OfflineProblem] = []
    for use in uses:
        problem = arxiv_problem(use.url)
        if problem:
            found.append(OfflineProblem(use.url, problem,
                                        "copy the identifier from the paper's arXiv page",
                                        use.path, use.url if use.in_text else None))
    for index, paper in enumerate(catalog.papers.values()):
        path = ("papers", index, "id")
        if _ARXIV_SHAPED.match(paper.id):
            problem = arxiv_id_problem(paper.id)
            if problem:
                found.append(OfflineProblem(paper.id, f"paper id {problem}",
                                            "use the paper's arXiv identifier, or an id that "
                                            "does not look like one", path))
                continue
            linked = arxiv_id(paper.link)
            if linked is not None and arxiv_id_problem(linked) is None \
                    and _bare(linked) != _bare(paper.id):
                found.append(OfflineProblem(paper.id, f"paper id names arXiv {_bare(paper.id)} "
                                            f"but its link is to arXiv {_bare(linked)}",
                                            "make the id and the link name the same paper",
                                            path))
    return found


def problem_position(problem: OfflineProblem, located: Located) -> tuple[int, int]:
    """Line and column of an offline problem in the YAML ``located``."""
    if problem.needle is not None:
        return located.line_of_text(problem.path, problem.needle)
    return located.where(problem.path)
