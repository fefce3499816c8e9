"""HTML for gallery results on pages: workflow nodes, comparison, one-line results, crops,
metrics, weights labels, credits, and a page's first-screen before/after.

Every fragment comes from a Jinja template in ``templates/`` rendered with autoescaping, so
catalog text and result values are escaped by construction; the structure is ours. Image
URLs are made relative to the page that shows them (``here``: that page's URL, from
:class:`~modelkb.site.urls.Urls`). Fragments are single-line HTML blocks
(Markdown would end a raw HTML block at a blank line).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

from modelkb.catalog import Catalog, GalleryEntry, ResizeStep, RestoreStep, Workflow
from modelkb.gallery.records import GalleryRecord
from modelkb.site.sections import GALLERY_DIR
from modelkb.site.urls import Urls

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


def asset_url(here: str, entry_id: str, name: str) -> str:
    """URL of a published gallery file as seen from the page at ``here`` (its URL)."""
    return Urls.relative(f"{GALLERY_DIR}/{entry_id}/{name}", here)


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
                   catalog: Catalog, here: str) -> str:
    """input thumbnail → model node (variant, device, time) → resize node → output thumbnail."""
    steps = record.steps if record else []
    nodes: list[dict[str, object]] = []

    def io_node(title: str, thumb: str, full: str, size, alt: str) -> dict[str, object]:
        if record is None:
            return {"kind": "io", "title": title, "thumb": None}
        shown = record.images.get(thumb.removesuffix(".webp"))
        return {"kind": "io", "title": title, "thumb": asset_url(here, entry.id, thumb),
                "full": asset_url(here, entry.id, full), "alt": alt,
                "size": f"{size.width}×{size.height} px",
                "width": shown.width if shown else None, "height": shown.height if shown else None}

    nodes.append(io_node("Input", "thumb-input.webp", "input.webp",
                         record.input if record else None, entry.caption))
    for i, step in enumerate(workflow.steps):
        detail = steps[i] if i < len(steps) else None
        if isinstance(step, RestoreStep):
            facts = [("STAND-IN " if detail and detail.weights_stand_in else "")
                     + f"weights {detail.weights_name} ({(detail.weights_sha256 or '')[:12]})"
                     if detail and detail.weights_name else "",
                     f"variant {detail.variant}" if detail and detail.variant else "",
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


# The viewer's views: (published file stem, label, note shown without JavaScript).
VIEWS = (("baseline", "Resize only", "the input enlarged with the workflow's resize, no model"),
         ("output", "Model + resize", "the workflow's output"),
         ("input", "Input", "as degraded, at its own size"),
         ("reference", "Sharp original", "the photo before it was degraded, resized alike"),
         ("diff", "What the model changed",
          "colour difference input → restored (CIEDE2000), dark = unchanged"))


def compare_slider(entry: GalleryEntry, record: GalleryRecord, here: str,
                   label: str = "", lead: bool = False) -> str:
    """The comparison viewer: every view of the photo; modelkb.js turns it into a zoomable
    two-view frame (a wipe or side by side), and without JavaScript the views stand side by
    side. With a recorded focus it opens at 1:1 there; ``lead`` marks the page's first-screen
    viewer (side by side where wide enough); ``label`` (HTML) names the weights under it."""
    from modelkb.gallery.webimages import DIFF_MAX

    views = []
    for key, view_label, note in VIEWS:
        size = record.images.get(key)
        if size is None:
            continue
        views.append({"key": key, "label": view_label, "note": note, "width": size.width,
                      "height": size.height, "url": asset_url(here, entry.id, f"{key}.webp")})
    names = [v["label"].lower() for v in views]
    view_list = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    f = record.focus
    return render("compare.html", caption=entry.caption, views=views, view_list=view_list,
                  entry_id=entry.id,
                  has_diff=any(v["key"] == "diff" for v in views), diff_max=f"{DIFF_MAX:g}",
                  png=asset_url(here, entry.id, "output.png"),
                  json=asset_url(here, entry.id, "metrics.json"),
                  width=record.output.width, height=record.output.height,
                  focus=f"{f.x},{f.y},{f.width},{f.height}" if f else "", lead=lead,
                  label=Markup(label))


def crops_html(entry: GalleryEntry, record: GalleryRecord, here: str) -> str:
    """Zoomed crops of every view (input, resize only, model, sharp original), side by side."""
    crops = []
    for crop in record.crops:
        cells = [{"url": asset_url(here, entry.id, crop.files[role]), "title": title}
                 for role, title in (("input", "Input"), ("baseline", "Resize only"),
                                     ("output", "Model + resize"),
                                     ("reference", "Sharp original"))
                 if role in crop.files]
        size = record.images.get(crop.name)
        zoom = size.width / (crop.width * record.scale) if size else 0
        crops.append({"label": crop.label or "", "auto": crop.auto, "cells": cells,
                      "where": f"x {crop.x}, y {crop.y}, {crop.width}×{crop.height} input px",
                      "zoom": f"{zoom:.0f}× after the resize" if zoom else "",
                      "width": size.width if size else None,
                      "height": size.height if size else None})
    return render("crops.html", crops=crops)


# Skin-tone figures are shown only when the colour rule picks a plausible share of the photo:
# below MIN it found no skin; above MAX it is catching fur, wood or warm light, not skin.
SKIN_PLAUSIBLE = (0.005, 0.45)


def _psnr_meaning(gain: float | None) -> str:
    if gain is None:
        return "PSNR compares pixels with the sharp original; higher is closer."
    if gain >= 1:
        return (f"{gain:+.1f} dB is a clear improvement: +1 dB means about 21% less squared "
                "error than the input.")
    if gain > 0.1:
        return f"{gain:+.1f} dB: closer to the sharp original, though by a small step."
    if gain > -0.1:
        return "Essentially unchanged against the sharp original."
    return f"{gain:+.1f} dB: further from the sharp original than the input was."


def detail_ratio(value: float) -> str:
    """An amount of fine detail relative to the sharp photo's, in words: '12% of the sharp
    photo's' up to about as much, '3.4× the sharp photo's' above (noise adds fine detail)."""
    if value >= 1.05:
        return f"{value:.1f}× the sharp photo's" if value < 100 else \
            f"{value:.0f}× the sharp photo's"
    return f"{value * 100:.0f}% of the sharp photo's"


def detail_words(before: float, after: float) -> str:
    """'fine detail 12% of the sharp photo's → 5% of the sharp photo's' said once:
    'fine detail: input 12% of the sharp photo's, output 5%'."""
    tail = detail_ratio(after)
    short = tail.split(" the sharp")[0].split(" of")[0]  # "5%" / "1.3×"
    return f"fine detail: input {detail_ratio(before)}, output {short}"


def colour_words(delta_e: float, what: str = "colours") -> str:
    """How much colours moved (mean CIEDE2000) as a photographer would say it; the figure
    itself is in the details table."""
    if delta_e < 1:
        return f"{what} unchanged"
    if delta_e < 2:
        return f"{what} nearly unchanged"
    if delta_e < 5:
        return f"{what} slightly shifted"
    return f"{what} visibly shifted"


def gain_words(gain: float) -> str:
    """A PSNR gain as distance to the sharp photo: '1.2 dB closer to the sharp photo'."""
    if round(gain, 1) == 0:
        return "as close to the sharp photo as the input (±0.0 dB)"
    return (f"{gain:.1f} dB closer to the sharp photo" if gain > 0
            else f"{-gain:.1f} dB further from the sharp photo")


def _skill(record: GalleryRecord) -> tuple[str, str] | None:
    """(short name, sentence) of the skill the PSNR gain comes from (see skill_verdict)."""
    m = record.metrics
    ref, sharp = (m.reference, m.sharpness) if m else (None, None)
    if not ref or ref.gain.psnr is None or not sharp or not sharp.relative_to_reference:
        return None
    gain, before, after = ref.gain.psnr, sharp.input, sharp.restored
    detail = detail_words(before, after)
    if gain < -0.1:
        return ("Further from the sharp photo",
                f"Further from the sharp photo than the input ({gain:+.1f} dB; {detail}).")
    if gain <= 0.1:
        return "No gain", f"No gain against the sharp photo ({gain:+.1f} dB; {detail})."
    if before > 1:
        return ("Noise removal",
                f"Noise removal: {gain:+.1f} dB, {detail}. The input is noisier than the sharp "
                "photo, so this measure cannot tell whether edges also got sharper: compare "
                "the pictures at 1:1.")
    if after < before:
        return ("Mostly noise removal (edges not sharper)",
                f"Mostly noise removal: {gain:+.1f} dB, but the output holds less fine detail "
                f"than the input ({detail}): edges are not sharper.")
    return "Sharper", f"Sharper: {gain:+.1f} dB, {detail}."


def skill_verdict(record: GalleryRecord) -> str | None:
    """Which skill the PSNR gain comes from, said plainly: fine detail (the Laplacian's
    variance relative to the sharp photo's) rises when edges get sharper and falls when noise
    is removed or the picture is smoothed. None without a sharp reference."""
    skill = _skill(record)
    return skill[1] if skill else None


def _skin_measured(record: GalleryRecord) -> bool:
    skin = record.metrics.colour.skin if record.metrics else None
    low, high = SKIN_PLAUSIBLE
    return bool(skin and skin.delta_e2000 and low <= skin.fraction <= high)


def result_line(record: GalleryRecord) -> list[str]:
    """The one-line result of a photo in a photographer's words, as parts joined by ' · ':
    what the model did (the short form of skill_verdict), how much closer to the sharp photo
    it came, fine detail against the sharp photo's, and whether colours (skin tones where
    measured) moved. The measures' names and exact figures are in the details table."""
    parts: list[str] = []
    skill = _skill(record)
    if skill:
        parts.append(skill[0])
    m = record.metrics
    ref = m.reference if m else None
    if ref and ref.gain.psnr is not None:
        parts.append(gain_words(ref.gain.psnr))
    sharp = m.sharpness if m else None
    if sharp and sharp.relative_to_reference:
        parts.append(detail_words(sharp.input, sharp.restored))
    if m and _skin_measured(record):
        parts.append(colour_words(m.colour.skin.delta_e2000.mean, "skin tones"))
    elif m:
        parts.append(colour_words(m.colour.delta_e2000.mean))
    return parts


def metrics_rows(record: GalleryRecord) -> list[tuple[str, str, str]]:
    """(measure, value, what it means) rows of an entry's metrics table, as plain text."""
    rows: list[tuple[str, str, str]] = []
    verdict = skill_verdict(record)
    if verdict:
        rows.append(("What the model did", verdict,
                     "From PSNR and fine detail against the sharp photo: removing noise and "
                     "sharpening edges both raise PSNR, only sharpening raises fine detail."))
    m = record.metrics
    ref = m.reference if m else None
    if ref:
        rows.append(("Closeness to the sharp original (PSNR), input → restored",
                     f"{_fmt(ref.input.psnr)} → {_fmt(ref.restored.psnr)} dB "
                     f"({_fmt(ref.gain.psnr, 2)} dB)", _psnr_meaning(ref.gain.psnr)))
        rows.append(("Structure against the original (SSIM), input → restored",
                     f"{_fmt(ref.input.ssim, 3)} → {_fmt(ref.restored.ssim, 3)}",
                     "1 means identical structure; a gain of 0.01-0.02 is visible on edges."))
    sharp = m.sharpness if m else None
    if sharp:
        unit = "× the sharp original's" if sharp.relative_to_reference else ""
        rows.append(("Fine detail (variance of the Laplacian), input → restored",
                     f"{sharp.input:.2f} → {sharp.restored:.2f} {unit}".strip(),
                     ("1 is the sharp original's amount of fine detail. Blur lowers it, noise "
                      "raises it, so a noisy input can score above 1; closer to 1 is better."
                      if sharp.relative_to_reference else
                      "Blur lowers it, noise raises it: compare the pictures, not only this.")))
    if m:
        de = m.colour.delta_e2000
        rows.append(("Colour change input → restored (CIEDE2000), mean / 95th percentile",
                     f"{_fmt(de.mean)} / {_fmt(de.p95)}",
                     "ΔE00 around 1 is invisible, around 2 just noticeable side by side, above 5 "
                     "a clearly different colour. Sharpening edges raises the 95th percentile."))
        skin = m.colour.skin
        sde = skin.delta_e2000
        share = f"{skin.fraction * 100:.1f}%"
        low, high = SKIN_PLAUSIBLE
        if sde and low <= skin.fraction <= high:
            rows.append(("Colour change on skin tones (CIEDE2000), mean / 95th percentile",
                         f"{_fmt(sde.mean)} / {_fmt(sde.p95)} ({share} of pixels)",
                         "Below 2 means skin tones kept their colour. Pixels are chosen by "
                         "colour alone, so warm clothes or wood can count as skin."))
        else:
            reason = (f"not measured: {share} of pixels have skin-like colours, so the rule is "
                      "catching fur, wood or warm light rather than skin"
                      if skin.fraction > high else
                      f"not measured: no skin in this photo ({share} of pixels match)")
            rows.append(("Colour change on skin tones", reason,
                         "Shown only when skin-coloured pixels are a plausible share of the "
                         f"photo ({low * 100:g}-{high * 100:g}%)."))
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in record.timings.items()
                       if k in ("decode", "model", "metrics", "encode") and v >= 0.005)
    rows.append(("Time, device", f"{_fmt(record.seconds, 2, ' s')}, {record.device}"
                 + (f" ({stages})" if stages else ""),
                 "The workflow's steps on this site's build machine; in brackets where the "
                 "time of computing this entry went."))
    if record.variant:
        rows.append(("Variant", record.variant, ""))
    w = record.weights
    if w and w.stand_in:  # where they come from is said once on the page (standin_note)
        rows.append(("Weights", f"{w.name or 'weights'}, sha256 {w.sha256[:12]}: stand-in "
                     f"weights, not {w.model_name or w.model}'s own", ""))
    elif w:
        rows.append(("Weights", w.label(), ""))
    return rows


def metrics_table(record: GalleryRecord) -> str:
    """The metrics as an HTML table (values are numbers and names, escaped)."""
    return render("metrics.html", rows=metrics_rows(record))


def seen_in_training(record: GalleryRecord | None, catalog: Catalog) -> bool:
    """Whether the weights that made ``record`` were trained on its photo (the catalog's
    ``trained_on`` of the weights entry with the same sha256): such a picture shows what
    the weights learned, not how they do on a new photo."""
    w = record.weights if record else None
    model = catalog.models.get(w.model or "") if w else None
    if model is None:
        return False
    return any(entry.sha256 == w.sha256 and record.id in entry.trained_on
               for entry in model.weights)


def made_by(record: GalleryRecord, catalog: Catalog) -> str:
    """The short label under a picture: the model, the weights that made it, their sha256
    prefix and, for stand-in weights, the word stand-in (explained once per page by
    :func:`standin_note`)."""
    w = record.weights
    if w is None:
        return ""
    model = catalog.models.get(w.model or "")
    return render("madeby.html", model_name=model.name if model else (w.model_name or w.model),
                  weights_name=w.name or "weights", sha12=w.sha256[:12], stand_in=w.stand_in,
                  trained=seen_in_training(record, catalog))


def standin_note(record: GalleryRecord, catalog: Catalog) -> str:
    """The explanation of a picture's stand-in weights (empty for a model's own weights):
    which model they stand in for and where they come from. Shown once per page."""
    w = record.weights
    if w is None or not w.stand_in:
        return ""
    model = catalog.models.get(w.model or "")
    return render("standin.html", model_name=model.name if model else (w.model_name or w.model),
                  weights_name=w.name or "weights", provenance=w.provenance,
                  sha12=w.sha256[:12])


def lead_block(entry: GalleryEntry, record: GalleryRecord, catalog: Catalog, here: str,
               anchor: str) -> str:
    """A page's first-screen before/after: the viewer (opening at 1:1 on the focus, side by
    side where wide enough) with its label and the photo's one-line result, linking to the
    photo's own section (``anchor``, a URL)."""
    viewer = compare_slider(entry, record, here, label=made_by(record, catalog), lead=True)
    return "\n\n".join([viewer, render("result.html", parts=result_line(record),
                                        verdict=_skill(record) is not None,
                                        title=entry.caption.split(":", 1)[0].strip(),
                                        anchor=anchor, table=None, crops=None, crop_count=0,
                                        degradation=None)])


def result_block(entry: GalleryEntry, workflow: Workflow, record: GalleryRecord | None,
                 catalog: Catalog, here: str, failure: str | None = None,
                 crops_link: str | None = None, explain: bool = True) -> str:
    """The whole figure for one gallery entry (Markdown holding our HTML blocks): workflow
    nodes, the viewer with its label, the one-line result with the full metrics table and the
    crops and how the input was degraded in a collapsed block, the photo's credit.

    With ``crops_link`` (a URL) the zoomed crops are linked there instead of shown, to keep
    pages that show many photos light (the viewer zooms to 1:1 anyway). ``explain`` adds the
    stand-in explanation (pages showing several photos give it once instead)."""
    out = [workflow_nodes(entry, workflow, record, catalog, here), ""]
    if record is None:
        out += [render("placeholder.html", reason=failure or "not computed"), ""]
        return "\n".join(out)
    crops = (render("crops_link.html", url=crops_link, count=len(record.crops))
             if crops_link else crops_html(entry, record, here))
    out += [compare_slider(entry, record, here, label=made_by(record, catalog)), ""]
    if explain and standin_note(record, catalog):
        out += [standin_note(record, catalog), ""]
    out += [render("result.html", parts=result_line(record), verdict=_skill(record) is not None,
                   title=None, anchor=None,
                   table=Markup(metrics_table(record)), crops=Markup(crops),
                   crop_count=len(record.crops), degradation=entry.degradation), "",
            render("credit.html", source=entry.source, url=entry.source_url,
                   licence=entry.licence), ""]
    return "\n".join(out)
