"""One link's result, and the dated results kept in the cache folder as ``links.json``.

A result is ``ok`` (a 2xx answer), ``moved`` (a 2xx answer reached through a permanent
redirect, 301 or 308: ``fix`` is the new address), ``broken`` (an error answer, a redirect
loop, no answer within the time limit, a host that does not resolve or refuses the
connection, a malformed arXiv link), ``unverified`` (rate limited past the wait modelkb
accepts: nothing is known) or ``not checked`` (no request was made or finished: the time
budget ran out, or the link's host was given up on after repeated time-outs; ``reason``
says which).

``links.json`` maps each URL to its latest result with the time it was checked (UTC,
ISO 8601). It is written atomically. It is a cache: a file that cannot be read, is larger
than :data:`MAX_FILE` bytes, is not JSON (``NaN`` and ``Infinity`` included), nests too
deeply or has not the shape it is written with counts as no results, and a record of the
wrong shape as no result for its link (the links are checked again), with one warning; so
a damaged or hand-edited file can neither stop a run nor put markup on the Link health
page (the page escapes every text anyway). Text that came from a server (a reason phrase,
a redirect target) is clipped to :data:`MAX_TEXT` characters.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from modelkb.files import atomic_write

log = logging.getLogger(__name__)

RESULTS_FILE = "links.json"  # in the cache folder
RESULTS_FORMAT = 1
STATUSES = ("broken", "moved", "unverified", "not checked", "ok")  # worst first
MAX_TEXT = 300
MAX_FILE = 64 << 20  # bytes: a larger links.json is not read


@dataclass(frozen=True)
class Result:
    """What checking one URL found."""

    url: str
    status: str  # one of STATUSES
    reason: str  # "404 Not Found", "no answer within 10 s", "host name does not resolve"
    checked: str  # when (UTC, ISO 8601)
    code: int | None = None  # the HTTP status that decided it (the redirect's, for moved)
    hint: str = ""
    fix: str | None = None  # moved: the address to link instead
    network: bool = False  # no connection was made (name, route, refusal, connect timeout)

    @property
    def checked_at(self) -> datetime | None:
        """``checked`` as an aware datetime, or None when unreadable."""
        try:
            when = datetime.fromisoformat(self.checked.replace("Z", "+00:00"))
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def now_iso() -> str:
    """The current time, UTC, ISO 8601 to the second (``2026-12-02T03:04:05Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _result_from(url: str, data: object) -> Result | None:
    """A cached record as a Result, or None when it has not the shape one is written with."""
    if not isinstance(data, dict):
        return None
    text = {k: data.get(k) for k in ("status", "reason", "checked", "hint")}
    code, fix, network = data.get("code"), data.get("fix"), data.get("network", False)
    if not all(isinstance(v, str) for v in text.values()) or text["status"] not in STATUSES \
            or not (code is None or (isinstance(code, int) and not isinstance(code, bool)))\
            or not (fix is None or isinstance(fix, str)) or not isinstance(network, bool):
        return None
    result = Result(url=url, status=text["status"], reason=clip(text["reason"]),
                    checked=text["checked"], code=code, hint=clip(text["hint"]),
                    fix=clip(fix) if fix is not None else None, network=network)
    return result if result.checked_at is not None else None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def load_results(cache_dir: Path, level: int = logging.WARNING) -> dict[str, Result]:
    """The cached results by URL; {} when there are none or the file is not a results file
    (then one message at ``level`` says so, as when some records are dropped)."""
    path = Path(cache_dir) / RESULTS_FILE
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            raise ValueError(f"larger than {MAX_FILE >> 20} MiB")
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else clip(str(exc), 200)
        log.log(level, "%s is not a link results file (%s); treated as missing: every link "
                "is checked again", path, why)
        return {}
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT \
            or not isinstance(data.get("results"), dict):
        log.log(level, "%s is not a link results file (not the shape modelkb writes); "
                "treated as missing: every link is checked again", path)
        return {}
    found = {}
    for url, record in data["results"].items():
        result = _result_from(url, record)
        if result is not None:
            found[url] = result
    dropped = len(data["results"]) - len(found)
    if dropped:
        log.log(level, "%s: %d record%s not the shape modelkb writes; treated as missing: "
                "%s checked again", path, dropped, "s are" if dropped != 1 else " is",
                "those links are" if dropped != 1 else "that link is")
    return found


def save_results(cache_dir: Path, results: dict[str, Result]) -> Path:
    """Write ``results`` (by URL) as the cache's ``links.json``, atomically; raises OSError."""
    records = {}
    for url, result in sorted(results.items()):
        record = asdict(result)
        del record["url"]
        records[url] = record
    payload = {"format": RESULTS_FORMAT, "results": records}
    return atomic_write(Path(cache_dir) / RESULTS_FILE,
                        json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
