"""The PDF laid out on every core (issue 14, part 1).

WeasyPrint lays a document out in one Python process, on one core. A part
of the report starts on a right-hand page (page.css), so how it breaks into
pages does not depend on what comes before it, only its page numbers do.
``render`` therefore:

1. cuts the main matter into pieces, each a run of whole parts (with the
   back chapters after them; the last one with the colophon), twice as many
   pieces as workers, so that the pool, fed longest first, ends evenly;
2. lays each piece out in a worker process (forked, one per core) with its
   folios left out, and takes back its PDF, its page count, which of its
   pages are blank and the page each anchor (id) lands on; after the pieces,
   the same workers lay out the folio *stamps*: documents of empty pages
   whose margin boxes print only the folio (page.css's), pages 1 to a
   guess at the main matter's length, in chunks;
3. then, knowing every piece's length, lays out the front matter (cover,
   front chapters, contents: its page numbers written in from the anchors,
   since ``target-counter`` cannot see into another piece; its roman folios
   its own) while another worker lays out any folios past the guess and
   cuts the stamps into one PDF per piece (a blank page's stamp empty);
4. assembles one PDF (pipeline.render.assemble): one structure tree, the
   outline, links across pieces (written ``pipeline-anchor:NAME`` in the
   piece that points out of itself), page labels roman then arabic.

Why stamps, not a second layout of the pieces with their first page
numbers: the folio is the only thing on a page that depends on its number
(running heads come from the piece's own text, ``string-set``, and stay in
its layout), and the stamp of folio N is the same wherever page N falls,
because every piece starts on a right-hand page (an odd N). So the stamps
need not wait for the pieces: they fill the pool's idle tail in the first
round. An empty page costs WeasyPrint about 5 ms (300 stamps: 1.4-2 s of CPU
on this machine) where a second layout of the pieces would cost their whole
time (25 s) again; one stamp document per piece after the pieces (tried
first) cost 0.4 s each, mostly the stylesheets, on the critical path.

A blank verso (a part that must start on the right after a piece that ended
on the right) is an empty page of the piece before it: no text, no folio.

A piece is its own document, so its first page is a document's first page,
where WeasyPrint keeps the body's top margin (the user agent's 8px, 6 pt);
in the whole report the body's first fragment is on the cover, and a part's
page, a later fragment, has none. A piece's body therefore has no top
margin, and no bottom margin unless the report's body ends in it (the last
main piece): without that, every piece's first page stood 6 pt lower than
in one document, and a full one (the Rust book's part 12) pushed its last
lines to the next page. The front piece likewise ends without the margin.

A glyph's text in the PDF (its font's ToUnicode entry) is, in WeasyPrint,
the text it was first drawn for in its document (``draw_first_line``).
Where one glyph draws two characters, as Source Serif's hyphen draws U+002D
and the hyphenation's U+2010, a piece read otherwise than one document (the
Rust book's page 389: "opera\u2010" from its piece, "opera-" in one
document, which had drawn a "-" earlier; 39 of the system-design-primer's
109 pages): the smallest case, with that font, is ``<p>real-world</p><p
style="break-before: page">real\u2010world</p>``, which reads "real-world"
on both pages, its second page alone "real\u2010world". assemble() gives
each glyph the earliest piece's text (``_glyph_texts_as_in_one_document``).

Every piece is laid out with the same options and contexts as the one-process
path (``pdf.lay_out``); its WeasyPrint messages come back with it and fail
the build as there. The bytes depend only on the source: which worker lays a
piece out does not change it, and the pieces are assembled in reading order.

Not on this path (``applies``): a PDF/A (the archival copy carries its
source as attachments and must be one PDF/A document), one job, a
publication without at least two pieces' worth of parts.
"""

from __future__ import annotations

import gc
import html as html_lib
import io
import os
import pickle
import re
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from pipeline.errors import BuildError
from pipeline.model import Publication
from pipeline.render.assemble import ANCHOR_SCHEME, Piece, assemble
from pipeline.render.common import Body, Design, css_string

#: Pieces per worker: more pieces balance the pool better, fewer cost less
#: (each piece parses the stylesheets and embeds its own font subsets).
PIECES_PER_JOB = 2

#: Without ``--jobs``, a main matter shorter than this (as guessed before
#: the layout, ``_pages_guess``) is laid out as one document: the pool's
#: fixed costs (a second round for the front matter, each piece's
#: stylesheets and fonts, the assembly: about 2 s of wall on this machine)
#: would eat what a few dozen pages gain on a second core.
AUTOMATIC_FROM_PAGES = 60

#: Folio stamps laid out per task (even: each chunk starts on a right-hand
#: page), and the characters of text a page of the main matter is guessed
#: to hold (the 300-page generated book: 2300). The guess errs short: a
#: stamp laid out past the end is wasted work among the pieces, while one
#: the guess missed is laid out beside the front matter, which takes longer
#: than a few hundred stamps (5 ms each).
STAMP_CHUNK = 120
TEXT_PER_PAGE = 2600

#: (piece, seconds, pid) of the last ``render`` in this process, in the
#: order the pieces were laid out: the build records them as its events.
last_pieces: list[tuple[str, float, float, int]] = []


def jobs_available() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def applies(pub: Publication, variant: str | None, attachments, jobs: int | None) -> bool:
    """Whether this PDF is laid out in parallel (see the module's doc)."""
    from pipeline.render.pdf import is_pdf_a

    jobs = jobs_available() if jobs is None else jobs
    if jobs <= 1 or is_pdf_a(variant) or attachments or not _can_fork():
        return False
    main = [c for c in pub.chapters if c.kind != "front"]
    return bool(main) and main[0].kind == "part" and sum(c.kind == "part" for c in main) >= 2


@dataclass
class _Plan:
    """One piece of the main matter."""

    index: int
    chapters: list = field(default_factory=list)  # (Chapter, fragment) from pdf.prepare
    colophon: bool = False
    footnotes_before: int = 0

    @property
    def weight(self) -> int:
        return sum(len(fragment) for _, fragment in self.chapters)


def plan(chapters: list[tuple], jobs: int) -> list[_Plan]:
    """The main matter (``chapters`` from ``pdf.prepare``, front ones
    skipped) in runs of whole parts: about ``PIECES_PER_JOB`` × ``jobs``
    pieces of similar length, in reading order."""
    groups: list[list[tuple]] = []
    for chapter, fragment in chapters:
        if chapter.kind == "front":
            continue
        if chapter.kind == "part" or not groups:
            groups.append([])
        groups[-1].append((chapter, fragment))
    count = min(len(groups), PIECES_PER_JOB * jobs)
    total = sum(len(f) for g in groups for _, f in g)
    pieces: list[_Plan] = []
    done = 0
    for i, group in enumerate(groups):
        size = sum(len(f) for _, f in group)
        # a new piece when this one has its share, as long as there are groups left for the rest
        # (and no fewer pieces than ``count``: a group each when only as many are left)
        if not pieces or len(pieces) < count and (done >= total * len(pieces) / count
                                                  or len(groups) - i <= count - len(pieces)):
            pieces.append(_Plan(len(pieces)))
        pieces[-1].chapters.extend(group)
        done += size
    pieces[-1].colophon = True
    notes = sum(f.count('class="footnote"') for c, f in chapters if c.kind == "front")
    for p in pieces:
        p.footnotes_before = notes
        notes += sum(f.count('class="footnote"') for _, f in p.chapters)
    return pieces


_HREF = re.compile(r'href="#([^"]*)"')
_ID = re.compile(r'\sid="([^"]*)"')


def _outward_links(page: str, known: set[str], pages_of: dict[str, int] | None = None) -> str:
    """Each link of ``page`` to an anchor it does not hold but the report
    does (``known``) written ``pipeline-anchor:NAME`` (assemble() points it
    at NAME in the piece that has it); with ``pages_of``, the folio of NAME
    beside it (``data-page``, which the contents prints). A link to an
    anchor that nowhere exists is left as it is, for WeasyPrint to report
    as it would in one document."""
    own = set(_ID.findall(page))

    def outward(m: re.Match) -> str:
        name = m.group(1)
        if not name or name in own or name not in known:
            return m.group(0)
        folio = (pages_of or {}).get(html_lib.unescape(name))
        return f'href="{ANCHOR_SCHEME}{name}"' + (f' data-page="{folio}"' if folio is not None else "")

    return _HREF.sub(outward, page)


def _main_css(pub: Publication, p: _Plan) -> str:
    """A main piece: no folios (they are stamped), the document's title for
    the running heads (the cover sets it in the whole report), the
    footnotes numbered on from the pieces before, and the body's margins
    only where the whole report's body has them (not at a piece's start)."""
    title = pub.meta.short_title or pub.meta.title
    return ("\n/* a piece of the report (pipeline/render/parallel.py) */\n"
            "@page :left { @bottom-left { content: none; } }\n"
            "@page :right { @bottom-right { content: none; } }\n"
            f"html {{ string-set: doc-title {css_string(title)}; counter-reset: footnote {p.footnotes_before}; }}\n"
            f"body {{ margin-top: 0; {'' if p.colophon else 'margin-bottom: 0; '}}}\n")  # the module's doc


#: The contents' page number of an entry in another piece (toc.css prints
#: the others with target-counter).
_FRONT_CSS = ('\n/* the front piece (pipeline/render/parallel.py) */\n'
              '.toc a[data-page]::after { content: leader(dotted) "\\a0" attr(data-page); }\n'
              'body { margin-bottom: 0; }\n')  # the report's body goes on into the main matter

#: A stamp: empty pages that print only their folio (page.css's margin
#: boxes), from ``counter-set`` on; a blank page prints nothing.
_STAMP_CSS = ('\n/* folio stamps (pipeline/render/parallel.py) */\n'
              '@page :left { @top-left { content: none; } }\n'
              '@page :right { @top-right { content: none; } }\n'
              '@page stamp-blank { @bottom-left { content: none; } @bottom-right { content: none; } }\n'
              '.stamp { break-before: page; height: 1px; }\n'
              '.stamp.blank { page: stamp-blank; }\n')


def _stamp_html(pub: Publication, css: str, first: int, blank: list[bool]) -> str:
    pages = "".join(f'<div class="stamp{" blank" if b else ""}"></div>' for b in blank)
    return (f'<!DOCTYPE html><html lang="{html_lib.escape(pub.meta.language)}"><head><meta charset="utf-8">'
            f'<title>{html_lib.escape(pub.meta.title)}</title><style>{css}{_STAMP_CSS}'
            f'@page :first {{ counter-set: page {first}; }}</style></head><body>{pages}</body></html>')


@dataclass
class _Laid:
    """What a worker sends back for a piece."""

    pdf: bytes
    blank: list[bool]
    anchors: dict[str, int]
    problems: list[str]
    seconds: tuple[float, float]
    pid: int
    cpu: float = 0.0  # the process's CPU seconds for it
    split: list[bytes] = field(default_factory=list)  # the stamps: one PDF per main piece


def _lay_out(pub, page: str, design, variant) -> _Laid:
    from pipeline.render.pdf import lay_out

    t0, c0 = time.monotonic(), time.process_time()
    found: dict = {}

    def keep(document):
        found["blank"] = [bool(p._page_box.page_type.blank) for p in document.pages]
        anchors = {}
        for i, p in enumerate(document.pages):
            for name in p.anchors:
                anchors.setdefault(name, i)
        found["anchors"] = anchors

    data, _document, problems = lay_out(pub, page, design, variant, keep=keep)
    return _Laid(data, found["blank"], found["anchors"], problems, (t0, time.monotonic()), os.getpid(),
                 time.process_time() - c0)


def render(pub: Publication, body: Body, design: Design, variant: str | None = "pdf/ua-1",
           jobs: int | None = None) -> bytes:
    from pipeline.render import pdf

    automatic, jobs = jobs is None, jobs_available() if jobs is None else jobs
    chapters = pdf.prepare(pub, body)
    css = pdf.pdf_css(pub, design, variant)
    pieces = plan(chapters, jobs)
    del last_pieces[:]
    if automatic and _pages_guess(pieces) < AUTOMATIC_FROM_PAGES:  # one document: the same bytes as pdf.render's
        data, _document, problems = pdf.lay_out(pub, pdf.html_for_pdf(pub, body, design, variant, chapters=chapters,
                                                                     css=css), design, variant)
        pdf.raise_problems(problems, pub, body)
        return data

    # every anchor of the report (the whole page without its stylesheets: the template's ids too)
    known = set(_ID.findall(pdf.html_for_pdf(pub, body, design, variant, chapters=chapters, css="")))

    def stamp_chunk(first: int, count: int) -> _Laid:
        return _lay_out(pub, _stamp_html(pub, css, first, [False] * count), design, variant)

    def main_piece(p: _Plan) -> _Laid:
        page = pdf.html_for_pdf(pub, body, design, variant, chapters=p.chapters, css=css + _main_css(pub, p),
                                piece="main", colophon=p.colophon)
        laid = _lay_out(pub, _outward_links(page, known), design, variant)
        if len(laid.blank) % 2 and not p.colophon:  # the next piece starts on a right-hand page: a blank verso
            laid.pdf = _with_blank_page(laid.pdf)
            laid.blank.append(True)
        return laid

    # the folios' stamps do not depend on the pieces: page N's is the same wherever it falls (every piece
    # starts on a right-hand page, an odd N), so they are laid out beside the pieces, last, in chunks up to
    # a guess at the main matter's length; what the guess missed is laid out with the front matter
    guess = _pages_guess(pieces)
    chunks = [(first, min(STAMP_CHUNK, guess - first + 1)) for first in range(1, guess + 1, STAMP_CHUNK)]
    order = sorted(range(len(pieces)), key=lambda i: (-pieces[i].weight, i))  # longest first
    laid = _pool([lambda p=pieces[i]: main_piece(p) for i in order]
                 + [lambda c=c: stamp_chunk(*c) for c in chunks], jobs)
    main: list[_Laid] = [None] * len(pieces)
    for i, result in zip(order, laid):
        main[i] = result
    stamp_chunks = laid[len(pieces):]
    problems = [m for r in main for m in r.problems] + [m for r in stamp_chunks for m in r.problems]

    # where each main piece starts: arabic folios from 1
    firsts = [1 + sum(len(r.blank) for r in main[:i]) for i in range(len(main))]
    pages_of: dict[str, int] = {}
    for r, first in zip(main, firsts):
        for name, i in r.anchors.items():
            pages_of.setdefault(name, first + i)

    def front_piece() -> _Laid:
        page = pdf.html_for_pdf(pub, body, design, variant, chapters=[(c, f) for c, f in chapters
                                                                       if c.kind == "front"],
                                css=css + _FRONT_CSS, piece="front")
        laid = _lay_out(pub, _outward_links(page, known, pages_of), design, variant)
        if len(laid.blank) % 2:  # part 1 starts on a right-hand page
            laid.pdf = _with_blank_page(laid.pdf)
            laid.blank.append(True)
        return laid

    def stamps() -> _Laid:
        t0, c0 = time.monotonic(), time.process_time()
        total = sum(len(r.blank) for r in main)
        more = [stamp_chunk(guess + 1, total - guess)] if total > guess else []
        split = _split([c.pdf for c in stamp_chunks + more], [r.blank for r in main])
        return _Laid(b"", [], {}, [m for c in more for m in c.problems], (t0, time.monotonic()), os.getpid(),
                     time.process_time() - c0, split)

    front, stamped = _pool([front_piece, stamps], jobs)
    problems += front.problems + stamped.problems
    pdf.raise_problems(problems, pub, body)

    for name, r in [(f"main {i + 1}", r) for i, r in enumerate(main)] \
            + [(f"stamps {c[0]}-{c[0] + c[1] - 1}", r) for c, r in zip(chunks, stamp_chunks)] \
            + [("front", front), ("stamps", stamped)]:
        last_pieces.append((name, *r.seconds, r.pid))

    parts = [Piece(front.pdf, None)] + [Piece(r.pdf, s) for r, s in zip(main, stamped.split)]
    try:
        return assemble(parts, page_labels=[(0, "r", 1), (len(front.blank), "D", 1)], identifier=pdf.identifier(pub))
    except ValueError as exc:  # pieces that cannot make one right PDF: a fault of this module, not of the source
        raise BuildError(f"the PDF's pieces, laid out in parallel, could not be joined: {exc}\n"
                         f"  hint: build with --jobs 1 (one process) and report this") from exc


def _split(stamps: list[bytes], blanks: list[list[bool]]) -> list[bytes]:
    """The stamp pages (``stamps``: PDFs of consecutive folios from 1) as
    one PDF for each main piece, of as many pages as ``blanks`` has for it;
    a blank page of the piece gets an empty one."""
    import pikepdf

    sources = [pikepdf.open(io.BytesIO(data)) for data in stamps]
    try:
        pages = [page for source in sources for page in source.pages]
        out, n = [], 0
        for blank in blanks:
            piece = pikepdf.new()
            for is_blank in blank:
                page = pages[n]
                n += 1
                if is_blank:
                    piece.add_blank_page(page_size=(float(page.mediabox[2]), float(page.mediabox[3])))
                else:
                    piece.pages.append(page)
            buffer = io.BytesIO()
            piece.save(buffer, deterministic_id=True)
            out.append(buffer.getvalue())
        return out
    finally:
        for source in sources:
            source.close()


def _pages_guess(pieces: list[_Plan]) -> int:
    """A guess at the main matter's page count, on the short side (even): its text
    at ``TEXT_PER_PAGE`` characters a page, and a page more a part."""
    text = sum(len(_TAG.sub("", fragment)) for p in pieces for _, fragment in p.chapters)
    parts = sum(c.kind == "part" for p in pieces for c, _ in p.chapters)
    guess = text // TEXT_PER_PAGE + parts + 2
    return guess + guess % 2


_TAG = re.compile(r"<[^>]*>")


def _with_blank_page(data: bytes) -> bytes:
    """The PDF with an empty page after its last, of the same size."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as doc:
        last = doc.pages[-1]
        doc.add_blank_page(page_size=(float(last.mediabox[2]), float(last.mediabox[3])))
        out = io.BytesIO()
        doc.save(out, deterministic_id=True, compress_streams=True)
        return out.getvalue()


# ------------------------------------------------------------------ the pool

def _pool(tasks: list, jobs: int) -> list:
    """Run ``tasks`` (callables, without arguments) in up to ``jobs`` forked
    processes, each taking the next task as it finishes one (so the first
    tasks start first); their results in the order of ``tasks``. A task's
    exception is raised here."""
    jobs = max(1, min(jobs, len(tasks)))
    results: list = [None] * len(tasks)
    # the tasks' numbers, written at once: each worker reads the next 4 bytes (one read, under the pipe's lock)
    todo_r, todo_w = os.pipe()
    os.write(todo_w, b"".join(i.to_bytes(4, "big") for i in range(len(tasks))))
    os.close(todo_w)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    parent = os.getpid()
    workers: list[tuple[int, int]] = []
    gc.collect()
    gc.freeze()  # the workers share the parent's objects: the collector must not write to (and so copy) them
    try:
        for _ in range(jobs):
            out_r, out_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker
                code = 0
                try:
                    os.close(out_r)
                    _worker(parent, tasks, todo_r, out_w)
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            os.close(out_w)
            workers.append((pid, out_r))
    finally:
        os.close(todo_r)
        gc.unfreeze()
    errors: list[BaseException] = []
    readers = [threading.Thread(target=_read_results, args=(fd, results, errors), daemon=True) for _, fd in workers]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    statuses = [os.waitpid(pid, 0)[1] for pid, _ in workers]
    if errors:
        raise errors[0]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise BuildError(f"a PDF layout process ended before it had finished (exit statuses {statuses})")
    return results


def _worker(parent: int, tasks: list, todo: int, out: int) -> None:
    from pipeline import children

    children.die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with os.fdopen(out, "wb") as sink:
        while True:
            got = os.read(todo, 4)
            if len(got) < 4:
                return
            i = int.from_bytes(got, "big")
            try:
                message = (i, "ok", tasks[i]())
            except BaseException as exc:
                text = "".join(traceback.format_exception(exc))
                try:
                    pickle.loads(pickle.dumps(exc))
                    message = (i, "error", (exc, text))
                except Exception:
                    message = (i, "error", (BuildError(f"{type(exc).__name__}: {exc}"), text))
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            sink.write(len(data).to_bytes(8, "big") + data)
            sink.flush()


def _read_results(fd: int, results: list, errors: list) -> None:
    from pipeline.schedule import ChildTraceback

    with os.fdopen(fd, "rb") as source:
        while True:
            head = source.read(8)
            if len(head) < 8:
                return
            i, kind, value = pickle.loads(source.read(int.from_bytes(head, "big")))
            if kind == "ok":
                results[i] = value
            else:
                exc, text = value
                exc.__cause__ = ChildTraceback("in a PDF layout process:\n" + text)
                errors.append(exc)
