"""The GitHub Actions workflows: they parse, and they keep the publishing pipeline locked down.

GitHub rejects a workflow file that is not valid YAML as a whole, silently for the site: nothing
deploys. These tests read every file under `.github/workflows/` the way GitHub does (YAML
first) and check what `docs/publishing.md` promises about `pages.yml`: every action pinned to
a commit, permissions granted per job (none to the workflow), checkout credentials not kept,
the Pages address handed to the build through `SITE_URL` (no editing of `mkdocs.yml`), and
no finding from zizmor, a GitHub Actions security linter, run offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(p for p in WORKFLOWS.glob("*") if p.suffix in (".yml", ".yaml"))
PAGES = WORKFLOWS / "pages.yml"

# `owner/repo[/path]@<40 hex digits>`, the only form that cannot be moved under us. Local
# actions (`./path`) and container images (`docker://...@sha256:...`) are not used here.
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
# The version the pin stands for, as a comment on the same line: `@<sha> # v1.2.3`.
PIN_LINE = re.compile(r"uses:\s*\S+@[0-9a-f]{40}\s+#\s*v\d+(\.\d+)*\s*$")


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        pytest.fail(f"{path.relative_to(ROOT)} is not valid YAML, GitHub rejects it: {err}")
    assert isinstance(data, dict), f"{path.relative_to(ROOT)}: not a mapping"
    return data


def _triggers(data: dict):
    # YAML 1.1 reads the bare key `on` as the boolean true.
    return data.get("on", data.get(True))


def _steps(data: dict):
    for job_id, job in (data.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            yield job_id, step


def test_there_are_workflows():
    assert PAGES in WORKFLOW_FILES, WORKFLOW_FILES


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_parses(path):
    data = _load(path)
    assert _triggers(data), f"{path.name}: no `on:` triggers"
    assert data.get("jobs"), f"{path.name}: no jobs"
    for job_id, job in data["jobs"].items():
        assert job.get("runs-on"), f"{path.name}: job {job_id} has no runs-on"
        for step in job.get("steps") or []:
            assert ("uses" in step) != ("run" in step), f"{path.name}: {job_id}: {step}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_pinned_to_a_commit_with_the_version(path):
    data = _load(path)
    uses = [step["uses"] for _, step in _steps(data) if "uses" in step]
    assert uses, f"{path.name}: no actions"
    unpinned = [u for u in uses if not PINNED.match(u)]
    assert not unpinned, f"{path.name}: not pinned to a full commit SHA: {unpinned}"
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
             if re.match(r"\s*(-\s*)?uses:", ln)]
    assert len(lines) == len(uses)
    unnamed = [ln.strip() for ln in lines if not PIN_LINE.search(ln)]
    assert not unnamed, f"{path.name}: pin without its version in a comment: {unnamed}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_permissions_per_job(path):
    data = _load(path)
    assert "permissions" in data and data["permissions"] == {}, (
        f"{path.name}: the workflow must grant nothing (`permissions: {{}}`), "
        f"each job its own; found {data.get('permissions')!r}")
    for job_id, job in data["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), (
            f"{path.name}: job {job_id} must list its permissions one by one, found {perms!r}")


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_checkout_does_not_keep_credentials(path):
    data = _load(path)
    checkouts = [s for _, s in _steps(data) if s.get("uses", "").startswith("actions/checkout@")]
    for step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, step


def test_pages_workflow_does_what_publishing_md_says():
    data = _load(PAGES)
    triggers = _triggers(data)
    assert triggers["push"]["branches"] == ["main"]
    assert data["concurrency"]["group"] == "pages"
    assert data["concurrency"]["cancel-in-progress"] is False

    jobs = data["jobs"]
    build, deploy = jobs["build"], jobs["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert "write" not in build["permissions"].values(), build["permissions"]

    steps = build["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    for action in ("actions/checkout", "actions/setup-python", "actions/cache",
                   "actions/configure-pages", "actions/upload-pages-artifact"):
        assert action in uses, action
    assert [s.get("uses", "").split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]

    # Torch's CPU build is installed before the project, from PyTorch's CPU index.
    install = next(s["run"] for s in steps if "pip install" in s.get("run", ""))
    torch_at = install.index("torch")
    assert "--index-url https://download.pytorch.org/whl/cpu" in install.splitlines()[
        install[:torch_at].count("\n")]
    assert torch_at < install.index("-e .")

    # The gallery cache.
    caches = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert any(s["with"]["path"] == ".cache/modelkb" for s in caches), caches

    # The Pages address reaches the build through SITE_URL; nothing edits mkdocs.yml.
    build_step = next(s for s in steps if "mkdocs build" in s.get("run", ""))
    assert "--strict" in build_step["run"]
    assert "steps.pages.outputs.base_url" in build_step["env"]["SITE_URL"]
    for step in steps:
        assert not re.search(r"\bsed\b", step.get("run", "")), step
        assert "mkdocs.yml" not in step.get("run", ""), step
    assert "!ENV [SITE_URL" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")

    upload = next(s for s in steps
                  if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "site"


def test_publishing_md_describes_this_workflow():
    data = _load(PAGES)
    doc = (ROOT / "docs" / "publishing.md").read_text(encoding="utf-8")
    section = doc.split("## GitHub Pages with GitHub Actions", 1)[1].split("\n## ", 1)[0]
    for _, step in _steps(data):
        if "uses" in step:
            assert f"`{step['uses'].split('@')[0]}`" in section, step["uses"]
    for job_id, job in data["jobs"].items():
        for scope, level in job["permissions"].items():
            assert f"`{scope}: {level}`" in section, (job_id, scope, level)
    for phrase in ("`SITE_URL`", "`permissions: {}`", "`persist-credentials: false`",
                   "https://download.pytorch.org/whl/cpu", "`.cache/modelkb`", "zizmor"):
        assert phrase in section, phrase


def _zizmor() -> str | None:
    here = Path(sys.executable).parent / "zizmor"
    return str(here) if here.exists() else shutil.which("zizmor")


def test_zizmor_finds_nothing():
    exe = _zizmor()
    if exe is None:
        pytest.skip("zizmor is not installed (it is in the `test` extra: pip install -e '.[test]')")
    proc = subprocess.run(
        [exe, "--offline", "--strict-collection", "--no-config", "--no-ignores", "--format", "json",
         str(WORKFLOWS)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode in (0, 10, 11, 12, 13, 14), (
        f"zizmor failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    findings = json.loads(proc.stdout or "[]")
    summary = [f"{f['ident']} ({f['determinations']['severity']}): {f['desc']}"
               for f in findings]
    assert not findings, "zizmor findings:\n" + "\n".join(summary)
    assert proc.returncode == 0
