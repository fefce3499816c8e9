"""YAML read with positions: plain Python data plus the line and column of every node.

PyYAML's composer gives nodes with marks; we turn them into dicts/lists/scalars ourselves so
that duplicate keys, anchors/aliases (the "billion laughs" bomb) and oversized files are
refused with a message instead of being silently merged or exhausting memory. Mapping keys
with control characters are refused too (values are checked by the schema), and a problem's
text is terminal safe (:func:`modelkb.errors.terminal_safe`) wherever it is printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelkb.errors import terminal_safe
from modelkb.limits import MAX_YAML_DEPTH

MAX_BYTES = 64 * 1024 * 1024  # 10,000 answers take about 10 MB
# libyaml's parser when PyYAML has it (about 10x faster); both give the same marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_NODES = 2_000_000

# Any C0 or C1 control character, DEL included: never part of a key the schema knows.
_KEY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

Path_ = tuple  # a path into the data: ("questions", 0, "answer", "task")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, with where it is and what to do."""

    file: str
    line: int
    col: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return terminal_safe(f"{self.file}:{self.line}:{self.col}: {self.message}{hint}")


class SourceError(Exception):
    """The file cannot be read as YAML at all; carries the problems found."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Located:
    """Data read from a YAML file with the position of every node and every mapping key."""

    file: str
    text: str
    data: Any
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    spans: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: tuple, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the node at ``path``, or of its closest ancestor."""
        table = self.key_positions if key else self.positions
        path = tuple(path)
        while path:
            if path in table:
                return table[path]
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def line_of_text(self, path: tuple, needle: str) -> tuple[int, int]:
        """Line and column of ``needle`` inside the scalar at ``path`` (falls back to the node)."""
        span = self.spans.get(tuple(path))
        if span:
            start, end = span
            idx = self.text.find(needle, start, max(end, start + 1) + len(needle))
            if idx >= 0:
                line = self.text.count("\n", 0, idx) + 1
                col = idx - (self.text.rfind("\n", 0, idx) + 1) + 1
                return line, col
        return self.where(path)


def read_yaml(path: Path, *, display: str | None = None, raw: bytes | None = None) -> Located:
    """Read ``path`` (or its bytes already read, ``raw``) as YAML with positions; raise
    SourceError with file:line messages."""
    name = display or str(path)
    try:
        if raw is None:
            raw = path.read_bytes()
    except FileNotFoundError:
        problem = Problem(name, 1, 1, "file not found", "create it or fix the path")
        raise SourceError([problem]) from None
    except OSError as exc:
        raise SourceError([Problem(name, 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        raise SourceError([Problem(
            name, 1, 1, f"file is {len(raw):,} bytes, more than the {MAX_BYTES:,} allowed",
            "split the content or remove unused entries")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError([Problem(
            name, line, col, f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
            "save the file as UTF-8")]) from None
    text = text.removeprefix("\ufeff")
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise SourceError([Problem(name, line, col, f"YAML syntax error: {what}",
                                   "check indentation, colons and quotes")]) from None
    except yaml.YAMLError as exc:
        raise SourceError([Problem(name, 1, 1, f"YAML error: {exc}")]) from None
    except RecursionError:  # the pure-Python composer (without libyaml) on absurd nesting
        raise SourceError([Problem(name, 1, 1, "YAML nested too deeply",
                                   f"the catalog needs at most {MAX_YAML_DEPTH} levels")]
                          ) from None
    located = Located(name, text, None)
    if node is None:
        located.data = {}
        return located
    converter = _Converter(located)
    located.data = converter.convert(node, ())
    if converter.problems:
        raise SourceError(converter.problems)
    return located


class _Converter:
    """Turns composed nodes into Python data, recording positions and refusing aliases."""

    def __init__(self, located: Located):
        self.located = located
        self.seen: set[int] = set()
        self.count = 0
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def problem(self, node: yaml.Node, message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.located.file, node.start_mark.line + 1,
                                     node.start_mark.column + 1, message, hint))

    def convert(self, node: yaml.Node, path: tuple) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            if self.count == MAX_NODES + 1:
                self.problem(node, f"more than {MAX_NODES:,} YAML nodes",
                             "the catalog is too large; split it")
            return None
        if id(node) in self.seen:
            self.problem(node, "YAML aliases (*name) are not supported",
                         "write the value out instead of referring to an anchor")
            return None
        self.seen.add(id(node))
        if len(path) > MAX_YAML_DEPTH:
            self.problem(node, f"nested more than {MAX_YAML_DEPTH} levels deep",
                         "a catalog entry needs only a few levels; remove the extra nesting")
            return None
        self.located.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        self.located.spans[path] = (node.start_mark.index, node.end_mark.index)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(key_node, "mapping keys must be plain words")
                    continue
                if key_node.tag == "tag:yaml.org,2002:merge" or key_node.value == "<<":
                    self.problem(key_node, "YAML merge keys (<<) are not supported",
                                 "write the keys out")
                    continue
                try:
                    key = self.constructor.construct_object(key_node)
                except yaml.YAMLError:  # e.g. a key with an unknown !!tag
                    self.problem(key_node, "mapping keys must be plain words")
                    continue
                if not isinstance(key, (str, int)):
                    key = str(key)
                bad = _KEY_CONTROL.search(key) if isinstance(key, str) else None
                if bad:
                    self.problem(key_node, f"a key contains the control character "
                                 f"U+{ord(bad.group(0)):04X} at character {bad.start() + 1}",
                                 "keys are plain words such as 'id' or 'name'; retype it")
                    continue
                if key in result:
                    self.problem(key_node, f"duplicate key '{key}'", "keep only one")
                    continue
                self.located.key_positions[path + (key,)] = (
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.convert(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            self.problem(node, f"cannot read this value: {exc}")
            return None
        if isinstance(value, str) and "\x00" in value:
            self.problem(node, "the text contains a NUL character (\\0)",
                         "remove it; no name, path or text may contain one")
            return None
        return value
