"""Gallery shards: balanced by estimated cost against split by count, in one run.

A site with ``--photos`` generated photos of mixed sizes (each side drawn from
``--sides``, seeded) runs the shipped `restore then 2x` workflow on random mssnet-small
weights. Its gallery is split into ``--shards`` shares two ways: by estimated cost
(:func:`modelkb.gallery.shards.shard_entries`, what `modelkb gallery --shard I/N` runs) and
by count (the catalog dealt round-robin: equal counts, the best a count split can do).
Each share runs in its own process, one thread, one worker, into an empty cache of its own;
shares run one after another, the two methods alternating (cost 1, count 1, cost 2, ...).
A share's time is the CPU seconds of its gallery run (the process's, one thread): on a
machine shared with other work, wall seconds measure the neighbours as much as the share;
on a dedicated runner (a CI job) the two agree. Wall seconds are shown too.

    python benchmarks/bench_shards.py [--photos 60] [--shards 3] [--sides 32 192] [--seed 0]
    python benchmarks/bench_shards.py --measure      # the per-variant cost factors

Prints a Markdown table for BENCHMARKS.md: per share, its entries, its estimated cost, the
gallery's CPU seconds and each share's deviation from the mean of its method, the gallery's
and the process's wall seconds. ``--measure`` times each registered MSSNet variant on one
256x256 input (one thread), the figures behind the registration's per-variant
:attr:`modelkb.pixels.registry.Architecture.cost`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import machine  # noqa: E402  (benchmarks/ is not a package)

# One share, in a process of its own: the site's project with its cache replaced, the given
# entries on one worker; prints its report as JSON. modelkb sizes torch's thread pool from
# os.cpu_count() (tiling.select_device): it says 1 here, so each share uses one thread.
CHILD = textwrap.dedent("""\
    import dataclasses, json, os, sys
    from pathlib import Path
    os.cpu_count = lambda: 1
    from modelkb.site.project import Project
    project = dataclasses.replace(Project.from_config_file(Path(sys.argv[1])),
                                  cache_dir=Path(sys.argv[2]))
    import time
    catalog = project.load_catalog()
    cpu = time.process_time()
    report = project.run_gallery(catalog, entries=json.loads(sys.argv[3]), workers=1)
    cpu = time.process_time() - cpu
    assert not report.failures, report.failures
    print(json.dumps({"seconds": report.seconds, "cpu": cpu, "computed": report.computed,
                      "entries": {e: r.seconds for e, r in report.results.items()}}))
    """)


def make_site(root: Path, photos: int, sides: tuple[int, int], seed: int) -> Path:
    """The site: generated photos, a one-model catalog, random mssnet-small weights."""
    import numpy as np
    import torch
    from PIL import Image

    from modelkb.models.weights import save_safetensors
    from modelkb.pixels.mssnet import build

    (root / "gallery_src").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    entries = []
    for n in range(photos):
        width, height = (int(v) for v in rng.integers(sides[0], sides[1] + 1, 2))
        coarse = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3),
                              dtype=np.uint8)
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC).save(
            root / "gallery_src" / f"p{n:02d}.png")
        entries.append(f"  - id: p{n:02d}\n    input: p{n:02d}.png\n    workflow: restore-2x\n"
                       f"    caption: photo {n}\n    source: generated\n    licence: CC0\n")
    (root / "catalog.yml").write_text(textwrap.dedent("""\
        tasks:
          - id: image-deblurring
            name: Image deblurring
        models:
          - id: deblur-small
            name: Deblur small
            task: image-deblurring
            architecture: mssnet
            variant: mssnet-small
        workflows:
          - id: restore-2x
            name: Restore, then 2x
            steps:
              - {op: restore, model: deblur-small}
              - {op: resize, scale: 2, filter: lanczos}
        gallery:
        """) + "".join(entries), encoding="utf-8")
    torch.manual_seed(seed)
    weights = save_safetensors(build("mssnet-small"), root / "w.safetensors",
                               dtype=torch.float32)
    (root / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: shards
        extra:
          modelkb:
            cache: {root / 'cache'}
            device: cpu
            weights: {weights}
        """), encoding="utf-8")
    return root


def run_share(site: Path, cache: Path, entries: list[str]) -> dict:
    """One share in its own process; its report, with the process's wall seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "hooks"), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(site / "mkdocs.yml"), str(cache),
                           json.dumps(entries)], capture_output=True, text=True, env=env,
                          check=False)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"share failed:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def measure() -> None:
    """Seconds of each MSSNet variant on a 256x256 input, one thread, and their ratios."""
    import torch

    from modelkb.pixels.mssnet import build
    from modelkb.pixels.registry import architectures

    torch.set_num_threads(1)
    x = torch.rand(1, 3, 256, 256)
    print("| variant | seconds (256x256, 1 thread) | relative |\n|---|---:|---:|", flush=True)
    base = None
    for variant in architectures()["mssnet"].variants:
        model = build(variant).eval()
        with torch.inference_mode():
            model(x)  # warm-up
            start = time.perf_counter()
            model(x)
        seconds = time.perf_counter() - start
        base = base or seconds  # mssnet-small is registered first
        print(f"| {variant} | {seconds:.2f} | {seconds / base:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--sides", type=int, nargs=2, default=(32, 192), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", action="store_true")
    args = parser.parse_args()
    if args.measure:
        measure()
        return
    from modelkb.gallery.shards import entry_cost, input_pixels, shard_entries
    from modelkb.site.project import Project

    with tempfile.TemporaryDirectory() as tmp:
        site = make_site(Path(tmp) / "site", args.photos, tuple(args.sides), args.seed)
        project = Project.from_config_file(site / "mkdocs.yml")
        catalog = project.load_catalog()
        ids = list(catalog.gallery)
        costs = {e: entry_cost(catalog, catalog.gallery[e], project.gallery_dir) for e in ids}
        pixels = {e: input_pixels(project.gallery_dir / catalog.gallery[e].input) for e in ids}
        methods = {
            "cost": [shard_entries(catalog, project.gallery_dir, (i, args.shards))
                     for i in range(1, args.shards + 1)],
            "count": [ids[i::args.shards] for i in range(args.shards)],
        }
        results: dict[str, list[dict]] = {m: [] for m in methods}
        start = time.perf_counter()
        for i in range(args.shards):
            for method, shares in methods.items():
                result = run_share(site, Path(tmp) / f"{method}-{i + 1}", shares[i])
                result["share"] = shares[i]
                results[method].append(result)
                print(f"{method} {i + 1}/{args.shards}: {len(shares[i])} photos, "
                      f"{result['cpu']:.1f} s CPU, {result['seconds']:.1f} s", file=sys.stderr)
        total = time.perf_counter() - start
    print(f"{args.photos} photos, sides {args.sides[0]}-{args.sides[1]} px (seed {args.seed}), "
          f"{args.shards} shards, one thread each; {machine()}; whole run {total:.0f} s\n")
    print("| split | shard | photos | megapixels | est. cost share | gallery CPU s | "
          "vs mean | gallery wall s | process wall s |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for method, shares in results.items():
        mean = statistics.mean(r["cpu"] for r in shares)
        for i, r in enumerate(shares, start=1):
            share_cost = sum(costs[e] for e in r["share"]) / sum(costs.values())
            mpx = sum(pixels[e] for e in r["share"]) / 1e6
            print(f"| {method} | {i}/{args.shards} | {len(r['share'])} | {mpx:.2f} | "
                  f"{share_cost:.1%} | {r['cpu']:.1f} | {(r['cpu'] - mean) / mean:+.0%} | "
                  f"{r['seconds']:.1f} | {r['wall']:.1f} |")
        worst = max(abs(r["cpu"] - mean) / mean for r in shares)
        print(f"| {method} | worst | | | | | {worst:.0%} | | |")
    # seconds per entry = fixed + per_pixel * pixels, over every entry: the fixed part in
    # pixels is what ENTRY_COST / (1 + WORK_COST) estimates
    import numpy as np

    # (a share's first entry also imports torch and loads the weights: left out)
    seconds = {e: t for r in results["cost"] for e, t in r["entries"].items()
               if e != r["share"][0]}
    per_pixel, fixed = np.polyfit([pixels[e] for e in seconds], list(seconds.values()), 1)
    print(f"\nper entry: {fixed:.3f} s + {per_pixel * 1e6:.1f} s per megapixel "
          f"(fixed part = {fixed / per_pixel:.0f} pixels)")


if __name__ == "__main__":
    main()
