"""Build the shipped site at another commit and from this working tree; compare byte for byte.

    python benchmarks/compare_builds.py a913eae            # build both, then compare
    python benchmarks/compare_builds.py --sites OLD NEW     # compare two built site folders

A refactoring must not change what a build writes: every page, image, card, export and
``catalog.json``. Both builds read one gallery cache (``.cache/modelkb`` of this tree;
entries are content-addressed, so a cache filled by either commit serves both) with
``MODELKB_LOCAL_BUILD=1``. The other commit is checked out in a temporary git worktree.

``sitemap.xml`` and ``sitemap.xml.gz`` carry the build date; they are listed apart and do not
fail the comparison. HTML pages whose bodies are byte-identical and whose <head> holds the
same elements with the same attribute values, in another order or spelling, are listed
apart too: a plugin that rewrites the page after it is rendered (glightbox parses and
writes every page again, appending its stylesheet to <head>) puts its tags after those the
template printed and writes an apostrophe in an attribute as ' rather than &#x27;.
Exit status: 0 when nothing else differs, 1 otherwise.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATED = {"sitemap.xml", "sitemap.xml.gz"}  # MkDocs writes the build date into them


def build(tree: Path, site: Path, cache: Path) -> None:
    """`mkdocs build` of the project in ``tree`` into ``site``, its gallery cache ``cache``."""
    config = (tree / "mkdocs.yml").read_text(encoding="utf-8")
    config = config.replace("    cache: .cache/modelkb\n", f"    cache: {cache}\n")
    tmp_config = tree / "mkdocs.compare.yml"
    tmp_config.write_text(config, encoding="utf-8")
    env = {**os.environ, "MODELKB_LOCAL_BUILD": "1", "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": str(tree / "hooks")}
    try:
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(tmp_config),
                        "-d", str(site)], cwd=tree, env=env, check=True)
    finally:
        tmp_config.unlink()


def differences(before: Path, after: Path) -> list[str]:
    """Site paths that are not byte-identical (missing on one side, or other bytes)."""
    found: list[str] = []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        found.extend(f"{prefix}{name} (only before)" for name in cmp.left_only)
        found.extend(f"{prefix}{name} (only after)" for name in cmp.right_only)
        for name in cmp.common_files:
            if not filecmp.cmp(Path(cmp.left) / name, Path(cmp.right) / name, shallow=False):
                found.append(f"{prefix}{name}")
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(before, after, ignore=[]), "")
    return sorted(found)


class _Parts(HTMLParser):
    """Every element (with its attribute values, entities decoded) and text of a fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.parts.append(("tag", tag, tuple(sorted((k, v or "") for k, v in attrs))))

    def handle_endtag(self, tag):
        self.parts.append(("end", tag))

    def handle_data(self, data):
        if data.strip():
            self.parts.append(("text", data.strip()))


def _head_parts(head: str) -> list[tuple]:
    parser = _Parts()
    parser.feed(head)
    parser.close()
    return sorted(parser.parts)


def head_order_only(before: Path, after: Path) -> bool:
    """Whether two HTML pages differ only in the order and spelling of their <head>."""
    if before.suffix != ".html":
        return False
    a = before.read_text(encoding="utf-8").split("</head>", 1)
    b = after.read_text(encoding="utf-8").split("</head>", 1)
    if len(a) != 2 or len(b) != 2 or a[1] != b[1]:
        return False
    return _head_parts(a[0]) == _head_parts(b[0])


def report(before: Path, after: Path) -> int:
    diff = differences(before, after)
    dated = [d for d in diff if d in DATED]
    reordered = [d for d in diff if d not in DATED and (before / d).is_file()
                 and (after / d).is_file() and head_order_only(before / d, after / d)]
    other = [d for d in diff if d not in DATED and d not in reordered]
    count = sum(1 for p in after.rglob("*") if p.is_file())
    print(f"{count} files compared; {len(other)} differ"
          + (f"; {len(reordered)} pages only in the order and spelling of their <head>"
             if reordered else "")
          + (f"; {', '.join(dated)}: the build date" if dated else ""))
    for name in other:
        print(f"  {name}")
    return 1 if other else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", help="the commit to compare this tree with")
    parser.add_argument("--sites", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                        help="compare two built site folders instead of building")
    args = parser.parse_args(argv)
    if args.sites:
        return report(*args.sites)
    if not args.base:
        parser.error("give a commit, or --sites BEFORE AFTER")
    cache = (ROOT / ".cache" / "modelkb").resolve()
    with tempfile.TemporaryDirectory(prefix="modelkb-compare-") as tmp:
        work = Path(tmp)
        base_tree = work / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base],
                       cwd=ROOT, check=True, capture_output=True)
        try:
            build(base_tree, work / "before", cache)
            build(ROOT, work / "after", cache)
            return report(work / "before", work / "after")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT,
                           check=False, capture_output=True)
            shutil.rmtree(base_tree, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
