"""The package's shape: dependencies point one way, no import cycles (lazy imports included),
and the MkDocs side works as an installed plugin as well as through the hook file."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, copy_project, mkdocs_build

PACKAGE = ROOT / "hooks" / "modelkb"

# layer -> the layers it may import (besides itself). The pixel package imports only limits
# (its files are the pictures' cache key: see modelkb/pixels/__init__.py); catalog uses
# nothing above pixels but the helpers.
ALLOWED = {
    "limits": set(),
    "files": set(),
    "http_client": set(),  # the one HTTP client and redirect policy
    "pixels": {"limits"},
    "errors": {"pixels"},
    "sourcehash": {"pixels"},
    "catalog": {"errors", "limits", "files", "pixels", "sourcehash"},
    "models": {"errors", "limits", "files", "http_client", "pixels", "catalog"},
    "gallery": {"errors", "limits", "files", "pixels", "sourcehash", "catalog", "models"},
    "train": {"errors", "limits", "files", "pixels", "models", "gallery"},
    "linkcheck": {"errors", "limits", "files", "http_client", "catalog"},
    "site": {"errors", "limits", "files", "pixels", "sourcehash", "catalog", "models",
             "gallery", "linkcheck"},
    "commands": {"errors", "limits", "files", "http_client", "pixels", "sourcehash", "catalog",
                 "models", "gallery", "train", "site", "linkcheck"},
    "cli": {"errors", "commands"},
    "__init__": set(),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every modelkb module ``path`` imports, at module level or inside functions: absolute
    and relative ``import``/``from`` statements, and ``importlib.import_module(...)`` or
    ``__import__(...)`` calls whose module name is a constant string."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _package_of(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _in_package(a.name))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            if base is None or not _in_package(base):
                continue
            for alias in node.names:  # "from modelkb.site import figures" names a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _exists(candidate) else base)
        elif isinstance(node, ast.Call):
            name = _dynamic_import(node, package)
            if name is not None and _in_package(name):
                subs = [f"{name}.{n}" for n in _fromlist(node) if _exists(f"{name}.{n}")]
                found.update(subs or [name])
    return found


def _in_package(name: str) -> bool:
    return name == "modelkb" or name.startswith("modelkb.")


def _package_of(path: Path) -> str:
    """The package relative imports in ``path`` start from (``__package__`` at run time)."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _absolute(module: str, level: int, package: str) -> str | None:
    """The absolute name of ``from {'.' * level}{module} import ...`` inside ``package``;
    None when it climbs above the top-level package."""
    if level == 0:
        return module
    parts = package.split(".")
    if level > len(parts):
        return None
    base = ".".join(parts[:len(parts) - level + 1])
    return f"{base}.{module}" if module else base


def _constant_str(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dynamic_import(call: ast.Call, package: str) -> str | None:
    """The module an ``importlib.import_module`` / ``import_module`` / ``__import__`` call
    imports when its name is a constant string (relative names resolved); otherwise None."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called not in ("import_module", "__import__") or not call.args:
        return None
    name = _constant_str(call.args[0])
    if name is None:
        return None
    keywords = {k.arg: k.value for k in call.keywords}
    if called == "import_module":
        level = len(name) - len(name.lstrip("."))
        if not level:
            return name
        anchor = keywords.get("package", call.args[1] if len(call.args) > 1 else None)
        anchor_name = (package if isinstance(anchor, ast.Name) and anchor.id == "__package__"
                       else _constant_str(anchor))
        return None if anchor_name is None else _absolute(name[level:], level, anchor_name)
    level_node = keywords.get("level", call.args[4] if len(call.args) > 4 else None)
    level = level_node.value if isinstance(level_node, ast.Constant) else 0
    return _absolute(name, level, package) if isinstance(level, int) else None


def _fromlist(call: ast.Call) -> list[str]:
    """The constant names in an ``__import__`` call's fromlist (they may be submodules)."""
    keywords = {k.arg: k.value for k in call.keywords}
    node = keywords.get("fromlist", call.args[3] if len(call.args) > 3 else None)
    if not isinstance(node, (ast.List, ast.Tuple)):
        return []
    return [n for n in map(_constant_str, node.elts) if n]


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


def _planted(tmp_path: Path, module: str, *lines: str) -> Path:
    """A copy of the package with ``lines`` appended to ``module`` (a path inside it), in a
    function, as lazy imports are written."""
    fake = tmp_path / "modelkb"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    target = fake / module
    body = "".join(f"    {line}\n" for line in lines)
    target.write_text(target.read_text(encoding="utf-8") + f"\n\ndef _late():\n{body}",
                      encoding="utf-8")
    return fake


# catalog using site, written each way a module can be imported
UPWARD = [
    ("absolute", ["from modelkb.site import pages"], "modelkb.site.pages"),
    ("import", ["import modelkb.site.pages"], "modelkb.site.pages"),
    ("relative", ["from ..site import pages"], "modelkb.site.pages"),
    ("relative-package", ["from .. import site"], "modelkb.site"),
    ("relative-module", ["from ..site.pages import page_for"], "modelkb.site.pages"),
    ("import_module", ["import importlib", 'importlib.import_module("modelkb.site.pages")'],
     "modelkb.site.pages"),
    ("import_module-relative",
     ["from importlib import import_module", 'import_module("..site", __package__)'],
     "modelkb.site"),
    ("__import__", ['__import__("modelkb.site.pages")'], "modelkb.site.pages"),
    ("__import__-fromlist", ['__import__("site", globals(), locals(), ["pages"], 2)'],
     "modelkb.site.pages"),
]


@pytest.mark.parametrize(("how", "lines", "target"), UPWARD, ids=[u[0] for u in UPWARD])
def test_upward_imports_are_caught_however_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   how: str, lines: list[str], target: str
                                                   ) -> None:
    """A planted lazy import of site in catalog/schema.py fails the layering check."""
    test_dependencies_point_one_way()  # the real package passes
    monkeypatch.setitem(globals(), "PACKAGE", _planted(tmp_path, "catalog/schema.py", *lines))
    with pytest.raises(AssertionError) as failed:
        test_dependencies_point_one_way()
    assert f"modelkb.catalog.schema imports {target}\n" in f"{failed.value}\n"


# files (imported by catalog) importing catalog back: a cycle, written each way
CYCLES = [
    ("absolute", ["from modelkb.catalog import snapshot"], "modelkb.catalog.snapshot"),
    ("relative", ["from .catalog import snapshot"], "modelkb.catalog.snapshot"),
    ("relative-package", ["from . import catalog"], "modelkb.catalog"),
    ("import_module", ["import importlib", 'importlib.import_module("modelkb.catalog.snapshot")'],
     "modelkb.catalog.snapshot"),
    ("__import__", ['__import__("modelkb.catalog.snapshot")'], "modelkb.catalog.snapshot"),
]


@pytest.mark.parametrize(("how", "lines", "target"), CYCLES, ids=[c[0] for c in CYCLES])
def test_cycles_are_caught_however_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           how: str, lines: list[str], target: str) -> None:
    """A planted lazy import of catalog in files.py closes a cycle the check reports."""
    test_no_import_cycles()  # the real package passes
    monkeypatch.setitem(globals(), "PACKAGE", _planted(tmp_path, "files.py", *lines))
    with pytest.raises(AssertionError, match=rf"(?m)modelkb\.files -> {re.escape(target)}( |$)"):
        test_no_import_cycles()


def test_non_constant_and_outside_imports_are_not_counted(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Names computed at run time, other packages and relative climbs out of the package are
    not modelkb imports (so the planted ones above are caught for the right reason)."""
    fake = _planted(tmp_path, "catalog/schema.py", "import importlib, os",
                    "importlib.import_module(os.environ['X'])", 'import_module("json")',
                    'importlib.import_module("..site")', "from .... import x")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    assert not {name for name in imports_of(fake / "catalog" / "schema.py")
                if name.startswith("modelkb.site")}


def test_module_names_are_unique() -> None:
    """No two modules of different packages share a name (commands are named after what
    they do: check_links, import_prompts), so a name says which module it is."""
    by_name: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "__init__.py":
            by_name.setdefault(path.stem, []).append(module_name(path))
    shared = {name: mods for name, mods in by_name.items() if len(mods) > 1}
    assert not shared, shared


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


@pytest.mark.slow
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
