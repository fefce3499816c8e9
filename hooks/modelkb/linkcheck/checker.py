"""The HTTP link checker: many links at once, gently, and done promptly when nothing answers.

:func:`check_urls` checks each URL with httpx (asyncio):

- **limits**: at most ``concurrency`` requests at once, ``per_host`` of them to one host;
- **HEAD, then GET**: a HEAD request first (no body); when the server answers it with
  400, 403, 404, 405, 406, 410 or 501, or drops the connection, the same URL is asked
  with GET, whose body is never read (servers that mishandle HEAD are common). A host
  that refused HEAD (405, 501, dropped) is asked with GET from then on;
- **retries**: a connection error, a time-out, 429 or a 5xx answer (but 501) is tried
  again, ``retries`` times, after ``backoff`` x 2^n seconds (plus a little jitter), or
  after the server's ``Retry-After`` when it asks for at most ``retry_after_cap`` seconds;
  a longer wait is not made (a 429 is then "unverified", a 5xx "broken");
- **redirects**: followed by hand under modelkb's one policy (:mod:`modelkb.http_client`: up
  to ``max_redirects`` hops, each to an http(s) address, a loop stopped at the first
  address seen twice); the leading permanent hops (301, 308) give a moved link's new
  address (with the link's own ``#fragment`` kept);
- **time**: every request is bounded (``timeout`` for the connection and for each read,
  twice that for the whole request);
- **no network**: a host is tried ``retries`` + 1 times in all, its links together; once
  every one of those connections failed (name, refusal, connect time-out) it counts as
  unreachable and its other links are not tried, and when three hosts (or all, if fewer)
  are unreachable before anything at all answered, the links not yet checked are left
  "unverified" and the run says the network is down (:attr:`Run.network_down`);
- **a slow host**: once ``host_timeouts`` requests to one host got no answer in time (2 by
  default), its links not yet asked are "not checked: host H timed out twice", without a
  request (the links that timed out are broken, as ever);
- **a budget**: the whole run takes at most ``budget`` seconds; the links still being
  checked then are "not checked: the time budget of N s ran out" (:attr:`Run.budget_ran_out`).

Whatever a server answers, each link gets a :class:`Result` and the run goes on: headers are
parsed defensively (``Retry-After`` is ASCII digits or an HTTP date, at most a day), a
redirect target is checked by the one policy before it is requested, and any other failure
while checking a link becomes that link's "broken" result with its reason. The results found
so far are in the ``done`` mapping the caller passes, so an interrupted run keeps them.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from modelkb.http_client import PERMANENT, Redirects, Refused, async_client, is_redirect, location
from modelkb.linkcheck.results import Result, clip, now_iso

USER_AGENT = "modelkb-links/1 (checks the outbound links of a modelkb site)"
HEAD_FALLBACK = frozenset({400, 403, 404, 405, 406, 410, 501})
HEAD_REFUSED = frozenset({405, 501})  # the host does not do HEAD: GET from then on
NETWORK_DOWN_HOSTS = 3
MAX_RETRY_AFTER = 86400.0  # seconds: a longer Retry-After counts as a day
NOT_CHECKED = "not checked"
_ASCII_DIGITS = re.compile(r"[0-9]+\Z")


@dataclass(frozen=True)
class Settings:
    """How :func:`check_urls` checks (the ``modelkb links`` options)."""

    timeout: float = 10.0
    concurrency: int = 16
    per_host: int = 2
    retries: int = 2
    max_redirects: int = 10
    backoff: float = 0.5
    retry_after_cap: float = 30.0
    budget: float | None = 300.0  # seconds for the whole run (None: no limit)
    host_timeouts: int = 2  # time-outs after which a host's other links are not asked


@dataclass
class Run:
    """What one run found: a result per URL and how the network behaved."""

    results: dict[str, Result]
    requests: int  # requests sent
    answers: int  # HTTP answers received
    network_down: bool  # nothing could be reached at all
    first_error: str  # the first network failure, as "host: reason" ('' when none)
    budget_ran_out: bool = False  # some links were not checked for want of time
    slow_hosts: tuple[str, ...] = ()  # hosts given up on after repeated time-outs


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None
    retry_after: float | None


class _Failed(Exception):
    """A request that got no HTTP answer, classified."""

    def __init__(self, reason: str, hint: str, *, network: bool, retry: bool,
                 status: str = "broken", timeout: bool = False, skipped: bool = False):
        super().__init__(reason)
        self.reason, self.hint = reason, hint
        self.network, self.retry, self.status = network, retry, status
        self.timeout = timeout  # no answer in time (the host counts towards giving up)
        self.skipped = skipped  # not asked: its host was given up on


def check_urls(urls: Iterable[str], settings: Settings | None = None,
               done: dict[str, Result] | None = None) -> Run:
    """Check each URL (duplicates once); see the module docstring. Each result is put in
    ``done`` as soon as it is known; a SIGTERM (as a SIGINT) ends the run with
    KeyboardInterrupt, the results found so far left in ``done``."""
    unique = list(dict.fromkeys(urls))
    try:
        return asyncio.run(_check_all(unique, settings or Settings(),
                                      done if done is not None else {}))
    except asyncio.CancelledError:  # SIGTERM cancelled the run
        raise KeyboardInterrupt from None


def _budget_result(url: str, budget: float) -> Result:
    return Result(url=url, status=NOT_CHECKED,
                  reason=f"not checked: the time budget of {budget:g} s ran out",
                  checked=now_iso(),
                  hint=("run again: links checked in this run are not asked again within "
                        "--max-age; or raise --budget"))


async def _check_all(urls: list[str], settings: Settings, done: dict[str, Result]) -> Run:
    limits = httpx.Limits(max_connections=settings.concurrency,
                          max_keepalive_connections=settings.concurrency)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    terminate = False  # SIGTERM ends the run as SIGINT does, the results so far kept
    if main is not None:
        try:
            loop.add_signal_handler(signal.SIGTERM, main.cancel)
            terminate = True
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread, or no signals here
    try:
        async with async_client(timeout=httpx.Timeout(settings.timeout), limits=limits,
                                headers={"User-Agent": USER_AGENT, "Accept": "*/*"}
                                ) as client:
            checker = _Checker(client, settings, {server(u) for u in urls}, done)
            tasks = [asyncio.create_task(checker.check(u)) for u in urls]
            try:
                if tasks:
                    await asyncio.wait(tasks, timeout=settings.budget)
            finally:
                pending = [t for t in tasks if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.gather(*pending, return_exceptions=True)
    finally:
        if terminate:
            loop.remove_signal_handler(signal.SIGTERM)
    unfinished = [url for url in urls if url not in done]  # when the budget ran out
    for url in unfinished:
        done[url] = _budget_result(url, settings.budget or 0)
    first = next(iter(checker.unreachable.items()), None)
    return Run(results={url: done[url] for url in urls}, requests=checker.requests,
               answers=checker.answers,
               network_down=not checker.reached and bool(checker.unreachable),
               first_error=f"{_shown(first[0])}: {first[1].reason}" if first else "",
               budget_ran_out=bool(unfinished),
               slow_hosts=tuple(_shown(h) for h in checker.slow_hosts))


def _shown(host: str) -> str:
    """A server as ``host:port``, without the port when it is 80 or 443."""
    return re.sub(r":(80|443)\Z", "", host)


def server(url: str) -> str:
    """The server a URL is on: its host name and port (the scheme's when none is given)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ""
    return f"{(parts.hostname or '').lower()}:{port}"


def _defrag(url: str) -> tuple[str, str]:
    """(the URL without its fragment, the fragment)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment="")), parts.fragment


def _phrase(code: int) -> str:
    return f"{code} {httpx.codes.get_reason_phrase(code) or 'Unknown Status'}"


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks to wait, at most :data:`MAX_RETRY_AFTER`: ASCII
    digits or an HTTP date (RFC 9110); anything else (other digits, a sign, a fraction, a
    date Python cannot hold) is no Retry-After at all."""
    if not value or not value.isascii():
        return None
    value = value.strip()
    if _ASCII_DIGITS.match(value):
        return min(float(value[:12]), MAX_RETRY_AFTER)  # 12 digits are more than a day
    if len(value) > 64:
        return None
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        wait = (when - datetime.now(timezone.utc)).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, wait), MAX_RETRY_AFTER)


def _wait(seconds: float) -> str:
    return "a day or more" if seconds >= MAX_RETRY_AFTER else f"{seconds:.0f} s"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def _classify(exc: BaseException, timeout: float) -> _Failed:
    """A failed request as a reason, a hint and whether to retry it."""
    chain = list(_causes(exc))
    if isinstance(exc, httpx.ConnectTimeout):
        return _Failed(f"no connection within {timeout:g} s",
                       "the host does not answer; check the address, or try --timeout",
                       network=True, retry=True)
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
        return _Failed(f"no answer within {timeout:g} s",
                       "the server is too slow or stuck; try again later, or raise --timeout",
                       network=False, retry=True, timeout=True)
    if isinstance(exc, httpx.ConnectError):
        text = " ".join(str(e) for e in chain)
        if any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in text:
            return _Failed(f"secure connection failed ({clip(str(exc), 120)})",
                           "the site's certificate is not valid; check the address",
                           network=False, retry=False)
        if any(isinstance(e, socket.gaierror) for e in chain) or "getaddrinfo" in text \
                or "Name or service not known" in text or "name resolution" in text:
            return _Failed("host name does not resolve",
                           "check the host name; the site may be gone",
                           network=True, retry=True)
        if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
            return _Failed("connection refused", "nothing answers at that address and port",
                           network=True, retry=True)
        return _Failed(f"cannot connect ({clip(str(exc), 120)})",
                       "the host cannot be reached", network=True, retry=True)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return _Failed("the server closed the connection without an answer",
                       "try again later", network=False, retry=True)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return _Failed(f"cannot be requested ({clip(str(exc), 120)})",
                       "write the full https:// address", network=False, retry=False)
    return _Failed(f"request failed ({clip(str(exc) or type(exc).__name__, 120)})", "",
                   network=False, retry=False)


def _error_hint(code: int) -> str:
    if code in (404, 410):
        return "the page is gone: find where it moved, or remove the link"
    if code in (401, 403):
        return ("the server refuses the check (it may need a login or turn robots away): "
                "open it in a browser")
    if code >= 500:
        return "the server fails: try again later, or link another copy"
    return "the server refuses the request"


class _Checker:
    def __init__(self, client: httpx.AsyncClient, settings: Settings, hosts: set[str],
                 done: dict[str, Result]):
        self.client, self.s, self.done = client, settings, done
        self.timeouts: dict[str, int] = {}  # host -> requests that got no answer in time
        self.slow_hosts: list[str] = []  # hosts given up on, in the order it happened
        self.all = asyncio.Semaphore(settings.concurrency)
        self.per_host: dict[str, asyncio.Semaphore] = {}
        self.no_head: set[str] = set()
        self.unreachable: dict[str, _Failed] = {}  # host -> why, after its retries
        self.connect_failures: dict[str, int] = {}  # host -> failed connections in a row
        self.hosts = hosts
        self.requests = self.answers = 0
        self.reached = False  # anything answered, or at least accepted a connection

    @property
    def network_down(self) -> bool:
        return not self.reached and len(self.unreachable) >= min(NETWORK_DOWN_HOSTS,
                                                                 len(self.hosts))

    async def check(self, url: str) -> Result:
        """The link's result; never raises (but for cancellation)."""
        try:
            result = await self._follow(url)
        except _Failed as failed:
            result = Result(url=url, status=failed.status, reason=clip(failed.reason),
                            checked=now_iso(), hint=clip(failed.hint), network=failed.network)
        except Exception as exc:  # an answer nothing above foresaw: this link's result only
            result = Result(url=url, status="broken",
                            reason=clip(f"check failed ({type(exc).__name__}: {exc})", 200),
                            checked=now_iso(),
                            hint="the server's answer could not be read; open it in a browser")
        self.done[url] = result
        return result

    async def _follow(self, url: str) -> Result:
        current, fragment = _defrag(url)
        redirects = Redirects(current, self.s.max_redirects)
        moved_to: str | None = None
        moved_code: int | None = None
        permanent = True  # only permanent hops so far
        while True:
            try:
                answer = await self._fetch(current)
            except _Failed as failed:
                if current != _defrag(url)[0]:
                    failed.hint = f"{failed.hint}; after redirects to {clip(current, 200)}"
                raise
            if not is_redirect(answer.status, answer.location):
                return self._final(url, current, answer, moved_to, moved_code, fragment)
            try:
                following = redirects.follow(current, answer.location or "")
            except Refused as refused:
                raise self._refused(refused, answer.status, current) from None
            if permanent and answer.status in PERMANENT:
                moved_to, moved_code = following, moved_code or answer.status
            else:
                permanent = False
            current = following

    def _refused(self, refused: Refused, status: int, current: str) -> _Failed:
        """A redirect the policy (modelkb.http_client) does not follow, as a failure."""
        if refused.why == "loop":
            return _Failed("redirect loop",
                           f"{clip(current, 200)} redirects back to {clip(refused.target, 200)}; "
                           "link the page it should reach", network=False, retry=False)
        if refused.why == "too-many":
            return _Failed(f"more than {self.s.max_redirects} redirects",
                           "link the final address", network=False, retry=False)
        if refused.why == "invalid":
            return _Failed(f"{_phrase(status)} to an address that is not a valid URL",
                           f"{clip(refused.target, 200)}: {clip(refused.detail, 200)}; link "
                           "the page the redirect should reach", network=False, retry=False)
        return _Failed(f"{_phrase(status)} to a non-web address",
                       "link the page the redirect should reach", network=False, retry=False)

    def _final(self, url: str, current: str, answer: _Answer, moved_to: str | None,
               moved_code: int | None, fragment: str) -> Result:
        code = answer.status
        after = (f"after redirects to {clip(current, 200)}"
                 if current != _defrag(url)[0] else "")
        if 200 <= code < 300:
            if moved_to is not None and moved_code is not None:
                fix = moved_to + (f"#{fragment}" if fragment else "")
                return Result(url=url, status="moved", reason=_phrase(moved_code),
                              checked=now_iso(), code=moved_code, fix=clip(fix),
                              hint=f"moved to {clip(fix, 200)}: link the new address")
            return Result(url=url, status="ok", reason=_phrase(code), checked=now_iso(),
                          code=code)
        if code == 429:
            wait = answer.retry_after
            hint = ("the server limits requests"
                    + (f" and asks to wait {_wait(wait)}" if wait is not None else "")
                    + "; check again later")
            return Result(url=url, status="unverified", reason=_phrase(code),
                          checked=now_iso(), code=code, hint=hint)
        hint = (_error_hint(code) if 400 <= code < 600
                else "an unexpected answer (a redirect without a Location?)")
        return Result(url=url, status="broken", reason=_phrase(code), checked=now_iso(),
                      code=code, hint="; ".join(h for h in (hint, after) if h))

    async def _fetch(self, url: str) -> _Answer:
        """One address, HEAD or GET, with retries; raises _Failed when nothing answered."""
        host = server(url)
        outcome: _Answer | _Failed | None = None
        for attempt in range(self.s.retries + 1):
            if attempt:
                wait = self.s.backoff * 2 ** (attempt - 1)
                if isinstance(outcome, _Answer) and outcome.retry_after is not None:
                    wait = max(wait, outcome.retry_after)
                await asyncio.sleep(wait + random.uniform(0, self.s.backoff / 4))
            try:
                answer = await self._head_or_get(url)
            except _Failed as known:
                if known.skipped and isinstance(outcome, _Failed):
                    raise outcome from None  # this link's own time-out, not the skip
                raise  # the host or the network is known to be unreachable, or too slow
            except Exception as exc:  # any failure of this request is classified
                outcome = _classify(exc, self.s.timeout)
                if not outcome.network:
                    self.reached = True
                elif self._give_up_on(host, outcome):
                    break
                if outcome.timeout:
                    self._timed_out(host)
                if not outcome.retry:
                    break
                continue
            self.reached = True
            self.connect_failures.pop(host, None)
            outcome = answer
            retryable = answer.status == 429 or (answer.status >= 500 and answer.status != 501)
            too_long = (answer.retry_after is not None
                        and answer.retry_after > self.s.retry_after_cap)
            if not retryable or too_long:
                break
        if isinstance(outcome, _Answer):
            return outcome
        assert outcome is not None
        raise outcome

    def _give_up_on(self, host: str, failure: _Failed) -> bool:
        """Count a failed connection to ``host``; True once it failed more often than a link
        is tried (its links together), when the host counts as unreachable."""
        self.connect_failures[host] = self.connect_failures.get(host, 0) + 1
        if self.connect_failures[host] <= self.s.retries:
            return False
        self.unreachable.setdefault(host, failure)
        return True

    def _timed_out(self, host: str) -> None:
        """Count a request to ``host`` that got no answer in time; after ``host_timeouts``
        of them, its links not yet asked are not checked."""
        self.timeouts[host] = self.timeouts.get(host, 0) + 1
        if self.timeouts[host] >= self.s.host_timeouts and host not in self.slow_hosts:
            self.slow_hosts.append(host)

    async def _head_or_get(self, url: str) -> _Answer:
        host = server(url)
        if host not in self.no_head:
            try:
                answer = await self._send("HEAD", url)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                self.no_head.add(host)  # it dropped HEAD: ask with GET
            else:
                if answer.status not in HEAD_FALLBACK:
                    return answer
                if answer.status in HEAD_REFUSED:
                    self.no_head.add(host)
        return await self._send("GET", url)

    async def _send(self, method: str, url: str) -> _Answer:
        host = server(url)
        limit = self.per_host.setdefault(host, asyncio.Semaphore(self.s.per_host))
        async with limit, self.all:
            known = self.unreachable.get(host)
            if known is not None:
                raise _copy(known)
            if host in self.slow_hosts:
                count = self.timeouts[host]
                times = {1: "once", 2: "twice"}.get(count, f"{count} times")
                raise _Failed(f"not checked: host {_shown(host)} timed out {times}",
                              "the server is too slow; run again later, or raise --timeout",
                              network=False, retry=False, status=NOT_CHECKED, skipped=True)
            if self.network_down:
                raise _Failed("not checked: no network", "run again when online",
                              network=True, retry=False, status="unverified")
            self.requests += 1
            request = self.client.build_request(method, url)
            response = await asyncio.wait_for(self.client.send(request, stream=True),
                                              2 * self.s.timeout)
            await response.aclose()  # the body is never read
        self.answers += 1
        return _Answer(response.status_code, location(response),
                       _retry_after(response.headers.get("retry-after")))


def _copy(known: _Failed) -> _Failed:
    """A fresh copy of a host's failure (each link gets its own, its hint may grow)."""
    return _Failed(known.reason, known.hint, network=known.network, retry=False,
                   status=known.status)

