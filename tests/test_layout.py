"""Nothing clipped, nothing off the page: long code lines, wide tables and
images with a large intrinsic size fit the PDF's text block and a phone's
screen, and the check finds text that does not (issue 12)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipeline.check import pdf as pdf_reader
from pipeline.render.common import DEFAULT_TEMPLATES, Design

from conftest import FIXTURE, FLAGSHIP, ROOT

WIDE = ROOT / "tests" / "fixtures" / "wide-things"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def wide_build(tmp_path_factory):
    """Long code lines, a wide table and a 2,000 px drawing, built and
    checked in all three formats."""
    from pipeline.build import build

    return build(WIDE, tmp_path_factory.mktemp("dist-wide"))


def _design(tmp_path: Path, sheet: str, css: str) -> Design:
    """The project's templates with ``css`` added to the end of ``sheet``."""
    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES, templates)
    with open(templates / "css" / sheet, "a", encoding="utf-8") as f:
        f.write("\n" + css + "\n")
    return Design(templates)


def _glyph_extent(path: Path) -> tuple[float, float]:
    """The widest any body line of the PDF reaches past the text block and
    past the paper's edge, in mm (0 when nothing does): from PDFium's text
    boxes, independently of the check's own thresholds."""
    import pypdfium2 as pdfium

    mm = 72 / 25.4
    margin = paper = 0.0
    doc = pdfium.PdfDocument(str(path))
    try:
        for i in range(1, len(doc)):  # the cover is set edge to edge
            page = doc[i]
            width = page.get_width()
            left, right = (37 * mm, width - 48 * mm) if i % 2 == 0 else (48 * mm, width - 37 * mm)
            text = page.get_textpage()
            for k in range(text.count_rects()):
                l, b, r, t = text.get_rect(k)
                if 28 * mm < (b + t) / 2 < page.get_height() - 24 * mm:
                    margin = max(margin, (r - right) / mm, (left - l) / mm)
                    paper = max(paper, (r - width) / mm, -l / mm)
            text.close()
            page.close()
    finally:
        doc.close()
    return margin, paper


def test_wide_things_fit_the_pdf_text_block(wide_build):
    assert wide_build.check.ok, wide_build.check.findings()
    margin, paper = _glyph_extent(wide_build.files["pdf"])
    assert margin <= pdf_reader.SLACK / pdf_reader.MM and paper <= 0


def test_the_checks_text_block_is_the_one_page_css_declares():
    """The check's margins are page.css's: a design that moved them without
    the check would make it fire on every page, or on none."""
    css = (DEFAULT_TEMPLATES / "css" / "page.css").read_text("utf-8")
    right = re.search(r"@page \{[^}]*?margin: ([\d.]+)mm ([\d.]+)mm ([\d.]+)mm ([\d.]+)mm", css)
    left = re.search(r"@page :left \{\s*margin: ([\d.]+)mm ([\d.]+)mm ([\d.]+)mm ([\d.]+)mm", css)
    mm = pdf_reader.MM
    top, outside, bottom, inside = (float(x) * mm for x in right.groups())
    assert (top, bottom) == pytest.approx((pdf_reader.TOP_MARGIN, pdf_reader.BOTTOM_MARGIN))
    assert (inside, outside) == pytest.approx((pdf_reader.INNER_MARGIN, pdf_reader.OUTER_MARGIN))
    assert [float(x) * mm for x in left.groups()] == pytest.approx([top, inside, bottom, outside])


def test_code_that_does_not_wrap_is_a_finding(tmp_path):
    """With wrapping switched off, the long lines are cut off at the paper's
    edge: the text is still in the file, but the check names the page and
    the line."""
    from pipeline.build import build
    from pipeline.errors import CheckFailed

    design = _design(tmp_path, "code.css", "pre { white-space: pre; }")
    with pytest.raises(CheckFailed) as failed:
        build(WIDE, tmp_path / "dist", formats=("pdf",), design=design)
    off = [f for f in failed.value.findings if "runs off the page" in f]
    assert off, failed.value.findings
    assert re.match(r'pdf: page \d+ \(printed page \d+\): text runs off the page: "let very_long_variable_name = …" '
                    r'goes \d+\.\d mm past the paper\'s edge', off[0]), off


def test_a_table_in_the_margin_is_a_finding(tmp_path):
    """A table that cannot break its long words stands in the margin."""
    from pipeline.build import build
    from pipeline.errors import CheckFailed

    design = _design(tmp_path, "tables.css", "th, td { overflow-wrap: normal; }")
    with pytest.raises(CheckFailed) as failed:
        build(WIDE, tmp_path / "dist", formats=("pdf",), design=design)
    assert any(re.search(r"text runs (into the margin|off the page): \"(Name|first|second) ", f)
               for f in failed.value.findings), failed.value.findings


def test_a_listing_that_leaves_a_brace_on_the_next_page_passes(tmp_path):
    """A code block split so that only its closing brace opens the next
    page is all there: the check passes."""
    from pipeline.build import build

    design = _design(tmp_path, "code.css", "pre.rust > code > span:last-child { break-before: page; }")
    result = build(WIDE, tmp_path / "dist", formats=("pdf",), design=design)
    assert result.check.ok
    pages = pdf_reader.read(result.files["pdf"]).pages
    spilled = [p for p in pages if p.text.strip().startswith("}")]
    assert spilled, "the listing's last line should open a page"


@pytest.mark.parametrize("which", ["flagship", "fixture", "wide"])
def test_no_layout_finding_on_good_publications(which, request, flagship_build, fixture_build, wide_build):
    """Running heads, folios, the cover and the contents' page numbers stand
    outside the text block by design: none is a finding."""
    result = {"flagship": flagship_build, "fixture": fixture_build, "wide": wide_build}[which]
    problems = pdf_reader.read(result.files["pdf"]).problems
    assert not [p for p in problems if p.kind == "layout"], problems


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def test_the_html_page_never_scrolls_sideways_on_a_phone(browser, wide_build):
    """At 360 px the page is no wider than the screen: the table and the
    code scroll in boxes of their own, which the keyboard reaches and a
    screen reader names; the drawing fits; axe finds nothing."""
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport={"width": 360, "height": 800})
    try:
        page.goto(wide_build.files["html"].as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        boxes = page.evaluate("""() => [...document.querySelectorAll('main .scroll')].map(b => ({
            wide: b.scrollWidth > b.clientWidth, tabindex: b.getAttribute('tabindex'),
            label: b.getAttribute('aria-label'), inside: b.firstElementChild.tagName}))""")
        assert {b["inside"] for b in boxes} == {"TABLE", "PRE"}
        assert any(b["wide"] for b in boxes)  # something does scroll, in its box
        assert all(b["tabindex"] == "0" and b["label"] for b in boxes)
        widths = page.evaluate("[...document.querySelectorAll('main img')].map(i => i.getBoundingClientRect().right)")
        assert widths and max(widths) <= 360
        violations = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in Axe().run(page).response["violations"]]
        assert violations == []
    finally:
        page.close()
