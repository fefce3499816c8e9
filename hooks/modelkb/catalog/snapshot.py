"""Validated catalogs kept as snapshots: a rebuild of unchanged bytes skips the YAML, the
checks between entries and the grounding of answers (Markdown parsed for its links).

A snapshot is the plain JSON of the validated entries, read back by the schema's own
validation (:func:`~modelkb.catalog.schema.validate_entry`, as catalog.yml's entries are),
keyed by the catalog file's bytes, the code that validates it (the validating modules and
every modelkb module they import, found by following the imports) and the registered
architectures and variants (which ``architecture`` and ``variant`` are checked against),
written atomically into the build cache; at most :data:`SNAPSHOTS_KEPT` are kept. An
unusable snapshot is ignored (the catalog is validated).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

from modelkb.catalog.schema import KEY_FIELD, SECTIONS, Catalog, validate_entry
from modelkb.files import atomic_write
from modelkb.pixels.registry import registry_json
from modelkb.sourcehash import code_digest

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
SNAPSHOTS_KEPT = 8
# The validation code: these modules and what they import.
VALIDATION_SEEDS = ("modelkb.catalog.schema", "modelkb.catalog.validate",
                    "modelkb.catalog.yamlsrc", "modelkb.catalog.markup")


@functools.cache
def _code_hash(architectures: str) -> str:
    """SHA-256 of the validation code (read once per process) and the registered
    architectures (``architectures``, their JSON: a registration changes the key)."""
    digest = hashlib.sha256(f"modelkb catalog snapshot {SNAPSHOT_FORMAT}".encode())
    digest.update(code_digest(VALIDATION_SEEDS, with_architectures=False).encode())
    digest.update(architectures.encode())
    return digest.hexdigest()


def snapshot_key(raw: bytes) -> str:
    """SHA-256 of the catalog's bytes, the code that validates it and the registered
    architectures."""
    return hashlib.sha256(_code_hash(registry_json()).encode() + raw).hexdigest()


def load_snapshot(file: Path, path: Path) -> Catalog | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        catalog = Catalog(path=path)
        for name, cls in SECTIONS.items():
            target = getattr(catalog, name)
            for item in data["sections"][name]:
                target[item[KEY_FIELD[name]]] = validate_entry(cls, item)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.debug("catalog snapshot %s unusable (%s); validating the catalog", file, exc)
        return None
    return catalog


def save_snapshot(folder: Path, key: str, catalog: Catalog) -> None:
    """Write the snapshot atomically; keep the newest few; never fail the build over it."""
    data = {"format": SNAPSHOT_FORMAT,
            "sections": {name: [asdict(e) for e in getattr(catalog, name).values()]
                         for name in SECTIONS}}
    try:
        atomic_write(folder / f"{key}.json", json.dumps(data, ensure_ascii=False))
        older = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in older[SNAPSHOTS_KEPT:]:
            stale.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("catalog snapshot not saved in %s: %s", folder, exc)
