"""HTML for gallery results on pages: workflow nodes, comparison, crops, metrics, credits.

Every fragment comes from a Jinja template in ``templates/`` rendered with autoescaping, so
catalog text and result values are escaped by construction; the structure is ours. Image
URLs are made relative to the page that shows them. Fragments are single-line HTML blocks
(Markdown would end a raw HTML block at a blank line).
"""

from __future__ import annotations

import posixpath
from functools import lru_cache
from pathlib import Path

from modelkb.catalog import Catalog, GalleryEntry, ResizeStep, RestoreStep, Workflow
from modelkb.gallery.records import GalleryRecord

GALLERY_DIR = "gallery"
TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment():
    """The Jinja environment of the fragments (autoescape on for every template)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                       trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined,
                       keep_trailing_newline=False)


def render(template: str, **values: object) -> str:
    """A template rendered as one line of HTML (line breaks between tags removed)."""
    text = _environment().get_template(template).render(**values)
    return "".join(line.strip() for line in text.splitlines())


def page_url_dir(src_uri: str, use_directory_urls: bool = True) -> str:
    """The folder a page is served from, relative to the site root ('answers/x/')."""
    stem = src_uri.removesuffix(".md")
    if posixpath.basename(stem) == "index":
        return posixpath.dirname(stem)
    return stem if use_directory_urls else posixpath.dirname(stem)


def asset_url(page_dir: str, entry_id: str, name: str) -> str:
    """URL of a published gallery file as seen from a page served from ``page_dir``."""
    target = f"{GALLERY_DIR}/{entry_id}/{name}"
    return posixpath.relpath(target, page_dir or ".")


def _fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}{unit}"


def step_label(step: RestoreStep | ResizeStep, catalog: Catalog) -> str:
    """A short plain-text label of a workflow step."""
    if isinstance(step, RestoreStep):
        model = catalog.models.get(step.model)
        return model.name if model else step.model
    return f"Resize {step.scale:g}× ({step.filter.capitalize()})"


def workflow_nodes(entry: GalleryEntry, workflow: Workflow, record: GalleryRecord | None,
                   catalog: Catalog, page_dir: str) -> str:
    """input thumbnail → model node (variant, device, time) → resize node → output thumbnail."""
    steps = record.steps if record else []
    nodes: list[dict[str, object]] = []

    def io_node(title: str, thumb: str, full: str, size, alt: str) -> dict[str, object]:
        if record is None:
            return {"kind": "io", "title": title, "thumb": None}
        return {"kind": "io", "title": title, "thumb": asset_url(page_dir, entry.id, thumb),
                "full": asset_url(page_dir, entry.id, full), "alt": alt,
                "size": f"{size.width}×{size.height} px", "width": None, "height": None}

    nodes.append(io_node("Input", "thumb-input.webp", "input.webp",
                         record.input if record else None, entry.caption))
    for i, step in enumerate(workflow.steps):
        detail = steps[i] if i < len(steps) else None
        if isinstance(step, RestoreStep):
            facts = [f"variant {detail.variant}" if detail and detail.variant else "",
                     (detail.device or "") if detail else "",
                     f"{detail.seconds:.1f} s" if detail else ""]
            body = " · ".join(f for f in facts if f)
            nodes.append({"kind": "model", "title": step_label(step, catalog), "body": body})
        else:
            took = f"{detail.seconds:.2f} s" if detail else ""
            nodes.append({"kind": "step", "title": step_label(step, catalog), "body": took})
    nodes.append(io_node("Output", "thumb-output.webp", "output.webp",
                         record.output if record else None, f"{entry.caption} (output)"))
    return render("workflow_nodes.html", nodes=nodes)


def compare_slider(entry: GalleryEntry, record: GalleryRecord, page_dir: str) -> str:
    """Before/after comparison; without JavaScript the two images stand side by side."""
    return render("compare.html", caption=entry.caption,
                  before=asset_url(page_dir, entry.id, "baseline.webp"),
                  after=asset_url(page_dir, entry.id, "output.webp"),
                  width=record.output.width, height=record.output.height)


def crops_html(entry: GalleryEntry, record: GalleryRecord, page_dir: str) -> str:
    """Zoomed crops, input / resize only / model, side by side."""
    crops = []
    for crop in record.crops:
        cells = [{"url": asset_url(page_dir, entry.id, crop.files[role]), "title": title}
                 for role, title in (("input", "Input"), ("baseline", "Resize only"),
                                     ("output", "Model + resize"))
                 if role in crop.files]
        crops.append({"label": crop.label or "", "auto": crop.auto, "cells": cells,
                      "where": f"x {crop.x}, y {crop.y}, {crop.width}×{crop.height}"})
    return render("crops.html", crops=crops)


def metrics_rows(record: GalleryRecord) -> list[tuple[str, str]]:
    """(measure, value) rows of an entry's metrics table, as plain text."""
    rows: list[tuple[str, str]] = []
    m = record.metrics
    ref = m.reference if m else None
    if ref:
        rows.append(("PSNR vs sharp reference, input → restored",
                     f"{_fmt(ref.input.psnr)} → {_fmt(ref.restored.psnr)} dB "
                     f"({_fmt(ref.gain.psnr, 2)} dB)"))
        rows.append(("SSIM vs sharp reference, input → restored",
                     f"{_fmt(ref.input.ssim, 3)} → {_fmt(ref.restored.ssim, 3)}"))
    if m:
        de = m.colour.delta_e2000
        rows.append(("Colour change input → restored, CIEDE2000 mean / 95th pct.",
                     f"{_fmt(de.mean)} / {_fmt(de.p95)}"))
        skin = m.colour.skin
        sde = skin.delta_e2000
        value = (f"{_fmt(sde.mean)} / {_fmt(sde.p95)} ({skin.fraction * 100:.1f}% of pixels)"
                 if sde else f"too few skin-tone pixels ({skin.fraction * 100:.1f}%)")
        rows.append(("Colour change on skin tones, CIEDE2000 mean / 95th pct.", value))
    rows.append(("Time, device", f"{_fmt(record.seconds, 2, ' s')}, {record.device}"))
    if record.variant:
        rows.append(("Variant", record.variant))
    if record.weights:
        rows.append(("Weights", f"{record.weights.provenance}; sha256 "
                                f"{record.weights.sha256[:16]}…"))
    return rows


def metrics_table(record: GalleryRecord) -> str:
    """The metrics as an HTML table (values are numbers and names, escaped)."""
    return render("metrics.html", rows=metrics_rows(record))


def result_block(entry: GalleryEntry, workflow: Workflow, record: GalleryRecord | None,
                 catalog: Catalog, page_dir: str, failure: str | None = None) -> str:
    """The whole figure for one gallery entry (Markdown holding our HTML blocks)."""
    out = [workflow_nodes(entry, workflow, record, catalog, page_dir), ""]
    if record is None:
        out += [render("placeholder.html", reason=failure or "not computed"), ""]
        return "\n".join(out)
    out += [compare_slider(entry, record, page_dir), "", crops_html(entry, record, page_dir), "",
            metrics_table(record), "",
            render("credit.html", source=entry.source, url=entry.source_url,
                   licence=entry.licence), ""]
    return "\n".join(out)
