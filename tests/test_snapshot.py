"""The validated-catalog snapshot: a rebuild of an unchanged catalog skips the YAML and the
validation (the schema reads the snapshot's entries back), and any change to the catalog is
validated again, with its errors at their lines."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelkb.catalog import SNAPSHOTS_KEPT, CatalogError, load_catalog
from modelkb.catalog.snapshot import snapshot_key
from modelkb.site.config import parse_settings

from conftest import ROOT, mkdocs_build

SEED_SLUG = "real-image-super-resolution-everyday-noise"

# `mkdocs build` in this process, then which heavy modules the build imported, and
# "validated" when it validated catalog.yml (rather than reading its snapshot).
_BUILD_AND_LIST_MODULES = """
import runpy, sys
import modelkb.catalog.validate as validate
ran = []
_run = validate.Validator.run
def run(self):
    ran.append(True)
    return _run(self)
validate.Validator.run = run
sys.argv = ["mkdocs", "build", "-q", "--strict", "-d", sys.argv[1]]
try:
    runpy.run_module("mkdocs", run_name="__main__")
except SystemExit as exc:
    if exc.code:
        raise
print("IMPORTED", *sorted(m for m in ("torch", "numpy", "PIL") if m in sys.modules),
      *(["validated"] if ran else []))
"""


def _build_listing_modules(project: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", _BUILD_AND_LIST_MODULES, str(project / "site")],
                          cwd=project, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1",
                               "MODELKB_LOCAL_BUILD": "1"}, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("IMPORTED"))
    return set(line.split()[1:])


def _snapshot(project: Path) -> Path:
    """Where the snapshot of the project's catalog, as it is now, lives (the cache is shared)."""
    config = (project / "mkdocs.yml").read_text(encoding="utf-8")
    cache = Path(next(x.split(":", 1)[1].strip() for x in config.splitlines()
                      if x.strip().startswith("cache:")))
    key = snapshot_key((project / "catalog.yml").read_bytes())
    return cache / "catalog" / f"{key}.json"


@pytest.mark.slow
def test_unchanged_catalog_rebuilds_without_validating(project: Path) -> None:
    first = mkdocs_build(project)
    assert first.returncode == 0, first.output
    before = first.page(f"answers/{SEED_SLUG}")
    assert _snapshot(project).is_file(), "the first build saved no snapshot"
    assert _build_listing_modules(project) == set()  # not validated; no torch, numpy, Pillow
    assert (project / "site" / "answers" / SEED_SLUG / "index.html").read_text(
        encoding="utf-8") == before


@pytest.mark.slow
def test_an_edited_catalog_is_validated_again(project: Path) -> None:
    assert mkdocs_build(project).returncode == 0
    catalog = project / "catalog.yml"
    text = catalog.read_text(encoding="utf-8")
    lines = text.splitlines()
    line = next(i for i, x in enumerate(lines, 1) if x.startswith("  - slug:")) + 1
    broken = lines[: line - 1] + ["    colour: blue"] + lines[line - 1:]
    catalog.write_text("\n".join(broken) + "\n", encoding="utf-8")
    failed = mkdocs_build(project)
    assert failed.returncode == 1
    assert f"catalog.yml:{line}:5: unknown key 'colour'" in failed.output
    assert "Traceback" not in failed.output

    edited = text.replace("The recommended model", "The recommended (edited) model", 1)
    assert edited != text
    catalog.write_text(edited, encoding="utf-8")
    assert "validated" in _build_listing_modules(project)  # new bytes: validated
    assert "(edited)" in (project / "site" / "answers" / SEED_SLUG / "index.html").read_text(
        encoding="utf-8")
    assert "validated" not in _build_listing_modules(project)  # and snapshotted


@pytest.mark.slow
def test_unusable_snapshot_is_ignored_and_replaced(project: Path) -> None:
    assert mkdocs_build(project).returncode == 0
    snapshot = _snapshot(project)
    good = snapshot.read_text(encoding="utf-8")
    for bad in ("{ not json", json.dumps({"format": 1, "sections": {"questions": [{}]}}),
                json.dumps([1, 2, 3]), ""):
        snapshot.write_text(bad, encoding="utf-8")
        assert "validated" in _build_listing_modules(project), bad
        assert json.loads(snapshot.read_text(encoding="utf-8")) == json.loads(good)


def test_snapshot_gives_the_validated_catalog(tmp_path: Path) -> None:
    fresh = load_catalog(ROOT / "catalog.yml")
    first = load_catalog(ROOT / "catalog.yml", snapshot_dir=tmp_path)
    (file,) = tmp_path.glob("*.json")
    again = load_catalog(ROOT / "catalog.yml", snapshot_dir=tmp_path)
    assert fresh == first == again
    assert all(dataclasses.is_dataclass(q.answer) for q in again.questions.values())
    steps = [type(s).__name__ for w in again.workflows.values() for s in w.steps]
    assert steps and set(steps) <= {"RestoreStep", "ResizeStep"}
    # the snapshot is what was loaded: an entry changed in it shows up
    data = json.loads(file.read_text(encoding="utf-8"))
    data["sections"]["papers"][0]["title"] = "Changed in the snapshot"
    file.write_text(json.dumps(data), encoding="utf-8")
    changed = load_catalog(ROOT / "catalog.yml", snapshot_dir=tmp_path)
    assert next(iter(changed.papers.values())).title == "Changed in the snapshot"


def test_snapshots_are_bounded_and_errors_are_never_snapshotted(tmp_path: Path) -> None:
    text = (ROOT / "catalog.yml").read_text(encoding="utf-8")
    snapshots = tmp_path / "snapshots"
    for i in range(SNAPSHOTS_KEPT + 3):
        version = tmp_path / "catalog.yml"
        version.write_text(text + f"\n# edit {i}\n", encoding="utf-8")
        load_catalog(version, snapshot_dir=snapshots)
    assert len(list(snapshots.glob("*.json"))) == SNAPSHOTS_KEPT
    assert not list(snapshots.glob(".*"))  # no temporary file left behind
    (tmp_path / "catalog.yml").write_text(text.replace("slug:", "slugg:", 1), encoding="utf-8")
    for _ in range(2):  # the second load must not find a snapshot of the broken file
        with pytest.raises(CatalogError, match="unknown key 'slugg'"):
            load_catalog(tmp_path / "catalog.yml", snapshot_dir=snapshots)


def test_settings_report_every_problem() -> None:
    with pytest.raises(Exception) as info:
        parse_settings({"devise": "cpu", "device": "gpu", "max_pixels": 0, "drafts": True})
    message = str(info.value)
    assert message.startswith("mkdocs.yml: ")
    for part in ("unknown setting 'extra.modelkb.devise'", "extra.modelkb.device",
                 "extra.modelkb.max_pixels", "extra.modelkb.drafts"):
        assert part in message
    assert parse_settings({"max_pixels": 5}).max_pixels == 5
    with pytest.raises(Exception, match="max_pixels"):
        parse_settings({"max_pixels": True})
