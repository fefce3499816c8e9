"""Gallery throughput: overlapping decode, encode, crops and metrics with inference.

A 20-photo gallery (crops of the shipped gallery's blurred photos, each with its sharp
reference, through the shipped `deblur-then-2x` workflow and weights) is computed from an
empty cache with 1, 2 and 3 worker threads, alternating, in one process (the network is
loaded once, before timing). With one worker the entries run one after another; with more,
one entry runs its model while the others decode, encode, crop and measure theirs.

    python benchmarks/bench_gallery.py [--photos 20] [--size 320x240] [--workers 1 2 3]
                                       [--repeats 2] [--device cpu]

Prints a Markdown table for BENCHMARKS.md: seconds per gallery, photos per second, the
time the model itself took (sum of the restore steps) and the speed-up over one worker.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import machine  # noqa: E402  (benchmarks/ is not a package)


def make_gallery(folder: Path, photos: int, width: int, height: int):
    """``photos`` distinct crops (input + reference) of the shipped gallery photos, and a
    catalog holding them; returns the catalog."""
    from PIL import Image

    from modelkb.catalog import GalleryEntry, load_catalog, validate_entry

    shipped = load_catalog(ROOT / "catalog.yml")
    sources = [(e.input, e.reference) for e in shipped.gallery.values() if e.reference]
    folder.mkdir(parents=True)
    catalog = shipped
    catalog.gallery.clear()
    for i in range(photos):
        blurred_name, sharp_name = sources[i % len(sources)]
        with Image.open(ROOT / "gallery_src" / blurred_name) as blurred, \
                Image.open(ROOT / "gallery_src" / sharp_name) as sharp:
            if blurred.width < width or blurred.height < height:  # enlarge small sources
                factor = max(width / blurred.width, height / blurred.height)
                size = (round(blurred.width * factor) + 1, round(blurred.height * factor) + 1)
                blurred = blurred.convert("RGB").resize(size, Image.Resampling.LANCZOS)
                sharp = sharp.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            span_x, span_y = blurred.width - width, blurred.height - height
            step = i // len(sources)
            x = (step * 37) % (span_x + 1)
            y = (step * 53) % (span_y + 1)
            box = (x, y, x + width, y + height)
            blurred.convert("RGB").crop(box).save(folder / f"p{i:02d}.png")
            sharp.convert("RGB").crop(box).save(folder / f"p{i:02d}_sharp.png")
        catalog.gallery[f"p{i:02d}"] = validate_entry(GalleryEntry, {
            "id": f"p{i:02d}", "input": f"p{i:02d}.png", "reference": f"p{i:02d}_sharp.png",
            "workflow": "deblur-then-2x", "caption": "benchmark crop", "source": "benchmark",
            "licence": "as the shipped photo"})
    return catalog


def main() -> None:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of each photo")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    import torch

    from modelkb.gallery.runner import run_gallery

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        catalog = make_gallery(tmp / "gallery", args.photos, width, height)
        # Warm-up: load the network and touch every code path once (not timed).
        run_gallery(catalog, tmp / "gallery", tmp / "warm-cache", device=args.device,
                    entries=[next(iter(catalog.gallery))])

        times: dict[int, list[float]] = {n: [] for n in args.workers}
        model: dict[int, list[float]] = {n: [] for n in args.workers}
        stages: dict[int, dict[str, float]] = {}
        for repeat in range(args.repeats):
            for n in args.workers:
                cache = tmp / f"cache-{n}-{repeat}"
                start = time.perf_counter()
                report = run_gallery(catalog, tmp / "gallery", cache, device=args.device,
                                     workers=n)
                times[n].append(time.perf_counter() - start)
                if report.failures or report.computed != args.photos:
                    raise SystemExit(f"gallery run failed: {report.summary()} "
                                     f"{report.failures}")
                model[n].append(sum(s.seconds for r in report.results.values()
                                    for s in r.record.steps if s.op == "restore"))
                stages[n] = report.stage_seconds()
                shutil.rmtree(cache)
                print(f"  repeat {repeat + 1}, {n} worker(s): {times[n][-1]:.1f} s",
                      file=sys.stderr, flush=True)

    device = (torch.cuda.get_device_name() if args.device.startswith("cuda")
              else f"CPU ({torch.get_num_threads()} torch threads)")
    print(f"Machine: {machine()}; {device}; torch {torch.__version__}; {args.photos} photos "
          f"of {width}x{height}, workflow deblur-then-2x (mssnet-small, shipped weights), "
          f"{args.repeats} alternating runs each, median\n")
    print("| workers | gallery s | photos/s | model s (sum of restore steps) | "
          "model share of wall time | speed-up |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(times[args.workers[0]])
    for n in args.workers:
        wall, busy = statistics.median(times[n]), statistics.median(model[n])
        print(f"| {n} | {wall:.1f} | {args.photos / wall:.2f} | {busy:.1f} | "
              f"{busy / wall:.0%} | {base / wall:.2f}x |")
    print("\nStages of the last run (seconds summed over photos; with several workers they "
          "overlap, so the sum can exceed the wall time; the render step (web images, crops) "
          "is the rest of the wall time):\n")
    names = ("load", "decode", "model", "metrics", "encode")
    print("| workers | " + " | ".join(names) + " | non-model share of wall time |")
    print("|---|" + "---|" * (len(names) + 1))
    for n in args.workers:
        wall = times[n][-1]
        st = stages[n]
        other = max(wall - st.get("model", 0.0), 0.0) / wall
        print(f"| {n} | " + " | ".join(f"{st.get(k, 0.0):.2f}" for k in names)
              + f" | {other:.0%} |")


if __name__ == "__main__":
    main()
