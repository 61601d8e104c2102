"""pipeline.render.assemble: pieces laid out apart by WeasyPrint, joined
into one PDF, read back with pikepdf, PDFium and pdftotext, and held
against the same HTML laid out as one document."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from types import SimpleNamespace

import pikepdf
import pypdfium2 as pdfium
import pytest

from pipeline.render.assemble import Piece, assemble

#: A 1x1 PNG: the figure of the second piece.
DOT = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
       "hQGAhKmMIQAAAABJRU5ErkJggg==")

CSS = """
@page { size: A5; margin: 20mm 20mm 25mm; }
h1, h2 { break-before: page; }
body > :first-child { break-before: auto; }
"""
#: The folio, laid out by the one-process document in its margin, by the stamps on the pieces.
FOLIO_CSS = "@page { @bottom-center { content: 'folio ' counter(page); } }"

#: The three pieces: front matter, and two chapters. Links within a piece are
#: written as #id, links to another piece as pipeline-anchor:id. An em space
#: in Alpha, an arrow in Bravo: Bravo's font subset holds the highest glyph
#: id, and Alpha's em space is a glyph with an advance but no outline that
#: only Alpha's subset has (the merged font program must keep its advance).
PIECES = [
    """<h1 id="front">Front matter</h1>
    <p>This report has two chapters; the second is <a href="{b1}">Chapter Bravo</a>.</p>""",
    """<h1 id="a1">Chapter Alpha</h1>
    <p>Alpha opens\u2003here, with a <a href="#a2">link to its section</a> and one
       <a href="{b2}">to Bravo's section</a>.</p>
    <p><img src="{dot}" alt="A single grey dot" width="40" height="40"></p>
    <h2 id="a2">Alpha's section</h2>
    <p>The section of Alpha, back to <a href="#a1">its chapter</a>.</p>""",
    """<h1 id="b1">Chapter Bravo</h1>
    <p>Bravo links back to <a href="{a2}">Alpha's section</a> and to the <a href="{front}">front matter</a>.</p>
    <h2 id="b2">Bravo's section</h2>
    <p>Last words of Bravo \u2192 the end.</p>""",
]
#: Where each piece's anchors are; a link to another piece uses the scheme.
ANCHORS = {"front": 0, "a1": 1, "a2": 1, "b1": 2, "b2": 2}


def _href(piece: int, name: str) -> str:
    return f"#{name}" if ANCHORS[name] == piece else f"pipeline-anchor:{name}"


def _html(body: str, css: str = CSS) -> str:
    return (f'<html lang="en-GB"><head><meta charset="utf-8"><title>Assembled report</title>'
            f'<meta name="author" content="A. Writer"><style>{css}</style></head><body>{body}</body></html>')


def _pdf(html: str, variant: str = "pdf/ua-1", **options) -> bytes:
    import weasyprint

    return weasyprint.HTML(string=html).write_pdf(pdf_tags=True, pdf_variant=variant,
                                                  pdf_identifier=b"0123456789abcdef0123456789abcdef", **options)


def _stamps(first: int, count: int) -> bytes:
    """A stamp file: ``count`` pages whose folios run from ``first``."""
    pages = '<div style="height: 1px; break-after: page"></div>' * (count - 1) + '<div style="height: 1px"></div>'
    css = f"@page {{ size: A5; margin: 20mm 20mm 25mm; }} @page :first {{ counter-set: page {first}; }} {FOLIO_CSS}"
    return _pdf(_html(pages, css))


def _pages(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return len(pdf.pages)


@pytest.fixture(scope="module")
def built():
    bodies = [body.format(dot=DOT, **{name: _href(k, name) for name in ANCHORS}) for k, body in enumerate(PIECES)]
    pdfs = [_pdf(_html(body)) for body in bodies]
    pieces, first = [], 1
    for data in pdfs:
        n = _pages(data)
        pieces.append(Piece(data, _stamps(first, n)))
        first += n
    labels = [(0, "r", 1), (_pages(pdfs[0]), "D", 1)]
    assembled = assemble(pieces, page_labels=labels, identifier=b"assembled-report-0001")
    # the same document laid out by one process, its folios in its own margin
    whole = _pdf(_html("".join(b.replace("pipeline-anchor:", "#") for b in bodies),
                       CSS + FOLIO_CSS))
    return SimpleNamespace(pieces=pieces, labels=labels, pdf=assembled, whole=whole)


# ---------------------------------------------------------------- readers

def _texts(data: bytes) -> list[str]:
    """Each page's text, as pdftotext reads it (or PDFium without it)."""
    if shutil.which("pdftotext"):
        out = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout
        pages = out.decode("utf-8").split("\f")[:-1]
    else:
        doc = pdfium.PdfDocument(data)
        pages = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    return [" ".join(p.split()) for p in pages]


def _bookmarks(data: bytes) -> list[tuple[int, str, int]]:
    doc = pdfium.PdfDocument(data)
    return [(item.level, item.get_title(), item.get_dest().get_index()) for item in doc.get_toc()]


def _name_tree(node) -> dict[bytes, object]:
    found = {}
    names = node.get("/Names")
    if names is not None:
        for i in range(0, len(names), 2):
            found[bytes(names[i])] = names[i + 1]
    for kid in node.get("/Kids") or []:
        found.update(_name_tree(kid))
    return found


def _number_tree(node) -> dict[int, object]:
    found = {}
    nums = node.get("/Nums")
    if nums is not None:
        for i in range(0, len(nums), 2):
            found[int(nums[i])] = nums[i + 1]
    for kid in node.get("/Kids") or []:
        found.update(_number_tree(kid))
    return found


def _links(pdf: pikepdf.Pdf) -> list[tuple[int, int]]:
    """(page index, index of the page it leads to) of every link, in order."""
    index = {page.objgen: i for i, page in enumerate(pdf.pages)}
    dests = _name_tree(pdf.Root.Names.Dests)
    links = []
    for i, page in enumerate(pdf.pages):
        for annot in page.get("/Annots") or []:
            assert annot.Subtype == "/Link"
            assert "/A" not in annot, f"a link on page {i} is still an action: {annot.A!r}"
            dest = annot.Dest
            if isinstance(dest, pikepdf.String):
                dest = dests[bytes(dest)]
            links.append((i, index[dest[0].objgen]))
    return links


def _roles(pdf: pikepdf.Pdf) -> list[str]:
    out = []

    def walk(el):
        if isinstance(el, pikepdf.Dictionary) and el.get("/Type", pikepdf.Name.StructElem) == "/StructElem" \
                and "/S" in el:
            out.append(str(el.S))
            for kid in el.get("/K") if isinstance(el.get("/K"), pikepdf.Array) else [el.get("/K")]:
                walk(kid)

    k = pdf.Root.StructTreeRoot.K
    for el in k if isinstance(k, pikepdf.Array) else [k]:
        walk(el)
    return out


# ---------------------------------------------------------------- the assembled PDF

def test_pages_and_text_are_the_one_process_documents(built):
    assembled, whole = _texts(built.pdf), _texts(built.whole)
    assert len(assembled) == sum(_pages(p.pdf) for p in built.pieces) == 5
    assert assembled == whole
    assert [re.findall(r"folio (\d+)", t) for t in assembled] == [["1"], ["2"], ["3"], ["4"], ["5"]]
    assert assembled[0].startswith("Front matter") and assembled[3].startswith("Chapter Bravo")


def test_bookmarks_nest_and_lead_to_their_pages(built):
    marks = _bookmarks(built.pdf)
    assert marks == [(0, "Front matter", 0), (0, "Chapter Alpha", 1), (1, "Alpha's section", 2),
                     (0, "Chapter Bravo", 3), (1, "Bravo's section", 4)]
    assert marks == _bookmarks(built.whole)


def test_every_link_lands_on_its_anchors_page(built):
    with pikepdf.open(io.BytesIO(built.pdf)) as pdf, pikepdf.open(io.BytesIO(built.whole)) as whole:
        links = _links(pdf)
        # front -> b1; a1 -> a2, a1 -> b2; a2 -> a1; b1 -> a2, b1 -> front
        assert links == [(0, 3), (1, 2), (1, 4), (2, 1), (3, 2), (3, 0)]
        assert links == _links(whole)
        # the named destinations of every piece, each on its page
        dests = _name_tree(pdf.Root.Names.Dests)
        index = {page.objgen: i for i, page in enumerate(pdf.pages)}
        assert {k.decode(): index[v[0].objgen] for k, v in dests.items()} == \
            {"front": 0, "a1": 1, "a2": 2, "b1": 3, "b2": 4}
        # a resolved link reads like one WeasyPrint wrote within a document
        cross = pdf.pages[0].Annots[0]
        assert cross.Dest == "b1" and str(cross.Contents) == "b1"


def test_one_structure_tree_on_the_assembled_pages(built):
    with pikepdf.open(io.BytesIO(built.pdf)) as pdf:
        assert sum(1 for o in pdf.objects if isinstance(o, pikepdf.Dictionary)
                   and o.get("/Type") == "/StructTreeRoot") == 1
        root = pdf.Root.StructTreeRoot
        pages = {page.objgen: i for i, page in enumerate(pdf.pages)}
        (document,) = root.K if isinstance(root.K, pikepdf.Array) else [root.K]
        assert document.S == "/Document" and document.P.objgen == root.objgen
        elements = []

        def walk(el, parent):
            if isinstance(el, pikepdf.Dictionary) and el.get("/Type") == "/StructElem":
                assert el.P.objgen == parent.objgen
                if "/Pg" in el:
                    assert el.Pg.objgen in pages, f"{el.S} is on a page that is not in the page tree"
                elements.append(el)
                for kid in el.K if isinstance(el.K, pikepdf.Array) else [el.K]:
                    walk(kid, el)
            elif isinstance(el, pikepdf.Dictionary) and el.get("/Type") == "/OBJR":
                assert el.Pg.objgen in pages

        for kid in document.K:
            walk(kid, document)
        roles = [str(el.S) for el in elements]
        assert roles.count("/H1") == 3 and roles.count("/H2") == 2 and roles.count("/Link") == 6
        assert "/P" in roles
        (figure,) = [el for el in elements if el.S == "/Figure"]
        assert str(figure.Alt) == "A single grey dot"
        assert _roles(pdf) == _roles(pikepdf.open(io.BytesIO(built.whole)))

        # every page's marked content and every link annotation resolve in the parent tree
        tree = _number_tree(root.ParentTree)
        keys = []
        for i, page in enumerate(pdf.pages):
            keys.append(int(page.StructParents))
            parents = tree[int(page.StructParents)]
            mcids = [int(ops[1].MCID) for ops, op in pikepdf.parse_content_stream(page)
                     if str(op) == "BDC" and isinstance(ops[1], pikepdf.Dictionary) and "/MCID" in ops[1]]
            assert mcids, f"page {i} has no tagged content"
            for mcid in mcids:
                el = parents[mcid]
                assert el.Pg.objgen == page.objgen
                assert mcid in [int(k) for k in (el.K if isinstance(el.K, pikepdf.Array) else [el.K])
                                if isinstance(k, int)]
            for annot in page.get("/Annots") or []:
                keys.append(int(annot.StructParent))
                el = tree[int(annot.StructParent)]
                assert el.S == "/Link"
                assert any(isinstance(k, pikepdf.Dictionary) and k.get("/Type") == "/OBJR"
                           and k.Obj.objgen == annot.objgen for k in el.K)
        assert len(set(keys)) == len(keys)
        assert int(root.ParentTreeNextKey) == max(tree) + 1 > max(keys)


def test_front_matter_catalog_and_page_labels(built):
    with pikepdf.open(io.BytesIO(built.pdf)) as pdf:
        assert str(pdf.Root.Lang) == "en-GB" and pdf.Root.MarkInfo.Marked
        assert "/Metadata" in pdf.Root and pdf.Root.ViewerPreferences.DisplayDocTitle
        assert str(pdf.docinfo.Title) == "Assembled report"
        assert bytes(pdf.trailer.ID[0]) == b"assembled-report-0001"
    path_result = _conformance(built.pdf)
    assert path_result.findings == [] and path_result.counts["pages"] == 5
    doc = pdfium.PdfDocument(built.pdf)
    assert [doc.get_page_label(i) for i in range(len(doc))] == ["i", "1", "2", "3", "4"]


def _conformance(data: bytes):
    import tempfile
    from pathlib import Path

    from pipeline.check.conformance import check_pdf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.pdf"
        path.write_bytes(data)
        return check_pdf(path, SimpleNamespace(title="Assembled report", author_names="A. Writer", language="en-GB"), "pdf")


def test_stamps_are_pagination_artifacts_sharing_one_font(built):
    with pikepdf.open(io.BytesIO(built.pdf)) as pdf:
        fonts = set()
        for i, page in enumerate(pdf.pages):
            stack, stamped = [], False
            names = {str(k) for k, v in page.Resources.XObject.items() if v.get("/Subtype") == "/Form"}
            for operands, op in pikepdf.parse_content_stream(page):
                op = str(op)
                if op in ("BDC", "BMC"):
                    stack.append(operands)
                elif op == "EMC":
                    stack.pop()
                elif op == "Do" and str(operands[0]) in names:
                    assert stack and stack[-1][0] == "/Artifact" and stack[-1][1].Type == "/Pagination"
                    assert all(s[0] == "/Artifact" for s in stack)
                    form = page.Resources.XObject[operands[0]]
                    inner = [str(o) for _, o in pikepdf.parse_content_stream(form)]
                    assert "BDC" not in inner and "BMC" not in inner, "the stamp keeps marked content"
                    fonts |= {f.objgen for _, f in form.Resources.Font.items()}
                    stamped = True
            assert stamped and not stack, f"page {i}"
        # one font per stamp file, shared by its pages: three pieces, three fonts
        assert len(fonts) == 3


def test_the_same_inputs_give_the_same_bytes(built):
    again = assemble(built.pieces, page_labels=built.labels, identifier=b"assembled-report-0001")
    assert again == built.pdf
    plain = assemble(built.pieces)
    assert plain == assemble(built.pieces) != built.pdf
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        assert "/PageLabels" not in pdf.Root  # none given: none kept from the front matter


def test_a_link_to_an_anchor_no_piece_has_fails(built):
    broken = _pdf(_html('<h1 id="c1">Chapter Charlie</h1><p>See <a href="pipeline-anchor:nowhere">it</a>.</p>'))
    with pytest.raises(ValueError, match="nowhere"):
        assemble([*built.pieces[:2], Piece(broken)])
    with pytest.raises(ValueError, match="'a1' is in piece 1 and in piece 2"):
        assemble([built.pieces[0], built.pieces[1], Piece(built.pieces[1].pdf)])
    with pytest.raises(ValueError, match="stamps"):
        assemble([built.pieces[0], Piece(built.pieces[1].pdf, built.pieces[0].stamps)])


def test_archival_variant_keeps_the_front_matters_attachment():
    """PDF/A-3u: the output intent and the source attached to the front
    matter survive, once, and the pieces' identical ICC profiles are kept once."""
    import weasyprint

    files = [weasyprint.Attachment(string="# Source", name="source.md", relationship="Source")]
    front = _pdf(_html("<h1 id='f'>Front</h1><p>Archived.</p>"), "pdf/a-3u", attachments=files)
    chapter = _pdf(_html("<h1 id='c'>Chapter</h1><p>Back to <a href='pipeline-anchor:f'>front</a>.</p>"), "pdf/a-3u")
    data = assemble([Piece(front), Piece(chapter)])
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 2
        assert "/OutputIntents" in pdf.Root and len(pdf.Root.AF) == 1
        assert list(pdf.attachments) == ["source.md"]
        icc = [o for o in pdf.objects if isinstance(o, pikepdf.Stream) and "/N" in o and "/Alternate" not in o
               and o.get("/Subtype") is None and o.get("/Type") is None and o.get("/Filter") is not None
               and b"acsp" in o.read_bytes()[:64]]
        assert len(icc) <= 1
        assert _links(pdf) == [(1, 0)]


def test_pages_look_like_the_one_process_documents_with_one_font_program_per_font(built):
    """The subsets of a font that the pieces embed are merged into one
    program (WeasyPrint keeps glyph ids in its subsets): the pages render
    pixel for pixel as the one-process PDF's, and the file holds as many
    font programs as that one."""
    def programs(data: bytes) -> int:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return len({d.FontFile2.objgen for d in pdf.objects if isinstance(d, pikepdf.Dictionary)
                        and d.get("/Type") == "/FontDescriptor" and "/FontFile2" in d})

    assert programs(built.pdf) == programs(built.whole) >= 2
    assembled, whole = pdfium.PdfDocument(built.pdf), pdfium.PdfDocument(built.whole)
    for i in range(len(whole)):
        assert assembled[i].render(scale=0.5).to_pil().tobytes() == whole[i].render(scale=0.5).to_pil().tobytes(), \
            f"page {i + 1} looks different"


def _width_mismatches(data: bytes) -> list[str]:
    """Glyphs whose width in a font dictionary (/W) is not the advance the
    embedded TrueType program gives them (PDF/UA-1 7.21.5)."""
    from fontTools.ttLib import TTFont

    bad = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        programs = {}
        for font in pdf.objects:
            if not (isinstance(font, pikepdf.Dictionary) and font.get("/Subtype") == "/CIDFontType2"):
                continue
            program = font.FontDescriptor.FontFile2
            if program.objgen not in programs:
                programs[program.objgen] = TTFont(io.BytesIO(program.read_bytes()))
            tt = programs[program.objgen]
            order, metrics, upem = tt.getGlyphOrder(), tt["hmtx"].metrics, tt["head"].unitsPerEm
            w, i = list(font.get("/W", [])), 0
            while i < len(w):
                if isinstance(w[i + 1], pikepdf.Array):
                    pairs = [(int(w[i]) + j, float(x)) for j, x in enumerate(w[i + 1])]
                    i += 2
                else:
                    pairs = [(c, float(w[i + 2])) for c in range(int(w[i]), int(w[i + 1]) + 1)]
                    i += 3
                for cid, width in pairs:
                    advance = metrics[order[cid]][0] * 1000 / upem if cid < len(order) else None
                    if advance is None or abs(advance - width) > 1:
                        bad.append(f"{font.BaseFont} glyph {cid}: /W {width}, program {advance}")
    return bad


def test_font_widths_agree_with_the_merged_programs(built):
    assert _width_mismatches(built.whole) == []
    assert _width_mismatches(built.pdf) == []


def test_anchor_names_outside_ascii():
    """WeasyPrint percent-encodes a URI (pipeline-anchor:gr%C3%B6%C3%9Fe%201)
    and writes a name outside ASCII as UTF-16: the link names the
    destination with the tree's own bytes."""
    front = _pdf(_html('<h1 id="über">Über</h1><p><a href="pipeline-anchor:größe 1">Größe</a></p>'))
    chapter = _pdf(_html('<h1 id="größe 1">Größe</h1><p>Zurück <a href="pipeline-anchor:über">nach oben</a></p>'))
    with pikepdf.open(io.BytesIO(assemble([Piece(front), Piece(chapter)]))) as pdf:
        assert _links(pdf) == [(0, 1), (1, 0)]
        assert str(pdf.pages[0].Annots[0].Contents) == "größe 1"


def test_font_subsets_that_disagree_about_a_glyph_id_stay_apart():
    """WeasyPrint renumbers the parts of a composite glyph that lie past the
    highest glyph id a piece uses: "й" is и and a breve at 3313 in DejaVu
    Serif, so the breve sits at 3313 in a piece that also prints "ﬁ"
    (3315), and right after "й" in one that prints nothing past it. Those
    two subsets cannot be one program; the front matter's joins the first."""
    bodies = ["<h1>Front</h1><p>Front matter \u2192 on.</p>",
              "<h1>Alpha</h1><p>Текст с буквой й.</p>",
              "<h1>Bravo</h1><p>Буква й и \ufb01.</p>"]
    pieces = [Piece(_pdf(_html(body))) for body in bodies]
    whole = _pdf(_html("".join(bodies)))
    data = assemble(pieces)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        programs = {d.FontFile2.objgen for d in pdf.objects if isinstance(d, pikepdf.Dictionary)
                    and d.get("/Type") == "/FontDescriptor" and str(d.FontName).endswith("+DejaVu-Serif")}
        assert len(programs) == 2
    assembled, one = pdfium.PdfDocument(data), pdfium.PdfDocument(whole)
    assert len(assembled) == len(one) == 3
    for i in range(3):
        assert assembled[i].render(scale=0.5).to_pil().tobytes() == one[i].render(scale=0.5).to_pil().tobytes(), \
            f"page {i + 1} looks different"
    assert _width_mismatches(data) == []


def test_role_maps_merge_and_kids_keep_their_language(built):
    """A piece's RoleMap and ClassMap join the front matter's (WeasyPrint 70
    writes none: they are added here as another producer would), and the
    kids of a piece in another language than the front matter's say so."""
    def edited(data: bytes, role_map: dict, lang: str | None = None) -> bytes:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            pdf.Root.StructTreeRoot.RoleMap = pikepdf.Dictionary(role_map)
            pdf.Root.StructTreeRoot.ClassMap = pikepdf.Dictionary({"/" + k[1:].lower(): pikepdf.Dictionary()
                                                                   for k in role_map})
            if lang:
                pdf.Root.Lang = pikepdf.String(lang)
            buf = io.BytesIO()
            pdf.save(buf)
            return buf.getvalue()

    front = edited(built.pieces[0].pdf, {"/Chapter": pikepdf.Name.Sect})
    chapter = edited(built.pieces[1].pdf, {"/Aside": pikepdf.Name.Note, "/Chapter": pikepdf.Name.Div}, "de")
    def kids(data: bytes) -> int:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return len(pdf.Root.StructTreeRoot.K[0].K)

    counts = [kids(front), kids(chapter), kids(built.pieces[2].pdf)]
    with pikepdf.open(io.BytesIO(assemble([Piece(front), Piece(chapter), built.pieces[2]]))) as pdf:
        root = pdf.Root.StructTreeRoot
        assert dict(root.RoleMap) == {"/Aside": pikepdf.Name.Note, "/Chapter": pikepdf.Name.Sect}  # the first wins
        assert set(root.ClassMap.keys()) == {"/aside", "/chapter"}
        langs = [str(k.get("/Lang", "")) for k in root.K[0].K]
        assert langs == [""] * counts[0] + ["de"] * counts[1] + [""] * counts[2]
        assert str(pdf.Root.Lang) == "en-GB"
