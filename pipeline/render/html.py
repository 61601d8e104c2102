"""The single HTML page: one self-contained file that fetches nothing."""

from __future__ import annotations

import copy

from pipeline.model import Publication
from pipeline.render.common import Body, Design, build_time, data_uri, style_tokens
from pipeline.render.outline import toc_tree

STYLESHEETS = ("tokens.css", "html.css")


def render(pub: Publication, body: Body, design: Design) -> bytes:
    chapters = []
    for c in pub.chapters:
        el = copy.deepcopy(body.chapters[c.id])
        for img in el.iter("img"):
            src = img.get("src", "")
            if src in pub.assets:
                img.set("src", data_uri(pub.assets[src]))
        chapters.append((c, "".join(_serialise(child) for child in el)))
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


def _serialise(el) -> str:
    from lxml import etree

    return etree.tostring(el, method="html", encoding="unicode")
