"""The package's shape: dependencies point one way, no import cycles (lazy imports included),
and the MkDocs side works as an installed plugin as well as through the hook file."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, copy_project, mkdocs_build

PACKAGE = ROOT / "hooks" / "modelkb"

# layer -> the layers it may import (besides itself). catalog uses none of the others.
ALLOWED = {
    "errors": set(),
    "limits": set(),
    "files": set(),
    "registry": {"errors"},
    "catalog": {"errors", "limits", "files", "registry"},
    "imaging": {"errors", "limits", "files", "registry"},
    "models": {"errors", "limits", "files", "registry", "catalog", "imaging"},
    "gallery": {"errors", "limits", "files", "registry", "catalog", "imaging", "models"},
    "train": {"errors", "limits", "files", "registry", "imaging", "models", "gallery"},
    "site": {"errors", "limits", "files", "registry", "catalog", "imaging", "models", "gallery"},
    "commands": {"errors", "limits", "files", "registry", "catalog", "imaging", "models", "gallery",
                 "train", "site"},
    "cli": {"errors", "commands"},
    "__init__": set(),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every modelkb module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("modelkb"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("modelkb"):
            for alias in node.names:  # "from modelkb.site import figures" names a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _exists(candidate) else node.module)
    return found


def _exists(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_dependencies_point_one_way() -> None:
    bad = [f"{mod} imports {dep}" for mod, deps in graph().items() for dep in deps
           if layer(dep) != layer(mod) and layer(dep) not in ALLOWED[layer(mod)]]
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    edges = graph()
    # a package's __init__ imports its modules; importing a module runs its package's
    # __init__ first, but that is not an import of the package by the module
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if dep == node:
                continue
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def _planted(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package with ``line`` appended to ``module`` (a path inside it)."""
    fake = tmp_path / "modelkb"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    target = fake / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n\ndef _late():\n    {line}\n",
                      encoding="utf-8")
    return fake


def test_the_checks_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted lazy imports are caught: catalog using site, and a files <-> catalog cycle."""
    fake = _planted(tmp_path / "a", "catalog/schema.py", "from modelkb.site import pages")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="modelkb.catalog.schema imports modelkb.site"):
        test_dependencies_point_one_way()
    fake = _planted(tmp_path / "b", "files.py", "from modelkb.catalog import snapshot")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="modelkb.files -> modelkb.catalog.snapshot"):
        test_no_import_cycles()


def test_hook_file_only_hands_events_over() -> None:
    """The hook file makes one plugin object and binds MkDocs' events to it; nothing else."""
    tree = ast.parse((ROOT / "hooks" / "modelkb_hooks.py").read_text(encoding="utf-8"))
    body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))]
    assert isinstance(body[0], ast.ImportFrom) and body[0].module == "modelkb.site.plugin"
    assert ast.unparse(body[1]) == "plugin = ModelkbPlugin(from_extra=True)"
    for node in body[2:]:
        assert isinstance(node, ast.Assign), ast.unparse(node)
        (target,) = node.targets
        assert ast.unparse(node.value) == f"plugin.{target.id}", ast.unparse(node)
    assert len(body) > 5


def _html_of(site: Path) -> dict[str, str]:
    """Every built HTML page, without what differs legitimately between the two set-ups."""
    pages = {}
    for page in sorted(site.rglob("*.html")):
        pages[str(page.relative_to(site))] = page.read_text(encoding="utf-8")
    return pages


def test_plugin_builds_the_same_site(tmp_path: Path, shared_cache: Path) -> None:
    """`plugins: [modelkb]` (the installed entry point) builds what the hook file builds."""
    hooked = copy_project(tmp_path / "hooked", shared_cache)
    as_plugin = copy_project(tmp_path / "plugin", shared_cache)
    config = (as_plugin / "mkdocs.yml").read_text(encoding="utf-8")
    head, extra = config.split("\nextra:\n  modelkb:\n")
    settings = "".join(f"      {line.strip()}\n" for line in extra.splitlines() if line.strip())
    head = head.replace("hooks:\n  - hooks/modelkb_hooks.py\n", "")
    head = head.replace("plugins:\n  - search\n", "plugins:\n  - search\n  - modelkb:\n"
                        + settings)
    (as_plugin / "mkdocs.yml").write_text(head, encoding="utf-8")
    head = head.replace("watch:\n  - catalog.yml\n  - gallery_src\n  - hooks\n",
                        "watch:\n  - catalog.yml\n  - gallery_src\n")
    (as_plugin / "mkdocs.yml").write_text(head, encoding="utf-8")
    shutil.rmtree(as_plugin / "hooks")
    assert "hooks" not in (as_plugin / "mkdocs.yml").read_text(encoding="utf-8")

    first, second = mkdocs_build(hooked), mkdocs_build(as_plugin)
    assert first.returncode == 0, first.output
    assert second.returncode == 0, second.output
    a, b = _html_of(first.site), _html_of(second.site)
    assert a.keys() == b.keys()
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, differing[:5]
    assert (first.site / "catalog.json").read_bytes() == (second.site / "catalog.json").read_bytes()
