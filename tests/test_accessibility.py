"""Issue 8: outputs anyone can read — tagged PDF/UA, accessible HTML
checked by axe-core in a real browser, EPUB accessibility metadata — and
a PDF that is set without a single WeasyPrint warning."""

from __future__ import annotations

import shutil
import zipfile

import pikepdf
import pytest
from lxml import etree

from conftest import FIXTURE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_pdf_is_tagged_pdf_ua_with_language_and_title(flagship_build):
    with pikepdf.open(flagship_build.files["pdf"]) as pdf:
        root = pdf.Root
        assert "/StructTreeRoot" in root
        assert bool(root.MarkInfo.Marked) is True
        assert str(root.Lang) == "en"
        assert bool(root.ViewerPreferences.DisplayDocTitle) is True
        meta = pdf.open_metadata()
        assert meta.get("{http://www.aiim.org/pdfua/ns/id/}part") == "1"
        assert meta.get("{http://purl.org/dc/elements/1.1/}title", "").startswith("Further promotion")
        # every image (the key figures chart) carries alternative text in the structure tree
        figures = []

        def walk(node, depth=0):
            if depth > 60 or not isinstance(node, pikepdf.Dictionary):
                return
            if node.get("/S") == "/Figure":
                figures.append(node)
            kids = node.get("/K")
            if isinstance(kids, pikepdf.Array):
                for k in kids:
                    walk(k, depth + 1)
            elif isinstance(kids, pikepdf.Dictionary):
                walk(kids, depth + 1)

        walk(root.StructTreeRoot)
        assert figures, "the chart is tagged as a Figure"
        assert all(str(f.get("/Alt", "")).startswith("Bar chart") for f in figures)


def test_a_weasyprint_warning_fails_the_build(tmp_path):
    """An ignored property or a missing glyph is a bug, not a log line."""
    from pipeline.errors import BuildError
    from pipeline.render.common import DEFAULT_TEMPLATES, Design
    from pipeline.build import build

    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES, templates)
    with open(templates / "css" / "text.css", "a") as f:
        f.write("\np { text-wrap-style: nonsense; }\n")
    with pytest.raises(BuildError, match="WeasyPrint reported problems"):
        build(FIXTURE, tmp_path / "dist", formats=("pdf",), design=Design(templates), check=False)
    assert not (tmp_path / "dist" / "sample-report").exists()


def test_epub_declares_accessibility_metadata(flagship_build):
    with zipfile.ZipFile(flagship_build.files["epub"]) as z:
        opf = etree.fromstring(z.read("EPUB/package.opf"))
    props = {}
    for m in opf.iter("{http://www.idpf.org/2007/opf}meta"):
        if m.get("property"):
            props.setdefault(m.get("property"), []).append(m.text)
    assert "textual" in props["schema:accessMode"]
    assert props["schema:accessModeSufficient"] == ["textual"]
    assert {"structuralNavigation", "tableOfContents", "alternativeText"} <= set(props["schema:accessibilityFeature"])
    assert props["schema:accessibilityHazard"] == ["none"]
    assert props["schema:accessibilitySummary"][0]
    assert props["dcterms:conformsTo"] == ["EPUB Accessibility 1.1 - WCAG 2.1 Level AA"]
    assert opf.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.mark.parametrize("width,scheme", [(360, "light"), (1280, "light"), (1280, "dark")])
@pytest.mark.parametrize("which", ["flagship_build", "fixture_build", "zh_build"])
def test_html_page_has_no_axe_violations(browser, request, which, width, scheme):
    from axe_playwright_python.sync_playwright import Axe

    result = request.getfixturevalue(which)
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
    try:
        page.goto(result.files["html"].as_uri())
        report = Axe().run(page)
        violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in report.response["violations"]]
        assert violations == []
        # readable on a phone: nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # landmarks, skip link, one h1
        assert page.locator("header").count() >= 1 and page.locator("main#main").count() == 1
        assert page.locator("nav#contents").count() == 1 and page.locator("footer").count() >= 1
        assert page.locator("h1").count() == 1
        assert page.locator("a.skip-link[href='#main']").count() == 1
    finally:
        page.close()


def test_html_focus_is_visible(browser, flagship_build):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(flagship_build.files["html"].as_uri())
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.className")
        assert focused == "skip-link"
        style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        top = page.evaluate("document.activeElement.getBoundingClientRect().top")
        assert style != "none" and top >= 0  # the skip link shows itself when focused
    finally:
        page.close()
