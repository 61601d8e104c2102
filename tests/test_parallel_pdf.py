"""Issue 14, part 1: the PDF laid out in several processes and assembled
(pipeline/render/parallel.py) against the same source laid out as one
WeasyPrint document (``jobs=1``, today's path).

One small generated book (bench/bench.py: three parts, the second without
a label, a front chapter, a back chapter, footnotes in every part, tables,
a figure, links from one part into another, blank versos before parts) is built three times for the
whole module: once in one process, twice in two. The tests read the files
back with the formats' own libraries (pypdfium2, pikepdf), not with the
pipeline's readers, except for the build's own check, which must pass.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pikepdf
import pytest
import yaml

from conftest import ROOT
from readback import normalise, pdf_bookmarks, pdf_pages

sys.path.insert(0, str(ROOT / "bench"))
import bench  # noqa: E402

from pipeline.build import build  # noqa: E402


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    where = tmp_path_factory.mktemp("parallel")
    source = where / "book"
    facts = bench.generate(30, source)
    assert facts["parts"] == 3
    # the second part without its label, as most books (the Rust book): its heading then starts the
    # page, with no top margin of its own to hide the body's (test_every_line_stands_at_the_same_height)
    meta = yaml.safe_load((source / "publication.yaml").read_text("utf-8"))
    del meta["outline"]["parts"][1]["label"]
    (source / "publication.yaml").write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True), "utf-8")
    # a hyphen in the front matter: one document then reads the hyphen glyph as "-" everywhere,
    # hyphenation's U+2010 too (its first text), where the later pieces drew U+2010 first
    preface = (source / "preface.md").read_text("utf-8").split("\n", 2)
    (source / "preface.md").write_text("\n".join([*preface[:2], "A well-known opening line.", "", preface[2]]),
                                       "utf-8")
    one = build(source, where / "one", formats=("pdf",), check=False, jobs=1)
    two = build(source, where / "two", formats=("pdf",), check=True, jobs=2)
    again = build(source, where / "again", formats=("pdf",), check=False, jobs=2)
    return one, two, again


def _pdf(result) -> Path:
    return result.files["pdf"]


def test_the_parts_were_laid_out_in_more_than_one_process(builds):
    one, two, _ = builds
    pieces = [e for e in two.events if e.step.startswith("pdf main ")]
    assert len(pieces) >= 2
    assert len({e.pid for e in pieces}) >= 2, pieces
    branch = next(e for e in two.events if e.step == "pdf")
    assert all(e.pid != branch.pid for e in pieces)  # workers of the PDF branch, not the branch itself
    assert not any(e.step.startswith("pdf main ") for e in one.events)  # jobs=1: one document


def test_every_page_has_the_same_text_and_folio(builds):
    one, two, _ = builds
    a, b = pdf_pages(_pdf(one)), pdf_pages(_pdf(two))
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert normalise(x) == normalise(y), f"page {i + 1}"
    # the folios, the running heads and the blank versos, each where it was
    from pipeline.check import pdf as reader

    pa, pb = reader.read(_pdf(one)), reader.read(_pdf(two))
    assert [p.folio for p in pa.pages] == [p.folio for p in pb.pages]
    folios = [p.folio for p in pa.pages]
    assert "iii" in folios and "1" in folios
    arabic = [(i, int(f)) for i, f in enumerate(folios) if f.isdigit()]
    assert all(n - 1 == i - arabic[0][0] for i, n in arabic)  # continuous from 1 across the pieces
    blank = [i for i, t in enumerate(a) if not normalise(t)]
    assert any(i > folios.index("1") for i in blank), "the book should have a blank verso in its main matter"
    assert [p.folio for p in pa.pages if not normalise(a[p.index])] == [""] * len(blank)


def _lines(path: Path) -> list[list[tuple[float, str]]]:
    """Each page's lines: (the top of its first character, rounded to 0.1 pt; its text)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        pages = []
        for i in range(len(pdf)):
            text = pdf[i].get_textpage()
            lines: dict[float, str] = {}
            for k in range(text.count_chars()):
                char = text.get_text_range(k, 1)
                if char.strip():
                    top = round(text.get_charbox(k)[3], 1)
                    lines[top] = lines.get(top, "") + char
            pages.append(sorted(lines.items(), reverse=True))
        return pages
    finally:
        pdf.close()


def test_every_line_stands_at_the_same_height(builds):
    """Not only the same text on each page: the same lines at the same
    heights. A piece is its own document, and its first page is a
    document's first page, where WeasyPrint keeps the body's top margin
    (the user agent's 8px) that the whole report's body has left behind on
    the cover: the piece's first page stood 6 pt lower, which on a full
    page (the Rust book's part 12) pushed its last lines to the next one.
    And the same text to the character: the hyphen glyph reads as in one
    document (assemble's _glyph_texts_as_in_one_document)."""
    one, two, _ = builds
    a, b = _lines(_pdf(one)), _lines(_pdf(two))
    assert len(a) == len(b) and sum(map(len, a)) > 500
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"page {i + 1}"


def test_the_contents_print_the_same_page_numbers(builds):
    one, two, _ = builds
    from pipeline.check import pdf as reader

    ca, cb = reader.read(_pdf(one)).contents, reader.read(_pdf(two)).contents
    assert len(ca) > 10
    assert [(c.text, c.printed_page) for c in ca] == [(c.text, c.printed_page) for c in cb]
    assert all(c.printed_page for c in cb)


def test_bookmarks_lead_to_the_same_pages(builds):
    one, two, _ = builds
    a = pdf_bookmarks(_pdf(one))
    assert len(a) > 20
    assert pdf_bookmarks(_pdf(two)) == a


def _links(path: Path) -> list[tuple[int, tuple, str]]:
    """(page, rectangle, where it leads: 'page N' or the URI) of every link."""
    with pikepdf.open(path) as pdf:
        pages = {p.obj.objgen: i for i, p in enumerate(pdf.pages)}
        names = {}
        if "/Names" in pdf.Root and "/Dests" in pdf.Root.Names:
            for name, dest in pikepdf.NameTree(pdf.Root.Names.Dests).items():
                names[str(name)] = dest
        if "/Dests" in pdf.Root:
            for name, dest in pdf.Root.Dests.items():
                names[str(name).lstrip("/")] = dest

        def target(dest) -> str:
            if isinstance(dest, (pikepdf.String, pikepdf.Name)):
                dest = names[str(dest).lstrip("/") if isinstance(dest, pikepdf.Name) else str(dest)]
            if isinstance(dest, pikepdf.Dictionary):
                dest = dest.D
            return f"page {pages[dest[0].objgen]}"

        out = []
        for i, page in enumerate(pdf.pages):
            for annot in page.obj.get("/Annots", []):
                if annot.get("/Subtype") != "/Link":
                    continue
                rect = tuple(round(float(v), 1) for v in annot.Rect)
                if "/Dest" in annot:
                    out.append((i, rect, target(annot.Dest)))
                elif annot.A.S == "/GoTo":
                    out.append((i, rect, target(annot.A.D)))
                else:
                    out.append((i, rect, str(annot.A.URI)))
        return out


def test_every_link_leads_to_the_same_place(builds):
    one, two, _ = builds
    a, b = _links(_pdf(one)), _links(_pdf(two))
    assert len(a) > 20
    assert b == a
    assert not any("pipeline-anchor" in t for _, _, t in b)
    # links from one part into another are among them
    assert sum(1 for page, _, t in a if t.startswith("page ") and abs(int(t[5:]) - page) > 8) > 0


def _roles(path: Path) -> list[str]:
    with pikepdf.open(path) as pdf:
        roles: list[str] = []

        def walk(node) -> None:
            if isinstance(node, pikepdf.Array):
                for kid in node:
                    walk(kid)
            elif isinstance(node, pikepdf.Dictionary) and "/S" in node:
                roles.append(str(node.S))
                if "/K" in node:
                    walk(node.K)

        walk(pdf.Root.StructTreeRoot.K)
        return roles


def test_one_structure_tree_with_the_same_roles(builds):
    one, two, _ = builds
    a = _roles(_pdf(one))
    assert len(a) > 100
    assert _roles(_pdf(two)) == a
    with pikepdf.open(_pdf(two)) as pdf:
        assert pdf.Root.MarkInfo.Marked
        assert str(pdf.Root.Lang) == "en"


def test_the_check_passes_on_the_assembled_pdf(builds):
    _, two, _ = builds
    assert two.check is not None and two.check.ok, two.check.findings()


def test_two_parallel_builds_are_byte_identical(builds):
    _, two, again = builds
    assert _pdf(two).read_bytes() == _pdf(again).read_bytes()


def test_which_pdfs_are_laid_out_in_parallel(builds):
    """One job, and the archival PDF/A (one document with its attachments),
    take the one-process path."""
    from pipeline.render import parallel

    pub = builds[0].publication
    assert parallel.applies(pub, "pdf/ua-1", (), 2)
    assert not parallel.applies(pub, "pdf/ua-1", (), 1)
    assert not parallel.applies(pub, "pdf/a-3u", (), 2)
    assert not parallel.applies(pub, "pdf/ua-1", [("source.md", b"x")], 2)


def test_folios_past_the_guessed_length_are_stamped_too(builds, tmp_path, monkeypatch):
    """The folio stamps are laid out beside the pieces up to a guess at the
    main matter's length; a book longer than the guess gets the rest with
    the front matter, the same folios on the same pages."""
    from pipeline.check import pdf as reader
    from pipeline.render import parallel

    one = builds[0]
    monkeypatch.setattr(parallel, "TEXT_PER_PAGE", 10 ** 9)  # a guess of a few pages
    short = build(one.publication.root, tmp_path / "short", formats=("pdf",), check=False, jobs=2)
    a, b = reader.read(_pdf(one)), reader.read(_pdf(short))
    guessed = [int(m.group(1)) for e in short.events if (m := re.fullmatch(r"pdf stamps \d+-(\d+)", e.step))]
    assert guessed and max(guessed) < max(int(p.folio) for p in a.pages if p.folio.isdigit())
    assert [(p.folio, normalise(p.text)) for p in a.pages] == [(p.folio, normalise(p.text)) for p in b.pages]


def test_a_short_book_is_one_document_unless_jobs_are_asked_for(fixture_build):
    """Without ``jobs``, a main matter guessed shorter than
    ``AUTOMATIC_FROM_PAGES`` is laid out as one document (the pool's fixed
    costs would eat the gain): no pieces among the build's events."""
    from pipeline.render import parallel

    assert parallel.applies(fixture_build.publication, "pdf/ua-1", (), 2)  # two parts or more
    assert not any(e.step.startswith("pdf ") for e in fixture_build.events)
