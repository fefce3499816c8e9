"""Generated text reads well: summaries cut at sentence ends, the reference renders its code."""

from __future__ import annotations

import markdown

from modelkb.site.pages import _first_sentence, catalog_reference


def test_summaries_are_cut_at_sentence_ends_not_abbreviations() -> None:
    text = ("Vision encoders matter for many tasks (e.g. segmentation, detection, etc.) and "
            "for multimodal models. Currently, ViTs dominate.")
    assert _first_sentence(text) == ("Vision encoders matter for many tasks (e.g. "
                                     "segmentation, detection, etc.) and for multimodal "
                                     "models.")
    long = "word " * 80
    cut = _first_sentence(long)
    assert cut.endswith("…") and len(cut) <= 200 and not cut.endswith(" …")
    assert _first_sentence("It is 2.5 times faster than the baseline on average. Next.") == \
        "It is 2.5 times faster than the baseline on average."


def test_catalog_reference_renders_code_and_keeps_angle_brackets_as_text() -> None:
    page = markdown.markdown(catalog_reference(), extensions=["tables"])
    cells = page.split("<table>", 1)[1]
    assert "`" not in cells.replace("<code>", "").split("</table>")[0]  # no raw backticks
    assert "<code>tasks</code>" in page
    assert "/models/&lt;id&gt;/" in page  # '<id>' is text, not a tag
