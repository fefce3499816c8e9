"""Build-time benchmarks: modelkb's warm rebuild against plain MkDocs, and scale.

Each modelkb project is paired with a *static twin*: the same pages (every page modelkb
generates, written out as ordinary Markdown, and every generated image copied as a file)
built by plain MkDocs with the same theme and plugins but no hooks. Both are built
alternately in one run, so the ratio compares like with like on a shared, noisy machine.

    python benchmarks/bench_build.py warm [--repeats 5]
    python benchmarks/bench_build.py scale [--sizes 100 1000 10000]

The warm run needs the gallery computed once (the first build does it; weights as the site
uses them). Prints Markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

_BUILD_AND_REPORT = (
    "import sys, runpy\n"
    "sys.argv = ['mkdocs', 'build', '-q', '-d', sys.argv[1]]\n"
    "try:\n"
    "    runpy.run_module('mkdocs', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code or 0\n"
    "else:\n"
    "    code = 0\n"
    "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
    "print('MAXRSS', hwm, 'TORCH', 'torch' in sys.modules,\n"
    "      'PYDANTIC', 'pydantic' in sys.modules, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def timed_build(project: Path) -> tuple[float, float, bool, bool]:
    """Build ``project`` in a fresh process: (seconds, peak RSS in MiB, torch imported,
    pydantic imported).

    Peak RSS is the process's own VmHWM (ru_maxrss would carry the parent's over exec).
    """
    site = project / "site"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _BUILD_AND_REPORT, str(site)], cwd=project,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build of {project} failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MAXRSS"))
    parts = line.split()
    return seconds, int(parts[1]) / 1024, parts[3] == "True", parts[5] == "True"


def copy_project(dest: Path, cache: Path | None = None) -> Path:
    """The shipped project (config, docs, catalog, gallery) copied into ``dest``."""
    dest.mkdir(parents=True)
    for name in ("catalog.yml", "mkdocs.yml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("docs", "gallery_src"):
        shutil.copytree(ROOT / name, dest / name)
    (dest / "hooks").mkdir()
    shutil.copy(ROOT / "hooks" / "modelkb_hooks.py", dest / "hooks")
    if cache is not None:
        text = (dest / "mkdocs.yml").read_text().replace(
            "    cache: .cache/modelkb\n", f"    cache: {cache}\n")
        (dest / "mkdocs.yml").write_text(text)
    return dest


def grow_catalog(project: Path, questions: int) -> None:
    """Append generated tasks, models, papers and questions (linear cross-references)."""
    data = yaml.safe_load((project / "catalog.yml").read_text(encoding="utf-8"))
    models = max(1, questions // 10)
    papers = max(3, questions // 5)
    data["tasks"].append({"id": "bench-task", "name": "Benchmark task",
                          "summary": "A task used only by the benchmark."})
    data["models"] += [{"id": f"bench-model-{i}", "name": f"Bench Model {i}", "task": "bench-task",
                        "paper": f"https://example.org/models/{i}.pdf",
                        "code": f"https://github.com/example/model-{i}",
                        "summary": f"Model number {i}, generated for the benchmark."}
                       for i in range(models)]
    data["papers"] += [{"id": f"bench-paper-{i}", "title": f"A Generated Paper Number {i}",
                        "link": f"https://arxiv.org/abs/9999.{i:05d}",
                        "summary": "An abstract of a few sentences. " * 6}
                       for i in range(papers)]
    for i in range(questions):
        m = f"bench-model-{i % models}"
        ps = [f"bench-paper-{(i + k) % papers}" for k in range(3)]
        data["questions"].append({
            "slug": f"bench-question-{i}", "question": f"How does benchmark question {i} work?",
            "task": "bench-task", "models": [m], "papers": ps,
            "answer": {
                "summary": f"Generated answer {i}.",
                "task": "You want to know how it works. " * 5,
                "workflow": f"Input, then [[{m}]], then output. " * 3,
                "notes": {ref: f"How [[{ref}]] bears on question {i}." for ref in [m, *ps]},
            }})
    (project / "catalog.yml").write_text(yaml.safe_dump(data, sort_keys=False, width=100),
                                         encoding="utf-8")


def static_twin(project: Path, dest: Path) -> Path:
    """Plain MkDocs project with every page and image modelkb generates, and no hooks."""
    from mkdocs.config import load_config
    from mkdocs.structure.files import get_files

    from modelkb.site import plugin as modelkb_site

    cwd = os.getcwd()
    os.chdir(project)
    try:
        config = load_config(str(project / "mkdocs.yml"))
        config.plugins._current_plugin = None  # set by MkDocs while events run
        config = modelkb_site.on_config(config)
        files = modelkb_site.on_files(get_files(config), config)
        dest.mkdir(parents=True)
        docs = dest / "docs"
        shutil.copytree(project / "docs", docs)
        for file in files:
            if not file.generated_by:
                continue
            target = docs / file.src_uri
            target.parent.mkdir(parents=True, exist_ok=True)
            if file.is_documentation_page():
                class _Page:  # what on_page_markdown reads of a page
                    pass

                page = _Page()
                page.file = file
                text = modelkb_site.on_page_markdown(file.content_string, page, config, files)
                target.write_text(text, encoding="utf-8")
            else:
                target.write_bytes(file.content_bytes)
    finally:
        os.chdir(cwd)
    raw = yaml.safe_load((project / "mkdocs.yml").read_text().replace("!!python", "#"))
    raw.pop("hooks", None)
    raw.pop("watch", None)
    raw["extra"].pop("modelkb", None)
    raw["extra_css"] = [str(x) for x in config["extra_css"]]
    raw["extra_javascript"] = [str(x) for x in config["extra_javascript"]]
    (dest / "mkdocs.yml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return dest


def machine() -> str:
    """The CPU model and core count, for the tables."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def warm(repeats: int) -> None:
    """Fully cached modelkb build against its static twin, alternating, medians and ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        project = copy_project(tmp / "modelkb", cache=tmp / "cache")
        first, *_ = timed_build(project)  # computes the gallery once
        twin = static_twin(project, tmp / "plain")
        ours, plain, rss_ours, rss_plain = [], [], [], []
        torch_seen = pydantic_seen = False
        for _ in range(repeats):
            s, m, t, p = timed_build(project)
            ours.append(s)
            rss_ours.append(m)
            torch_seen |= t
            pydantic_seen |= p
            s, m, *_ = timed_build(twin)
            plain.append(s)
            rss_plain.append(m)
        mo, mp = statistics.median(ours), statistics.median(plain)
        print(f"Machine: {machine()}; {repeats} alternating builds each; first (cold) build "
              f"{first:.1f} s\n")
        print("| build | median s | min s | peak RSS MiB | torch imported | pydantic imported |")
        print("|---|---|---|---|---|---|")
        print(f"| modelkb, gallery fully cached | {mo:.2f} | {min(ours):.2f} | "
              f"{max(rss_ours):.0f} | {'yes' if torch_seen else 'no'} | "
              f"{'yes' if pydantic_seen else 'no'} |")
        print(f"| plain MkDocs, same pages as static files | {mp:.2f} | {min(plain):.2f} | "
              f"{max(rss_plain):.0f} | no | no |")
        print(f"\nRatio (median modelkb / median plain): **{mo / mp:.2f}**")


def scale(sizes: list[int]) -> None:
    """Build time and peak memory for generated catalogs, against plain MkDocs."""
    print(f"Machine: {machine()}\n")
    print("| questions | pages | modelkb s | plain s | ratio | modelkb MiB | plain MiB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        for n in sizes:
            project = copy_project(tmp / f"modelkb-{n}", cache=cache)
            grow_catalog(project, n)
            timed_build(project)  # gallery computed (first size) or cached
            twin = static_twin(project, tmp / f"plain-{n}")
            pages = sum(1 for _ in (twin / "docs").rglob("*.md"))
            s_ours, m_ours, *_ = timed_build(project)
            s_plain, m_plain, *_ = timed_build(twin)
            print(f"| {n:,} | {pages:,} | {s_ours:.1f} | {s_plain:.1f} | "
                  f"{s_ours / s_plain:.2f} | {m_ours:.0f} | {m_plain:.0f} |", flush=True)
            shutil.rmtree(project / "site", ignore_errors=True)
            shutil.rmtree(twin, ignore_errors=True)


def main() -> None:
    """Command line: `warm` or `scale`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("warm", help="cached rebuild against plain MkDocs")
    w.add_argument("--repeats", type=int, default=5)
    s = sub.add_parser("scale", help="100 / 1,000 / 10,000 questions")
    s.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    args = parser.parse_args()
    if args.what == "warm":
        warm(args.repeats)
    else:
        scale(args.sizes)


if __name__ == "__main__":
    main()
