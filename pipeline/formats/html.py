"""The HTML page: one self-contained file (``pipeline.render.html``), read
back by ``pipeline.check.html``: its headings and its contents must give
the outline, it must carry the whole text, and the Nu Html Checker must
pass it."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import Format, register


class Html(Format):
    name = "html"
    label = "HTML"
    media_type = "text/html; charset=utf-8"
    outline_noun = "heading"
    validator = "Nu Html Checker"

    def render(self, pub, body, design, **options) -> bytes:
        from pipeline.render import html

        return html.render(pub, body, design, **options)

    def read(self, path: Path):
        from pipeline.check import html

        return html.read(path)

    def compare(self, exp, ex):
        from pipeline.check.compare import compare_contents, compare_outline, compare_text

        return (compare_outline(self.name, self.outline_noun, exp, ex.outline)
                + compare_contents(self.name, exp, ex.contents)
                + compare_text(self.name, exp, ex.text))

    def start_validator(self, file: Path, previous: Path | None = None):
        from pipeline.check import conformance

        return conformance.reuse(self.name, file, previous) or conformance.start_vnu(file)

    def preview(self, file: Path, dest: Path, pages=4, width: int = 800) -> str | None:
        from pipeline.screens import screenshot_html

        screens = screenshot_html(file, dest)
        if not screens:
            return None
        return f"the HTML page at phone and desktop widths, light and dark ({', '.join(p.name for p in screens)})"

    def locate_in_source(self, file: Path, result, pub) -> None:
        from pipeline.check import conformance

        conformance.locate_in_source(self.name, file, result, pub)


FORMAT = register(Html())
