"""The slide deck: a 16:9 PDF laid out by WeasyPrint from the same source
(``pipeline.render.slides``), read back by ``pipeline.check.slides`` and
held to the outline (agenda and section slides, bookmarks), the text meant
for the slides, its speaker notes, and slides nothing runs off. Built only
when asked: ``--formats slides``, or ``formats: [pdf, epub, html, slides]``
in publication.yaml."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import register
from pipeline.formats.pdf import PdfFile


class Slides(PdfFile):
    name = "slides"
    label = "Slides"
    default = False  # a deck only for a publication that asks for one

    @property
    def suffix(self) -> str:
        return ".slides.pdf"  # a PDF: it opens as one

    def render(self, pub, body, design, **options) -> bytes:
        from pipeline.render import slides

        return slides.render(pub, body, design, **options)

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

    def preview(self, file: Path, dest: Path, pages=4, width: int = 800) -> str:
        """Every slide as PNG and a sheet of them all."""
        from pipeline.preview import render_slides

        slides = render_slides(file, dest, width=width)
        return (f"the slide deck's {slides.page_count} slides as PNG "
                f"({slides.pages[0].name} … {slides.pages[-1].name}) and {slides.sheet.name}")


FORMAT = register(Slides())
