"""The check on text as people write it: no false findings.

One small publication, built for real in all three formats and read back,
holds what made the check fail on correct outputs (issue 12): hyphens at
PDF line ends, superscripts and subscripts (Markdown and raw HTML), a task
list, maths, dollar signs that are not maths, a front-matter heading equal
to the title and a footnote in a heading. It must pass; and the same check
must still find a paragraph that is really missing, and say what differs."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from pipeline.check import compare
from pipeline.check.extracted import strict

TITLE = "Constructs Read Back"

#: Real hyphens first: the PDF's font subset then maps its hyphen glyph to
#: U+002D, and PDFium reports a hyphen at a line end as U+FFFE.
HYPHENS = " ".join(["The inter-paragraph spacing is a well-known matter of self-evident taste and long-standing "
                    "house-style."] * 8)
LONG = ("Pandoc has a modular design: it consists of a set of readers, which parse text in a given format and "
        "produce a native representation of the document (an abstract syntax tree), and a set of writers, which "
        "convert this native representation into a target format. Internationalization considerations "
        "notwithstanding, extraordinarily incomprehensible characteristically interdisciplinary responsibilities "
        "accumulate uncontrollably. ") * 3

CHAPTERS = {
    "intro.md": f"# {TITLE}\n\nThis front matter opens with the publication's own title.\n",
    "hyphens.md": f"# Hyphens\n\n{HYPHENS}\n\n{LONG.strip()}\n",
    "marks.md": """# Marks

A kilobyte is 2^10^ bytes and water is H~2~O.

Raw HTML: 2<sup>24</sup> addresses and x<sub>i</sub> values.

- [ ] write the draft
- [x] collect data

Einstein wrote $E = mc^2$ and then

$$\\int_0^1 x\\,dx = \\tfrac12$$

Set $HOME and $PATH before you start; it costs $5 or $10.

## A heading with a note[^hn]

Text under the noted heading.

[^hn]: A note in a heading.
""",
}


def write_publication(folder: Path) -> Path:
    folder.mkdir()
    (folder / "publication.yaml").write_text(
        f"title: {TITLE}\nauthors:\n  - name: Test Author\nlanguage: en\n"
        "edition:\n  version: 1.0.0\n  date: 2026-01-01\nfront:\n  - intro.md\n"
        "outline:\n  parts:\n    - title: Hyphens\n      file: hyphens.md\n"
        "    - title: Marks\n      file: marks.md\n", "utf-8")
    for name, text in CHAPTERS.items():
        (folder / name).write_text(text, "utf-8")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipeline.build import build

    root = tmp_path_factory.mktemp("constructs")
    return build(write_publication(root / "constructs"), root / "dist")


def _at(built, name: str, line: int) -> str:
    """How a finding about a section's text starts: the file and line of its
    heading in the source."""
    from pipeline.errors import shown_path

    return f"{shown_path(built.publication.root / name)}:{line}: "


def test_ordinary_text_passes_the_check_in_every_format(built):
    assert built.check.ok, built.check.findings()
    assert set(built.files) == {"pdf", "epub", "html"}


def _raw_pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def test_hyphens_at_pdf_line_ends(built):
    """PDFium reports a hyphen at a line end as U+FFFE and joins the lines:
    the reader writes it back as a printed hyphen and a line break, and the
    comparison passes for a hyphenation break and for a real hyphen alike."""
    raw = _raw_pdf_text(built.files["pdf"])
    assert "\ufffe" in raw  # the case this test is about occurs
    pages = built.check.formats["pdf"].extracted.pages
    text = "".join(p.text for p in pages)
    assert "\ufffe" not in text
    breaks = re.findall(r"(\w+)\u2010\r\n(\w+)", text)
    source = " ".join(CHAPTERS.values())
    real = [b for b in breaks if f"{b[0]}-{b[1]}" in source]
    hyphenated = [b for b in breaks if f"{b[0]}-{b[1]}" not in source and f"{b[0]}{b[1]}" in source]
    assert real and hyphenated, breaks  # both kinds stand at a line end
    # the message's view of the output joins them back: a hyphenation break goes, a real hyphen stays
    (a, b), (c, d) = real[0], hyphenated[0]
    assert compare._joined(f"{a}\u2010\r\n{b} {c}\u2010\r\n{d}", source) == f"{a}-{b} {c}{d}"


def test_a_missing_paragraph_is_still_found_and_what_differs_is_said(built):
    expected = compare.Expected.from_publication(built.publication)
    texts = list(built.check.formats["pdf"].extracted.text)  # every page but the contents
    assert compare.compare_text("pdf", expected, texts) == []
    # the second paragraph of "Hyphens" loses its middle sentence
    gone = "Internationalization considerations"
    page = next(i for i, t in enumerate(texts) if re.search(r"Internationaliza\S*\s+tion|" + gone, t))
    texts[page] = re.sub(r"Internationaliza\S*\s*tion considerations", "International considerations",
                         texts[page], count=1)
    findings = [str(f) for f in compare.compare_text("pdf", expected, texts)]
    assert len(findings) == 1, findings
    assert findings[0] == (f'pdf: {_at(built, "hyphens.md", 1)}paragraph "Pandoc has a modular design: it consists …" '
                           '(part 1 "Hyphens") '
                           'is missing from the text: after "…into a target format.", the source has '
                           '"Internationalization considerations notwithstanding, extraordinarily incomprehensible …" '
                           'but the pdf has "International considerations notwithstanding, extraordinarily '
                           'incomprehensible …"')
    assert 'the source has "Internationalization considerations notwithstanding, extraordinarily ' \
           'incomprehensible …" but the pdf has "International considerations notwithstanding, ' \
           'extraordinarily incomprehensible …"' in findings[0]
    assert "\n" not in findings[0]


def test_a_paragraph_gone_altogether_says_only_that(built):
    expected = compare.Expected.from_publication(built.publication)
    html = built.check.formats["html"].extracted.text[0]
    cut = html.replace("Text under the noted heading.", "")
    assert cut != html
    assert [str(f) for f in compare.compare_text("html", expected, [cut])] == [
        f'html: {_at(built, "marks.md", 16)}paragraph "Text under the noted heading." (section 2.1 "A heading with a '
        f'note") is missing from the text']


def test_superscripts_subscripts_and_task_lists(built):
    html = built.files["html"].read_text("utf-8")
    assert "2<sup>10</sup>" in html and "H<sub>2</sub>O" in html and "2<sup>24</sup>" in html
    assert html.count('type="checkbox"') == 2
    pdf = "".join(p.text for p in built.check.formats["pdf"].extracted.pages)
    assert "A kilobyte is 2 bytes and water is H2O." in pdf  # the superscript is left out, the subscript read
    assert "\u2610 write the draft" in pdf and "\u2611 collect data" in pdf  # ballot boxes the fonts have
    for fmt in ("html", "epub"):
        text = "".join(built.check.formats[fmt].extracted.text)
        assert "\u2610 write the draft" in text and "\u2612 collect data" in text


def test_maths_is_mathml_in_epub_and_html_and_drawn_in_the_pdf(built):
    html = built.files["html"].read_text("utf-8")
    assert html.count("<math ") == 2 and "Set $HOME and $PATH before you start; it costs $5 or $10." in html
    with zipfile.ZipFile(built.files["epub"]) as z:
        opf = z.read("EPUB/package.opf").decode()
        marks = next(n for n in z.namelist() if n.endswith("part-2.xhtml"))
        assert z.read(marks).decode().count("<math ") == 2
    assert re.search(r'href="text/\d+-part-2\.xhtml" media-type="application/xhtml\+xml" properties="mathml"', opf)
    assert not re.search(r'part-1\.xhtml"[^>]*properties="mathml"', opf)
    pdf = pdfium.PdfDocument(str(built.files["pdf"]))
    try:
        page = next(pdf[i] for i in range(len(pdf)) if "Einstein wrote" in pdf[i].get_textpage().get_text_range())
        drawn = [obj for obj in page.get_objects(max_depth=4) if obj.type in (pdfium.raw.FPDF_PAGEOBJ_PATH,
                                                                            pdfium.raw.FPDF_PAGEOBJ_FORM)]
        assert drawn  # the formulas are drawn (ziamath's paths), not printed as TeX
        assert "mc^2" not in page.get_textpage().get_text_range()
    finally:
        pdf.close()


def test_a_formula_is_one_unit_the_text_around_it_must_match(built):
    """The HTML loses a formula: the paragraph around it is then missing,
    and the message says the formula is what differs."""
    expected = compare.Expected.from_publication(built.publication)
    html = built.check.formats["html"].extracted.text[0]
    assert html.count(compare.MATH) == 2
    cut = html.replace(compare.MATH, "", 1)
    findings = [str(f) for f in compare.compare_text("html", expected, [cut])]
    assert findings == [f'html: {_at(built, "marks.md", 1)}paragraph "Einstein wrote [formula] and then" (part 2 '
                        '"Marks") is missing from the text: after "Einstein wrote", the source has "[formula] and then" but the html has '
                        '"and then [formula] Set $HOME …"']


def test_a_hyphen_that_ends_a_page_leaves_its_folio_a_folio():
    """The rust book's import: a page's last line ended in a hyphenation
    ("How-"); PDFium joins the next line to it, and the next line was the
    page number, which the reader took into the body: "the page that
    prints 'Error Handling' shows no page number". A line-end hyphen ends a
    line for the reader, so the folio keeps its own band."""
    import weasyprint

    from pipeline.check.pdf import _page_text

    html = ("<html><head><style>@page { size: A4; margin: 24mm 48mm 28mm 37mm; @bottom-left { content: counter(page); "
            "vertical-align: top; padding-top: 8mm; font: 9pt sans-serif; } } body { margin: 0; font: 10.5pt serif; "
            "line-height: 10mm; orphans: 1; widows: 1; } div, p { margin: 0; } p { width: 22mm; }</style></head>"
            "<body>" + "<div>line</div>" * 23 + "<p>self-contained</p></body></html>")
    doc = pdfium.PdfDocument(weasyprint.HTML(string=html).write_pdf())
    try:
        page = doc[0]
        textpage = page.get_textpage()
        assert textpage.get_text_range().endswith("self\ufffe1")  # the case this test is about occurs
        textpage.close()
        body, folio = _page_text(page)
        assert folio == "1" and body.endswith("line\r\nself\u2010\r\n")
    finally:
        doc.close()


def test_dollars_that_are_not_maths():
    """Pandoc's tex_math_dollars rules: a $ followed by a space, or a
    closing $ followed by a digit, opens or closes no formula."""
    from pipeline import pandoc

    _, (blocks,) = pandoc.parse_markdown(["Set $HOME and $PATH before you start; it costs $5 or $10.\n"])
    kinds = set()
    pandoc.walk(blocks, lambda el: kinds.add(el["t"]))
    assert "Math" not in kinds
    assert strict(pandoc.text_blocks(blocks)[0]) == strict("Set $HOME and $PATH before you start; it costs $5 or $10.")


# ------------------------------------------------------------------ messages

def test_a_finding_is_one_line_without_data_uris():
    from pipeline.check.extracted import Finding

    image = "data:image/png;base64," + "iVBORw0KGgo" * 300_000
    f = Finding("html", "conformance", f"Nu Html Checker error at line 3: Bad value “{image}” for\nattribute “src”")
    assert str(f) == "html: Nu Html Checker error at line 3: Bad value “data:image/png, 3.3 MB” for attribute “src”"
    quoted = Finding("html", "conformance", 'error (near: <img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAlgAAANR)')
    assert str(quoted) == 'html: error (near: <img src="data:image/png…)'
    assert len(str(Finding("pdf", "text", "word " * 1000))) <= 610


def test_an_image_without_alt_text_is_named_by_its_file_and_line(tmp_path):
    """WeasyPrint (PDF/UA) refuses an image without a text alternative. The
    source gives one first, the file's name, with a warning at the image's
    line (issue 12); should WeasyPrint's message come anyway, it names the
    image's file and the line that shows it, never its data: URI (megabytes
    of base64 on the terminal)."""
    import shutil

    from pipeline import source
    from pipeline.build import build
    from pipeline.render.common import Body, data_uri
    from pipeline.render.pdf import _named_images

    src = tmp_path / "noalt"
    src.mkdir()
    (src / "publication.yaml").write_text(
        "title: No Alt\nauthors:\n  - name: Test Author\nlanguage: en\nedition:\n  version: 1.0.0\n"
        "  date: 2026-01-01\noutline:\n  parts:\n    - title: Images\n      file: images.md\n", "utf-8")
    (src / "images.md").write_text("# Images\n\nText before.\n\nAn inline ![](chart.png) image.\n", "utf-8")
    shutil.copy(Path(__file__).parents[1] / "docs" / "images" / "page-01.png", src / "chart.png")
    said = []
    result = build(src, tmp_path / "dist", formats=("pdf",), warn=said.extend)
    assert result.check.ok
    assert [f"{w.where()}: {w.message}" for w in said] == [
        f"{src / 'images.md'}:5:15: 1 image has no description, so the file name stands in (chart.png)"]
    data = (src / "chart.png").read_bytes()
    message = _named_images(f'Image "{data_uri("chart.png", data)}" has no required alt description',
                            source.load(src), Body(images={"chart.png": data}))
    assert "base64" not in message and len(message) < 1000
    assert f"images.md:5" in message and "chart.png" in message
