"""`modelkb import`: prompt parsing, stable ids, merging that keeps the catalog's bytes."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from modelkb.catalog import load_catalog
from modelkb.catalog.prompts import arxiv_id, link_key, parse_prompt, question_slug
from modelkb.errors import ModelkbError

from conftest import ROOT, run_cli

SEED = next((ROOT / "tests" / "data" / "seeds").glob("000_*.txt"))
SEED_SLUG = "real-image-super-resolution-everyday-noise"
SHIPPED = ROOT / "catalog.yml"


def prompt_text(question: str, models: list[tuple[str, ...]], papers: list[tuple[str, ...]],
                nl: str = "\n", gap: str = "") -> str:
    """A prompt in the recommender's format; models (name, paper[, github]), papers
    (title, link, summary)."""
    lines = ["You are an AI scientist.", "", "A user has asked the following question:",
             f'"{question}"', "", "Based on the following recommended models, explain:", "",
             "### Recommended AI Models:"]
    for model in models:
        lines += [f"Model: {model[0]}", f"Paper: {model[1]}"]
        if len(model) > 2:
            lines.append(f"GitHub: {model[2]}")
        lines += [""] + [gap] * bool(gap)
    lines += ["### Related Papers:"]
    for title, link, summary in papers:
        lines += [f"Model: {title}", f"Paper: {link}", f"Summary: {summary}", ""]
        lines += [gap] * bool(gap)
    lines += ["", "Answer:"]
    return nl.join(lines)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def do_import(catalog: Path, *prompts: Path, dry_run: bool = False):
    args = ["import", *map(str, prompts), "--catalog", str(catalog)]
    return run_cli(*args, *(["--dry-run"] if dry_run else []))


@pytest.fixture
def two_tasks(tmp_path: Path) -> Path:
    """A catalog with just the shipped catalog's tasks section."""
    text = SHIPPED.read_text(encoding="utf-8")
    return write(tmp_path / "catalog.yml", text[:text.index("\nmodels:")] + "\n")


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A copy of the shipped catalog."""
    return write(tmp_path / "catalog.yml", SHIPPED.read_text(encoding="utf-8"))


OTHER = prompt_text(
    "My phone photos are blurry when I zoom. Which deblurring models suit night shots?",
    [("Night-Deblur-Net", "https://arxiv.org/abs/2305.12345v3", "https://github.com/x/nd/")],
    [("FeatSharp again", "https://arxiv.org/abs/2502.16025", "already in the catalog"),
     ("A New Paper", "https://example.org/papers/new.pdf", "Something new.")])


# ---------------------------------------------------------------------------- the seed


@pytest.mark.parametrize("start", ["empty", "two_tasks"])
def test_seed_into_empty_catalog_matches_shipped(tmp_path, two_tasks, start):
    catalog = write(tmp_path / "catalog.yml", "") if start == "empty" else two_tasks
    proc = do_import(catalog, SEED)
    assert proc.returncode == 0, proc.stderr
    got, want = load_catalog(catalog), load_catalog(SHIPPED)
    q, wq = got.questions[SEED_SLUG], want.questions[SEED_SLUG]
    assert (q.question, q.models, q.papers) == (wq.question, wq.models, wq.papers)
    assert q.draft is True and not wq.draft
    assert set(q.answer.notes) == set(wq.answer.notes)
    assert list(got.models) == list(want.models)
    for mid, model in got.models.items():
        shipped_model = want.models[mid]
        assert (model.name, model.paper, model.code) == \
            (shipped_model.name, shipped_model.paper, shipped_model.code)
    assert list(got.papers) == list(want.papers) == ["2401.00261", "2502.03656", "2502.16025"]
    for pid, paper in got.papers.items():
        shipped_paper = want.papers[pid]
        assert (paper.title, paper.link, paper.summary) == \
            (shipped_paper.title, shipped_paper.link, shipped_paper.summary)
    if start == "two_tasks":  # tasks inferred from the existing ones
        assert q.task == wq.task == "real-image-super-resolution"
        assert got.models["deblur-mssnet-realblurj"].task == "image-deblurring"
        assert list(got.tasks) == list(want.tasks)
    else:  # no task fits: one 'uncategorised' task is created
        assert q.task == "uncategorised" and list(got.tasks) == ["uncategorised"]


def test_second_import_is_a_noop(two_tasks):
    assert do_import(two_tasks, SEED).returncode == 0
    before = two_tasks.read_bytes()
    proc = do_import(two_tasks, SEED)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to change" in proc.stdout
    assert two_tasks.read_bytes() == before


def test_seed_into_shipped_catalog_keeps_bytes(shipped):
    before = shipped.read_bytes()
    proc = do_import(shipped, SEED)
    assert proc.returncode == 0, proc.stderr
    assert shipped.read_bytes() == before == SHIPPED.read_bytes()


def test_other_prompt_keeps_every_existing_line(tmp_path, shipped):
    prompt = write(tmp_path / "other.txt", OTHER)
    before = shipped.read_text(encoding="utf-8").splitlines()
    assert do_import(shipped, prompt).returncode == 0
    after = shipped.read_text(encoding="utf-8").splitlines()
    it = iter(after)
    assert all(line in it for line in before), "existing lines must stay, in order"
    header = list(itertools.takewhile(lambda ln: ln.startswith("#"), before))
    assert header and after[:len(header)] == header
    cat = load_catalog(shipped)
    new = [q for q in cat.questions.values() if q.draft]
    assert len(new) == 1
    q = new[0]
    assert q.slug == "deblurring-suit-night-shots"
    assert q.task == "image-deblurring"
    assert q.models == ["night-deblur-net"]
    assert q.papers == ["2502.16025", "a-new-paper"]  # FeatSharp reused (abs vs pdf link)
    assert cat.models["night-deblur-net"].task == "image-deblurring"
    assert cat.models["night-deblur-net"].paper == "https://arxiv.org/abs/2305.12345v3"
    assert cat.papers["a-new-paper"].link == "https://example.org/papers/new.pdf"
    assert len(cat.papers) == 4
    again = shipped.read_bytes()
    assert do_import(shipped, prompt).returncode == 0
    assert shipped.read_bytes() == again


# ---------------------------------------------------------------------------- variants


def test_crlf_and_extra_blank_lines_parse_like_the_seed():
    seed = SEED.read_text(encoding="utf-8")
    plain = parse_prompt(seed, "seed")
    crlf = parse_prompt(seed.replace("\n", "\r\n"), "seed")
    spaced = parse_prompt(seed.replace("\n\n", "\n\n\n\n").replace("\nPaper:", "\n\nPaper:"),
                          "seed")
    def fields(p):
        return (p.question, [(m.name, m.paper, m.code, m.summary) for m in p.models],
                [(x.title, x.link, x.code, x.summary) for x in p.papers])

    assert fields(crlf) == fields(spaced) == fields(plain)
    assert crlf == plain
    assert plain.question.startswith("I doubled the size")
    assert [m.name for m in plain.models] == ["Deblur-MSSNet-RealBlurJ"]
    assert [p.title for p in plain.papers][2] == "FeatSharp: Your Vision Model Features, Sharper"


def test_crlf_prompt_into_crlf_catalog(tmp_path, two_tasks):
    catalog = write(tmp_path / "crlf.yml",
                    two_tasks.read_text(encoding="utf-8").replace("\n", "\r\n"))
    prompt = write(tmp_path / "p.txt", SEED.read_text(encoding="utf-8").replace("\n", "\r\n"))
    assert do_import(catalog, prompt).returncode == 0
    data = catalog.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert SEED_SLUG in load_catalog(catalog).questions


def test_unicode_title_model_without_github_and_two_models(tmp_path, two_tasks):
    text = prompt_text(
        "Quelle est la meilleure façon de débruiter une photo prise à Zürich?",
        [("Débruit-Net", "https://example.com/debruit.pdf"),
         ("Deblur-Second", "https://arxiv.org/pdf/2101.00001v1", "https://github.com/a/b")],
        [("Über Rauschen: eine Studie — 2024", "https://uni.example.de/rauschen.pdf",
          "Zusammenfassung mit Umlauten: äöü."),
         ("Twice", "http://arxiv.org/abs/2101.00001", "Same arXiv paper as the model.")])
    prompt = write(tmp_path / "u.txt", text)
    proc = do_import(two_tasks, prompt)
    assert proc.returncode == 0, proc.stderr
    cat = load_catalog(two_tasks)
    assert cat.models["debruit-net"].name == "Débruit-Net"
    assert cat.models["debruit-net"].code is None
    assert cat.models["deblur-second"].code == "https://github.com/a/b"
    assert cat.models["deblur-second"].task == "image-deblurring"
    assert cat.papers["uber-rauschen-eine-studie-2024"].title == \
        "Über Rauschen: eine Studie — 2024"
    assert cat.papers["2101.00001"].link == "http://arxiv.org/abs/2101.00001"
    (q,) = cat.questions.values()
    assert q.question.endswith("Zürich?")
    assert q.models == ["debruit-net", "deblur-second"]


@pytest.mark.parametrize("link", [
    "http://arxiv.org/pdf/2401.00261v2.pdf", "https://arxiv.org/abs/2401.00261",
    "https://arxiv.org/pdf/2401.00261", "https://www.arxiv.org/abs/2401.00261v7/",
    "http://export.arxiv.org/pdf/2401.00261v1.pdf"])
def test_arxiv_links_match_an_existing_paper(tmp_path, shipped, link):
    text = prompt_text("Does microscopy count as super-resolution at all?",
                       [("Deblur-MSSNet-RealBlurJ", "https://cg.postech.ac.kr/x.pdf")],
                       [("Any title", link, "Any summary.")])
    before = shipped.read_text(encoding="utf-8")
    assert do_import(shipped, write(tmp_path / "p.txt", text)).returncode == 0
    cat = load_catalog(shipped)
    assert len(cat.papers) == 3 and len(cat.models) == 1
    (q,) = [q for q in cat.questions.values() if q.draft]
    assert q.papers == ["2401.00261"] and q.models == ["deblur-mssnet-realblurj"]
    added = shipped.read_text(encoding="utf-8")
    assert added.startswith(before)  # only a new question, at the end
    assert arxiv_id(link) == "2401.00261"


def test_link_normalisation():
    assert link_key("http://Example.org/a/") == link_key("https://www.example.org/a")
    assert link_key("https://example.org/a.pdf") != link_key("https://example.org/b.pdf")
    assert arxiv_id("https://example.org/abs/2401.00261") is None
    assert arxiv_id("https://arxiv.org/abs/hep-th/9901001v2") == "hep-th/9901001"


def test_question_slug_rule():
    seed = parse_prompt(SEED.read_text(encoding="utf-8"), "seed")
    assert question_slug(seed.question) == SEED_SLUG
    assert question_slug("What is it?") == question_slug("What is it?")
    assert re.fullmatch(r"question-[0-9a-f]{8}", question_slug("What is it?"))
    long = question_slug("Why " + " ".join(f"word{i}" for i in range(30)) + "?")
    assert long.count("-") == 7 and len(long) <= 100


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text,line,expect", [
    ("Hello\nthere\n", 1, "A user has asked the following question"),
    ("A user has asked the following question:\nno quotes here\n", 2, "double quotes"),
    (('A user has asked the following question:\n"Why?"\n\n### Recommended AI Models:\n'
     "Model: X\nGitHub: https://github.com/x/y\n\nAnswer:\n"), 5, "no 'Paper:' line"),
    (('A user has asked the following question:\n"Why?"\n\n### Recommended AI Models:\n'
     "Model: X\nPaper: not a link\n"), 6, "http:// or https://"),
    (('A user has asked the following question:\n"Why?"\n\n### Recommended AI Models:\n'
     "Model: X\nPaper: https://a.org/x.pdf\nrandom garbage\n"), 7, "expected 'Model:'"),
    ('A user has asked the following question:\n"Why?"\n\nthat is all\n', 4,
     "Recommended AI Models"),
])
def test_malformed_prompts_fail_with_line(tmp_path, shipped, text, line, expect):
    prompt = write(tmp_path / "bad.txt", text)
    before = shipped.read_bytes()
    proc = do_import(shipped, prompt)
    assert proc.returncode == 1
    assert f"{prompt}:{line}: " in proc.stderr and expect in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert shipped.read_bytes() == before


def test_one_bad_prompt_writes_nothing(tmp_path, two_tasks):
    before = two_tasks.read_bytes()
    bad = write(tmp_path / "bad.txt", "garbage")
    proc = do_import(two_tasks, SEED, bad)
    assert proc.returncode == 1 and f"{bad}:1:" in proc.stderr
    assert two_tasks.read_bytes() == before


def test_broken_catalog_is_left_alone(tmp_path):
    catalog = write(tmp_path / "catalog.yml", "models:\n  - id: x\n    name: X\n")
    proc = do_import(catalog, SEED)
    assert proc.returncode == 1 and "catalog.yml:" in proc.stderr
    assert catalog.read_text() == "models:\n  - id: x\n    name: X\n"


def test_dry_run_prints_a_diff_and_writes_nothing(two_tasks):
    before = two_tasks.read_bytes()
    proc = do_import(two_tasks, SEED, dry_run=True)
    assert proc.returncode == 0, proc.stderr
    assert two_tasks.read_bytes() == before
    assert "--- a/" in proc.stdout and "+++ b/" in proc.stdout
    assert f"+  - slug: {SEED_SLUG}" in proc.stdout
    assert "+    draft: true" in proc.stdout


TOKENS = ["Model:", "Paper:", "GitHub:", "Summary:", "### Recommended AI Models:",
          "### Related Papers:", "A user has asked the following question:", "Answer:",
          "https://arxiv.org/abs/2401.00261", '"', "\u201c", "\u201d", ":", "#", "\n", "\r",
          "\t", " ", "x", "?", "\x00", "\u00e9", "\ufeff"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join) | st.text())
def test_parse_prompt_raises_only_modelkb_errors(text):
    try:
        prompt = parse_prompt(text, "p.txt")
    except ModelkbError as exc:
        assert str(exc).startswith("p.txt:")
    else:
        assert prompt.question


def test_invalid_result_writes_nothing(monkeypatch, two_tasks):
    from argparse import Namespace

    from modelkb.commands import import_prompts as command

    monkeypatch.setattr(command, "render", lambda text, result: text + "bogus: 1\n")
    before = two_tasks.read_bytes()
    with pytest.raises(ModelkbError, match="would not be valid; nothing was written"):
        command.run(Namespace(prompts=[SEED], catalog=two_tasks, dry_run=False))
    assert two_tasks.read_bytes() == before


FIELD_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                     min_size=1, max_size=40).filter(lambda s: s.strip())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(FIELD_TEXT, st.integers(0, 3)), max_size=3),
       st.lists(st.tuples(FIELD_TEXT, st.integers(0, 5), FIELD_TEXT), max_size=3),
       FIELD_TEXT)
def test_merge_keeps_existing_text_and_validates(tmp_path_factory, models, papers, question):
    from modelkb.catalog.prompts import merge, render
    from modelkb.commands.import_prompts import _validate

    text = prompt_text(
        question.replace('"', "'"),
        [(name.strip(), f"https://example.org/m{n}.pdf") for name, n in models],
        [(title.strip(), f"https://arxiv.org/abs/2401.0026{n}" if n < 3
          else f"https://example.org/p{n}.pdf", summary) for title, n, summary in papers])
    prompt = parse_prompt(text, "p.txt")
    base = SHIPPED.read_text(encoding="utf-8")
    new = render(base, merge(yaml.safe_load(base), [prompt]))
    before, after = base.splitlines(), new.splitlines()
    it = iter(after)
    assert all(line in it for line in before)
    _validate(new, Path("catalog.yml"), len(before))
    assert render(new, merge(yaml.safe_load(new), [prompt])) == new
