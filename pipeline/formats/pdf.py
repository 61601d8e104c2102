"""The PDF: the report laid out by WeasyPrint (``pipeline.render.pdf``),
read back by ``pipeline.check.pdf`` (pypdfium2 and pikepdf), held to its
bookmarks, its printed headings and contents page, and the whole text."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import Format, register

#: The archived PDF: PDF/A-3 (archival, may carry attachments), level U
#: (every glyph maps to Unicode, so the text can be searched and copied).
ARCHIVE_VARIANT = "pdf/a-3u"


class PdfFile(Format):
    """What every format that is a PDF laid out by WeasyPrint shares (the
    report, the slide deck): its media type, a process of its own, the
    PDF's own checks and its page count."""

    media_type = "application/pdf"
    heavy = True  # WeasyPrint's layout is CPU-bound Python: it gets a process of its own
    outline_noun = "bookmark"
    drawn_text = True  # formulas are drawn; right-to-left text is drawn in visual order
    # no external validator: checked in process (pikepdf), see conformance()

    def warm_up(self) -> tuple[str, ...]:
        return ("weasyprint",)

    def conformance(self, file: Path, pub):
        from pipeline.check import conformance

        return conformance.check_pdf(file, pub.meta, self.name)

    def pages(self, path: Path) -> int | None:
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
        try:
            return len(pdf)
        finally:
            pdf.close()


class Pdf(PdfFile):
    name = "pdf"
    label = "PDF"
    distributed = True  # the file the published site leads with
    parallel = True  # --jobs N: pipeline.render.parallel

    def render(self, pub, body, design, **options) -> bytes:
        from pipeline.render import parallel, pdf

        del parallel.last_pieces[:]
        return pdf.render(pub, body, design, **options)

    def pieces(self):
        from pipeline.render import parallel

        return list(parallel.last_pieces)

    def archive_options(self, attachments) -> dict:
        return {"variant": ARCHIVE_VARIANT, "attachments": attachments}

    def archive_facts(self) -> dict:
        return {"pdf_variant": ARCHIVE_VARIANT}

    def read(self, path: Path):
        from pipeline.check import pdf

        return pdf.read(path)

    def compare(self, exp, ex):
        """The bookmarks lead to the pages their headings are printed on,
        every heading is printed, the contents page (if any) gives the
        right page numbers, and the whole text is there."""
        from pipeline.check import pdf as pdf_reader
        from pipeline.check.compare import _bookmark_pages, at, compare_contents, compare_outline, compare_text
        from pipeline.check.extracted import Finding, loose, short

        out = compare_outline(self.name, self.outline_noun, exp, ex.outline)
        drawn = {loose(e.display): exp.printed(e) for e in exp.outline}
        written = {loose(e.display): exp.source(e) for e in exp.outline}
        out = pdf_reader.bookmark_pages(ex, lambda display: drawn.get(loose(display), display),
                                        lambda display: written.get(loose(display), "")) + out
        pages = pdf_reader.heading_pages(ex, [exp.printed(e) for e in exp.outline],
                                         _bookmark_pages(exp.outline, ex.outline))
        printed: dict[int, tuple[int | None, str]] = {}
        for i, (e, page) in enumerate(zip(exp.outline, pages)):
            if page is None:
                out.append(Finding(self.name, "outline", at(exp.source(e), f"heading \"{short(e.title)}\" "
                                                         f"({exp.describe(e)}) is not printed on any page outside the contents")))
            printed[i] = (page, ex.pages[page].folio if page is not None else "")
        if ex.info.get("contents_pages"):
            out += compare_contents(self.name, exp, ex.contents, printed)
        return out + compare_text(self.name, exp, ex.text)

    def preview(self, file: Path, dest: Path, pages=4, width: int = 800) -> str:
        from pipeline.preview import render_pages

        result = render_pages(file, dest, pages=pages, width=width)
        shown = ", ".join(p.name for p in result.pages)
        return (f"{len(result.pages)} of {result.page_count} pages as PNG ({shown}) "
                f"and {result.sheet.name} in {result.sheet.parent}")

    def cover(self, path: Path, width: int) -> bytes:
        """The first page, ``width`` pixels wide, as an optimised RGB PNG."""
        import io

        import pypdfium2

        doc = pypdfium2.PdfDocument(str(path))
        try:
            page = doc[0]
            try:
                image = page.render(scale=width / page.get_width(), may_draw_forms=False).to_pil().convert("RGB")
            finally:
                page.close()
        finally:
            doc.close()
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        return buf.getvalue()


FORMAT = register(Pdf())
