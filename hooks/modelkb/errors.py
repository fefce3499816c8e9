"""User-facing errors: a message a person can act on, never a traceback; and messages made
safe for a terminal.

Every line modelkb prints (a ``ModelkbError``, a catalog problem, a log line of the CLI or
of a build) goes through :func:`terminal_safe`: text from a catalog, a prompt file, a file
name or a command-line argument could otherwise carry escape sequences that erase lines,
hide text or write the clipboard (OSC 52) in the reader's terminal.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, TextIO

# The error type itself lives at the bottom of the pixel package, which imports nothing of
# modelkb outside itself (its code is the pictures' cache key); it is used from here.
from modelkb.pixels.usererror import ModelkbError

__all__ = ["ModelkbError", "TerminalFilter", "TerminalFormatter", "TerminalStream",
           "terminal_safe"]

# C0 controls but tab, line feed and a carriage return ending a line (CRLF), DEL, C1
# controls, and the bidirectional overrides and isolates that reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f"
                     "\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, keep: str = "") -> str:
    """``text`` with every control character but tab, line feed, CRLF (and those in ``keep``)
    written as an escape (ESC as ``\\x1b``, a right-to-left override as ``\\u202e``), so
    printing it cannot move the cursor, recolour, retitle or reorder the terminal.
    Idempotent."""
    if keep:
        return _UNSAFE.sub(lambda m: m.group(0) if m.group(0) in keep else _escape(m), text)
    return _UNSAFE.sub(_escape, text)


class TerminalStream:
    """A text stream whose writes pass through :func:`terminal_safe` (``keep``: characters
    left alone, such as the carriage return of a progress bar on stderr)."""

    def __init__(self, stream: TextIO, keep: str = ""):
        self.stream, self.keep = stream, keep

    def write(self, text: str) -> int:
        return self.stream.write(terminal_safe(text, self.keep))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding...
        return getattr(self.stream, name)


class TerminalFormatter(logging.Formatter):
    """A log formatter whose lines pass through :func:`terminal_safe`."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


class TerminalFilter(logging.Filter):
    """A logging filter that makes a record's message terminal safe (for loggers whose
    handlers someone else formats, such as MkDocs')."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = terminal_safe(message)
        if safe != message:
            record.msg, record.args = safe, ()
        return True
