"""`modelkb restore` and image I/O: bit depths, alpha, EXIF, gray, error messages (issue 3)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelkb.cli import main
from modelkb.models.weights import save_checkpoint
from modelkb.pixels.imaging import quantize, read_image, read_png16, write_png16
from modelkb.pixels.mssnet import build
from modelkb.pixels.tiling import restore_image


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A released-format checkpoint of a random mssnet-small, scaled towards identity."""
    torch.manual_seed(0)
    model = build("mssnet-small")
    with torch.no_grad():
        model.tail3_3.weight.mul_(0.01)  # small residual: output close to the input
    return save_checkpoint(model, tmp_path_factory.mktemp("w") / "model_03000E.pt")


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    """A 64x80 RGB PNG with a gradient."""
    yy, xx = np.mgrid[0:64, 0:80]
    array = np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=2).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(array).save(path)
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "modelkb.cli", "restore", *args],
        check=False, capture_output=True, text=True, timeout=120,
    )


def test_quantize_rounds_like_the_original() -> None:
    values = np.array([0.0, 0.5 / 255 - 1e-6, 0.5 / 255 + 1e-6, 1.0, 1.7, -0.3], np.float32)
    assert quantize(values).tolist() == [0, 0, 1, 255, 255, 0]
    assert quantize(np.array([0.5], np.float32), 16).tolist() == [32768]


def test_png16_round_trip(tmp_path: Path) -> None:
    array = np.random.default_rng(0).integers(0, 65536, (5, 7, 4), dtype=np.uint16)
    write_png16(tmp_path / "a.png", array)
    assert np.array_equal(read_png16((tmp_path / "a.png").read_bytes()), array)
    with Image.open(tmp_path / "a.png") as check:  # a valid PNG for other readers too
        assert check.size == (7, 5)


def test_restore_one_file_8bit(weights: Path, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    assert main(["restore", str(photo), "-o", str(out), "--weights", str(weights),
                 "--device", "cpu"]) == 0
    with Image.open(out) as result, Image.open(photo) as source:
        assert result.mode == "RGB" and result.size == source.size
        diff = np.abs(np.asarray(result, int) - np.asarray(source, int))
    assert diff.max() < 64 and diff.mean() < 16  # near-identity network


def test_restore_16bit_output(weights: Path, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out16.png"
    assert main(["restore", str(photo), "-o", str(out), "--weights", str(weights),
                 "--bit-depth", "16"]) == 0
    data = out.read_bytes()
    assert data[24] == 16 and data[25] == 2  # IHDR: 16 bits, RGB
    array = read_png16(data)
    assert array.shape == (64, 80, 3) and array.dtype == np.uint16
    eight = tmp_path / "out8.png"
    main(["restore", str(photo), "-o", str(eight), "--weights", str(weights)])
    with Image.open(eight) as im8:
        assert np.abs(array // 257 - np.asarray(im8, np.int64)).max() <= 1
    assert (array % 257 != 0).any()  # real 16-bit precision, not 8-bit scaled


def test_alpha_carried_through(weights: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (48, 64, 4), dtype=np.uint8)
    source = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(source)
    out = tmp_path / "rgba_out.png"
    assert main(["restore", str(source), "-o", str(out), "--weights", str(weights)]) == 0
    with Image.open(out) as result:
        assert result.mode == "RGBA"
        assert np.array_equal(np.asarray(result)[..., 3], rgba[..., 3])
    out16 = tmp_path / "rgba16.png"
    main(["restore", str(source), "-o", str(out16), "--weights", str(weights),
          "--bit-depth", "16"])
    alpha16 = read_png16(out16.read_bytes())[..., 3]
    assert np.array_equal(alpha16, rgba[..., 3].astype(np.uint16) * 257)


def test_exif_rotation_applied(weights: Path, tmp_path: Path) -> None:
    array = np.zeros((32, 48, 3), np.uint8)
    array[:, :8] = 255  # a white band on the left of the stored pixels
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    source = tmp_path / "rotated.jpg"
    image.save(source, exif=exif.tobytes(), quality=100)
    picture = read_image(source)
    assert picture.rgb.shape == (48, 32, 3)
    assert picture.rgb[:8].mean() > 0.9 and picture.rgb[-8:].mean() < 0.1  # band now on top
    out = tmp_path / "upright.png"
    assert main(["restore", str(source), "-o", str(out), "--weights", str(weights)]) == 0
    with Image.open(out) as result:
        assert result.size == (32, 48)
        assert 0x0112 not in result.getexif()


@pytest.mark.slow
def test_grayscale_and_palette(weights: Path, tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (40, 1)), "L").save(gray)
    palette = tmp_path / "pal.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 90).convert("P").save(palette)
    gray16 = tmp_path / "gray16.png"
    write_png16(gray16, np.full((40, 40), 40000, np.uint16))
    outdir = tmp_path / "outs"
    assert main(["restore", str(gray), str(palette), str(gray16), "-o", str(outdir),
                 "--weights", str(weights)]) == 0
    with Image.open(outdir / "gray.png") as g, Image.open(outdir / "pal.png") as p:
        assert g.mode == "L" and g.size == (64, 40)
        assert p.mode == "RGB"
    with Image.open(outdir / "gray16.png") as g16:
        assert g16.mode.startswith("I") and abs(int(np.asarray(g16).mean()) - 40000) < 3000


def test_restore_image_api(weights: Path) -> None:
    from modelkb.models.weights import load_weights

    model = load_weights(weights).model
    image = Image.new("RGBA", (37, 53), (10, 200, 30, 77))
    result = restore_image(model, image, device="cpu", tile=0)
    assert result.mode == "RGBA" and result.size == (37, 53)
    assert np.asarray(result)[..., 3].min() == 77


def test_many_inputs_to_folder_and_wrong_variant(weights: Path, photo: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    outdir = tmp_path / "results"
    assert main(["restore", str(photo), str(second), "-o", str(outdir),
                 "--weights", str(weights)]) == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["photo.png", "second.png"]
    capsys.readouterr()
    assert main(["restore", str(photo), "-o", str(tmp_path / "x.png"), "--weights",
                 str(weights), "--variant", "mssnet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("modelkb restore: error: weights in model_03000E.pt are for mssnet-small, "
                   "not mssnet: pass --variant mssnet-small or the weights of mssnet")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.png", "-o", "o.png", "--weights", "w.pt"], "input missing.png does not exist"),
        (["{photo}", "-o", "o.png", "--weights", "w.pt", "--variant", "big"],
         "unknown variant 'big'"),
        (["{photo}", "-o", "o.png", "--weights", "w.pt", "--tile", "100"], "multiple of 16"),
        (["{photo}", "-o", "o.png", "--weights", "w.pt", "--tile", "abc"],
         "--tile must be a whole number"),
        (["{photo}", "-o", "o.png", "--weights", "w.pt", "--bit-depth", "12"],
         "--bit-depth must be 8 or 16"),
        (["{photo}", "{photo}", "-o", "o.png", "--weights", "w.pt"],
         "need an output folder, but o.png looks like an image file name"),
        (["{photo}", "-o", "noext", "--weights", "w.pt"], "has no file extension"),
        (["{photo}", "-o", "nodir/o.png", "--weights", "w.pt"],
         "folder nodir for the output o.png does not exist"),
        (["{photo}", "-o", "o.jpg", "--weights", "w.pt", "--bit-depth", "16"],
         "--bit-depth 16 needs .png or .tif outputs"),
        (["{photo}", "-o", "o.png", "--weights", "nope.pt"],
         "weights file nope.pt (--weights) does not exist"),
        (["{text}", "-o", "o.png", "--weights", "{weights}"], "cannot read"),
    ],
)
def test_cli_errors(args: list[str], message: str, photo: Path, weights: Path,
                    tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    filled = [a.format(photo=photo, weights=weights, text=text) for a in args]
    if "w.pt" in filled:
        (tmp_path / "w.pt").write_bytes(weights.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "modelkb.cli", "restore", *filled],
        check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("modelkb restore: error: ")
    assert message in lines[0]


def test_cli_cuda_unavailable(photo: Path, weights: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    result = cli(str(photo), "-o", str(tmp_path / "o.png"), "--weights", str(weights),
                 "--device", "cuda")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "modelkb restore: error: --device cuda was asked but no CUDA GPU is available; "
        "use cpu or auto")


def test_cli_without_weights(photo: Path, tmp_path: Path) -> None:
    """An install without the shipped file (e.g. a trimmed wheel) says what to pass."""
    code = ("import sys, dataclasses, modelkb.pixels.registry as r; "
            "r._REGISTRY['mssnet'] = dataclasses.replace(r.get('mssnet'), default_weights={}); "
            "from modelkb.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {k: v for k, v in os.environ.items() if k != "MODELKB_WEIGHTS"}
    result = subprocess.run(
        [sys.executable, "-c", code, "restore", str(photo), "-o", "o.png"],
        check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "modelkb restore: error: no MSSNet weights given: pass --weights FILE")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_cli_uses_the_shipped_weights_by_default(photo: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MODELKB_WEIGHTS"}
    result = subprocess.run(
        [sys.executable, "-m", "modelkb.cli", "restore", str(photo), "-o", "o.png"],
        check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o.png").is_file()


def test_imageio_does_not_import_torch() -> None:
    code = ("import sys, modelkb.pixels.imaging, modelkb.commands.restore; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.strip() == "False"


def _tiled_photo(folder: Path) -> Path:
    """A 96x80 photo: four 64-pixel tiles with --tile 64."""
    rng = np.random.default_rng(1)
    path = folder / "wide.png"
    Image.fromarray((rng.random((80, 96, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_restore_reports_what_it_wrote_and_stays_quiet_when_asked(
        weights: Path, tmp_path: Path) -> None:
    photo = _tiled_photo(tmp_path)
    out = tmp_path / "out.png"
    done = cli(str(photo), "-o", str(out), "--weights", str(weights), "--device", "cpu",
               "--tile", "64")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^wrote {re.escape(str(out))} \(96x80, \d+(\.\d)? s\)$",
                     done.stdout, re.M), done.stdout
    # Not a terminal: whole lines, none in the first 10 s (a quick image prints none).
    assert "\r" not in done.stderr
    for seconds in re.findall(r"tile \d+/\d+ \(\d+%\), (\d+) s\n", done.stderr):
        assert int(seconds) >= 10, done.stderr
    quiet = cli(str(photo), "-o", str(tmp_path / "q.png"), "--weights", str(weights),
                "--device", "cpu", "--tile", "64", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "", quiet
    assert (tmp_path / "q.png").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_restore_shows_tiles_done_on_a_terminal(weights: Path, tmp_path: Path) -> None:
    import pty

    photo = _tiled_photo(tmp_path)
    out = tmp_path / "out.png"
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "modelkb.cli", "restore", str(photo), "-o", str(out),
             "--weights", str(weights), "--device", "cpu", "--tile", "64"],
            stdout=subprocess.PIPE, stderr=follower, text=True, timeout=120, check=False)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed, all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    shown = b"".join(chunks).decode()
    assert done.returncode == 0, shown
    assert "\rrestore: wide.png (96x80) ..." in shown, shown  # shown from the start
    tiles = re.findall(r"\rrestore: wide\.png \(96x80\): tile (\d+)/(\d+)", shown)
    assert tiles and {total for _, total in tiles} == {"4"}, shown
    assert [int(d) for d, _ in tiles] == sorted(int(d) for d, _ in tiles)
    assert shown.rstrip(" \r\n").endswith("\r") or shown.endswith(" \r"), repr(shown[-80:])
    assert re.search(r"^wrote .*out\.png \(96x80, ", done.stdout, re.M), done.stdout
