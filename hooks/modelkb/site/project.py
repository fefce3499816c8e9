"""One project's setup, built once from its site configuration: paths, settings, the catalog
(through its snapshot in the cache) and the gallery run.

The MkDocs plugin and every command that reads a site (``modelkb gallery``) make a
:class:`Project` and ask it for the catalog and the gallery, so both load and run them the
same way. The dataclass knows nothing of MkDocs; its two MkDocs constructors
(:meth:`Project.from_mkdocs_config` for a loaded config, :meth:`Project.from_config_file`
for a mkdocs.yml on disk) import MkDocs only when called. Another site generator would add
its own constructor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkb.catalog import Catalog, load_catalog
from modelkb.pixels.registry import check_device

if TYPE_CHECKING:
    from modelkb.gallery.records import GalleryReport
    from modelkb.gallery.single import WeightsChoice

SNAPSHOT_DIR = "catalog"  # in the cache folder: validated catalogs, keyed by their bytes


def resolve(base_dir: Path, value: str) -> Path:
    """A settings path made absolute against the folder of the site's configuration; a
    relative one must stay inside that folder with symbolic links followed
    (:func:`modelkb.files.escapes`), an absolute one is the site owner's explicit choice."""
    from modelkb.errors import ModelkbError
    from modelkb.files import escapes

    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    problem = escapes(base_dir, base_dir / path)
    if problem:
        raise ModelkbError(f"{value}: {problem}")
    return base_dir / path


@dataclass(frozen=True)
class Project:
    """Where a site's parts are and how its gallery runs (every path absolute)."""

    root: Path  # the folder of the site's configuration file
    catalog_file: Path
    gallery_dir: Path
    cache_dir: Path
    device: str = "auto"
    max_pixels: int | None = None
    site_weights: str | None = None  # setting ``weights``: every model runs with it
    models: Mapping[str, str] = field(default_factory=dict)  # setting ``models``
    download_weights: bool = False
    drafts: str = "show"
    gallery_failures: str = "warn"
    published_urls: Path | None = None  # the record of published URLs (site/permalinks.py)
    protect_pages: bool = True  # the site's own pages are recorded too (site/permalinks.py)
    writer_pages: bool = False  # the catalog reference and Link health are published

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], root: Path) -> Project:
        """A project from validated settings (``extra.modelkb`` or the plugin's entry)."""
        root = Path(root)
        return cls(root=root, catalog_file=resolve(root, settings["catalog"]),
                   gallery_dir=resolve(root, settings["gallery"]),
                   cache_dir=resolve(root, settings["cache"]), device=settings["device"],
                   max_pixels=settings["max_pixels"], site_weights=settings["weights"],
                   models=dict(settings["models"] or {}),
                   download_weights=bool(settings["download_weights"]),
                   drafts=settings["drafts"], gallery_failures=settings["gallery_failures"],
                   published_urls=resolve(root, settings["published_urls"]),
                   protect_pages=bool(settings.get("protect_pages", True)),
                   writer_pages=bool(settings.get("writer_pages", False)))

    @classmethod
    def from_mkdocs_config(cls, config, settings: Mapping[str, Any] | None = None) -> Project:
        """The project of a loaded MkDocs config. ``settings``: the plugin's own validated
        settings; None reads them from ``extra.modelkb`` (the hook file's place)."""
        from modelkb.site.config import parse_settings

        config_path = config.config_file_path
        root = Path(config_path).parent if config_path else Path.cwd()
        if settings is None:
            settings = parse_settings(config.extra.get("modelkb"),
                                      Path(config_path or "mkdocs.yml").name)
        return cls.from_settings(settings, root)

    @classmethod
    def from_config_file(cls, config_file: Path) -> Project:
        """The project of a mkdocs.yml on disk, read by MkDocs' own loader (so ``INHERIT``,
        ``!ENV`` and ``-f`` mean what they mean to ``mkdocs build``)."""
        from modelkb.site.config import load_mkdocs_config

        config = load_mkdocs_config(Path(config_file))
        plugin = config["plugins"].get("modelkb") if "plugins" in config else None
        project = cls.from_mkdocs_config(config, plugin.config if plugin is not None else None)
        return replace(project, root=project.root.resolve())

    # -- variations asked for on a command line ---------------------------------------------

    def with_options(self, device: str | None = None, weights: str | None = None) -> Project:
        """This project with a command line's ``--device`` and ``--weights``, when given."""
        changed = self
        if device is not None:
            changed = replace(changed, device=check_device(device))
        if weights is not None:
            changed = replace(changed, site_weights=weights)
        return changed

    # -- what the plugin and the commands ask for -------------------------------------------

    def display(self, path: Path) -> str:
        """``path`` relative to the project folder when inside it (for messages)."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def watched(self) -> list[Path]:
        """What a build reads besides the docs folder and the site's configuration, for
        ``mkdocs serve`` to rebuild on: the catalog, the gallery folder and weights files
        named in the settings (those on this machine; URLs and missing paths left out)."""
        from modelkb.errors import ModelkbError

        paths = [self.catalog_file, self.gallery_dir]
        for value in [self.site_weights, *self.models.values()]:
            if value and "://" not in value:
                try:
                    paths.append(resolve(self.root, value))
                except ModelkbError:
                    continue
        found: list[Path] = []
        for path in paths:
            try:
                if path.exists() and path not in found:
                    found.append(path)
            except OSError:
                continue
        return found

    def load_catalog(self) -> Catalog:
        """The validated catalog; an unchanged one comes from its snapshot in the cache."""
        return load_catalog(self.catalog_file, display=self.display(self.catalog_file),
                            snapshot_dir=self.cache_dir / SNAPSHOT_DIR)

    def weights_choice(self) -> WeightsChoice:
        """How the gallery picks each model's weights (paths relative to the project)."""
        from modelkb.gallery.single import WeightsChoice

        return WeightsChoice(site_weights=self.site_weights, models=dict(self.models),
                             base=self.root, allow_download=self.download_weights)

    def run_gallery(self, catalog: Catalog, entries: list[str] | None = None,
                    workers: int | None = None) -> GalleryReport:
        """Run the gallery (every entry, or those in ``entries``) into the cache."""
        from modelkb.gallery.runner import run_gallery

        return run_gallery(catalog, self.gallery_dir, self.cache_dir, device=self.device,
                           weights=self.weights_choice(), max_pixels=self.max_pixels,
                           entries=entries, workers=workers)
