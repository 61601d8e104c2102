"""The EPUB 3: one XHTML document per chapter, a navigation document that
mirrors the outline, full metadata, a cover; zipped deterministically."""

from __future__ import annotations

import io
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from pipeline.model import Publication
from pipeline.render.common import Body, Design, build_time, media_type, script_sheets, serialise, style_tokens
from pipeline.render.linebreak import strict_breaks
from pipeline.render.outline import toc_tree

STYLESHEETS = ("tokens.css", "epub.css")


@dataclass
class Document:
    """One XHTML file of the spine."""

    id: str
    href: str
    title: str
    content: str  # the chapter's XHTML, without <body>

    @property
    def properties(self) -> str:
        """The manifest item's properties: a document with MathML must say so."""
        return "mathml" if "<math" in self.content else ""


def render(pub: Publication, body: Body, design: Design) -> bytes:
    meta = pub.meta
    built = build_time(pub)
    images: dict[str, str] = {}  # name in the body -> href inside the EPUB
    for i, name in enumerate(sorted(body.images), 1):
        images[name] = f"images/image-{i}{PurePosixPath(name).suffix.lower()}"

    trees = []
    documents: list[Document] = []
    where: dict[str, str] = {}  # heading id -> document href
    for n, c in enumerate(pub.chapters, 1):
        el = body.chapter(c.id)
        strict_breaks(el)  # no line starts with —— or …… either (linebreak)
        for img in el.iter("img"):
            if img.get("src") in images:
                img.set("src", "../" + images[img.get("src")])
        href = f"text/{n:02d}-{c.id}.xhtml"
        for h in c.headings:
            where[h.id] = href
        # and every other id a link may name ([x]{#id}, <a id="x">, a figure)
        for node in el.iter():
            ident = node.get("id") if isinstance(node.tag, str) else None
            if ident and ident not in where:
                where[ident] = href
        trees.append((href, c.title or meta.title, el))
    # links between chapters must name the document that holds the target
    for n, (href, title, el) in enumerate(trees, 1):
        for a in el.iter("a"):
            target = a.get("href", "")
            if target.startswith("#") and target[1:] in where and where[target[1:]] != href:
                a.set("href", "../" + where[target[1:]] + target)
        xhtml = serialise(el, method="xml")
        documents.append(Document(f"doc-{n:02d}", href, title, xhtml))

    css = design.css(*STYLESHEETS, *script_sheets(pub)) + "\n" + style_tokens(pub)
    ctx = dict(pub=pub, meta=meta, built=built, modified=built.strftime("%Y-%m-%dT%H:%M:%SZ"),
               documents=documents, where=where, toc=toc_tree(pub.chapters), images=images,
               media_type=media_type, cover_lines=textwrap.wrap(meta.title, 26))
    files: list[tuple[str, bytes]] = [
        ("META-INF/container.xml", design.render("epub/container.xml.j2").encode()),
        ("EPUB/package.opf", design.render("epub/package.opf.j2", **ctx).encode()),
        ("EPUB/nav.xhtml", design.render("epub/nav.xhtml.j2", **ctx).encode()),
        ("EPUB/cover.xhtml", design.render("epub/cover.xhtml.j2", **ctx).encode()),
        ("EPUB/images/cover.svg", design.render("epub/cover.svg.j2", **ctx).encode()),
        ("EPUB/css/epub.css", css.encode()),
    ]
    for d in documents:
        files.append((f"EPUB/{d.href}", design.render("epub/chapter.xhtml.j2", doc=d, **ctx).encode()))
    for name, href in images.items():
        files.append((f"EPUB/{href}", body.images[name]))
    return _zip(files, built.timetuple()[:6])


def _zip(files: list[tuple[str, bytes]], when: tuple) -> bytes:
    """mimetype first and stored, then every file in a fixed order with a
    fixed time: the same publication gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        def add(name: str, data: bytes, method: int) -> None:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            info.create_system = 3
            z.writestr(info, data)

        add("mimetype", b"application/epub+zip", zipfile.ZIP_STORED)
        for name, data in sorted(files):
            add(name, data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()
