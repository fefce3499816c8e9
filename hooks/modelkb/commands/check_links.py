"""`modelkb links`: check every outbound link of the catalog, with its line.

The links are the catalog's URL fields (models' paper, code and weights, papers' link and
code, tools' link, gallery sources) and the http(s) links inside its Markdown text. arXiv
links and arXiv-shaped paper ids are checked for form without a request; the rest are
checked over HTTP (:mod:`modelkb.linkcheck.checker`). Results are kept with their dates in
the cache folder (``<cache>/links.json``): a link checked within ``--max-age`` is not asked
again, and the site's Link health page shows them.

Each link that is not fine is printed as ``catalog.yml:LINE:COL: URL: 404 Not Found (hint)``
(a moved one with its new address as the hint), then one summary line. The run takes at
most ``--budget`` (5 minutes); a host that timed out ``--host-timeouts`` times (2) is not
asked again; links left for either reason are printed as "not checked: ..." and recorded
so (the Link health page lists them), and asked first by the next run.

Exit status (:data:`EXIT_STATUS`): 0 when every link was checked and none is broken (moved
and unverified ones are printed but pass), 1 when one is broken, 2 when nothing could be
reached at all (no network: one line says so, the cached results are kept and nothing is
written), 3 when none is broken but some were not checked; a catalog with problems is
reported as ``modelkb check`` does, with status 1. An interrupted run (Ctrl-C, SIGTERM)
keeps the results it found, says so, and exits with 130.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from modelkb.catalog import CatalogError, load_catalog
from modelkb.catalog.yamlsrc import Problem, SourceError, read_yaml
from modelkb.commands.site_files import (
    DEFAULT_CONFIG,
    add_config_option,
    config_file,
    site_catalog,
)
from modelkb.errors import ModelkbError
from modelkb.linkcheck.checker import NOT_CHECKED, Settings, check_urls, server
from modelkb.linkcheck.collect import (
    catalog_links,
    locate,
    offline_problems,
    problem_position,
)
from modelkb.linkcheck.results import (
    RESULTS_FILE,
    STATUSES,
    Result,
    load_results,
    now_iso,
    save_results,
)
from modelkb.site.project import SNAPSHOT_DIR, Project

DEFAULT_CACHE = Path(".cache") / "modelkb"  # beside a catalog that has no mkdocs.yml
EXIT_STATUS = ("exit status: 0 every link checked, none broken; 1 a broken link (or a catalog "
               "problem); 2 nothing could be reached (no network); 3 none broken, but some "
               "links not checked (--budget ran out, or their host timed out); 130 "
               "interrupted (the results found so far are kept)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)\Z")


def duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``1w`` or seconds (``0``: check everything again)."""
    m = _DURATION_RE.match(text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a duration: write e.g. 0, 90s, 30m, 12h, 7d or 2w")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2) or "s"])


def _bounded(kind: type, low: float, high: float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low:g} and {high:g}")
        return value
    return parse


def _positive(parse):
    def positive(text: str) -> timedelta:
        value = parse(text)
        if value <= timedelta(0):
            raise argparse.ArgumentTypeError(f"'{text}' is not a time longer than zero")
        return value
    return positive


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `modelkb links`."""
    parser.epilog = EXIT_STATUS
    parser.add_argument("catalog", nargs="?", default=None, type=Path,
                        help="the catalog file (default: the one the site's mkdocs.yml names, "
                             "else catalog.yml)")
    add_config_option(parser, "the site's mkdocs.yml: its catalog and cache folder "
                              "(default: mkdocs.yml in the working folder)")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="where results are kept (default: the site's cache setting, "
                             "else .cache/modelkb beside the catalog)")
    parser.add_argument("--max-age", type=duration, default=timedelta(days=1),
                        metavar="DURATION",
                        help="reuse results younger than this, without a request "
                             "(e.g. 12h, 7d; 0 checks everything; default: 1d)")
    parser.add_argument("--timeout", type=_bounded(float, 0.1, 300), default=10.0, metavar="S",
                        help="seconds to wait for a connection and for each answer "
                             "(default: 10)")
    parser.add_argument("--concurrency", type=_bounded(int, 1, 256), default=16, metavar="N",
                        help="requests at once (default: 16)")
    parser.add_argument("--per-host", type=_bounded(int, 1, 32), default=2, metavar="N",
                        help="requests at once to one host (default: 2)")
    parser.add_argument("--retries", type=_bounded(int, 0, 10), default=2, metavar="N",
                        help="tries again after a connection error, a time-out, 429 or 5xx, "
                             "with growing waits (default: 2)")
    parser.add_argument("--budget", type=_positive(duration), default=timedelta(minutes=5),
                        metavar="DURATION",
                        help="the most the whole run may take (e.g. 90s, 10m); links not "
                             "checked by then are reported as such (default: 5m)")
    parser.add_argument("--host-timeouts", type=_bounded(int, 1, 100), default=2, metavar="N",
                        help="after N requests to one host got no answer within --timeout, "
                             "its other links are not asked (default: 2)")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON (the same exit status)")


def _paths(args: argparse.Namespace) -> tuple[Path, str, Path]:
    """(catalog file, its name in messages, cache folder) from the arguments."""
    project = None
    if (args.config is not None or DEFAULT_CONFIG.is_file()) \
            and (args.catalog is None or args.cache is None):
        project = Project.from_config_file(config_file(args.config))
    if args.catalog is not None:
        catalog = args.catalog
        name = str(catalog)
    elif project is not None:
        catalog, name = project.catalog_file, project.display(project.catalog_file)
    else:  # catalog.yml here, or an error saying where it looked
        catalog, name, _ = site_catalog(None, None)
    if args.cache is not None:
        cache = args.cache
    elif project is not None:
        cache = project.cache_dir
    else:
        cache = catalog.parent / DEFAULT_CACHE
    return catalog, name, cache


def run(args: argparse.Namespace) -> int:
    """Check the links; print what is not fine and a summary; see the module docstring."""
    catalog_file, name, cache_dir = _paths(args)
    try:
        catalog = load_catalog(catalog_file, display=name, snapshot_dir=cache_dir / SNAPSHOT_DIR)
        located = read_yaml(catalog_file, display=name)
    except (CatalogError, SourceError) as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(f"{name}: {count} problem{'s' if count != 1 else ''}; fix the catalog first "
              "(modelkb check lists them), then check its links")
        return 1
    uses = locate(catalog_links(catalog), located)
    offline = offline_problems(catalog, uses)
    malformed = {p.subject for p in offline}
    cached = load_results(cache_dir)
    now = datetime.now(timezone.utc)
    fresh = {url: r for url, r in cached.items()
             if r.checked_at is not None and r.status != NOT_CHECKED
             and timedelta(0) <= now - r.checked_at <= args.max_age}
    wanted = list(dict.fromkeys(u.url for u in uses))
    to_check = [u for u in wanted if u not in fresh and u not in malformed]
    settings = Settings(timeout=args.timeout, concurrency=args.concurrency,
                        per_host=args.per_host, retries=args.retries,
                        budget=args.budget.total_seconds(), host_timeouts=args.host_timeouts)
    keep = {u.url for u in uses}
    done: dict[str, Result] = {}
    try:
        outcome = check_urls(to_check, settings, done) if to_check else None
    except KeyboardInterrupt:
        kept = [r for r in done.values() if not r.network]  # a network failure may be ours
        if kept:
            _save(cache_dir, cached, keep, {r.url: r for r in kept})
        print(f"{name}: interrupted: {len(kept)} of {len(to_check)} "
              f"link{'s' if len(to_check) != 1 else ''} checked; their results are kept in "
              f"{cache_dir / RESULTS_FILE}")
        raise
    results = {url: fresh[url] for url in wanted if url in fresh and url not in malformed}
    network_down = outcome is not None and outcome.network_down
    if outcome is not None:
        results.update({url: r for url, r in outcome.results.items()
                        if not (network_down and r.network)})
    checked = now_iso()
    for problem in offline:
        if problem.subject in malformed and "://" in problem.subject:
            results[problem.subject] = Result(url=problem.subject, status="broken",
                                              reason=problem.message, checked=checked,
                                              hint=problem.hint)
    if outcome is not None and not network_down:
        _save(cache_dir, cached, keep, results)

    findings = _findings(name, uses, offline, results, located)
    broken = sum(f["status"] == "broken" for f in findings)
    counts = {status: sum(r.status == status for r in results.values()) for status in STATUSES}
    summary = _summary(name, wanted, fresh, to_check, counts, outcome, network_down,
                       settings)
    status = 1 if broken else (2 if network_down else (3 if counts[NOT_CHECKED] else 0))
    if args.json:
        report = {"catalog": name, "checked": checked, "exit_status": status,
                  "network_down": network_down,
                  "budget_ran_out": bool(outcome and outcome.budget_ran_out),
                  "hosts_given_up": list(outcome.slow_hosts) if outcome else [],
                  "summary": summary,
                  "counts": counts, "requests": outcome.requests if outcome else 0,
                  "findings": findings,
                  "links": [_link_json(u, results.get(u.url)) for u in uses]}
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return status
    for finding in findings:
        print(Problem(name, finding["line"], finding["col"],
                      f"{finding['subject']}: {finding['reason']}", finding["hint"]))
    print(summary)
    return status


def _save(cache_dir: Path, cached: dict[str, Result], keep: set[str],
          results: dict[str, Result]) -> None:
    """Write the results file: the cached results of links still in the catalog, updated by
    ``results``. What nothing was learnt about keeps its older result: an unverified link
    always, a link not checked when it has one (it is still asked first next time)."""
    merged = {url: r for url, r in cached.items() if url in keep}
    for url, result in results.items():
        if result.status == "unverified":
            continue
        if result.status == NOT_CHECKED and url in merged \
                and merged[url].status != NOT_CHECKED:
            continue
        merged[url] = result
    try:
        save_results(cache_dir, merged)
    except OSError as exc:
        raise ModelkbError(f"cannot write {cache_dir / RESULTS_FILE}: "
                           f"{exc.strerror or exc}; check the cache folder's permissions "
                           "and free space, or pass --cache") from None


def _findings(name: str, uses, offline, results: dict[str, Result], located) -> list[dict]:
    """Every place whose link is not fine (offline problems included), in file order."""
    found = []
    for problem in offline:
        line, col = problem_position(problem, located)
        found.append({"line": line, "col": col, "subject": problem.subject,
                      "status": "broken", "reason": problem.message, "hint": problem.hint,
                      "fix": None})
    malformed = {p.subject for p in offline}
    for use in uses:
        result = results.get(use.url)
        if use.url in malformed or result is None or result.status == "ok":
            continue
        if result.network and result.status == "unverified":
            continue  # not checked for want of a network: the summary says so
        found.append({"line": use.line, "col": use.col, "subject": use.url,
                      "status": result.status, "reason": result.reason,
                      "hint": result.hint + (f"; checked {result.checked}"
                                             if result.status == "broken" else ""),
                      "fix": result.fix})
    found.sort(key=lambda f: (f["line"], f["col"]))
    return [{"file": name, **f} for f in found]


def _summary(name: str, wanted: list[str], fresh: dict, to_check: list[str],
             counts: dict[str, int], outcome, network_down: bool, settings: Settings) -> str:
    hosts = len({server(u) for u in to_check})
    if network_down:
        return (f"{name}: no network: none of the {hosts} host{'s' if hosts != 1 else ''} "
                f"could be reached ({outcome.first_error}); {len(to_check)} "
                f"link{'s' if len(to_check) != 1 else ''} not checked, cached results kept; "
                "run again when online")
    reused = sum(url in fresh for url in wanted)
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s] or s in ("ok", "broken")]
    text = (f"{name}: {len(wanted)} link{'s' if len(wanted) != 1 else ''}"
            f" ({len(to_check)} checked now, {reused} from results younger than --max-age): "
            + ", ".join(reversed(parts)))
    if outcome is not None and outcome.slow_hosts:
        count = len(outcome.slow_hosts)
        text += (f"; gave up on {count} host{'s' if count != 1 else ''} that timed out "
                 f"{settings.host_timeouts} time{'s' if settings.host_timeouts != 1 else ''} "
                 f"({', '.join(outcome.slow_hosts[:5])}{', ...' if count > 5 else ''})")
    if outcome is not None and outcome.budget_ran_out:
        left = sum(r.reason.startswith("not checked: the time budget")
                   for r in outcome.results.values())
        text += (f"; the time budget of {settings.budget:g} s ran out: {left} "
                 f"link{'s' if left != 1 else ''} not checked (run again, or raise --budget)")
    return text


def _link_json(use, result: Result | None) -> dict:
    return {"url": use.url, "line": use.line, "col": use.col, "section": use.section,
            "entry": use.key, "field": use.field,
            "status": result.status if result else NOT_CHECKED,
            "reason": result.reason if result else "", "hint": result.hint if result else "",
            "fix": result.fix if result else None,
            "checked": result.checked if result else None}
