"""Issue 8: the PDF is set like a report — measured lines, running heads
and folios where they belong, parts on right-hand pages, and a design that
a publication can restyle through its tokens."""

from __future__ import annotations

import re
import shutil
import statistics

import pypdfium2 as pdfium

from conftest import FIXTURE
from readback import normalise

MM = 72 / 25.4


def _regions(path):
    """For every page: (running-head text, body text, folio text)."""
    pdf = pdfium.PdfDocument(str(path))
    out = []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            w, h = page.get_size()
            tp = page.get_textpage()
            out.append((tp.get_text_bounded(0, h - 22 * MM, w, h).strip(),
                        tp.get_text_bounded(0, 26 * MM, w, h - 22 * MM).strip(),
                        tp.get_text_bounded(0, 0, w, 26 * MM).strip()))
    finally:
        pdf.close()
    return out


def test_lines_hold_60_to_75_characters(flagship_build):
    """A measure chosen on purpose: the full lines of the running text."""
    pages = _regions(flagship_build.files["pdf"])
    lengths = []
    for head, body, folio in pages:
        lines = body.replace("\r", "").split("\n")
        # full lines of paragraphs: the next line continues the paragraph
        for line, following in zip(lines, lines[1:]):
            if len(line) > 45 and following[:1].islower():
                lengths.append(len(line))
    assert len(lengths) > 40
    assert 60 <= statistics.median(lengths) <= 75, statistics.median(lengths)


def test_running_heads_folios_and_right_hand_parts(flagship_build):
    pub = flagship_build.publication
    pages = _regions(flagship_build.files["pdf"])
    head, body, folio = pages[0]
    assert head == "" and not re.search(r"(^|\n)\s*([0-9]+|[ivx]+)\s*$", folio), "the cover carries no furniture"
    for head, body, folio in pages:
        if not body:  # a blank page before a right-hand start stays blank
            assert head == "" and folio == ""
    parts = [e for e in pub.outline if e.level == 1 and e.number]
    starts = {}
    for index, (head, body, folio) in enumerate(pages):
        for e in parts:
            if normalise(body).startswith(normalise(e.label + " " + e.number + " " + e.title)[:40]):
                starts[e.number] = index
                assert head == "", f"no running head on the first page of part {e.number}"
                assert index % 2 == 0, f"part {e.number} starts on a right-hand page"
    assert sorted(starts) == [e.number for e in parts]
    # a left page carries the publication's title
    left_heads = [h for i, (h, b, f) in enumerate(pages) if i % 2 == 1 and b and i > starts["1"]]
    running_title = normalise(pub.meta.short_title or pub.meta.title)
    assert left_heads and all(normalise(h) == running_title for h in left_heads)
    # folios: roman in the front matter, arabic from part 1, which is page 1
    folios = [f for h, b, f in pages]
    assert re.fullmatch(r"[ivx]+", folios[starts["1"] - 2] or folios[starts["1"] - 3])
    assert folios[starts["1"]] == "1"


def test_a_right_hand_page_that_continues_a_part_carries_its_title(tmp_path):
    from pipeline.build import build

    src = tmp_path / "long"
    shutil.copytree(FIXTURE, src)
    with open(src / "method.md", "a") as f:
        for n in range(40):
            f.write(f"\nParagraph {n} of a long method section, written out so that the part runs over "
                    "several pages and its running head can be seen on a right-hand page.\n")
    result = build(src, tmp_path / "dist", formats=("pdf",), check=False)
    pages = _regions(result.files["pdf"])
    opening = next(i for i, (h, b, f) in enumerate(pages) if "How the survey was made" in b)
    right = [i for i in range(opening + 1, len(pages)) if i % 2 == 0 and "Paragraph" in pages[i][1]]
    assert right, "the long part reaches a right-hand page"
    assert normalise(pages[right[0]][0]) == "1 How the survey was made"


def test_tokens_restyle_a_publication(tmp_path):
    """A publication overrides a design token in its YAML; every format follows."""
    from pipeline.build import build

    src = tmp_path / "restyled"
    shutil.copytree(FIXTURE, src)
    with open(src / "publication.yaml", "a") as f:
        f.write("style:\n  accent: '#b01c1c'\n")
    result = build(src, tmp_path / "dist", check=False)
    assert "--accent: #b01c1c" in result.files["html"].read_text("utf-8")
    pdf = pdfium.PdfDocument(str(result.files["pdf"]))
    try:
        # the first part's opening page: its number is set in the accent colour
        index = next(i for i in range(len(pdf)) if "How the survey was made" in pdf[i].get_textpage().get_text_range())
        image = pdf[index].render(scale=1).to_pil().convert("RGB")
    finally:
        pdf.close()
    colours = image.getcolors(1 << 20)
    assert any(abs(r - 0xB0) < 12 and abs(g - 0x1C) < 12 and abs(b - 0x1C) < 12 and n > 20 for n, (r, g, b) in colours)
    assert not any(abs(r - 0x14) < 6 and abs(g - 0x50) < 6 and abs(b - 0x7A) < 6 and n > 20 for n, (r, g, b) in colours)
