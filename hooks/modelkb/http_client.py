"""The one HTTP client of modelkb and its one redirect policy, for every request it makes
(weights downloads, the link checker).

The client is httpx (:func:`client`, :func:`async_client`; imported when one is made) with
its own redirect following off: a response's ``Location`` is moved aside before httpx reads
it (:func:`location` gives it), so an address httpx cannot parse reaches the policy too.
A redirect is followed by hand (:class:`Redirects`), each hop checked before it is
requested: the ``Location`` is made absolute against the address that sent it (its
``#fragment`` dropped: servers never see one), and refused when it is not a valid URL (for
:func:`url_problem` and for httpx alike: a port out of range, a control character, a host
name IDNA refuses, longer than :data:`MAX_URL`), not http:// or https:// with a host, an
address already seen on the way (a loop), or one hop more than the caller's limit. Callers
turn a :class:`Refused` into their own message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})  # the link has moved for good
LOCATION = "X-Modelkb-Location"  # where a response's Location header is kept
MAX_URL = 8192  # characters: longer addresses are refused (servers refuse them too)


def _keep_location(response: Any) -> None:
    """Move a response's Location header aside: httpx would parse it (and fail on an
    address it cannot read) before the policy sees it."""
    value = response.headers.get("location")
    if value is not None:
        del response.headers["location"]
        response.headers[LOCATION] = value


def location(response: Any) -> str | None:
    """A response's Location header, as the server sent it."""
    return response.headers.get(LOCATION)


def client(**options: Any) -> Any:
    """An ``httpx.Client`` that leaves redirects to this module's policy."""
    import httpx

    return httpx.Client(follow_redirects=False, event_hooks={"response": [_keep_location]},
                        **options)


def async_client(**options: Any) -> Any:
    """An ``httpx.AsyncClient`` that leaves redirects to this module's policy."""
    import httpx

    async def keep_location(response: Any) -> None:
        _keep_location(response)

    return httpx.AsyncClient(follow_redirects=False,
                             event_hooks={"response": [keep_location]}, **options)


class Refused(Exception):
    """A redirect the policy does not follow: ``why`` is 'invalid' (``detail``: the
    parser's reason), 'not-web', 'loop' or 'too-many'; ``target`` where it led."""

    def __init__(self, why: str, target: str, detail: str = ""):
        super().__init__(f"{why}: {target}")
        self.why, self.target, self.detail = why, target, detail


def is_redirect(status: int, location: str | None) -> bool:
    """True for an answer that sends the client elsewhere (a redirect with a Location)."""
    return status in REDIRECTS and bool(location and location.strip())


def url_problem(url: str) -> str | None:
    """Why httpx could not request ``url`` (None when it can): every part it would parse
    later (port, host name, characters) is parsed now, so no address fails mid-request."""
    if len(url) > MAX_URL:
        return f"longer than {MAX_URL:,} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        return "it contains a control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if port == 0:
        return "port 0"
    import httpx

    try:
        parsed = httpx.URL(url)
        parsed.host  # noqa: B018 - decodes the IDNA host name, which raises on a bad one
        parsed.port  # noqa: B018
    except Exception as exc:  # httpx and idna raise several kinds: any is a refusal
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


@dataclass
class Redirects:
    """The hops of one request, from ``start``, at most ``limit`` of them."""

    start: str
    limit: int
    hops: int = 0
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.seen.add(urldefrag(self.start)[0])

    def follow(self, current: str, location: str) -> str:
        """The address the redirect from ``current`` to ``location`` leads to; raises
        :class:`Refused` when the policy does not follow it."""
        if len(location) > MAX_URL:
            raise Refused("invalid", location[:200], f"longer than {MAX_URL:,} characters")
        try:
            target = urldefrag(urljoin(current, location.strip()))[0]
            parts = urlsplit(target)
            host = parts.hostname
        except ValueError as exc:
            raise Refused("invalid", location, str(exc)) from None
        if parts.scheme.lower() not in ("http", "https"):
            raise Refused("not-web", target)
        problem = "no host" if not host else url_problem(target)
        if problem is not None:
            raise Refused("invalid", target, problem)
        if target in self.seen:
            raise Refused("loop", target)
        self.hops += 1
        if self.hops > self.limit:
            raise Refused("too-many", target)
        self.seen.add(target)
        return target
