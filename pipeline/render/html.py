"""The single HTML page: one self-contained file that fetches nothing."""

from __future__ import annotations

from pipeline.model import Publication
from pipeline.render.common import Body, Design, build_time, data_uri, script_sheets, scroll_boxes, serialise, style_tokens
from pipeline.render.linebreak import strict_breaks
from pipeline.render.outline import toc_tree
from pipeline.render.webfonts import web_fonts

STYLESHEETS = ("tokens.css", "html.css")


def render(pub: Publication, body: Body, design: Design) -> bytes:
    chapters = []
    words = design.words(pub.meta.language)
    for c in pub.chapters:
        el = body.chapter(c.id)
        body.embed_images(el)
        scroll_boxes(el, words)
        strict_breaks(el)  # no line starts with —— or …… either (linebreak)
        chapters.append((c, serialise(el)))
    context = dict(pub=pub, meta=pub.meta, toc=toc_tree(pub.chapters, max_level=3), chapters=chapters,
                   built=build_time(pub))
    stacks = pub.fonts
    css = design.css(*STYLESHEETS, *script_sheets(pub)) + "\n" + (stacks.tokens() + stacks.html_code_css() if stacks else "") + style_tokens(pub)
    # the fonts are subset to the characters of the page they are part of
    text = design.render("html/page.html.j2", css=css, **context)
    fonts = [{"family": f.family, "weight": f.weight, "style": f.style, "uri": data_uri(f.filename, f.data),
              "format": f.format}
             for f in web_fonts(text, stacks)]
    css = design.render("css/webfonts.css.j2", fonts=fonts) + css
    return design.render("html/page.html.j2", css=css, **context).encode("utf-8")
