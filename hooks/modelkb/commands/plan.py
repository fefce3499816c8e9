"""`modelkb plan`: what the next build would compute and why, and how long it would take.

It reads the cache and computes nothing: each gallery entry's cache keys are made as the
build makes them (hashing photos, references and weights) and looked up; the reasons come
from comparing the keys' parts with those the last run remembered (``gallery-keys.json``);
the estimate from the seconds per megapixel recorded per device and architecture/variant
(``timings.json``), "unknown" where none is recorded yet. The build's impact line (and
``last-build.json``) then reports the same pictures with the same reasons.

A command of its own rather than ``modelkb gallery --dry-run``: it predicts what a site
build would do (as the build runs the gallery, with the build's settings), it never writes,
and ``gallery`` stays the command that fills the cache (on other machines, in shards).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from modelkb.pixels.registry import DEVICES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `modelkb plan`."""
    parser.add_argument("--config", "-f", default="mkdocs.yml", type=Path, metavar="FILE",
                        help="the site's mkdocs.yml (default: mkdocs.yml)")
    parser.add_argument("--device", default=None, metavar="|".join(DEVICES),
                        help="the device the build would use (default: extra.modelkb.device)")
    parser.add_argument("--weights", default=None, metavar="FILE|URL",
                        help="MSSNet weights the build would use (default: as the build)")
    parser.add_argument("--json", action="store_true",
                        help="print the plan as JSON (entries with action, reasons, "
                             "megapixels and estimated seconds)")


def duration(seconds: float | None) -> str:
    """'unknown', '12 s', '3 min 20 s' or '2 h 5 min'."""
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def make_plan(config_file: Path, device: str | None = None, weights: str | None = None):
    """The GalleryPlan of the site configured in ``config_file`` (see the module docstring)."""
    from modelkb.gallery.forecast import plan_gallery
    from modelkb.site.project import Project

    project = Project.from_config_file(Path(config_file)).with_options(device, weights)
    catalog = project.load_catalog()
    return plan_gallery(catalog, project.gallery_dir, project.cache_dir,
                        device=project.device, weights=project.weights_choice(),
                        max_pixels=project.max_pixels)


def describe(plan) -> list[str]:
    """The plan as lines for a terminal."""
    to_do = plan.to_do()
    compute = sum(e.action == "compute" for e in to_do)
    render = len(to_do) - compute
    cached = len(plan.entries) - len(to_do)
    if not to_do:
        lines = [f"plan: nothing to compute ({cached} picture{'s' * (cached != 1)} cached); "
                 "a build only renders the pages"]
    else:
        lines = [f"plan: {compute} picture{'s' * (compute != 1)} to compute, {render} to "
                 f"render again, {cached} cached; estimated {duration(plan.seconds)} on "
                 f"{plan.device}"
                 + ("" if plan.seconds is not None else
                    " (no timing recorded there yet for every model: a build records them)")]
    for entry in to_do:
        verb = "compute" if entry.action == "compute" else "render again"
        lines.append(f"  {entry.id} ({entry.input}): {verb}: {'; '.join(entry.reasons)} "
                     f"[{entry.megapixels:g} MP, {duration(entry.seconds)}]")
    for failure in plan.failures:
        lines.append(f"  {failure.entry}: would fail: {failure.path}: {failure.reason}")
    lines.append("pages: every build renders them; its impact line and last-build.json in "
                 "the cache name those that changed")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the plan (exit 0; errors in the catalog or settings exit 1 through the CLI)."""
    plan = make_plan(args.config, args.device, args.weights)
    if args.json:
        print(json.dumps({"device": plan.device, "seconds": plan.seconds,
                          "entries": [asdict(e) for e in plan.entries],
                          "failures": [asdict(f) for f in plan.failures]}, indent=1))
    else:
        print("\n".join(describe(plan)))
    return 0
