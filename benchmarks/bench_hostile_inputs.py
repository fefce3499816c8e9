"""Peak memory and time of issue 24's bounded cases: a TIFF with many samples, many crops.

    python benchmarks/bench_hostile_inputs.py tiff --samples 1000
    python benchmarks/bench_hostile_inputs.py crops --boxes 0,0,512,512 0,0,512,464

Each case runs in a fresh subprocess, so the peak RSS (``ru_maxrss``) is that case's own;
``--hooks`` chooses the code measured (e.g. an older checkout's ``hooks`` folder, to compare
before and after a fix). ``tiff`` writes a zlib-compressed 1000x1000 TIFF with that many
16-bit samples and reads it with ``modelkb.pixels.imaging.read_image``; ``crops`` publishes crops
of a 512-pixel photo enlarged 2x (four views each, as the gallery renders them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TIFF_CASE = """
import resource, sys, time
from modelkb.errors import ModelkbError
from modelkb.pixels.imaging import read_image
start = time.perf_counter()
try:
    picture = read_image(sys.argv[1])
    outcome = f"decoded {picture.size[0]}x{picture.size[1]}"
except ModelkbError as exc:
    outcome = "refused: " + str(exc)[:90]
print(f"{time.perf_counter() - start:.1f} s, peak RSS "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; {outcome}")
"""

CROPS_CASE = """
import resource, sys, tempfile, time
from pathlib import Path
import numpy as np
from modelkb.gallery.webimages import _write_crops
boxes = [tuple(int(v) for v in b.split(",")) for b in sys.argv[1:]]
rng = np.random.default_rng(0)
small = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
big = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
views = {"input": small, "baseline": big, "output": big, "reference": big}
start = time.perf_counter()
with tempfile.TemporaryDirectory() as folder:
    for i, box in enumerate(boxes):
        _write_crops(Path(folder), f"crop-{i}", box, 2.0, views)
print(f"{len(boxes)} crops, {sum(b[2] * b[3] for b in boxes):,} px: "
      f"{time.perf_counter() - start:.1f} s, peak RSS "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
"""


def _run(code: str, args: list[str], hooks: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(hooks)}
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=["tiff", "crops"])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--boxes", nargs="*", default=["0,0,512,512"] * 40)
    parser.add_argument("--hooks", type=Path, default=ROOT / "hooks")
    args = parser.parse_args()
    if args.case == "crops":
        _run(CROPS_CASE, args.boxes, args.hooks)
        return
    import numpy as np
    import tifffile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"samples{args.samples}.tif"
        # np.zeros is not touched until compressed, so writing costs little memory
        tifffile.imwrite(path, np.zeros((1000, 1000, args.samples), np.uint16),
                         photometric="minisblack", planarconfig="contig", compression="zlib",
                         compressionargs={"level": 1}, rowsperstrip=8)
        print(f"{path.name}: {path.stat().st_size:,} bytes")
        _run(TIFF_CASE, [str(path)], args.hooks)


if __name__ == "__main__":
    main()
