"""Read the PDF back with PDFium: the bookmark tree, the body text of every
page, the folio printed on every page and the printed contents.

Page geometry: the running heads are set in the top margin and the folios in
the bottom margin (templates/css/page.css: 24 mm and 28 mm). Text whose
middle lies in one of those margins is kept apart from the body text, so
that neither pollutes the comparison with the source.

Text the reader cannot see is a finding like text that is missing: body
text that stands in a side margin (past the text block of page.css: 37 mm
inside, 48 mm outside) and any text drawn past the paper's edge, where it
is cut off. A PDF keeps clipped text in the file, so reading the text alone
would not notice.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import re
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pipeline.check.extracted import ContentsLine, Entry, Extracted, Finding, Page, short, spaced, split_number, strict

MM = 72 / 25.4
TOP_MARGIN = 24 * MM
BOTTOM_MARGIN = 28 * MM
#: The side margins of the text block (page.css): a right-hand page (the
#: first page and every other one after it) has the inner margin on its left.
INNER_MARGIN = 37 * MM
OUTER_MARGIN = 48 * MM
#: How far a glyph's box may stand past the text block's edge (an italic's
#: overhang, a hanging full stop) before it counts as being in the margin.
SLACK = 1.5 * MM

#: A line of the printed contents ends with a dotted leader and a page
#: number (arabic or lower-roman).
_LEADER = re.compile(r"^(?P<text>.*?)[\s\u00a0]*(?:\.[\s\u00a0]*){3,}(?P<page>[0-9]+|[ivxlcdm]+)[\s\u00a0]*$", re.I)


#: A printed line of a page's text (PDFium separates them with CR LF). A
#: hyphen at a line end (U+FFFE or U+0002) joins the next line to it with no
#: line break: it ends a line too, so that the next one gets its own band
#: (the last line of a page ending in a hyphen would take the folio below it
#: into the body).
_LINE = re.compile(r"[^\r\n\ufffe\u0002]+[\ufffe\u0002]?|[\ufffe\u0002]")


#: From this many pages on, a second process reads the second half of the
#: pages (on a machine with more than one core): at 300 pages reading takes
#: about a second, on the build's critical path, when the other formats'
#: checks are long done.
TWO_PROCESSES_FROM = 64


def read(path: Path) -> Extracted:
    out = Extracted("pdf")
    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        out.problems.append(Finding("pdf", "structure", f"the file cannot be opened as a PDF: {exc}"))
        return out
    try:
        n = len(doc)
        _read_bookmarks(doc, out)
    finally:
        doc.close()
    texts = _texts_in_two(path, n) if _two_processes(n) else _texts(path, 0, n)
    out.pages = [Page(i, folio, body) for i, (body, folio, _) in enumerate(texts)]
    _read_contents(out)
    _check_overruns(out, [overruns for _, _, overruns in texts])
    # the running text: every page but the contents (front matter may stand before it)
    contents = set(out.info.get("contents_pages") or ())
    out.text = [p.text for p in out.pages if p.index not in contents]
    out.info = {"pages": len(out.pages), "folios": [p.folio for p in out.pages],
                "contents_pages": out.info.get("contents_pages", [])}
    return out


def _two_processes(n: int) -> bool:
    return n >= TWO_PROCESSES_FROM and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _texts(path: Path, start: int, stop: int) -> list[tuple[str, str, list]]:
    """(body, folio, overruns) of pages ``start`` to ``stop`` - 1."""
    doc = pdfium.PdfDocument(str(path))
    try:
        texts = []
        for i in range(start, stop):
            page = doc[i]
            try:
                texts.append((*_page_text(page), _overruns(page, i)))
            finally:
                page.close()
        return texts
    finally:
        doc.close()


def _texts_in_two(path: Path, n: int) -> list[tuple[str, str, list]]:
    """Every page's (body, folio, overruns): a forked process reads the second half
    while this one reads the first, and sends its half back through a pipe.
    If it fails in any way, this process reads that half itself."""
    half = n // 2
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return _texts(path, 0, n)
    if pid == 0:  # the child: read, send, and leave without running anything of the parent's
        code = 1
        try:
            os.close(r)
            with os.fdopen(w, "wb") as pipe:
                pipe.write(pickle.dumps(_texts(path, half, n), protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        first = _texts(path, 0, half)
    finally:
        with os.fdopen(r, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    try:
        second = pickle.loads(data) if os.waitstatus_to_exitcode(status) == 0 else None
    except (pickle.UnpicklingError, EOFError, ValueError):
        second = None
    if not (isinstance(second, list) and len(second) == n - half):
        second = _texts(path, half, n)
    return first + second


def _page_text(page) -> tuple[str, str]:
    """The page's body text and its folio.

    Superscripts (footnote calls among them) are left out, as they are in
    every format: a character is one when it is set smaller than the
    character before it and well above its baseline, but less than a line
    above it (a browser's ``sup`` is set at 5/6 of the text, a footnote call
    smaller still).

    A hyphen that ends a line between two letters is reported by PDFium as
    U+FFFE (U+0002 in some versions), with the line break folded away,
    whether it is a hyphenation point or a real hyphen ("inter-paragraph"):
    it is written back as the printed hyphen and the line break
    (``LINE_END_HYPHEN``), as every other line-end hyphen reads.

    PDFium gives the page's text in reading order, a printed line a line of
    text; a line lies in one band (running head, body or folio), so its
    position is asked once per line, and each character's font size once
    (a cheap call): the origins are asked only where the size drops. About
    a third of the time of asking every character's box and origin."""
    textpage = page.get_textpage()
    try:
        n = textpage.count_chars()
        text = textpage.get_text_range(0, n) if n > 0 else ""
        height = page.get_height()
        # PDFium counts a character outside the BMP (an emoji, a CJK Extension B
        # character) as two, as UTF-16 does: at[i] is the index of text[i]
        at = list(range(len(text)))
        if len(text) != n:
            at, k = [], 0
            for ch in text:
                at.append(k)
                k += 2 if ord(ch) > 0xFFFF else 1
            if k != n:  # some other count: no index per character
                body = textpage.get_text_bounded(bottom=BOTTOM_MARGIN, top=height - TOP_MARGIN)
                folio = textpage.get_text_bounded(top=BOTTOM_MARGIN)
                return _line_end_hyphens(body), spaced(folio)
        raw = textpage.raw
        box, font_size, origin = pdfium_c.FPDFText_GetCharBox, pdfium_c.FPDFText_GetFontSize, pdfium_c.FPDFText_GetCharOrigin
        l, r, b, t = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        x, y = ctypes.c_double(), ctypes.c_double()
        body: list[str] = []
        folio: list[str] = []
        prev_size = prev = None  # the size and index of the last body character kept
        end = 0
        for m in _LINE.finditer(text):
            start = m.start()
            body.append(text[end:start])  # the line break
            folio.append(" " * (start - end))
            end = m.end()
            band = None
            for j in range(start, end):  # the line's band: from its first printed character
                if not text[j].isspace() and box(raw, at[j], l, r, b, t) \
                        and not (l.value == r.value and b.value == t.value == 0):
                    middle = (b.value + t.value) / 2
                    band = "folio" if middle < BOTTOM_MARGIN else "head" if middle > height - TOP_MARGIN else "body"
                    break
            line = m.group()
            folio.append(line if band == "folio" else " " * len(line))
            if band in ("folio", "head"):  # the body keeps only the line's spaces
                body.append("".join(ch for ch in line if ch.isspace()))
                continue
            kept = []
            for j in range(start, end):
                ch = text[j]
                if ch.isspace():
                    kept.append(ch)
                    continue
                size = font_size(raw, at[j])
                if size == 0:  # no font: a character PDFium made up
                    kept.append(ch)
                    continue
                if prev_size and size < 0.95 * prev_size:
                    origin(raw, at[prev], x, y)
                    prev_y = y.value
                    origin(raw, at[j], x, y)
                    # raised by a fraction of the size before it: a superscript; raised
                    # by a line or more, it is text of a line above (a table's next
                    # cell, set in code, after the last line of a cell that wrapped)
                    if prev_y + 0.15 * prev_size < y.value < prev_y + 0.8 * prev_size:
                        continue  # superscript
                prev_size, prev = size, j
                kept.append(ch)
            body.append("".join(kept))
        body.append(text[end:])
        folio.append(" " * (len(text) - end))
        return _line_end_hyphens("".join(body)), spaced("".join(folio))
    finally:
        textpage.close()


#: What PDFium puts for a hyphen at a line end that it joined to the next line.
_HYPHEN_MARKS = re.compile("[\ufffe\u0002]")
LINE_END_HYPHEN = "\u2010\r\n"


def _line_end_hyphens(text: str) -> str:
    return _HYPHEN_MARKS.sub(LINE_END_HYPHEN, text)


def _overruns(page, index: int) -> list[tuple[str, str, float]]:
    """The printed lines of page ``index`` (0-based) that run past the edge
    of the paper, or whose body text stands in a side margin, as (where,
    the line's text, how far past in mm): where is "paper" or "margin".

    PDFium's text rectangles (a run of characters on one line each, a
    few dozen a page) are held against the edges, so that the cost is per
    run, not per character."""
    width, height = page.get_width(), page.get_height()
    left, right = (INNER_MARGIN, width - OUTER_MARGIN) if index % 2 == 0 else (OUTER_MARGIN, width - INNER_MARGIN)
    textpage = page.get_textpage()
    try:
        lines: list[list] = []  # [bottom, top, left, right, where, past]: the runs past an edge, a line each
        for k in range(textpage.count_rects()):
            l, b, r, t = textpage.get_rect(k)
            if r <= l or t <= b:
                continue
            middle = (b + t) / 2
            past = max(-l, r - width, -b, t - height)
            if past > 0:
                where = "paper"
            elif BOTTOM_MARGIN <= middle <= height - TOP_MARGIN and max(left - l, r - right) > SLACK:
                where, past = "margin", max(left - l, r - right)
            else:
                continue
            line = next((x for x in lines if x[0] < middle < x[1]), None)
            if line is None:
                lines.append([b, t, l, r, where, past])
                continue
            line[2], line[3] = min(line[2], l), max(line[3], r)
            if (where == "paper", past) > (line[4] == "paper", line[5]):
                line[4], line[5] = where, past
        # each line's whole text, from the paper's left edge (or further) to its right
        return [(where, " ".join(textpage.get_text_bounded(left=min(0.0, l), bottom=b, right=max(width, r), top=t).split()),
                 past / MM) for b, t, l, r, where, past in sorted(lines, key=lambda x: -x[1])]
    finally:
        textpage.close()


def _check_overruns(out: Extracted, overruns: list[list[tuple[str, str, float]]]) -> None:
    """A finding for each page with text past the paper's edge or in a side
    margin. The cover (the first page, set edge to edge) and the contents
    (its page numbers hang in the right margin) may use the margins; no
    page may run off the paper."""
    free = {0, *(out.info.get("contents_pages") or ())}
    for page, lines in zip(out.pages, overruns):
        lines = [line for line in lines if line[0] == "paper" or page.index not in free]
        if not lines:
            continue
        where, text, past = max(lines, key=lambda line: (line[0] == "paper", line[2]))
        printed = f" (printed page {page.folio})" if page.folio else ""
        what = (f"text runs off the page: \"{short(text, 40)}\" goes {past:.1f} mm past the paper's edge"
                if where == "paper" else
                f"text runs into the margin: \"{short(text, 40)}\" stands {past:.1f} mm past the text block")
        more = f"; {len(lines) - 1} more line{'s' if len(lines) > 2 else ''} on this page" if len(lines) > 1 else ""
        out.problems.append(Finding("pdf", "layout", f"page {page.index + 1}{printed}: {what}{more}"))


def _read_bookmarks(doc, out: Extracted) -> None:
    for bm in doc.get_toc(max_depth=16):
        title = spaced(bm.get_title())
        dest = bm.get_dest()
        index = dest.get_index() if dest is not None else None
        number, text = split_number(title)
        out.outline.append(Entry(bm.level + 1, number, text,
                                 target=f"page {index + 1}" if index is not None else "", page=index))


def bookmark_pages(out: Extracted, printed=lambda display: display, source=lambda display: "") -> list[Finding]:
    """Each bookmark leads to a page that prints its heading. ``printed``
    gives the text a page has for a bookmark's heading (the source knows:
    a formula is drawn, so the page has only the text around it);
    ``source``, the file:line of that heading, which a finding starts with."""
    problems: list[Finding] = []

    def add(e: Entry, message: str) -> None:
        where = source(e.display)
        problems.append(Finding("pdf", "outline", f"{where}: {message}" if where else message))

    for e in out.outline:
        if e.page is None or not 0 <= e.page < len(out.pages):
            add(e, f"bookmark \"{short(e.display)}\" leads to no page")
            continue
        if not prints_heading(out.pages[e.page], printed(e.display)):
            page = out.pages[e.page]
            folio = f" (printed page {page.folio})" if page.folio else ""
            add(e, f"bookmark \"{short(e.display)}\" leads to page {e.page + 1}{folio}, which does not print that heading")
    return problems


def _read_contents(out: Extracted) -> None:
    """The printed contents: the first run of pages whose lines end in a
    dotted leader and a page number. An entry may wrap over several lines;
    the lines before its leader belong to it."""
    pages = []
    for p in out.pages:
        has = any(_LEADER.match(line) for line in p.text.splitlines())
        if has:
            pages.append(p)
        elif pages and p.text.strip():
            break
    if not pages:
        out.problems.append(Finding("pdf", "contents", "no contents page found (no line ends in a dotted leader and a page number)"))
        return
    out.info["contents_pages"] = [p.index for p in pages]
    pending: list[str] = []
    for p in pages:
        for line in p.text.splitlines():
            m = _LEADER.match(line)
            if m:
                pending.append(m.group("text"))
                out.contents.append(ContentsLine(spaced(" ".join(pending)), printed_page=m.group("page")))
                pending = []
            elif line.strip():
                pending.append(line)


class Lines:
    """A page's body text reduced by ``strict``, with the offsets where its
    printed lines begin and end, so that a heading can be told from the
    same words in a sentence: a heading fills whole lines."""

    def __init__(self, text: str):
        parts, self.starts, self.ends = [], set(), set()
        n = 0
        for line in text.splitlines():
            s = strict(line)
            if s:
                self.starts.add(n)
                parts.append(s)
                n += len(s)
                self.ends.add(n)
        self.text = "".join(parts)

    def find(self, key: str, start: int = 0, whole: bool = True) -> int:
        """The first offset of ``key`` at or after ``start``; with
        ``whole``, only where it fills whole lines."""
        i = self.text.find(key, start)
        while whole and i >= 0 and not (i in self.starts and i + len(key) in self.ends):
            i = self.text.find(key, i + 1)
        return i


def prints_heading(page: Page, display: str) -> bool:
    """The page prints the heading, in whole lines or run into a paragraph."""
    key = strict(display)
    return bool(key) and key in Lines(page.text).text


def heading_pages(out: Extracted, displays: list[str], hints: list[int | None] | None = None) -> list[int | None]:
    """The page on which each heading (number and title, in outline order)
    is printed, searching every page but the contents in order. A heading
    fills whole lines; only when no such place is left is a place inside a
    line taken (a design may run a heading into its paragraph). ``hints``
    are the pages the headings' bookmarks lead to: a page there that
    prints the heading in whole lines, not before the previous heading, is
    taken first (the cover prints the title, and a front-matter heading may
    be the title too)."""
    contents = set(out.info.get("contents_pages") or ())
    lines = [Lines("" if p.index in contents else p.text) for p in out.pages]
    result: list[int | None] = []
    page, offset = 0, 0
    for n, display in enumerate(displays):
        key = strict(display)
        found = None
        hint = hints[n] if hints and n < len(hints) else None
        if key and hint is not None and page <= hint < len(lines):
            i = lines[hint].find(key, offset if hint == page else 0)
            if i >= 0:
                found = hint
                page, offset = hint, i + len(key)
        for whole in (True, False):
            if found is not None:
                break
            for q in range(page, len(lines)):
                i = lines[q].find(key, offset if q == page else 0, whole) if key else -1
                if i >= 0:
                    found = q
                    page, offset = q, i + len(key)
                    break
        result.append(found)
    return result
