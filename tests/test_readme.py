"""The README's commands work as pasted into a fresh shell, and MkDocs starts quietly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_readme_commands_use_the_installed_venv() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    install = re.search(r"^python3 -m venv \.venv .*pip install -e \.$", text, re.M)
    assert install, "the install line"
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)
    commands = re.findall(r"`([^`\n]*)`", text) + "".join(blocks).splitlines()
    for command in commands:  # a bare `modelkb ...`/`mkdocs ...` is "command not found"
        assert not re.match(r"(?:[A-Z_]+=\S+ )*(?:modelkb|mkdocs) [a-z-]", command), command
    table = re.findall(r"^\| `([^`]+)` \|", text, re.M)
    assert len(table) >= 5 and all(c.startswith(".venv/bin/modelkb ") for c in table), table
    # The banner switch is exported before the first MkDocs command.
    assert text.index("export NO_MKDOCS_2_WARNING=1") < text.index(".venv/bin/mkdocs ")


def test_the_documented_switch_silences_materials_banner(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Hi\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text("site_name: t\ntheme:\n  name: material\n",
                                         encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "NO_MKDOCS_2_WARNING"}

    def build(extra: dict) -> str:
        done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300,
                              env={**env, **extra})
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    assert "NO_MKDOCS_2_WARNING" in build({})  # the banner, naming its switch
    quiet = build({"NO_MKDOCS_2_WARNING": "1"})
    assert "end of life" not in quiet and "NO_MKDOCS_2_WARNING" not in quiet, quiet
