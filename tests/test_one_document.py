"""Issue 12, items 4-7: the chapter files of a publication are one
document, written as people write Markdown for GitHub or mdBook.

tests/fixtures/one-document/ holds each construct once: the same heading
text in two files, a heading titled "Footnotes", raw <a id> anchors and
[x]{#id} spans linked from another file, links to other-chapter.md and
other-chapter.md#section, reference links and implicit heading links
defined in another file, <img> in <p align="center">, HTML comments (one
with "--" in it), a heading inside a block quote and a GitHub alert. It is
built and checked in all three formats; the tests read the HTML and EPUB
back."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from lxml import html as lxml_html, etree

from conftest import ROOT

ONE = ROOT / "tests" / "fixtures" / "one-document"


@pytest.fixture(scope="session")
def one_build(tmp_path_factory):
    from pipeline.build import build

    out = tmp_path_factory.mktemp("dist-one")
    build(ONE, out)
    return out / ONE.name


@pytest.fixture(scope="session")
def page(one_build):
    return lxml_html.fromstring((one_build / f"{ONE.name}.html").read_bytes())


def _section(page, ident):
    found = page.xpath(f"//*[@id='{ident}']")
    assert len(found) == 1, f"id {ident!r} appears {len(found)} times"
    return found[0]


def test_the_same_heading_text_in_two_files_is_numbered_on(page):
    heads = {s.get("id"): " ".join(s.find("h3").text_content().split()) for s in page.xpath("//section[h3]")}
    assert heads["summary"].endswith("Summary") and heads["summary-1"].endswith("Summary")
    assert heads["sec-sum-explicit"].endswith("Summary")  # an explicit id is kept as written
    ids = page.xpath("//@id")
    assert len(ids) == len(set(ids)), "an id is used twice"


def test_links_follow_the_numbered_ids(page):
    second = _section(page, "second")
    # a link in the second file to its own #summary goes to its own heading
    assert second.xpath(".//a[text()='self']/@href") == ["#summary-1"]
    first = _section(page, "first")
    assert first.xpath(".//a[text()='Link to self']/@href") == ["#summary"]


def test_a_heading_titled_footnotes_does_not_take_the_notes_id(page):
    assert _section(page, "footnotes-section").xpath("h3")[0].text_content().endswith("Footnotes")
    assert "footnotes" in _section(page, "footnotes").get("class")


def test_links_to_chapter_files_become_links_to_their_sections(page):
    preface = _section(page, "preface")
    assert preface.xpath(".//a/@href") == ["#first", "#summary"]


def test_raw_anchors_and_spans_are_link_targets(page, one_build):
    assert _section(page, "raw-anchor").tag == "span"
    assert _section(page, "old-first").getparent().tag == "h2"  # the anchor before a part's title goes into it
    with zipfile.ZipFile(one_build / f"{ONE.name}.epub") as z:
        second = z.read("EPUB/text/03-part-2.xhtml").decode()
    hrefs = re.findall(r'href="([^"]+)"', second)
    for ident in ("marked", "raw-anchor", "old-first"):
        assert f"../text/02-part-1.xhtml#{ident}" in hrefs  # the EPUB file that holds it (RSC-012)


def test_references_resolve_across_files(page):
    first = _section(page, "first")
    links = {a.text_content(): a.get("href") for a in first.xpath(".//a")}
    assert links["Preface"] == "#preface"  # an implicit heading link to another file
    assert links["the second summary"] == "#summary-1"  # a reference defined in another file
    assert links["Second"] == "#second"
    second = _section(page, "second")
    assert second.xpath(".//a[text()='defined elsewhere']/@href") == ["https://example.org/defined"]
    assert "[" not in page.xpath("string(//main)")  # nothing printed as [text]


def test_raw_img_is_an_image_with_its_alt_text_and_width(page):
    img = page.xpath("//main//img")[0]
    assert img.get("alt") == "A chart of things"
    assert "50" in img.get("style", "") + img.get("width", "")
    assert img.get("src").startswith("data:image/png")
    assert img.getparent().get("align") is None  # <p align="center">: the obsolete attribute is dropped


def test_comments_never_reach_an_output(one_build):
    html = (one_build / f"{ONE.name}.html").read_text("utf-8")
    assert "<!--" not in html.split("<body", 1)[1]
    with zipfile.ZipFile(one_build / f"{ONE.name}.epub") as z:
        for name in z.namelist():
            if name.endswith(".xhtml"):
                text = z.read(name).decode()
                assert "<!--" not in text and "double hyphens" not in text
                etree.fromstring(text.encode())  # well-formed XML


def test_a_heading_in_a_quote_is_a_styled_paragraph_not_an_outline_entry(page, one_build):
    quote = page.xpath("//blockquote[.//strong[text()='Heading in a quote']]")
    assert quote and not quote[0].xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6")
    toc = " ".join(page.xpath("string(//nav)").split())
    assert "Heading in a quote" not in toc


def test_a_github_alert_is_a_labelled_quote(page):
    alert = page.xpath("//div[contains(@class, 'alert-note')]/blockquote")
    assert alert and alert[0].xpath("string(p[1])") == "Note"
    assert "[!NOTE]" not in page.xpath("string(//main)")
