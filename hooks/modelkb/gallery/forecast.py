"""What the next gallery run would do, why, and what it would cost: the plan and the one
cost model.

**Plan.** :func:`plan_gallery` makes every entry's keys as a run makes them
(:meth:`~modelkb.gallery.single.EntryRunner.prepare`), looks them up without computing,
rendering or downloading anything, and names why each entry would be computed or rendered
again (:func:`~modelkb.gallery.records.change_reasons`).

**Cost.** One model: a restore step costs the seconds per megapixel measured for its
architecture/variant on the device (``timings.json``, :mod:`modelkb.gallery.history`);
a variant not measured there costs what another measured one does, scaled by their
per-variant costs in the registration (:attr:`modelkb.pixels.registry.Architecture.cost`),
and with nothing measured on the device the estimate is unknown. The CPU side and rendering
are measured per megapixel too. Shards (:mod:`modelkb.gallery.shards`) are balanced by the
registration's costs alone (:func:`variant_cost`): every shard machine must deal the same
shares, whatever timings its own cache holds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from modelkb.catalog import Catalog, RestoreStep
from modelkb.catalog.schema import architecture_of
from modelkb.gallery.history import (
    OTHER_STEPS,
    RENDER,
    cpu_label,
    device_label,
    read_timings,
)
from modelkb.gallery.records import Failure, GalleryPlan, PlannedEntry, change_reasons
from modelkb.gallery.single import EntryFault, EntryRunner, Prepared, WeightsChoice, shown
from modelkb.pixels import registry


def variant_cost(architecture: str | None, variant: str | None) -> float:
    """The work per pixel of ``variant`` (of ``architecture``, or whichever has it), from its
    registration, relative to mssnet-small; 1.0 for a variant no registration prices."""
    found = (registry.architectures().get(architecture) if architecture
             else registry.architecture_of_variant(variant))
    return found.variant_cost(variant) if found is not None else 1.0


def restore_rate(measured: dict, architecture: str | None, variant: str | None
                 ) -> tuple[float, float] | None:
    """(seconds per megapixel, seconds to load the network) of a restore step with
    ``variant`` on a device whose timings are ``measured`` (``timings.json``'s entry for it):
    measured, else another measured variant's scaled by the registration's costs (the one
    measured most, so the estimate is stable); None when no restore was measured there."""
    stat = measured.get(f"{architecture}/{variant}")
    if stat is not None:
        return stat["seconds_per_megapixel"], stat.get("load_seconds", 0.0)
    others = sorted(((name, s) for name, s in measured.items() if "/" in name),
                    key=lambda item: (-item[1].get("samples", 0), item[0]))
    if not others:
        return None
    name, stat = others[0]
    other_arch, other_variant = name.split("/", 1)
    ratio = variant_cost(architecture, variant) / variant_cost(other_arch, other_variant)
    return stat["seconds_per_megapixel"] * ratio, stat.get("load_seconds", 0.0) * ratio


def planned_device(device: str) -> str:
    """The device label a run with the setting ``device`` would use here (imports torch
    only when the setting is not 'cpu')."""
    if device == "cpu":
        return cpu_label()
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return device_label("cuda", torch.cuda.get_device_name(0))
    mps = getattr(torch.backends, "mps", None)
    if device in ("auto", "mps") and mps is not None and mps.is_available():
        return "mps"
    return cpu_label() if device == "auto" else f"{device} (not available here)"


def _estimate(timings: dict, label: str, prepared: Prepared, catalog: Catalog,
              megapixels: float, action: str, loaded: set[str]) -> float | None:
    """Estimated seconds for one entry's ``action`` on device ``label`` (None: unknown)."""
    devices = timings.get("devices", {})
    render = devices.get(cpu_label(), {}).get(RENDER)
    seconds = render["seconds_per_megapixel"] * megapixels if render else 0.0
    if action == "render":
        return seconds if render else None
    here = devices.get(label, {})
    other = here.get(OTHER_STEPS)
    seconds += other["seconds_per_megapixel"] * megapixels if other else 0.0
    area = 1.0  # the pixels a step works on, relative to the input's: resize steps scale it
    for step in prepared.workflow.steps:
        if isinstance(step, RestoreStep):
            weights = prepared.weights[step.model]
            model = catalog.models[step.model]
            variant = timings.get("variants", {}).get(weights.sha256) or model.variant
            rate = restore_rate(here, architecture_of(model), variant)
            if rate is None:
                return None
            seconds += rate[0] * megapixels * area
            if weights.sha256 not in loaded:
                loaded.add(weights.sha256)
                seconds += rate[1]
        else:
            area *= step.scale ** 2
    return seconds


def plan_gallery(catalog: Catalog, gallery_dir: str | Path, cache_dir: str | Path,
                 device: str = "auto", weights: str | WeightsChoice | None = None,
                 entries: list[str] | None = None,
                 max_pixels: int | None = None) -> GalleryPlan:
    """What :func:`run_gallery` with the same arguments would do, and why, from the cache
    alone: the same keys, looked up without computing, rendering or downloading anything;
    estimated seconds from the cost model (see the module's notes)."""
    from PIL import Image

    choice = weights if isinstance(weights, WeightsChoice) else WeightsChoice(weights)
    runner = EntryRunner(catalog, Path(gallery_dir), Path(cache_dir), device,
                         replace(choice, allow_download=False), max_pixels)
    timings = read_timings(cache_dir)
    plan = GalleryPlan(device=cpu_label())
    jobs = []
    for entry_id, entry in catalog.gallery.items():
        if entries is not None and entry_id not in entries:
            continue
        try:
            job = runner.prepare(entry)
            with Image.open(job.input_path) as image:
                width, height = image.size
        except EntryFault as fault:
            plan.failures.append(Failure(entry_id, shown(fault.path, runner),
                                         shown(fault.reason, runner)))
            continue
        except OSError as exc:
            plan.failures.append(Failure(entry_id, runner.display(entry.input),
                                         shown(f"not a readable image ({exc})", runner)))
            continue
        computed = runner.results.get(job.key, warn=False) is None
        rendered = runner.renders.get(job.render_key, warn=False) is None
        action = "compute" if computed else "render" if rendered else "cached"
        reasons = change_reasons(runner.memory.get(entry_id), job.parts, computed) \
            if action != "cached" else []
        jobs.append((entry_id, entry, job, action, reasons, width * height / 1e6))
    if any(action == "compute" for *_, action, _r, _m in jobs):
        plan.device = planned_device(device)
    loaded: set[str] = set()
    for entry_id, entry, job, action, reasons, megapixels in jobs:
        seconds = (_estimate(timings, plan.device, job, catalog, megapixels, action, loaded)
                   if action != "cached" else 0.0)
        plan.entries.append(PlannedEntry(entry_id, entry.input, action, reasons,
                                         round(megapixels, 4), seconds))
    return plan
