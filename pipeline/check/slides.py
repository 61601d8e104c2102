"""Read the slide deck back (pipeline/render/slides.py) and hold it against
the source.

``read(path)`` takes from the PDF alone: its bookmarks, each slide's text
(its footer left out), the speaker notes of each slide (its hidden text
annotations), and what no reader can see or read well:

- text that runs off a slide: any character, footer aside, outside the
  slide's safe box (the content box's sides, 5 mm under the paper's top
  edge, the top of the footer band at the bottom), as an unbreakable
  block too tall for a slide leaves it;
- text set smaller than the deck's minimum (``MIN_TYPE_PT``): a slide's
  text is never shrunk to fit.

``compare(pub, extracted)`` then needs the source:

- the agenda slides: one before the first part and one before each part,
  each listing the parts in order, the one before part N marking it;
- the section slides: one per part, in order, each right after its agenda;
- the bookmarks equal the outline (the deck shows every heading: down to
  ``slides.SLIDE_LEVELS`` as a slide's title, deeper ones as subheads),
  and each leads to a slide that prints its heading;
- every sentence of the source meant for the slides (``render.audience``)
  is on a slide, in order; every speaker note is on its slide's notes.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pipeline.check.extracted import Extracted, Finding, Page, short, spaced, strict
from pipeline.model import Publication
from pipeline.render import slides as deck

FORMAT = "slides"
MM = 72 / 25.4
#: How far a glyph's box may stand past the safe box (a hanging
#: punctuation mark, an italic's overhang).
SLACK = 1.5 * MM
#: The top of the safe box: the paper's top edge less this.
TOP_SAFE = 5 * MM
#: The footer (slides.css: 11 pt) is set in the bottom margin; text there
#: as large as this or larger is a slide's content that ran into it.
FOOTER_MAX_PT = 14
#: A footnote call or other superscript is at most this many characters.
SUPERSCRIPT_MAX = 4


@dataclass
class Slide:
    """What ``read`` found on one page, beyond its text."""

    index: int
    overruns: list[tuple[str, float]] = field(default_factory=list)  # (text, mm past the safe box)
    small: list[tuple[str, float]] = field(default_factory=list)  # (text, size in pt) under MIN_TYPE_PT
    notes: str = ""


def read(path: Path) -> Extracted:
    from pipeline.check.pdf import _read_bookmarks

    out = Extracted(FORMAT)
    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        out.problems.append(Finding(FORMAT, "structure", f"the file cannot be opened as a PDF: {exc}"))
        return out
    found: list[Slide] = []
    try:
        _read_bookmarks(doc, out)
        for i in range(len(doc)):
            page = doc[i]
            try:
                text, folio, slide = _page(page, i)
            finally:
                page.close()
            out.pages.append(Page(i, folio, text))
            found.append(slide)
    finally:
        doc.close()
    _notes(path, found)
    out.text = [p.text for p in out.pages]
    for s in found:
        if s.overruns:
            text, past = max(s.overruns, key=lambda x: x[1])
            more = len(s.overruns) - 1
            out.problems.append(Finding(FORMAT, "layout", f"slide {s.index + 1}: text runs off the slide: "
                                        f"\"{short(text, 40)}\" stands {past:.1f} mm outside its content box"
                                        + (f"; {more} more line{'s' if more > 1 else ''}" if more else "")
                                        + "; hint: break the block (a table, a code block, an image) into smaller ones, "
                                          "or start a new slide with a horizontal rule (---)"))
        if s.small:
            text, size = min(s.small, key=lambda x: x[1])
            out.problems.append(Finding(FORMAT, "layout", f"slide {s.index + 1}: \"{short(text, 40)}\" is set at "
                                        f"{size:.1f} pt, below the deck's minimum of {deck.MIN_TYPE_PT} pt"))
    out.info = {"slides": len(out.pages), "notes": {str(s.index + 1): s.notes for s in found if s.notes}}
    return out


def _page(page, index: int) -> tuple[str, str, Slide]:
    """The slide's text (its footer left out), its footer's text, and what
    runs off it or is set too small."""
    slide = Slide(index)
    width, height = page.get_width(), page.get_height()
    left, right = deck.MARGIN_X_MM * MM - SLACK, width - deck.MARGIN_X_MM * MM + SLACK
    bottom, top = deck.MARGIN_BOTTOM_MM * MM - SLACK, height - TOP_SAFE
    textpage = page.get_textpage()
    try:
        n = textpage.count_chars()
        text = textpage.get_text_range(0, n) if n > 0 else ""
        if len(text) != n:  # characters outside the BMP: PDFium counts them twice
            at, k = [], 0
            for ch in text:
                at.append(k)
                k += 2 if ord(ch) > 0xFFFF else 1
        else:
            at = list(range(n))
        raw = textpage.raw
        matrix = pdfium_c.FS_MATRIX()
        x, y = ctypes.c_double(), ctypes.c_double()
        body, footer = [], []
        lines: dict[int, float] = {}  # line number -> how far past the safe box, in mm
        small: dict[int, float] = {}  # line number -> the smallest size on it, in pt
        line = 0
        last = "body"  # where the last printed character went: a space goes along
        base = None  # (size, baseline) of the last character set on the baseline
        run: list[str] = []  # raised characters after it: a superscript, or a label beside larger type

        def end_run() -> None:
            """A superscript (a footnote call among them) is left out, as in
            every format: a run of at most SUPERSCRIPT_MAX characters set
            smaller than the one before them and raised by a fraction of its
            size. A longer run is text beside larger type (the agenda's
            labels and titles beside its numbers)."""
            printed = sum(not c.isspace() for c in run)
            body.extend(c for c in run if printed > SUPERSCRIPT_MAX or c.isspace())
            run.clear()

        for j, ch in enumerate(text):
            if ch in "\r\n":
                if run:
                    end_run()
                if ch == "\n":
                    line += 1
                body.append(ch)
                continue
            if ch.isspace():
                (run if run else footer if last == "footer" else body).append(ch)
                continue
            size = pdfium_c.FPDFText_GetFontSize(raw, at[j])
            if size == 0:  # no font: a character PDFium made up
                (run if run else body).append(ch)
                continue
            pdfium_c.FPDFText_GetMatrix(raw, at[j], matrix)
            size *= abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5  # the size as printed, in pt
            l, b, r, t = textpage.get_charbox(at[j])
            if 0 <= b < bottom and size < FOOTER_MAX_PT:  # the footer: the running title and slide number
                footer.append(ch)
                last = "footer"
                continue
            last = "body"
            past = max(left - l, r - right, bottom - b, t - top, 0)
            if past > 0:
                lines[line] = max(lines.get(line, 0.0), past / MM)
            if size < deck.MIN_TYPE_PT - 0.25:
                small[line] = min(small.get(line, size), size)
            pdfium_c.FPDFText_GetCharOrigin(raw, at[j], x, y)
            if base is not None and size < 0.95 * base[0] and base[1] + 0.15 * base[0] < y.value < base[1] + 0.8 * base[0]:
                run.append(ch)
                continue
            if run:
                end_run()
            base = (size, y.value)
            body.append(ch)
        if run:
            end_run()
        # each line's whole text, for the message
        line_texts = "".join(text).replace("\r\n", "\n").split("\n")
        slide.overruns = [(spaced(line_texts[k]) if k < len(line_texts) else "", past)
                          for k, past in sorted(lines.items())]
        slide.small = [(spaced(line_texts[k]) if k < len(line_texts) else "", size)
                       for k, size in sorted(small.items())]
        return "".join(body), spaced("".join(footer)), slide
    finally:
        textpage.close()


def _notes(path: Path, slides: list[Slide]) -> None:
    """Each slide's speaker notes: the contents of its text annotations."""
    import pikepdf

    try:
        pdf = pikepdf.open(path)
    except pikepdf.PdfError:
        return
    with pdf:
        for i, page in enumerate(pdf.pages):
            if i >= len(slides):
                break
            notes = []
            for annot in page.obj.get("/Annots", []) or []:
                if annot.get("/Subtype") == "/Text" and "/Contents" in annot:
                    notes.append(str(annot.Contents))
            slides[i].notes = "\n\n".join(notes)


# ------------------------------------------------------------------ source

@dataclass
class Part:
    number: str
    label: str
    title: str
    display: str
    location: str = ""


def expected(pub: Publication):
    """What the deck must show of ``pub``: the outline, the text meant for
    the slides (``render.audience``: no ``no-slides`` content, speaker notes
    apart) and, as ``speaker_notes``, the text of each ``::: notes``."""
    from pipeline import pandoc
    from pipeline.check.compare import Expected
    from pipeline.render.audience import NOTES, for_slides, without_notes

    exp = Expected.from_publication(pub, audience=lambda blocks: without_notes(for_slides(blocks)))
    notes: list[str] = []

    def walk(node) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            if node.get("t") == "Div" and NOTES in node["c"][0][1]:
                notes.append(" ".join(pandoc.text_blocks(node["c"][1])))
                return
            for v in node.values():
                walk(v)

    for c in pub.chapters:
        walk(for_slides(c.blocks))
    exp.speaker_notes = notes
    return exp


def _parts(exp) -> list[Part]:
    from pipeline.errors import shown_path

    parts = []
    for e in exp.outline:
        if e.level == 1 and exp.kinds.get(e.id) == "part":
            where = f"{shown_path(e.location.file)}:{e.location.line}" if e.location and e.location.line else ""
            parts.append(Part(e.number, e.label, e.title, e.display, where))
    return parts


def compare(exp, ex: Extracted) -> list[Finding]:
    """``ex`` (``read``) against ``exp`` (``expected``)."""
    from pipeline.check import compare as comparison
    from pipeline.check import pdf as pdf_reader

    out = _parts_in_order(exp, ex)
    out += comparison.compare_outline(FORMAT, "bookmark", exp, ex.outline)
    drawn = {e.display: exp.printed(e) for e in exp.outline}
    out += [Finding(FORMAT, f.kind, f.message) for f in pdf_reader.bookmark_pages(ex, lambda d: drawn.get(d, d))]
    out += comparison.compare_text(FORMAT, exp, ex.text)  # formulas drawn: Format.drawn_text
    out += _speaker_notes(exp, ex)
    return out


def _parts_in_order(exp, ex: Extracted) -> list[Finding]:
    """The agenda and section slides against the source's parts."""
    parts = _parts(exp)
    if not parts:
        return []
    out: list[Finding] = []

    def add(message: str) -> None:
        out.append(Finding(FORMAT, "outline", message))

    def name(p: Part) -> str:
        return f"part {p.number} \"{short(p.title)}\"" + (f" ({p.location})" if p.location else "")

    texts = [strict(p.text) for p in ex.pages]
    # a section slide prints its part's label, number and title, and nothing else
    sections = {i: k for i, t in enumerate(texts) for k, p in enumerate(parts)
                if t == strict(p.label + p.display)}
    # an agenda slide lists the parts: the label (else the number) and title of most of them
    rows = [strict((p.label or p.number) + p.title) for p in parts]
    agendas = [i for i, t in enumerate(texts) if i not in sections
               and sum(r in t for r in rows) >= min(2, len(parts))]
    mark = strict(deck.CURRENT)

    # the section slides: one per part, in order
    order = [sections[i] for i in sorted(sections)]
    for k, p in enumerate(parts):
        if k not in order:
            before = next((parts[j] for j in range(k - 1, -1, -1) if j in order), None)
            add(f"the section slide of {name(p)} is missing" + (f"; expected after that of part {before.number}"
                                                              if before else ""))
    for a, b in zip(order, order[1:]):
        if b < a:
            add(f"the section slide of {name(parts[b])} comes after that of part {parts[a].number}; "
                f"the source has part {parts[b].number} first")
            break
    if len(order) != len(set(order)):
        dup = next(k for k in order if order.count(k) > 1)
        add(f"the section slide of {name(parts[dup])} appears {order.count(dup)} times")

    # the agenda slides: the parts in order on each, the right one marked
    if not agendas:
        add("the deck has no agenda slide listing the parts")
        return out
    for i in agendas:
        t, at = texts[i], 0
        for k, p in enumerate(parts):
            key = strict(p.title)
            found = t.find(key, at)
            if found < 0:
                where = "is missing from" if key not in t else "is out of order on"
                add(f"{name(p)} {where} the agenda on slide {i + 1}")
                break
            at = found + len(key)
    if len(agendas) != len(parts) + 1:
        add(f"the deck has {len(agendas)} agenda slide{'s' if len(agendas) != 1 else ''}; "
            f"expected {len(parts) + 1}: one before the first part and one before each of the {len(parts)} parts")
    for i, k in sorted(sections.items()):
        p = parts[k]
        if i - 1 not in agendas:
            add(f"the section slide of {name(p)} (slide {i + 1}) is not preceded by the agenda")
            continue
        if texts[i - 1].find(mark + strict(p.label or p.number)) < 0:
            add(f"the agenda before {name(p)} (slide {i}) does not mark that part")
    return out


def _speaker_notes(exp, ex: Extracted) -> list[Finding]:
    """Every ``::: notes`` of the source among the deck's notes, in order."""
    have = strict("".join(ex.info.get("notes", {}).get(str(i + 1), "") for i in range(len(ex.pages))))
    out, at = [], 0
    for note in getattr(exp, "speaker_notes", []):
        key = strict(note)
        found = have.find(key, at)
        if found < 0:
            out.append(Finding(FORMAT, "text", f"speaker notes \"{short(note, 40)}\" are missing from the slides' notes"))
            continue
        at = found + len(key)
    return out


def check(pub: Publication, path: Path) -> tuple[Extracted, list[Finding]]:
    """Read the deck at ``path`` and hold it against ``pub``: what was read,
    and every finding (reading, the source, and the PDF's conformance)."""
    from pipeline.check import conformance

    ex = read(path)
    findings = ex.problems + (compare(expected(pub), ex) if ex.pages else [])
    if path.is_file():
        findings += conformance.check_pdf(path, pub.meta, FORMAT).findings
    return ex, findings
