"""Shares of the gallery for several machines, balanced by estimated cost, and the merge of
the cache folders they fill.

**Cost.** An entry costs about its input's pixels times what each pixel costs: the models
its workflow runs (per registered variant, relative to mssnet-small: the registration's
:attr:`~modelkb.pixels.registry.Architecture.cost`, the cost model's fallback,
:func:`modelkb.gallery.forecast.variant_cost`; never the timings measured in a cache, which
differ between machines that must deal the same shares) plus
the work every entry does around them (decode, PNG and WebP encoding, crops, metrics:
:data:`WORK_COST`), plus a fixed :data:`ENTRY_COST` (files, hashes, records) that dominates
only for thumbnails. A resize step before a model scales the pixels it sees. The model's
variant is the catalog's. Only the figures' ratios matter (BENCHMARKS.md, "Gallery shards").

**Shares.** :func:`assign` deals the entries to *N* shares, most expensive first, each to
the share with the least cost so far (longest processing time first); ties go by entry id
and by share number, so the same catalog and photos give the same shares on every machine.
Unlike a hash of the id, the shares move when entries are added: every shard of one run
must use the same commit (a CI matrix does).

**Merge.** :func:`merge_caches` copies the entries of shard cache folders into one cache.
A shard comes from another machine, and what it holds is published: before anything is
copied, every entry is checked: no symbolic link anywhere in the shard folder, its
manifest names its folder's key, every file matches the size and SHA-256 its manifest
records, its key is one the site's build looks up
(:func:`~modelkb.gallery.runner.gallery_keys`: the same photos, weights, workflow and
code), and it holds exactly the files a render of that entry writes, images of their
format and pixel size under the gallery's pixel limit, records by their schema
(:class:`modelkb.gallery.shardcheck.EntryChecker`). Any corrupt, forged or foreign entry
refuses the whole merge with one line naming the shard folder, the entry and the file;
nothing is copied. Entries are then copied one at a time through
:meth:`Cache.put` (a temporary folder renamed into place), so an interrupted merge leaves
only complete entries, and merging again copies nothing twice.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from modelkb.catalog import Catalog, GalleryEntry, ResizeStep, RestoreStep
from modelkb.catalog.schema import architecture_of
from modelkb.errors import ModelkbError
from modelkb.gallery.cache import MANIFEST, Cache
from modelkb.gallery.forecast import variant_cost
from modelkb.gallery.shardcheck import EntryChecker, scan_problem
from modelkb.gallery.single import gallery_caches

WORK_COST = 0.15  # per pixel, every entry: decode, encode, web images, crops, metrics
ENTRY_COST = 4096.0  # per entry, in mssnet-small pixels: reading, hashing, writing records
LEVELS = ("results", "renders")  # the cache's two levels (see modelkb.gallery.single)


def input_pixels(path: Path) -> int:
    """Width x height of the photo at ``path`` from its header (0 when it cannot be read:
    such an entry fails at once, costing nothing)."""
    from modelkb.pixels.imaging import open_image

    try:
        with open_image(path) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - missing, unreadable, not an image: the run reports it
        return 0
    return width * height


def entry_cost(catalog: Catalog, entry: GalleryEntry, gallery_dir: Path) -> float:
    """The estimated cost of one entry, in mssnet-small pixels (see the module's notes)."""
    pixels = float(input_pixels(gallery_dir / entry.input))
    cost = ENTRY_COST + WORK_COST * pixels
    workflow = catalog.workflows.get(entry.workflow)
    for step in workflow.steps if workflow else ():
        if isinstance(step, ResizeStep):
            pixels *= step.scale * step.scale
        elif isinstance(step, RestoreStep):
            model = catalog.models.get(step.model)
            if model is not None:
                cost += variant_cost(architecture_of(model), model.variant) * pixels
            else:
                cost += variant_cost(None, None) * pixels
    return cost


def assign(costs: dict[str, float], count: int) -> list[list[str]]:
    """``count`` shares of the ids in ``costs``, balanced by cost (longest processing time
    first), each in the catalog's order; the same costs always give the same shares."""
    shares: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for entry_id in sorted(costs, key=lambda e: (-costs[e], e)):
        lightest = min(range(count), key=lambda i: (loads[i], i))
        shares[lightest].append(entry_id)
        loads[lightest] += costs[entry_id]
    order = {entry_id: n for n, entry_id in enumerate(costs)}
    return [sorted(share, key=order.__getitem__) for share in shares]


def shard_entries(catalog: Catalog, gallery_dir: Path, shard: tuple[int, int]) -> list[str]:
    """The ids of share I of N (``shard``) of the catalog's gallery."""
    index, count = shard
    costs = {e: entry_cost(catalog, entry, gallery_dir) for e, entry in catalog.gallery.items()}
    return assign(costs, count)[index - 1]


# -- merging shard caches ---------------------------------------------------------------------

class MergeError(ModelkbError):
    """A shard cache cannot be merged (nothing was)."""


@dataclass
class MergeReport:
    """What a merge did: entries copied, entries the cache already had, and gallery
    entries whose files no shard brought (their ids)."""

    copied: int = 0
    present: int = 0
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """'merge: C entries copied, P already present[; M gallery entries missing: ...]'."""
        text = f"merge: {self.copied} entries copied, {self.present} already present"
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (", ..." if len(self.missing) > 5 else "")
            text += f"; {len(self.missing)} gallery entries missing: {shown}"
        return text


def _check_entry(folder: Path, level: str, expected: set[str], shown: str,
                 checker: EntryChecker) -> None:
    """Refuse (MergeError) an entry folder that is corrupt, forged or not one this site
    uses."""
    problem = "is a symbolic link, not a folder" if folder.is_symlink() else None
    found = scan_problem(folder) if problem is None else None
    if found is not None:
        raise MergeError(f"{shown}: {found}; nothing was merged: run that shard again, and "
                         "merge the folder it wrote as it is")
    problem = problem or Cache(folder.parent).verify(folder)
    if problem is None:
        try:
            named = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("key")
        except (OSError, ValueError, AttributeError):
            named = None
        if named != folder.name:
            problem = "has a manifest written for another key (the folder was renamed)"
    if problem is not None:
        raise MergeError(f"{shown}: the entry {problem}; nothing was merged: run that shard "
                         "again")
    if folder.name not in expected:
        raise MergeError(
            f"{shown}: not an entry of this site's gallery (its {level} key is not one the "
            "build looks up: made from other photos, weights, workflow or code than this "
            "checkout's); nothing was merged: run every shard from this commit")
    found = checker.problem(level, folder)
    if found is not None:
        raise MergeError(f"{shown}: {found}; nothing was merged: run that shard again from "
                         "this commit (a render writes only its images, crops and records)")


def shard_folders(source: Path, display: str) -> list[tuple[str, Path]]:
    """(level, entry folder) of every entry in the shard cache ``source``."""
    if not source.is_dir():
        raise MergeError(f"{display}: no such folder; give the cache folders the shards wrote")
    for level in LEVELS:
        if (source / level).is_symlink():
            raise MergeError(f"{display}/{level}: is a symbolic link; nothing was merged: "
                             "give the folder the shard wrote, with no links in it")
    found = [(level, p) for level in LEVELS if (source / level).is_dir()
             for p in sorted((source / level).iterdir())
             if p.is_dir() and not p.name.startswith(".")]
    if not found and not any((source / level).is_dir() for level in LEVELS):
        raise MergeError(f"{display}: not a gallery cache (no results/ or renders/ folder); "
                         "give the folders `modelkb gallery --shard I/N` wrote")
    return found


def merge_caches(sources: list[tuple[Path, str]], dest: Path,
                 keys: dict[str, tuple[str, str]], checker: EntryChecker) -> MergeReport:
    """Merge the shard caches ``sources`` ((folder, name shown in messages) pairs) into the
    cache folder ``dest``; ``keys`` are the (results, renders) keys the site's build looks up
    by entry id, ``checker`` holds entries to what a render of theirs writes. Checks every
    entry first (see the module's notes), then copies."""
    expected = {"results": {k[0] for k in keys.values()},
                "renders": {k[1] for k in keys.values()}}
    entries: dict[tuple[str, str], Path] = {}
    for source, display in sources:
        if source.resolve() == dest.resolve():
            raise MergeError(f"{display}: is the cache merged into; give the shards' folders")
        for level, folder in shard_folders(source, display):
            _check_entry(folder, level, expected[level], f"{display}/{level}/{folder.name}",
                         checker)
            entries.setdefault((level, folder.name), folder)
    report = MergeReport()
    caches = dict(zip(LEVELS, gallery_caches(dest), strict=True))
    for (level, key), folder in sorted(entries.items()):
        report.copied += copy_entry(folder, caches[level], key)
    report.present = len(entries) - report.copied
    report.missing = [e for e, (result, render) in keys.items()
                      if caches["results"].get(result, warn=False) is None
                      or caches["renders"].get(render, warn=False) is None]
    return report


def export_entries(cache_dir: Path, dest: Path, keys: list[tuple[str, str]]) -> int:
    """Copy the entries with the (results, renders) ``keys`` from the cache ``cache_dir`` into
    the cache folder ``dest`` (what one shard uploads); returns how many were copied."""
    copied = 0
    for pair in keys:
        for level, key in zip(LEVELS, pair, strict=True):
            folder = Cache(cache_dir / level).get(key)
            if folder is None:
                raise MergeError(f"{cache_dir / level / key}: missing or damaged in the cache; "
                                 "run `modelkb gallery` again")
            copied += copy_entry(folder, Cache(dest / level), key)
    return copied


def copy_entry(folder: Path, cache: Cache, key: str) -> int:
    """Copy the verified entry ``folder`` into ``cache`` as ``key`` (atomically, through
    :meth:`Cache.put`); 0 when the cache already has it intact, else 1. The copy is checked
    against the source's manifest before it is moved into place."""
    if cache.get(key, warn=False) is not None:
        return 0

    def write(into: Path) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                target = into / path.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        problem = Cache(into.parent).verify(into)
        if problem is not None:  # the source changed while it was copied
            raise MergeError(f"{folder}: the entry {problem} while it was copied; run the "
                             "merge again")
        (into / MANIFEST).unlink()  # Cache.put writes it again, from the copied files

    cache.root.mkdir(parents=True, exist_ok=True)
    cache.put(key, write)
    return 1
