"""The catalog: schema, YAML with positions, validation, snapshots, and the prompt importer.

Everything else in modelkb uses the catalog; the catalog uses none of it. The public names
are re-exported here: ``from modelkb.catalog import Catalog, load_catalog``.
"""

from modelkb.catalog.schema import (
    ENTRY_CLASSES,
    KEY_FIELD,
    SECTIONS,
    STEPS,
    TYPE_NAMES,
    Answer,
    Catalog,
    CatalogError,
    Crop,
    Entry,
    GalleryEntry,
    Model,
    Paper,
    Question,
    ResizeStep,
    RestoreStep,
    Task,
    Tool,
    WeightsEntry,
    Workflow,
    validate_entry,
)
from modelkb.catalog.snapshot import SNAPSHOTS_KEPT
from modelkb.catalog.validate import load_catalog

__all__ = [
    "ENTRY_CLASSES", "KEY_FIELD", "SECTIONS", "SNAPSHOTS_KEPT", "STEPS", "TYPE_NAMES", "Answer",
    "Catalog", "CatalogError", "Crop", "Entry", "GalleryEntry", "Model", "Paper", "Question",
    "ResizeStep", "RestoreStep", "Task", "Tool", "WeightsEntry", "Workflow",
    "load_catalog", "validate_entry",
]
