"""The EPUB 3 book (``pipeline.render.epub``), read back by
``pipeline.check.epub``: its navigation document and its headings must
both give the outline, it must carry the whole text, and W3C's EPUBCheck
must pass it."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import Format, register


class Epub(Format):
    name = "epub"
    label = "EPUB"
    media_type = "application/epub+zip"
    outline_noun = "contents entry"
    validator = "EPUBCheck"

    def render(self, pub, body, design, **options) -> bytes:
        from pipeline.render import epub

        return epub.render(pub, body, design, **options)

    def read(self, path: Path):
        from pipeline.check import epub

        return epub.read(path)

    def compare(self, exp, ex):
        from pipeline.check.compare import compare_outline, compare_text

        return (compare_outline(self.name, self.outline_noun, exp, ex.outline)
                + compare_outline(self.name, "heading", exp, ex.headings)
                + compare_text(self.name, exp, ex.text))

    def start_validator(self, file: Path, previous: Path | None = None):
        from pipeline.check import conformance

        return conformance.reuse(self.name, file, previous) or conformance.start_epubcheck(file)

    def locate_in_source(self, file: Path, result, pub) -> None:
        from pipeline.check import conformance

        conformance.locate_in_source(self.name, file, result, pub)


FORMAT = register(Epub())
