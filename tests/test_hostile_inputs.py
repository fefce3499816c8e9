"""Hostile inputs, round 3 (issue 24): terminal escapes, TIFF samples and colour, crops, the
import lock through a symlink, reserved names from an import. See docs/security.md,
"Images, imports and messages".

Each case is a payload a user with write access to a catalog, a prompt file or a photo could
hand modelkb; each test failed before its fix.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from test_importer import SEED, prompt_text

from modelkb.catalog import load_catalog
from modelkb.errors import ModelkbError
from modelkb.pixels.imaging import read_image

from conftest import ROOT, mkdocs_build, run_cli

SHIPPED = ROOT / "catalog.yml"
# Erase the line, hide what follows, set the clipboard (OSC 52), reorder (RLO), retitle.
TERMINAL_PAYLOADS = ["\x1b[2K\x1b[1A", "\x1b[8mhidden", "\x1b]52;c;cm0gLXJmIH4=\x07",
                     "\u202eevil", "\x1b]0;title\x1b\\", "\x9b2J", "\rover"]


def _no_raw_controls(text: str) -> None:
    for ch in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert ch not in text, f"raw {ch!r} printed"


# ------------------------------------------------------------------ 5. terminal escapes


@pytest.mark.parametrize("payload", TERMINAL_PAYLOADS)
def test_control_characters_in_keys_are_refused_and_printed_escaped(tmp_path, payload):
    catalog = tmp_path / "catalog.yml"
    key = payload.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    catalog.write_text(f'tasks:\n  - id: deblurring\n    name: Deblurring\n    "x{key}": 1\n',
                       encoding="utf-8")
    proc = run_cli("check", str(catalog))
    assert proc.returncode == 1
    _no_raw_controls(proc.stdout + proc.stderr)
    assert f"{catalog}:4:5: " in proc.stdout  # refused (a C0/C1 control) or an unknown key
    if "\u202e" not in payload:
        assert f"{catalog}:4:5: a key contains the control character U+" in proc.stdout


def test_echoed_file_names_and_arguments_are_escaped(tmp_path):
    name = tmp_path / "p\x1b]52;c;aGk=\x07\x1b[2K.txt"
    proc = run_cli("import", str(name), "--catalog", str(tmp_path / "catalog.yml"))
    assert proc.returncode == 1
    _no_raw_controls(proc.stdout + proc.stderr)
    assert "\\x1b]52;c;aGk=\\x07\\x1b[2K.txt: no such prompt file" in proc.stderr
    proc = run_cli("check", str(name))  # a catalog problem names the file
    _no_raw_controls(proc.stdout + proc.stderr)
    assert "\\x1b[2K.txt:1:1: file not found" in proc.stdout


def test_build_log_escapes_control_characters(project):
    text = (project / "catalog.yml").read_text(encoding="utf-8")
    text = text.replace("    name: Image deblurring\n",
                        '    name: Image deblurring\n    "k\\e]52;c;aGk=\\a\\e[2K": 1\n', 1)
    (project / "catalog.yml").write_text(text, encoding="utf-8")
    build = mkdocs_build(project)
    assert build.returncode == 1
    _no_raw_controls(build.output)
    assert "a key contains the control character U+001B" in build.output


def test_core_log_lines_reach_mkdocs_escaped(caplog):
    from modelkb.site import plugin

    plugin._forward_core_logs(True)
    try:
        with caplog.at_level(logging.INFO, logger="mkdocs.plugins.modelkb"):
            logging.getLogger("modelkb.gallery.runner").warning("photo %s", "a\x1b[2Kb\u202e")
    finally:
        plugin._forward_core_logs(False)
    lines = [r.getMessage() for r in caplog.records if r.name == "mkdocs.plugins.modelkb"]
    assert lines and all("\x1b" not in line and "\u202e" not in line for line in lines)
    assert any("a\\x1b[2Kb\\u202e" in line for line in lines)


def test_terminal_safe_keeps_lines_and_is_idempotent():
    from modelkb.errors import terminal_safe

    text = "line 1\n\tline 2 \u00e9\u4e2d " + "".join(TERMINAL_PAYLOADS)
    once = terminal_safe(text)
    assert terminal_safe(once) == once and once.startswith("line 1\n\tline 2 \u00e9\u4e2d ")
    _no_raw_controls(once)


# -------------------------------------------------- 8. TIFF samples per pixel are bounded


@pytest.mark.parametrize("shape, options", [
    ((100, 100, 40), {"photometric": "minisblack", "planarconfig": "contig"}),
    ((40, 100, 100), {"photometric": "minisblack", "planarconfig": "separate"}),
    ((100, 100, 40), {"photometric": "rgb", "planarconfig": "contig",
                      "extrasamples": [0] * 37}),
])
def test_tiff_with_many_samples_is_refused_before_decoding(tmp_path, shape, options):
    path = tmp_path / "samples.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint16), compression="zlib", **options)
    # 10,000 pixels allowed: 100x100 passes the pixel count, 40 samples of 2 bytes do not
    with pytest.raises(ModelkbError, match=r"100x100 pixels of 40 samples at 2 byte\(s\)"):
        read_image(path, max_pixels=10_000)


def test_tiff_at_the_limit_still_reads(tmp_path):
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, np.zeros((100, 100, 4), np.uint16), photometric="rgb",
                     extrasamples=[2])
    picture = read_image(path, max_pixels=10_000)
    assert picture.size == (100, 100) and picture.alpha is not None


# ------------------------------------- 17. 16-bit TIFFs read like the 8-bit ones (Pillow)


def _pair(tmp_path: Path, name: str, data8: np.ndarray, **options) -> tuple:
    """The same picture as an 8-bit TIFF (read by Pillow) and a 16-bit one (tifffile)."""
    colormap = options.pop("colormap", None)
    extra8, extra16 = dict(options), dict(options)
    if colormap is not None:  # a 16-bit palette has 65536 entries
        extra8["colormap"] = colormap
        extra16["colormap"] = np.zeros((3, 65536), np.uint16)
        extra16["colormap"][:, :256] = colormap
    data16 = data8.astype(np.uint16) * (1 if colormap is not None else 257)
    tifffile.imwrite(tmp_path / f"{name}8.tif", data8, **extra8)
    tifffile.imwrite(tmp_path / f"{name}16.tif", data16, **extra16)
    return read_image(tmp_path / f"{name}8.tif"), read_image(tmp_path / f"{name}16.tif")


RNG = np.random.default_rng(7)
PIXELS = RNG.integers(0, 256, (6, 10, 4), dtype=np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_tiff_applies_exif_orientation(tmp_path, orientation):
    tag = [(274, 3, 1, orientation, False)]
    eight, sixteen = _pair(tmp_path, "o", PIXELS[..., :3], photometric="rgb", extratags=tag)
    assert sixteen.bit_depth == 16 and sixteen.size == eight.size
    assert np.abs(sixteen.rgb - eight.rgb).max() < 1 / 255


@pytest.mark.parametrize("name, data, options", [
    ("cmyk", PIXELS, {"photometric": "separated"}),
    ("miniswhite", PIXELS[..., 0], {"photometric": "miniswhite"}),
    ("planar", np.moveaxis(PIXELS[..., :3], 2, 0), {"photometric": "rgb",
                                                     "planarconfig": "separate"}),
    ("palette", PIXELS[..., 0], {"photometric": "palette",
                                 "colormap": RNG.integers(0, 65536, (3, 256), dtype=np.uint16)}),
    ("rgba", PIXELS, {"photometric": "rgb", "extrasamples": [2]}),
])
def test_16_bit_tiff_colour_matches_the_8_bit_path(tmp_path, name, data, options):
    eight, sixteen = _pair(tmp_path, name, data, **options)
    assert sixteen.bit_depth == 16 and sixteen.grayscale == eight.grayscale
    assert sixteen.rgb.shape == eight.rgb.shape == (6, 10, 3)
    assert np.abs(sixteen.rgb - eight.rgb).max() < 1 / 255  # Pillow rounds CMYK to 8 bits
    assert (sixteen.alpha is None) == (eight.alpha is None)


@pytest.mark.parametrize("grayscale", [True, False])
def test_16_bit_tiff_with_alpha_round_trips(tmp_path, grayscale):
    from modelkb.pixels.imaging import write_image

    rgb = RNG.random((5, 7, 3), dtype=np.float32)
    alpha = RNG.integers(0, 65536, (5, 7), dtype=np.uint16)
    write_image(tmp_path / "a.tif", rgb, alpha, grayscale=grayscale, bit_depth=16)
    picture = read_image(tmp_path / "a.tif")  # one page of 7x5, not five pages of 2x7
    assert picture.size == (7, 5) and picture.grayscale == grayscale
    assert np.array_equal(picture.alpha, alpha)


def test_16_bit_tiff_in_an_unknown_colour_space_is_an_error(tmp_path):
    path = tmp_path / "lab.tif"
    tifffile.imwrite(path, np.zeros((4, 4, 3), np.uint16), photometric="cielab")
    with pytest.raises(ModelkbError, match="photometric 8"):
        read_image(path)


# ------------------------------------------------------------------- 12. crops amplify


@pytest.mark.parametrize("crops, message", [
    ("".join("      - {x: 0, y: 0, width: 64, height: 64}\n" for _ in range(40)),
     "'crops' lists 40 crops, more than the 8 allowed"),
    ("      - {x: 0, y: 0, width: 5000, height: 5000}\n",
     "'crops' cover 25,000,000 input pixels together"),
    ("".join("      - {x: 0, y: 0, width: 400, height: 400}\n" for _ in range(8)),
     "'crops' cover 1,280,000 input pixels together"),
])
def test_crops_are_bounded_with_a_located_error(tmp_path, crops, message):
    text = SHIPPED.read_text(encoding="utf-8")
    old = ("    crops:\n      - {x: 170, y: 70, width: 120, height: 120, label: face}\n"
           "      - {x: 130, y: 370, width: 80, height: 70, label: mission patch lettering}\n")
    assert old in text
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(text.replace(old, "    crops:\n" + crops, 1), encoding="utf-8")
    line = text[:text.index(old)].count("\n") + 2
    proc = run_cli("check", str(catalog))
    assert proc.returncode == 1
    assert f"{catalog}:{line}:7: {message}" in proc.stdout


# ----------------------------------------------------- 14. the import lock, through a link


def _read_line(stream, process: subprocess.Popen, timeout: float = 300) -> str:
    """One line from ``stream``, or '' once the process has ended without one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([stream], [], [], 1)
        if ready:
            return stream.readline()
    pytest.fail(f"no output and no exit within {timeout} s")


def test_two_imports_through_a_symlinked_folder_take_turns(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    text = SHIPPED.read_text(encoding="utf-8")
    (real / "catalog.yml").write_text(text[:text.index("\nmodels:")] + "\n", encoding="utf-8")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    os.mkfifo(first)  # the first import holds the lock while it waits for its prompt
    second.write_text(prompt_text("Which model deblurs night photos?",
                                  [("Night-Net", "https://arxiv.org/abs/2305.12345")], []),
                      encoding="utf-8")
    cmd = [sys.executable, "-m", "modelkb.cli", "import"]
    a = subprocess.Popen([*cmd, str(first), "--catalog", str(real / "catalog.yml")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 300
    while True:  # the first import has the lock once it opens the prompt to read it
        try:
            writer = os.open(first, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            assert exc.errno == errno.ENXIO and a.poll() is None and time.monotonic() < end
            time.sleep(0.2)
    b = subprocess.Popen([*cmd, str(second), "--catalog", str(tmp_path / "link/catalog.yml")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(b.stderr, b)
        assert "another modelkb import of this catalog is running; waiting" in line, \
            (line, b.stdout.read() if b.poll() is not None else "")
        os.set_blocking(writer, True)
        os.write(writer, SEED.read_bytes())
    finally:
        os.close(writer)
    out_a, err_a = a.communicate(timeout=300)
    out_b, err_b = b.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    assert "updated" in out_a and "updated" in out_b
    questions = list(load_catalog(real / "catalog.yml").questions)
    assert questions == ["real-image-super-resolution-everyday-noise", "deblurs-night-photos"]


# ------------------------------------------------------ 19. reserved names from an import


RESERVED_PROMPT = prompt_text(
    "Where is the gallery?",
    [("Search", "https://arxiv.org/abs/2305.11111"), ("404", "https://example.org/404.pdf")],
    [("Gallery", "https://example.org/gallery.pdf", "A paper titled gallery.")])


def test_import_suffixes_reserved_ids_and_slugs(tmp_path):
    catalog = tmp_path / "catalog.yml"
    catalog.write_text("", encoding="utf-8")
    prompt = tmp_path / "p.txt"
    prompt.write_text(RESERVED_PROMPT, encoding="utf-8")
    proc = run_cli("import", str(prompt), "--catalog", str(catalog))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "question 'gallery-2' added as a draft" in proc.stdout
    got = load_catalog(catalog)
    assert list(got.models) == ["search-2", "404-2"] and list(got.papers) == ["gallery-2"]
    assert list(got.questions) == ["gallery-2"]
    assert got.questions["gallery-2"].models == ["search-2", "404-2"]


def test_nothing_is_reported_added_when_nothing_is_written(monkeypatch, capsys, tmp_path):
    from argparse import Namespace

    from modelkb.commands import import_prompts as command

    catalog = tmp_path / "catalog.yml"
    catalog.write_text("", encoding="utf-8")
    monkeypatch.setattr(command, "render", lambda text, result: text + "bogus: 1\n")
    with pytest.raises(ModelkbError, match=r"lines after 0 are the entries the import would"):
        command.run(Namespace(prompts=[SEED], catalog=catalog, dry_run=False))
    assert "added" not in capsys.readouterr().out
    assert catalog.read_text(encoding="utf-8") == ""


def test_dry_run_diff_of_a_crlf_catalog_keeps_its_line_ends(tmp_path):
    """The CLI's terminal-safe output escapes a lone carriage return, not CRLF."""
    text = SHIPPED.read_text(encoding="utf-8")
    catalog = tmp_path / "catalog.yml"
    catalog.write_bytes((text[:text.index("\nmodels:")] + "\n").replace("\n", "\r\n").encode())
    proc = subprocess.run([sys.executable, "-m", "modelkb.cli", "import", str(SEED),
                           "--catalog", str(catalog), "--dry-run"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert b"+    draft: true\r\n" in proc.stdout and b"\\x0d" not in proc.stdout
