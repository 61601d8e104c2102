"""The single HTML page: one self-contained file that fetches nothing."""

from __future__ import annotations

from pipeline.model import Publication
from pipeline.render.common import Body, Design, build_time, serialise, style_tokens
from pipeline.render.outline import toc_tree

STYLESHEETS = ("tokens.css", "html.css")


def render(pub: Publication, body: Body, design: Design) -> bytes:
    chapters = []
    for c in pub.chapters:
        el = body.chapter(c.id)
        body.embed_images(el)
        chapters.append((c, serialise(el)))
    page = design.render(
        "html/page.html.j2",
        pub=pub,
        meta=pub.meta,
        toc=toc_tree(pub.chapters, max_level=3),
        chapters=chapters,
        css=design.css(*STYLESHEETS) + "\n" + style_tokens(pub),
        built=build_time(pub),
    )
    return page.encode("utf-8")
