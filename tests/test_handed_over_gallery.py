"""Gallery files another machine hands over, and the cache's own files (issue 34, families
2, 5 and 13): `modelkb gallery --merge` takes from a shard only what a render of that entry
writes (names, formats, pixel sizes, records by their schema), refuses image bombs before
decoding them, and refuses symbolic links; damaged history files and cache records are
treated as missing, with one warning, never a traceback.

Real files, real `modelkb.cli.main([...])` calls in-process. One small site: a 24x16 photo
restored (random mssnet-small weights) then enlarged 2x, with a reference and a crop, and a
resize-only entry; its gallery is run once as shard 1/1 and each test damages a copy.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelkb import cli
from modelkb.gallery.cache import MANIFEST, Cache

from conftest import GALLERY_CATALOG_HEAD

RESIZE_ONLY = """\
  - id: just-2x
    name: 2x
    steps:
      - {op: resize, scale: 2, filter: lanczos}
"""


@pytest.fixture(autouse=True)
def _cli_logging_to_this_test():
    """cli.main gives the 'modelkb' logger a handler on the sys.stdout of its first call:
    each test gets its own (pytest captures each test's output apart)."""
    core = logging.getLogger("modelkb")
    saved = core.handlers[:]
    core.handlers.clear()
    yield
    core.handlers[:] = saved


def _catalog(restore: bool) -> str:
    head = GALLERY_CATALOG_HEAD.replace("gallery:\n", RESIZE_ONLY + "gallery:\n")
    entries = ""
    if restore:
        entries += textwrap.dedent("""\
              - id: photo
                input: photo.png
                reference: photo_sharp.png
                workflow: deblur-then-2x
                caption: a photo
                source: generated
                licence: CC0
                crops:
                  - {x: 2, y: 2, width: 8, height: 6, label: corner}
            """)
    entries += textwrap.dedent("""\
          - id: plain
            input: plain.png
            workflow: just-2x
            caption: a plain photo
            source: generated
            licence: CC0
            crops:
              - {x: 4, y: 4, width: 10, height: 8, label: middle}
        """)
    return head + textwrap.indent(entries, "  ")


def _site(root: Path, restore: bool = True) -> Path:
    """mkdocs.yml, catalog.yml and gallery_src/ (photos of 24x16 and 20x14)."""
    root.mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# x\n", encoding="utf-8")
    gallery = root / "gallery_src"
    gallery.mkdir()
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    Image.fromarray(sharp).save(gallery / "photo_sharp.png")
    Image.fromarray(sharp).resize((12, 8)).resize((24, 16)).save(gallery / "photo.png")
    Image.fromarray(rng.integers(0, 256, (14, 20, 3), dtype=np.uint8)).save(
        gallery / "plain.png")
    (root / "catalog.yml").write_text(_catalog(restore), encoding="utf-8")
    weights = ""
    if restore:
        import torch

        from modelkb.models.weights import save_safetensors
        from modelkb.pixels.mssnet import build

        torch.manual_seed(0)
        path = save_safetensors(build("mssnet-small"), root / "w.safetensors",
                                dtype=torch.float32)
        weights = f"\n    weights: {path}"
    (root / "mkdocs.yml").write_text(textwrap.dedent("""\
        site_name: handed over
        extra:
          modelkb:
            cache: .cache/modelkb
            device: cpu""") + weights + "\n", encoding="utf-8")
    return root


def _gallery(root: Path, *args: str) -> int:
    return cli.main(["gallery", "--config", str(root / "mkdocs.yml"), *args])


@pytest.fixture(scope="module")
def shard(tmp_path_factory) -> Path:
    """The site with its whole gallery run as shard 1/1 into <site>/shard."""
    root = _site(tmp_path_factory.mktemp("handed") / "site")
    assert _gallery(root, "--shard", "1/1", "--cache", str(root / "shard"), "--workers",
                    "1") == 0
    return root


def _copy(shard: Path, tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(shard, root, symlinks=True)
    return root


def _entry(root: Path, level: str, holding: str) -> Path:
    """The shard's entry folder of ``level`` that holds the file ``holding``."""
    found = [p for p in (root / "shard" / level).iterdir()
             if not p.name.startswith(".") and (p / holding).is_file()]
    assert found, (level, holding)
    return found[0]


def _renders_of(root: Path, entry_id: str) -> Path:
    for folder in (root / "shard" / "renders").iterdir():
        if folder.name.startswith("."):
            continue
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        if metrics["id"] == entry_id:
            return folder
    raise AssertionError(entry_id)


def _reseal(folder: Path) -> None:
    """Write the entry's manifest again for its files as they are now (what a forger does)."""
    from modelkb.files import hash_file

    files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": hash_file(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()
             and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"key": folder.name, "files": files}),
                                   encoding="utf-8")


def _merge(root: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = _gallery(root, "--merge", str(root / "shard"), "--cache", str(root / "merged"))
    return code, capsys.readouterr().err


def _nothing_merged(root: Path) -> bool:
    return not any((root / "merged" / level).is_dir() and Cache(root / "merged" / level).keys()
                   for level in ("results", "renders"))


def _refused(root: Path, capsys, *located: str) -> str:
    code, err = _merge(root, capsys)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for text in located:
        assert text in lines[0], (text, err)
    assert "nothing was merged" in lines[0] and "Traceback" not in err
    assert _nothing_merged(root)
    return lines[0]


def test_an_intact_shard_is_merged_whole(shard: Path, tmp_path: Path, capsys) -> None:
    root = _copy(shard, tmp_path)
    code, err = _merge(root, capsys)
    assert code == 0, err
    assert len(Cache(root / "merged" / "renders").keys()) == 2
    assert len(Cache(root / "merged" / "results").keys()) == 2


def test_the_render_file_list_is_what_a_render_writes(shard: Path) -> None:
    """The names, formats and pixel sizes the merge allows are those of real renders."""
    from modelkb.gallery.shardcheck import expected_entry_files
    from modelkb.site.project import Project

    project = Project.from_config_file(shard / "mkdocs.yml")
    catalog = project.load_catalog()
    for entry_id in ("photo", "plain"):
        folder = _renders_of(shard, entry_id)
        record = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        results = shard / "shard" / "results" / record["key"]
        expected = expected_entry_files(catalog, project.gallery_dir, catalog.gallery[entry_id],
                                        record)
        for level, where in (("results", results), ("renders", folder)):
            present = {p.name for p in where.iterdir() if p.name != MANIFEST}
            assert present == set(expected[level]), (entry_id, level)
            for name, (kind, size) in expected[level].items():
                if kind in ("PNG", "WEBP"):
                    with Image.open(where / name) as image:
                        assert (image.format, image.size) == (kind, size), (entry_id, name)


def _webp_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    from io import BytesIO

    out = BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, format="WEBP")
    return out.getvalue()


@pytest.mark.parametrize("forgery", ["extra html", "html as webp", "trailing html",
                                     "wrong size", "png as webp", "subfolder"])
def test_a_forged_render_file_refuses_the_merge(shard: Path, tmp_path: Path, capsys,
                                                forgery: str) -> None:
    """Files a render does not write, with a manifest made to match, are refused by name."""
    root = _copy(shard, tmp_path)
    folder = _renders_of(root, "plain")
    where = f"shard/renders/{folder.name}"
    if forgery == "extra html":
        (folder / "x.html").write_text("<script>alert(1)</script>", encoding="utf-8")
        located = [where, "x.html", "not a file a render writes"]
    elif forgery == "html as webp":
        (folder / "output.webp").write_text("<script>alert(1)</script>", encoding="utf-8")
        located = [where, "output.webp", "not a WEBP image"]
    elif forgery == "trailing html":
        with (folder / "input.webp").open("ab") as handle:
            handle.write(b"<script>alert(1)</script>")
        located = [where, "input.webp", "bytes after its image data"]
    elif forgery == "wrong size":
        (folder / "thumb-output.webp").write_bytes(_webp_bytes((9, 9)))
        located = [where, "thumb-output.webp", "9x9 pixels", "a render writes 40x28"]
    elif forgery == "png as webp":
        Image.new("RGB", (40, 28)).save(folder / "output.webp", format="PNG")
        located = [where, "output.webp", "not a WEBP image"]
    else:
        (folder / "sub").mkdir()
        (folder / "sub" / "x.html").write_text("x", encoding="utf-8")
        located = [where, "sub", "not a file a render writes"]
    _reseal(folder)
    line = _refused(root, capsys, *located)
    assert "run that shard again" in line


@pytest.mark.parametrize("damage", ["metrics shape", "metrics nan", "run infinity",
                                    "metrics other entry", "crop file name"])
def test_a_record_outside_its_schema_refuses_the_merge(shard: Path, tmp_path: Path, capsys,
                                                       damage: str) -> None:
    root = _copy(shard, tmp_path)
    folder = _renders_of(root, "plain")
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    if damage == "run infinity":
        folder = _entry(root, "results", "run.json")
        path, text = folder / "run.json", (folder / "run.json").read_text(encoding="utf-8")
        data = json.loads(text)
        data["seconds"] = 1e999
        path.write_text(json.dumps(data), encoding="utf-8")
        located = ["run.json", "Infinity"]
    else:
        path = folder / "metrics.json"
        if damage == "metrics shape":
            metrics["images"] = "x"
            located = ["metrics.json", "images"]
        elif damage == "metrics nan":
            metrics["scale"] = float("nan")
            located = ["metrics.json", "NaN"]
        elif damage == "metrics other entry":
            metrics["id"] = "photo"
            located = ["metrics.json", "'photo'", "'plain'"]
        else:
            metrics["crops"][0]["files"]["input"] = "x.html"
            located = ["metrics.json", "x.html"]
        path.write_text(json.dumps(metrics), encoding="utf-8")
    _reseal(folder)
    _refused(root, capsys, f"shard/{folder.parent.name}/{folder.name}", *located)


@pytest.mark.parametrize("where", ["level folder", "file", "entry subfolder"])
def test_symbolic_links_in_a_shard_refuse_the_merge(shard: Path, tmp_path: Path, capsys,
                                                    where: str) -> None:
    root = _copy(shard, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = _renders_of(root, "plain")
    if where == "level folder":
        shutil.move(root / "shard" / "renders", outside / "renders")
        (root / "shard" / "renders").symlink_to(outside / "renders")
        located = ["shard/renders", "symbolic link"]
    elif where == "file":
        target = outside / "input.webp"
        shutil.move(folder / "input.webp", target)
        (folder / "input.webp").symlink_to(target)
        located = [f"shard/renders/{folder.name}", "input.webp", "symbolic link"]
    else:
        (outside / "x.html").write_text("x", encoding="utf-8")
        (folder / "more").symlink_to(outside)
        located = [f"shard/renders/{folder.name}", "more", "symbolic link"]
    _refused(root, capsys, *located)


# -- image bombs (family 5) ----------------------------------------------------------------

def _bits(fields: list[tuple[int, int]]) -> bytes:
    """Little-endian bit packing of (value, width) fields, as VP8L reads them."""
    value, count = 0, 0
    for field, width in fields:
        value |= field << count
        count += width
    return value.to_bytes((count + 7) // 8, "little")


def webp_bomb(width: int, height: int) -> bytes:
    """A lossless WebP of ``width`` x ``height`` opaque black pixels in about 40 bytes: every
    prefix code has a single symbol, so each pixel takes no bits at all."""
    simple = [(1, 1), (0, 1), (0, 1), (0, 1)]  # simple code, one symbol, 1-bit symbol 0
    alpha = [(1, 1), (0, 1), (1, 1), (255, 8)]  # simple code, one symbol, 8-bit symbol 255
    fields = [(width - 1, 14), (height - 1, 14), (0, 1), (0, 3),  # size, no alpha, version
              (0, 1), (0, 1), (0, 1)]  # no transform, no colour cache, no meta codes
    fields += simple * 3 + alpha + simple  # green, red, blue, alpha, distance
    data = b"\x2f" + _bits(fields)
    data += b"\0" * (len(data) % 2)
    chunk = b"VP8L" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def png_bomb(width: int, height: int) -> bytes:
    """An RGB PNG of ``width`` x ``height`` black pixels: zeros deflate about 1000:1."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                                              2, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_the_webp_bomb_is_a_real_image():
    """The crafted WebP decodes (its header is what Pillow reports)."""
    from io import BytesIO

    with Image.open(BytesIO(webp_bomb(300, 200)), formats=["WEBP"]) as image:
        assert image.size == (300, 200)
        image.load()
        assert image.convert("RGB").getpixel((5, 5)) == (0, 0, 0)


BOMB_SCRIPT = """
import json, resource, sys, time
from modelkb import cli
start = time.perf_counter()
code = cli.main(["gallery", "--config", sys.argv[1] + "/mkdocs.yml", "--merge",
                 sys.argv[1] + "/shard", "--cache", sys.argv[1] + "/merged"])
seconds = time.perf_counter() - start
peak = max(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "seconds": seconds, "peak_kib": peak}))
"""


@pytest.mark.parametrize("bomb", ["webp", "png"])
def test_an_image_bomb_in_a_shard_is_refused_quickly_in_bounded_memory(
        shard: Path, tmp_path: Path, bomb: str) -> None:
    """The viewer's images replaced by bombs (a 12,000 x 12,000 WebP of 30 bytes; a
    10,000 x 10,000 PNG of 285 KB), manifests resealed: the merge refuses them from
    their headers, in a fresh process, under 2 s and 300 MB."""
    root = _copy(shard, tmp_path)
    folder = _renders_of(root, "plain")
    data = webp_bomb(12000, 12000) if bomb == "webp" else png_bomb(10000, 10000)
    name = "baseline.webp" if bomb == "webp" else "output.png"
    if bomb == "png":
        folder = _entry(root, "results", "output.png")
    (folder / name).write_bytes(data)
    _reseal(folder)
    proc = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(root)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 1, proc.stderr
    assert f"{folder.name}: {name}" in proc.stderr and "pixels" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    print(f"{bomb} bomb: refused in {result['seconds']:.2f} s, peak RSS "
          f"{result['peak_kib'] / 1024:.0f} MiB")
    assert result["seconds"] < 2.0
    assert result["peak_kib"] < 300 * 1024
    assert _nothing_merged(root)


@pytest.mark.parametrize("bomb", ["webp", "png"])
def test_the_card_step_refuses_a_bomb_in_the_cache(tmp_path: Path, caplog, bomb: str) -> None:
    """A card drawn from gallery pictures that are bombs (a cache changed by hand): a plain
    card and a warning, quickly, never a traceback or gigabytes."""
    import time

    from modelkb.site import cards

    before, after = tmp_path / f"b.{bomb}", tmp_path / f"a.{bomb}"
    data = webp_bomb(12000, 12000) if bomb == "webp" else png_bomb(20000, 10000)
    before.write_bytes(data)
    after.write_bytes(data)
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        card = cards.answer_card("A question?", "site", before, after, gain="+1 dB")
    assert time.perf_counter() - start < 2.0
    assert card.startswith(b"\x89PNG")
    assert "pixels" in caplog.text and "plain card" in caplog.text


# -- damaged history files and cache records (family 13) ----------------------------------

HOSTILE_TIMINGS = {
    "a list": "[1, 2]",
    "devices a list": '{"version": 1, "devices": [1]}',
    "infinity": '{"version": 1, "devices": {"%s": {"render": {"samples": 1, "seconds": 1, '
                '"megapixels": 1, "seconds_per_megapixel": Infinity}}}}',
    "nan": '{"version": 1, "devices": {"%s": {"render": {"samples": 1, "seconds": NaN, '
           '"megapixels": 1, "seconds_per_megapixel": 1}}}, "variants": {}}',
    "a string rate": '{"version": 1, "devices": {"%s": {"decode, metrics, encode": '
                     '{"samples": 1, "seconds_per_megapixel": "fast"}}}}',
    "variants a list": '{"version": 1, "devices": {}, "variants": [1]}',
}
HOSTILE_KEYS = {
    "entries a list": '{"version": 1, "entries": [1, 2]}',
    "entry a number": '{"version": 1, "entries": {"plain": 3}}',
    "nan": '{"version": 1, "entries": {"plain": {"key": NaN}}}',
    "not json": "{",
}


@pytest.fixture(scope="module")
def plain_site(tmp_path_factory) -> Path:
    """A site with only the resize-only entry (no model: fast, no torch)."""
    return _site(tmp_path_factory.mktemp("history") / "site", restore=False)


def _history_case(plain_site: Path, tmp_path: Path, name: str, text: str) -> Path:
    from modelkb.gallery.history import cpu_label

    root = tmp_path / "site"
    shutil.copytree(plain_site, root)
    cache = root / ".cache" / "modelkb"
    cache.mkdir(parents=True)
    (cache / name).write_text(text.replace("%s", cpu_label()), encoding="utf-8")
    return root


def _one_warning(caplog, name: str) -> None:
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
             and name in r.getMessage()]
    assert len(lines) == 1, lines
    assert "treated as missing" in lines[0]


@pytest.mark.parametrize(("name", "text"),
                         [("timings.json", t) for t in HOSTILE_TIMINGS.values()]
                         + [("gallery-keys.json", t) for t in HOSTILE_KEYS.values()],
                         ids=[f"timings-{k}" for k in HOSTILE_TIMINGS]
                         + [f"keys-{k}" for k in HOSTILE_KEYS])
def test_a_damaged_history_file_is_treated_as_missing(plain_site: Path, tmp_path: Path,
                                                      capsys, caplog, name: str,
                                                      text: str) -> None:
    """`modelkb plan` (which estimates from timings.json), and `modelkb gallery` (which
    reads both and records into them, as every build does), each on its own copy: one
    warning naming the file, then as if it were missing; the run writes it again whole."""
    for command in ("plan", "gallery"):
        root = _history_case(plain_site, tmp_path / command, name, text)
        config = str(root / "mkdocs.yml")
        caplog.clear()
        capsys.readouterr()
        with caplog.at_level(logging.WARNING):
            assert cli.main([command, "--config", config]) == 0
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        assert ("plan: 1 picture to compute" if command == "plan"
                else "gallery: 1 computed") in out.out
        _one_warning(caplog, name)
    data = json.loads((root / ".cache" / "modelkb" / name).read_text(encoding="utf-8"))
    assert data["version"] == 1  # written again, whole
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # and now it is good
        assert cli.main(["plan", "--config", config]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("damage", ["run.json shape", "run.json nan", "metrics.json shape",
                                    "metrics.json infinity"])
def test_a_cache_record_outside_its_schema_is_computed_again(plain_site: Path,
                                                             tmp_path: Path, capsys, caplog,
                                                             damage: str) -> None:
    """A record in a cache entry (its manifest made to match) that fails its schema: the
    entry is missing, with a warning naming it; the run computes or renders it again."""
    root = tmp_path / "site"
    shutil.copytree(plain_site, root)
    config = str(root / "mkdocs.yml")
    assert cli.main(["gallery", "--config", config]) == 0
    cache = root / ".cache" / "modelkb"
    name = damage.split()[0]
    level = "results" if name == "run.json" else "renders"
    (folder,) = [p for p in (cache / level).iterdir() if not p.name.startswith(".")]
    data = json.loads((folder / name).read_text(encoding="utf-8"))
    if damage.endswith("shape"):
        data["input"] = [1, 2]
    else:
        data["seconds"] = float("nan") if damage.endswith("nan") else float("inf")
    (folder / name).write_text(json.dumps(data), encoding="utf-8")
    _reseal(folder)
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        assert cli.main(["gallery", "--config", config]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "failed" not in out.err + out.out
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(folder.name[:16] in w and name in w for w in warnings), warnings
    expected = "gallery: 1 computed" if level == "results" else "gallery: 0 computed, 1 cached"
    assert expected in out.out
    json.loads((folder / name).read_text(encoding="utf-8"), parse_constant=_no_constant)


def _no_constant(text: str) -> None:
    raise AssertionError(f"{text} in a record")
