"""The slide deck: a 16:9 PDF laid out by WeasyPrint from the same source
(``pipeline.render.slides``), read back by ``pipeline.check.slides`` and
held to the outline (agenda and section slides, bookmarks), the text meant
for the slides, its speaker notes, and slides nothing runs off. Built only
when asked: ``--formats slides``, or ``formats: [pdf, epub, html, slides]``
in publication.yaml."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import Format, register


class Slides(Format):
    name = "slides"
    label = "Slides"
    media_type = "application/pdf"
    heavy = True  # WeasyPrint's layout, as the PDF's
    default = False  # a deck only for a publication that asks for one
    outline_noun = "bookmark"
    drawn_text = True

    @property
    def suffix(self) -> str:
        return ".slides.pdf"  # a PDF: it opens as one

    def render(self, pub, body, design, **options) -> bytes:
        from pipeline.render import slides

        return slides.render(pub, body, design, **options)

    def warm_up(self) -> tuple[str, ...]:
        return ("weasyprint",)

    def expected(self, pub, shared):
        """What the deck must show: the content meant for the slides, and
        the speaker notes (``check.slides.expected``)."""
        from pipeline.check import slides

        return slides.expected(pub)

    def read(self, path: Path):
        from pipeline.check import slides

        return slides.read(path)

    def compare(self, exp, ex):
        """Agenda and section slides list the parts in order, the bookmarks
        are the outline and lead to their slides, every sentence meant for
        the slides is on one, the speaker notes are there."""
        from pipeline.check import slides

        return slides.compare(exp, ex)

    def conformance(self, file: Path, pub):
        """The PDF's checks (pikepdf): metadata, language, fonts embedded,
        bookmarks."""
        from pipeline.check import conformance

        return conformance.check_pdf(file, pub.meta, self.name)

    def preview(self, file: Path, dest: Path, pages=4, width: int = 800) -> str:
        """Every slide as PNG and a sheet of them all."""
        from pipeline.preview import render_slides

        slides = render_slides(file, dest, width=width)
        return (f"the slide deck's {slides.page_count} slides as PNG "
                f"({slides.pages[0].name} … {slides.pages[-1].name}) and {slides.sheet.name}")

    def pages(self, path: Path) -> int | None:
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
        try:
            return len(pdf)
        finally:
            pdf.close()


FORMAT = register(Slides())
