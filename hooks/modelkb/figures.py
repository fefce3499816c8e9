"""HTML for gallery results on pages: workflow nodes, comparison slider, crops, metrics.

Everything taken from the catalog or from result files is escaped here; the HTML structure
itself is ours. Image URLs are made relative to the page that shows them.
"""

from __future__ import annotations

import html
import posixpath
from typing import Any

from modelkb.catalog import Catalog, GalleryEntry, ResizeStep, RestoreStep, Workflow

GALLERY_DIR = "gallery"


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


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}{unit}"


def step_label(step: RestoreStep | ResizeStep, catalog: Catalog) -> str:
    """A short plain-text label of a workflow step."""
    if isinstance(step, RestoreStep):
        model = catalog.models.get(step.model)
        return model.name if model else step.model
    scale = f"{step.scale:g}"
    return f"Resize {scale}× ({step.filter.capitalize()})"


def workflow_nodes(entry: GalleryEntry, workflow: Workflow, info: dict | None,
                   catalog: Catalog, page_dir: str) -> str:
    """input thumbnail → model node (variant, device, time) → resize node → output thumbnail."""
    steps_info = (info or {}).get("steps", [])
    parts = []
    if info:
        size = info.get("input", {})
        parts.append(_thumb_node("Input", entry.id, "thumb-input.webp", "input.webp",
                                 f"{size.get('width')}×{size.get('height')} px", page_dir,
                                 entry.caption))
    else:
        parts.append('<div class="mkb-node mkb-node--io"><strong>Input</strong></div>')
    for i, step in enumerate(workflow.steps):
        detail = steps_info[i] if i < len(steps_info) else {}
        label = _e(step_label(step, catalog))
        if isinstance(step, RestoreStep):
            facts = [f"variant {detail.get('variant')}" if detail.get("variant") else "",
                     detail.get("device", ""),
                     f"{detail['seconds']:.1f} s" if "seconds" in detail else ""]
            body = " · ".join(_e(f) for f in facts if f)
            parts.append(f'<div class="mkb-node mkb-node--model"><span class="mkb-node__kind">'
                         f'model</span><strong>{label}</strong><span>{body}</span></div>')
        else:
            took = f"{detail['seconds']:.2f} s" if "seconds" in detail else ""
            parts.append(f'<div class="mkb-node mkb-node--step"><span class="mkb-node__kind">'
                         f'step</span><strong>{label}</strong><span>{_e(took)}</span></div>')
    if info:
        size = info.get("output", {})
        parts.append(_thumb_node("Output", entry.id, "thumb-output.webp", "output.webp",
                                 f"{size.get('width')}×{size.get('height')} px", page_dir,
                                 f"{entry.caption} (output)"))
    else:
        parts.append('<div class="mkb-node mkb-node--io"><strong>Output</strong></div>')
    arrow = '<span class="mkb-arrow" aria-hidden="true">→</span>'
    return (f'<div class="mkb-flow" role="group" aria-label="Workflow: input, '
            f'{len(workflow.steps)} steps, output">' + arrow.join(parts) + "</div>")


def _thumb_node(title: str, entry_id: str, thumb: str, full: str, size: str, page_dir: str,
                alt: str) -> str:
    return (f'<figure class="mkb-node mkb-node--io"><a class="glightbox" '
            f'href="{_e(asset_url(page_dir, entry_id, full))}"><img class="off-glb" '
            f'src="{_e(asset_url(page_dir, entry_id, thumb))}" alt="{_e(alt)}" loading="lazy">'
            f'</a><figcaption><strong>{_e(title)}</strong> {_e(size)}</figcaption></figure>')


def compare_slider(entry: GalleryEntry, info: dict, page_dir: str) -> str:
    """Before/after slider; without JavaScript the two images stand side by side."""
    before = asset_url(page_dir, entry.id, "baseline.webp")
    after = asset_url(page_dir, entry.id, "output.webp")
    size = info.get("output", {})
    w, h = size.get("width", 1), size.get("height", 1)
    caption = _e(entry.caption)
    return (
        f'<figure class="mkb-compare" data-mkb-compare style="--mkb-ratio:{w}/{h}">'
        f'<div class="mkb-compare__frame">'
        f'<div class="mkb-compare__pane mkb-compare__pane--after">'
        f'<img class="off-glb" src="{_e(after)}" alt="After: {caption}, through the workflow" '
        f'width="{w}" height="{h}"><span class="mkb-compare__tag">After: model + resize</span>'
        f'</div>'
        f'<div class="mkb-compare__pane mkb-compare__pane--before">'
        f'<img class="off-glb" src="{_e(before)}" alt="Before: {caption}, resized only" '
        f'width="{w}" height="{h}"><span class="mkb-compare__tag">Before: resize only</span>'
        f'</div>'
        f'<input class="mkb-compare__range" type="range" min="0" max="100" value="50" step="1" '
        f'aria-label="Position of the divider between before and after" hidden>'
        f'</div><figcaption>{caption}. Drag the divider, or focus it and use the arrow keys; '
        f'<a class="glightbox" href="{_e(after)}">open the output full size</a>.</figcaption>'
        f'</figure>')


def crops_html(entry: GalleryEntry, info: dict, page_dir: str) -> str:
    """Zoomed crops, input / resize only / model, side by side."""
    rows = []
    for crop in info.get("crops", []):
        files = crop.get("files", {})
        label = crop.get("label") or ""
        where = f"x {crop.get('x')}, y {crop.get('y')}, {crop.get('width')}×{crop.get('height')}"
        cells = []
        for role, title in (("input", "Input"), ("baseline", "Resize only"),
                            ("output", "Model + resize")):
            if role in files:
                url = asset_url(page_dir, entry.id, files[role])
                cells.append(f'<figure><a class="glightbox" href="{_e(url)}"><img '
                             f'class="off-glb" src="{_e(url)}" alt="{_e(title)}: {_e(label)}" '
                             f'loading="lazy"></a><figcaption>{_e(title)}</figcaption></figure>')
        auto = " (chosen automatically)" if crop.get("auto") else ""
        rows.append(f'<div class="mkb-crops"><p class="mkb-crops__label">{_e(label)}{_e(auto)}'
                    f' — {_e(where)}</p><div class="mkb-crops__row">{"".join(cells)}</div></div>')
    return "".join(rows)


def metrics_table(info: dict) -> str:
    """Metrics as a Markdown table (numbers only: nothing from the catalog)."""
    m = info.get("metrics") or {}
    rows = ["| measure | value |", "|---|---|"]
    ref = m.get("reference")
    if ref:
        rows.append(f"| PSNR vs sharp reference, input → restored | "
                    f"{_fmt(ref['input']['psnr'])} → {_fmt(ref['restored']['psnr'])} dB "
                    f"({_fmt(ref['gain']['psnr'], 2)} dB) |")
        rows.append(f"| SSIM vs sharp reference, input → restored | "
                    f"{_fmt(ref['input']['ssim'], 3)} → {_fmt(ref['restored']['ssim'], 3)} |")
    colour = m.get("colour") or {}
    de = colour.get("delta_e2000") or {}
    if de:
        rows.append(f"| Colour change input → restored, CIEDE2000 mean / 95th pct. | "
                    f"{_fmt(de.get('mean'))} / {_fmt(de.get('p95'))} |")
    skin = colour.get("skin") or {}
    if skin:
        sde = skin.get("delta_e2000")
        value = (f"{_fmt(sde.get('mean'))} / {_fmt(sde.get('p95'))} "
                 f"({skin.get('fraction', 0) * 100:.1f}% of pixels)" if sde
                 else f"too few skin-tone pixels ({skin.get('fraction', 0) * 100:.1f}%)")
        rows.append(f"| Colour change on skin tones, CIEDE2000 mean / 95th pct. | {value} |")
    rows.append(f"| Time, device | {_fmt(info.get('seconds'), 2, ' s')}, "
                f"{_e(info.get('device', '—'))} |")
    if info.get("variant"):
        rows.append(f"| Variant | `{_e(info['variant'])}` |")
    weights = info.get("weights")
    if weights:
        rows.append(f"| Weights | {_e(weights.get('provenance', ''))}; sha256 "
                    f"`{_e(weights.get('sha256', '')[:16])}…` |")
    return "\n".join(rows)


def result_block(entry: GalleryEntry, workflow: Workflow, info: dict | None, catalog: Catalog,
                 page_dir: str, failure: str | None = None) -> str:
    """The whole figure for one gallery entry (Markdown with our HTML blocks)."""
    out = [workflow_nodes(entry, workflow, info, catalog, page_dir), ""]
    if info is None:
        reason = _e(failure or "not computed")
        out += [(f'<div class="mkb-placeholder" role="img" aria-label="Image unavailable">'
                f'<strong>Image unavailable:</strong> {reason}</div>'), ""]
        return "\n".join(out)
    out += [compare_slider(entry, info, page_dir), "", crops_html(entry, info, page_dir), "",
            metrics_table(info), ""]
    source = _e(entry.source)
    if entry.source_url:
        source = f'<a href="{_e(entry.source_url)}">{source}</a>'
    out += [f'<p class="mkb-credit">Photo: {source}; licence: {_e(entry.licence)}.</p>', ""]
    return "\n".join(out)
