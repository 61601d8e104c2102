"""The PDF report, laid out by WeasyPrint from a Jinja template and the
project's paged-media stylesheets."""

from __future__ import annotations

import gc
import hashlib
import io
import logging
import re
from pathlib import Path
from typing import Sequence

from lxml import etree

from pipeline.errors import BuildError, one_line, shown_path
from pipeline.model import Publication
from pipeline.render.common import (
    Body, Design, RefusedFetch, allowed_file, build_time, data_uri, drop, font_dirs, serialise, source_date_epoch,
    style_tokens,
)
from pipeline.render.linebreak import strict_breaks
from pipeline.render.maths import draw_maths
from pipeline.render.outline import toc_tree
from pipeline.render.speedups import collections_paused, objects_serialised_once, page_references_cached
from pipeline.render.actualtext import actual_text
from pipeline.render.workarounds import footnotes_kept

#: One sheet per component, after the tokens they all read.
STYLESHEETS = ("tokens.css", "page.css", "cover.css", "toc.css", "headings.css",
               "text.css", "lists.css", "code.css", "tables.css", "figures.css", "footnotes.css", "colophon.css")
#: Added for the archival PDF/A variants.
PDF_A_STYLESHEETS = ("pdfa.css",)

def font_faces(pub: Publication) -> list[dict]:
    """The @font-face rules of every family the publication's stacks use
    (pipeline.fonts): WeasyPrint embeds, subset, those it sets text in."""
    return [{"family": family.name, "url": family.path(face).as_uri(), "weight": face.weight, "style": face.style}
            for family in font_stacks(pub).families for face in family.faces]


def font_stacks(pub: Publication):
    from pipeline import fonts

    return pub.fonts or fonts.stacks(pub.meta.language, "")


class Fetcher:
    """WeasyPrint's URL fetcher for a build: local files inside the allowed
    folders only, never the network."""

    def __init__(self, roots: list[Path]):
        self.roots = roots
        self.refused: list[str] = []
        from weasyprint.urls import URLFetcher

        self._default = URLFetcher(allowed_protocols={"file", "data"})
        self._fail_on_errors = False

    def __call__(self, url: str):
        from weasyprint.urls import URLFetcherResponse

        if url.startswith("data:"):
            return self._default.fetch(url)
        try:
            path = allowed_file(url, self.roots)
        except RefusedFetch as exc:
            self.refused.append(str(exc))
            raise
        return URLFetcherResponse(path.as_uri(), body=path.read_bytes())

    fetch = __call__


#: Warnings about the machine, not the document: WeasyPrint falls back to
#: fontTools for font subsetting when libharfbuzz-subset is not installed
#: (Debian's libharfbuzz-subset0); the output is the same.
#: When HarfBuzz cannot subset a font, WeasyPrint embeds it whole: the
#: PDF is right, only larger (issue 13: it made a CJK system font fatal).
BENIGN_WARNINGS = ("Using fontTools instead of HarfBuzz-Subset", "Unable to subset")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if not message.startswith(BENIGN_WARNINGS):
            self.messages.append(message)


def prepare(pub: Publication, body: Body) -> list[tuple]:
    """Chapter fragments for the page: images embedded, footnotes moved to
    where they are called (CSS ``float: footnote`` sets them at the foot of
    the page), formulas drawn (``maths``), a task list's checkboxes printed
    as ballot boxes."""
    out = []
    for c in pub.chapters:
        el = body.chapter(c.id)
        body.embed_images(el)
        _inline_footnotes(el)
        for heading in el.xpath(".//*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]"
                                "[.//*[local-name()='math']][not(@data-label)]"):
            _label(heading)
        draw_maths(el)
        _ballot_boxes(el)
        strict_breaks(el, korean_words=True)  # WeasyPrint has no line-break: strict, no keep-all (linebreak)
        _code_lines(el)
        _whole_words(el)
        out.append((c, serialise(el)))
    return out


#: The text block's width (page.css: 125 mm) in points, a table's type
#: size (tables.css: 9 pt) times a generous average advance of its
#: characters (sans serif and code), and a cell's padding (2 x 2 mm).
_MEASURE_PT, _CHAR_PT, _CELL_PAD_PT = 125 / 25.4 * 72, 5.2, 4 / 25.4 * 72


def _whole_words(el) -> None:
    """Mark a table whose columns can each hold their longest word side by
    side in the measure (``whole-words``): tables.css then breaks words in
    its cells only at the edge of a cell that is still too narrow, so the
    automatic layout sizes each column to at least its longest word
    (``RemAssign`` is not split into Rem/Ass/ign because pandoc gave its
    column 11 % of the width). Any other table keeps its words breakable
    anywhere, so that it always fits the measure."""
    for table in el.xpath(".//table"):
        longest: dict[int, int] = {}
        for row in table.xpath("./thead/tr | ./tbody/tr | ./tfoot/tr | ./tr"):
            column = 0
            for cell in row.xpath("./th | ./td"):
                words = "".join(cell.itertext()).split()
                longest[column] = max(longest.get(column, 0), max((len(w) for w in words), default=0))
                try:
                    column += max(1, int(cell.get("colspan") or 1))
                except ValueError:
                    column += 1
        if longest and sum(longest.values()) * _CHAR_PT + len(longest) * _CELL_PAD_PT <= _MEASURE_PT:
            table.set("class", " ".join([*(table.get("class") or "").split(), "whole-words"]))


def _ballot_boxes(el) -> None:
    """A checkbox of a task list (pandoc writes ``- [ ]`` and ``- [x]`` as
    ``<input type="checkbox">``) as the character a page prints: ☐, or ☑
    when ticked (the fonts have no ☒)."""
    for box in el.xpath(".//input[@type='checkbox']"):
        mark = etree.Element("span", {"class": "task-box"})
        mark.text = "\u2611 " if box.get("checked") is not None else "\u2610 "
        mark.tail = box.tail
        box.getparent().replace(box, mark)


def _code_lines(el) -> None:
    """Each line of a code block in an element of its own, as pandoc
    writes the lines of a highlighted one, and nothing between them: the
    stylesheet (code.css) sets each as a block, so that a line too long for
    the measure wraps with its continuation marked, and the newlines
    between them would be lines of their own."""
    for code in el.xpath(".//pre/code"):
        if len(code) and all(child.tag == "span" and not (child.tail or "").strip("\n") for child in code) \
                and not (code.text or "").strip("\n"):
            code.text = None
            for child in code:
                child.tail = None
            continue
        if len(code):
            continue  # markup of some other kind: left as it is
        lines = (code.text or "").split("\n")
        code.text = None
        for line in lines:
            etree.SubElement(code, "span").text = line


def _inline_footnotes(el) -> None:
    notes = {}
    for li in el.xpath(".//*[contains(concat(' ', @class, ' '), ' footnotes ')]//li[@id]"):
        notes[li.get("id")] = li
    for ref in el.xpath(".//a[contains(concat(' ', @class, ' '), ' footnote-ref ')]"):
        li = notes.get(ref.get("href", "").lstrip("#"))
        if li is None:
            continue
        _label_without_calls(ref)
        note = etree.Element("span", {"class": "footnote"})
        first = True
        for block in li:
            for back in block.xpath(".//a[contains(concat(' ', @class, ' '), ' footnote-back ')]"):
                drop(back)
            if not first:
                note.append(etree.Element("br"))
            first = False
            if block.text:
                if len(note):
                    note[-1].tail = (note[-1].tail or "") + block.text
                else:
                    note.text = (note.text or "") + block.text
            for child in block:
                note.append(child)
        note.tail = ref.tail
        ref.getparent().replace(ref, note)
    for aside in el.xpath(".//*[contains(concat(' ', @class, ' '), ' footnotes ')]"):
        aside.getparent().remove(aside)


def _label_without_calls(ref) -> None:
    """A heading that calls a footnote keeps the call out of its bookmark
    and running head (``data-label``, headings.css): WeasyPrint's
    ``content(text)`` would take the call's number into them."""
    heading = next((a for a in ref.iterancestors() if a.tag in ("h1", "h2", "h3", "h4", "h5", "h6")), None)
    if heading is not None:
        _label(heading)


def _label(heading) -> None:
    """The heading's bookmark and running head (``data-label``) as plain
    text: without footnote calls, and a formula (drawn on the page, so
    without text) as the TeX it was written in, as the contents prints it."""
    copy = etree.fromstring(etree.tostring(heading, with_tail=False))
    for call in copy.xpath(".//a[contains(concat(' ', @class, ' '), ' footnote-ref ')]"):
        drop(call)
    for math in copy.xpath(".//*[local-name()='math']"):
        tex = math.xpath("string(.//*[local-name()='annotation'][@encoding='application/x-tex'])")
        text = etree.Element("span")
        text.text = " ".join(tex.split())
        text.tail = math.tail
        math.getparent().replace(math, text)
    heading.set("data-label", " ".join("".join(copy.itertext()).split()))


def is_pdf_a(variant: str | None) -> bool:
    return bool(variant) and variant.startswith("pdf/a-")


def pdf_css(pub: Publication, design: Design, variant: str | None = None) -> str:
    """The report's stylesheets, fonts and tokens, as one string."""
    from pipeline.fonts import cjk_language

    sheets = STYLESHEETS + (PDF_A_STYLESHEETS if is_pdf_a(variant) else ()) \
        + (("cjk-pdf.css",) if cjk_language(pub.meta.language) else ())
    return (design.render("css/fonts.css.j2", faces=font_faces(pub)) + design.css(*sheets) + "\n"
            + font_stacks(pub).tokens() + font_stacks(pub).code_css() + style_tokens(pub))


def html_for_pdf(pub: Publication, body: Body, design: Design, variant: str | None = None, *,
                 chapters: list[tuple] | None = None, css: str | None = None, **piece) -> str:
    """The report's HTML; with ``chapters`` (from ``prepare``), ``css``
    (``pdf_css``) and ``piece`` (see templates/pdf/report.html.j2), one
    piece of it (pipeline.render.parallel)."""
    return design.render(
        "pdf/report.html.j2",
        pub=pub, meta=pub.meta, toc=toc_tree(pub.chapters, max_level=2),
        chapters=prepare(pub, body) if chapters is None else chapters,
        css=pdf_css(pub, design, variant) if css is None else css, built=build_time(pub), **piece,
    )


def _associated_files_once(document, pdf) -> None:
    """WeasyPrint 70 lists every attachment twice in the catalog's /AF
    array for PDF/A-3 (Kozea/WeasyPrint#2917, fixed after 70.0): keep each
    once."""
    af = pdf.catalog.get("AF")
    if af:
        unique = list(dict.fromkeys(af))
        af.clear()
        af.extend(unique)


def render(pub: Publication, body: Body, design: Design, variant: str | None = "pdf/ua-1",
           attachments: Sequence[tuple[str, bytes]] = (), jobs: int | None = 1) -> bytes:
    """The PDF as bytes. ``variant`` is a WeasyPrint PDF variant
    (``pdf/ua-1``, ``pdf/a-3u`` …); ``attachments`` are (name, bytes) of
    files to embed (a PDF/A-3 carries its source this way), dated like the
    build. WeasyPrint warnings fail the build. ``jobs`` other than 1 lays
    the parts out in that many processes (None: one per available core) and
    assembles them (pipeline.render.parallel); a PDF/A, and a machine or a
    publication with nothing to share out, take the one-process path."""
    from pipeline.render import parallel

    if parallel.applies(pub, variant, attachments, jobs):
        return parallel.render(pub, body, design, variant, jobs)
    data, _document, problems = lay_out(pub, html_for_pdf(pub, body, design, variant), design, variant,
                                        attachments)
    raise_problems(problems, pub, body)
    return data


def identifier(pub: Publication) -> bytes:
    """The PDF's /ID: the same for every build of one edition."""
    return hashlib.sha256(f"{pub.meta.identifier}|{pub.meta.edition.version}".encode()).hexdigest()[:32] \
        .encode("ascii")


def lay_out(pub: Publication, page: str, design: Design, variant: str | None = "pdf/ua-1",
            attachments: Sequence[tuple[str, bytes]] = (), keep=None, ident: bytes | None = None,
            finisher=None) -> tuple[bytes, object, list[str]]:
    """Lay ``page`` (the HTML of the report, or of a piece of it, or of the
    slide deck) out with WeasyPrint under the build's options and contexts:
    (the PDF, the WeasyPrint document, the problems WeasyPrint reported).
    ``keep``, if given, is called with the document before it is written
    (it may read its pages' anchors); ``finisher(document, pdf)``, if given,
    may change the PDF's objects before they are written; ``ident`` is the
    PDF's /ID (default: the report's, ``identifier``)."""
    import weasyprint

    fetcher = Fetcher([pub.root, design.root, *font_dirs()])
    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    from PIL import Image

    # the source check held every image to limits.image_megapixels; Pillow's
    # own guard (which fails at twice its warning size) is moved to match
    pixels = Image.MAX_IMAGE_PIXELS
    if pub.limits.get("image_megapixels"):
        Image.MAX_IMAGE_PIXELS = max(pixels or 0, int(pub.limits["image_megapixels"] * 1_000_000))
    try:
        doc = weasyprint.HTML(string=page, base_url=pub.root.as_uri() + "/", url_fetcher=fetcher)
        built = build_time(pub)
        files = [weasyprint.Attachment(file_obj=io.BytesIO(content), name=name, description=f"source file {name}",
                                       created=built, modified=built, relationship="Source")
                 for name, content in attachments]
        options = dict(
            pdf_identifier=ident or identifier(pub),
            pdf_variant=variant,
            pdf_tags=True,
            uncompressed_pdf=False,
            attachments=files or None,
        )
        # font subsets carry a timestamp; tagging a long PDF is quadratic without the cache, the /ID
        # serialises the PDF twice, the cyclic GC walks the layout over and over (speedups: same bytes);
        # WeasyPrint 70 can lose a footnote at the foot of a full page (workarounds); clusters of
        # several glyphs (Devanagari, Thai, Arabic) get their text as ActualText (actualtext)
        with source_date_epoch(pub), collections_paused(), page_references_cached(), objects_serialised_once(), \
                footnotes_kept(), actual_text():
            document = doc.render(**options)
            gc.collect()  # the layout's discarded boxes, once, before the PDF's objects pile up (speedups)
            if keep is not None:
                keep(document)
            data = document.write_pdf(finisher=_finisher(variant, finisher), **options)
    finally:
        logger.removeHandler(handler)
        Image.MAX_IMAGE_PIXELS = pixels
    # a message names an image by its data: URI, megabytes long: never print one
    problems = [re.sub(r"data:[^\s\"']{40,}", lambda m: m.group(0)[:30] + "…", p)
                for p in fetcher.refused + handler.messages]
    return data, document, problems


def _finisher(variant: str | None, finisher):
    """``finisher`` and, for a PDF/A, ``_associated_files_once``, as one
    (None when neither applies)."""
    steps = [f for f in ((_associated_files_once if is_pdf_a(variant) else None), finisher) if f is not None]
    if len(steps) <= 1:
        return steps[0] if steps else None

    def finish(document, pdf) -> None:
        for step in steps:
            step(document, pdf)
    return finish


def raise_problems(problems: list[str], pub: Publication, body: Body, what: str = "the PDF") -> None:
    """WeasyPrint's messages (``lay_out``) as the build's error, each once."""
    if problems:
        problems = [_named_images(m, pub, body) for m in dict.fromkeys(problems)]
        raise BuildError(f"WeasyPrint reported problems while laying out {what}:\n  " + "\n  ".join(problems))


def _named_images(message: str, pub: Publication, body: Body) -> str:
    """A WeasyPrint message as one line, an embedded image in it named by
    its file and the place the source shows it, never by its data: URI
    (megabytes of base64 on the terminal)."""
    if "data:" in message:
        for name, data in body.images.items():
            uri = data_uri(name, data)
            if uri in message:
                place = _place(pub, name)
                message = (f"{place}: " if place else "") + message.replace(uri, name)
                if "has no required alt description" in message:
                    message += f"; write what it shows between the brackets: ![What it shows]({name})"
    return one_line(message)


def _place(pub: Publication, target: str) -> str:
    """file:line where a chapter first refers to ``target``, or ''."""
    for c in pub.chapters:
        try:
            text = Path(c.source).read_text("utf-8")
        except OSError:
            continue
        i = text.find(target)
        if i >= 0:
            return f"{shown_path(c.source)}:{text.count(chr(10), 0, i) + 1}"
    return ""
