"""The code a computation depends on, hashed: what cache keys say about code.

:func:`code_files` follows a module's imports (at any depth, lazy ones inside functions
included, ``if TYPE_CHECKING:`` blocks skipped) through modelkb's source files;
:func:`code_digest` hashes those files with the registered architectures and the versions of
the libraries given. The gallery keys its pictures by the digest of the pixel package
(:mod:`modelkb.pixels`) and its published files by that of
:mod:`modelkb.gallery.webimages`; validated catalog snapshots by that of the validating
modules. Editing a file outside a seed's imports leaves its digest as it was.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

from modelkb.pixels.registry import architectures, registry_json

PACKAGE = "modelkb"


def _package_root() -> Path:
    return Path(__file__).resolve().parent  # modelkb's folder


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of module ``name``: modelkb's under ``root``, others where Python
    would find them (their parent packages are imported; the module itself is not)."""
    if name == PACKAGE or name.startswith(PACKAGE + "."):
        base = root.joinpath(*name.split(".")[1:])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")  # where statements nest


def _imported_names(tree: ast.Module, module: str, is_package: bool,
                    calls: bool) -> set[str]:
    """Every module name ``module``'s code imports: ``import``, ``from ... import`` (relative
    ones resolved; ``from package import name`` may name a module) at any depth, and, with
    ``calls``, ``importlib.import_module("...")`` with a literal name; ``if TYPE_CHECKING:``
    blocks are skipped (they never run)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:  # statements only: imports are statements, and walking them is cheap
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            for block in _BLOCKS:
                pending.extend(getattr(node, block, ()))
    if calls:  # the whole tree, only for the few files that mention import_module
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args \
                    and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str) \
                    and getattr(node.func, "attr", getattr(node.func, "id", None)) \
                    == "import_module":
                found.add(node.args[0].value)
    return found


@functools.lru_cache(maxsize=1024)
def _imports_of_file(path: Path, stamp: tuple[int, int], module: str) -> frozenset[str]:
    """:func:`_imported_names` of one file, remembered while its (mtime, size) ``stamp``
    stays the same."""
    source = path.read_bytes()
    tree = ast.parse(source, filename=str(path))
    return frozenset(_imported_names(tree, module, path.name == "__init__.py",
                                     b"import_module" in source))


def code_files(seeds: Iterable[str], root: Path | None = None) -> dict[str, Path]:
    """The modelkb source files the modules ``seeds`` run: the seeds, every modelkb module
    they import (followed transitively, at module level or inside functions), and the
    packages around each; by module name, sorted. A seed outside modelkb (an architecture
    registered by another package) is included with the modelkb modules it imports."""
    root = root or _package_root()
    found: dict[str, Path] = {}
    pending = list(seeds)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = _module_file(name, root)
        if path is None:
            continue  # "from package import name" where name is not a module
        found[name] = path
        parent = name.rpartition(".")[0]
        if parent:
            pending.append(parent)
        stat = path.stat()
        names = _imports_of_file(path, (stat.st_mtime_ns, stat.st_size), name)
        pending.extend(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))
    return dict(sorted(found.items()))


def code_digest(seeds: Iterable[str], libraries: Iterable[str] = (), *,
                with_architectures: bool = True, root: Path | None = None) -> str:
    """SHA-256 of what a computation depends on: the source of the modules ``seeds`` import
    (:func:`code_files`; with the registered architectures' modules when
    ``with_architectures``), the registered architectures (:func:`registry_json`), and the
    installed versions of ``libraries``. ``root`` stands for modelkb's folder (tests)."""
    from importlib.metadata import PackageNotFoundError, version

    seeds = list(seeds)
    if with_architectures:
        seeds += [a.module for a in architectures().values()]
    root = root or _package_root()
    digest = hashlib.sha256(registry_json().encode())
    for name, path in code_files(seeds, root).items():
        digest.update(name.encode() + b"\0" + path.read_bytes())
    for lib in libraries:
        try:
            digest.update(f"{lib}={version(lib)}".encode())
        except PackageNotFoundError:
            digest.update(f"{lib}=absent".encode())
    return digest.hexdigest()
