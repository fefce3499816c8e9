"""One link's result, and the dated results kept in the cache folder as ``links.json``.

A result is ``ok`` (a 2xx answer), ``moved`` (a 2xx answer reached through a permanent
redirect, 301 or 308: ``fix`` is the new address), ``broken`` (an error answer, a redirect
loop, no answer within the time limit, a host that does not resolve or refuses the
connection, a malformed arXiv link) or ``unverified`` (rate limited past the wait modelkb
accepts: nothing is known).

``links.json`` maps each URL to its latest result with the time it was checked (UTC,
ISO 8601). It is written atomically; a file that cannot be read, or a record of the wrong
shape, counts as no result (the link is checked again), so a damaged or hand-edited file
can neither stop a run nor put markup on the Link health page (the page escapes every
text anyway). Text that came from a server (a reason phrase, a redirect target) is clipped
to :data:`MAX_TEXT` characters.
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
STATUSES = ("broken", "moved", "unverified", "ok")  # worst first
MAX_TEXT = 300


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


def load_results(cache_dir: Path) -> dict[str, Result]:
    """The cached results by URL; {} when there are none or the file cannot be read."""
    path = Path(cache_dir) / RESULTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.debug("link results %s unusable (%s); links are checked again", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT \
            or not isinstance(data.get("results"), dict):
        return {}
    found = {}
    for url, record in data["results"].items():
        result = _result_from(url, record)
        if result is not None:
            found[url] = result
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
