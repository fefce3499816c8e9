"""Issue 17 on a real build, without a browser: what the gallery publishes and how it reads.

Every published gallery file is linked from a page; images are WebP at the size shown, with
width and height; the skin-tone figure carries its caveat; cards show one region twice;
and a build for publishing refuses a loopback site_url.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_publish import fresh
from test_site import SEED_SLUG

from modelkb.gallery.records import GalleryRecord
from modelkb.gallery.webimages import focus_window
from modelkb.site import cards, figures

from conftest import mkdocs_build


@pytest.fixture(scope="module")
def built(published_build):
    return published_build  # test_publish's site, built once per session (conftest)


def pages_html(site: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))


def test_every_published_gallery_file_is_linked_from_a_page(built):
    html = pages_html(built.site)
    folder = built.site / "gallery" / "portrait"
    names = sorted(p.name for p in folder.iterdir())
    assert "output.png" in names and "metrics.json" in names
    unlinked = [n for n in names if f"gallery/portrait/{n}" not in html
                and f"portrait/{n}" not in html]
    assert not unlinked, f"published but linked from nowhere: {unlinked}"
    assert not [n for n in names if n.endswith(".png") and n != "output.png"], names


def test_images_are_webp_at_the_size_shown_with_width_and_height(built):
    html = built.page(f"answers/{SEED_SLUG}")
    imgs = re.findall(r"<img\b[^>]*>", html)
    assert imgs
    unsized = [i for i in imgs if not re.search(r'\bwidth="\d+"', i)
               or not re.search(r'\bheight="\d+"', i)]
    assert not unsized, unsized
    for tag in imgs:
        src = re.search(r'src="([^"]+)"', tag).group(1)
        if "gallery/" not in src:
            continue
        assert src.endswith(".webp"), src
        file = built.site / "answers" / SEED_SLUG / src
        width = int(re.search(r'width="(\d+)"', tag).group(1))
        height = int(re.search(r'height="(\d+)"', tag).group(1))
        with Image.open(file) as image:
            assert image.format == "WEBP", src
            if "crop-" in src:  # real pixels, zoomed alike by the page (nearest neighbour)
                assert image.width <= width <= 2 * figures_crop_side(), (src, image.size)
                assert image.width / image.height == pytest.approx(width / height, rel=0.1)
            else:
                assert image.size == (width, height), (src, image.size, width, height)
        if "thumb-" in src:
            assert max(image.size) <= 192


def figures_crop_side() -> int:
    from modelkb.gallery.webimages import CROP_SIDE

    return CROP_SIDE


def test_the_viewer_offers_every_view_and_a_caption_that_fits_without_javascript(built):
    html = built.page(f"answers/{SEED_SLUG}")
    views = re.findall(r'data-view="(\w+)"', html)
    # the first screen's viewer, then the photo's own in section 2
    assert views == ["baseline", "output", "input", "reference", "diff"] * 2
    assert html.count("mkb-viewer--lead") == 1
    caption = re.search(r'<figcaption class="mkb-viewer__caption">(.*?)</figcaption>', html,
                        re.S).group(1)
    assert "drag" not in caption.lower() and "side by side" in caption
    assert "lossless PNG" in caption


def test_metrics_say_what_they_mean_and_skin_needs_a_plausible_mask(built):
    data = json.loads((built.site / "gallery/portrait/metrics.json").read_text())
    record = GalleryRecord.from_dict(data)
    rows = {label: (value, meaning) for label, value, meaning in figures.metrics_rows(record)}
    colour = next(v for k, v in rows.items() if k.startswith("Colour change input"))
    assert "just noticeable" in colour[1]
    data["metrics"]["colour"]["skin"].update(fraction=0.994, pixels=3000)
    data["metrics"]["colour"]["skin"]["delta_e2000"] = {"mean": 1.0, "p95": 2.0}
    catlike = figures.metrics_rows(GalleryRecord.from_dict(data))
    skin = next(r for r in catlike if r[0].startswith("Colour change on skin"))
    assert skin[1].startswith("not measured") and "99.4%" in skin[1] and "fur" in skin[1]
    data["metrics"]["colour"]["skin"].update(fraction=0.12)
    face = next(r for r in figures.metrics_rows(GalleryRecord.from_dict(data))
                if r[0].startswith("Colour change on skin"))
    assert face[1].startswith("1.00 / 2.00")


def test_the_verdict_names_the_skill_the_gain_comes_from(built):
    """A PSNR gain with less fine detail than the input is called noise removal, never
    sharpening; more fine detail is called sharper; a noisy input is not judged on edges."""
    data = json.loads((built.site / "gallery/portrait/metrics.json").read_text())

    def verdict(gain: float, before: float, after: float) -> str:
        data["metrics"]["reference"] = {"input": {"psnr": 30.0, "ssim": 0.8},
                                        "restored": {"psnr": 30.0 + gain, "ssim": 0.8},
                                        "gain": {"psnr": gain, "ssim": 0.0}}
        data["metrics"]["sharpness"] = {"relative_to_reference": True, "input": before,
                                        "restored": after}
        rows = figures.metrics_rows(GalleryRecord.from_dict(data))
        assert rows[0][0] == "What the model did"
        return rows[0][1]

    assert verdict(1.1, 0.09, 0.03).startswith("Mostly noise removal: +1.1 dB")
    assert "edges are not sharper" in verdict(1.1, 0.09, 0.03)
    assert verdict(2.0, 0.09, 0.40).startswith(
        "Sharper: +2.0 dB, fine detail: input 9% of the sharp photo's, output 40%")
    assert verdict(8.0, 547.0, 1.3).startswith(
        "Noise removal: +8.0 dB, fine detail: input 547× the sharp photo's, output 1.3×")
    assert verdict(0.0, 0.09, 0.09).startswith("No gain")
    assert verdict(-5.6, 0.01, 0.03).startswith("Further from the sharp photo than the input")
    assert "What the model did" in figures.metrics_table(GalleryRecord.from_dict(data))


def test_card_region_is_where_the_model_changed_most():
    rng = np.random.default_rng(1)
    base = (rng.random((600, 1000, 3)) * 255).astype(np.uint8)
    changed = base.copy()
    changed[400:520, 700:900] = 255 - changed[400:520, 700:900]
    before, after = Image.fromarray(base), Image.fromarray(changed)
    x, y, w, h = cards.card_region(before, after)
    assert w / h == pytest.approx(600 / 400, rel=0.01) and w <= 720
    assert x <= 700 and x + w >= 900 and y <= 400 and y + h >= 520
    named = cards.card_region(before, after, (10, 10, 30, 60))
    assert named == (0, 10, 90, 60)  # widened to 3:2 around its centre, kept inside the photo
    data = cards.answer_card("A question?", "site", None, None)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    focus = focus_window(before, after)  # what the gallery records: the card's own window
    # the viewer's window (up to 720 px) holds the card's tighter one (320 px: forum size)
    x, y, w, h = cards.card_region(before, after)
    assert w == cards.REGION_WIDTH and focus.width == 720
    assert focus.x <= x and x + w <= focus.x + focus.width
    assert focus.y <= y and y + h <= focus.y + focus.height
    assert focus.change > 3 and focus_window(before, before).change == 0  # mean, 0-255


def test_the_focus_is_recorded_and_the_viewer_opens_there(built):
    data = json.loads((built.site / "gallery/portrait/metrics.json").read_text())
    focus = GalleryRecord.from_dict(data).focus
    assert focus is not None and focus.width <= data["output"]["width"]
    html = built.page(f"answers/{SEED_SLUG}")
    opening = f'data-focus="{focus.x},{focus.y},{focus.width},{focus.height}" data-open="one"'
    assert html.count(opening) == 2  # the first screen's viewer and the photo's own


@pytest.mark.slow
def test_a_build_for_publishing_refuses_a_loopback_site_url(built, tmp_path):
    project = fresh(built.project, tmp_path / "project")  # the shared build stays as it is
    refused = mkdocs_build(project, env={"MODELKB_LOCAL_BUILD": "0"})
    assert refused.returncode == 1
    assert "site_url is http://127.0.0.1:8000/, a loopback address" in refused.output
    assert "SITE_URL" in refused.output and "mkdocs serve" in refused.output
    published = mkdocs_build(project, env={"MODELKB_LOCAL_BUILD": "0",
                                           "SITE_URL": "https://example.org/kb/"})
    assert published.returncode == 0, published.output
    assert 'href="https://example.org/kb/answers/' in published.page(f"answers/{SEED_SLUG}")


def test_each_photo_has_a_one_line_result_and_its_table_collapsed(built):
    html = built.page(f"answers/{SEED_SLUG}")
    lines = re.findall(r'<p class="mkb-result__line">(.*?)</p>', html)
    assert len(lines) == 2  # the first screen's and the photo's own
    data = json.loads((built.site / "gallery/portrait/metrics.json").read_text())
    gain = data["metrics"]["reference"]["gain"]["psnr"]
    said = figures.gain_words(gain)  # "1.2 dB closer to the sharp photo"
    assert all(said in line and "fine detail: input " in line for line in lines), lines
    # plain words on the line; the measures' names (PSNR, ΔE00, Laplacian) only in details
    assert not any(term in line for line in lines for term in ("PSNR", "ΔE", "Laplacian"))
    assert "of the sharp photo's" not in re.sub(r"\d+% of the sharp photo's", "", lines[1])
    assert "<strong>What the model did:</strong>" in lines[1]
    details = re.findall(r'<details class="mkb-more">(.*?)</details>', html)
    assert len(details) == 1 and "<table class=\"mkb-metrics\">" in details[0]
    assert "What the model did" in details[0]
    assert html.count('class="mkb-madeby') == 2  # a label under each picture
