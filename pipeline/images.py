"""What the source check asks of an image file before any format shows it.

An SVG figure is XML the outputs carry: it is parsed here without ever
expanding an entity, reading a DTD or touching the network, and refused
when it could run code (``<script>``, ``on…=`` handlers, ``javascript:``
links), embed HTML (``<foreignObject>``) or make the reader's software
load something from outside the figure (``href``/``xlink:href`` or CSS
``url()`` to anything but a part of the figure itself, ``@import``, an
``<?xml-stylesheet?>``). A raster image is opened far enough to read its
size: one past ``limits.image_megapixels`` would take the PDF's memory
(a 48 kB PNG can hold 400 million pixels).

``problems(path, name, megapixels)`` returns (message, hint) pairs; the
caller places them at the Markdown line that shows the image.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from lxml import etree

#: Elements of an SVG that run code, embed another document or pull one in.
_ACTIVE = {"script": "a <script> element, which would run code",
           "handler": "a <handler> element, which would run code",
           "listener": "a <listener> element, which would run code",
           "foreignobject": "a <foreignObject> element, which embeds HTML the checks do not see",
           "iframe": "an <iframe> element, which would load a page",
           "embed": "an <embed> element, which would load something",
           "object": "an <object> element, which would load something",
           "include": "an XInclude <include>, which would pull in another file"}
#: Raster images an SVG may hold inline (an <image> with a data: URL of
#: these types draws pixels; an SVG or HTML one could hold anything).
_INLINE_IMAGE = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp)[;,]", re.I)
#: Elements that change an attribute as the figure plays.
_ANIMATIONS = {"set", "animate", "animatemotion", "animatetransform", "animatecolor"}
#: Elements whose href draws an image rather than following a link.
_IMAGE_ELEMENTS = {"image", "feimage"}
#: The DTDs an SVG may name in its DOCTYPE (never read: the parser loads no
#: DTD); SVG editors and Graphviz write these.
_W3C_DTD = re.compile(r"^https?://www\.w3\.org/", re.I)
_HINT = ("remove it from the SVG (an SVG editor's \"plain SVG\" or \"optimised SVG\" export leaves it out), or save "
         "the figure as PNG; a figure may draw, not run or load anything")
#: The SVG files read at most (a figure is kilobytes; the parser keeps
#: its own limits on depth and text too).
SVG_MAX_BYTES = 20_000_000


def problems(path: Path, name: str, megapixels: float) -> list[tuple[str, str]]:
    """(message, hint) for each thing in the image file ``path`` (named
    ``name`` in the Markdown) that no output may carry."""
    suffix = path.suffix.lower()
    if suffix == ".svgz":
        return [(f"the image '{name}' is a compressed SVG (.svgz), which the outputs cannot show as it is",
                 "save it uncompressed, as .svg")]
    if suffix == ".svg":
        return svg_problems(path, name)
    return raster_problems(path, name, megapixels)


def raster_problems(path: Path, name: str, megapixels: float) -> list[tuple[str, str]]:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the size is judged here, against the limit
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
            why = " ".join(str(exc).split()).replace(str(path), name)
            return [(f"the image '{name}' cannot be read as an image ({why[:80]})",
                     "save it again as PNG, JPEG or SVG, or correct the path")]
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    pixels = width * height
    if pixels > megapixels * 1_000_000:
        return [(f"the image '{name}' is {width} x {height} pixels ({pixels / 1e6:.3g} megapixels), more than the limit "
                 f"of {megapixels:g} megapixels (limits.image_megapixels)",
                 "scale it down (a page needs at most some 3500 pixels across, at 300 dpi); if a real publication "
                 "needs more, raise it with `limits: {image_megapixels: N}` in publication.yaml")]
    return []


def svg_problems(path: Path, name: str) -> list[tuple[str, str]]:
    """What in an SVG file could run code or load anything, one (message,
    hint) per kind of thing, naming the SVG's line where it first is."""
    try:
        size = path.stat().st_size
        if size > SVG_MAX_BYTES:
            return [(f"the SVG image '{name}' is {size / 1e6:.0f} MB, more than a figure needs "
                     f"(at most {SVG_MAX_BYTES / 1e6:.0f} MB)", "simplify it, or save the figure as PNG")]
        data = path.read_bytes()
    except OSError as exc:
        return [(f"the image '{name}' cannot be read ({exc.strerror or exc})", "check the file's permissions")]
    found: dict[str, tuple[str, int | None]] = {}  # kind -> (message, SVG line), the first of each kind

    def add(kind: str, message: str, line: int | None) -> None:
        found.setdefault(kind, (message, line))

    # declarations in the DOCTYPE are found in the text first: libxml2 stops
    # at an entity that would expand too far, before any tree is made
    subset = re.search(rb"<!DOCTYPE[^>\[]*\[", data)
    if subset or b"<!ENTITY" in data:
        at = subset.start() if subset else data.find(b"<!ENTITY")
        add("dtd", "declarations in its DOCTYPE (<!ENTITY …> or others), which could expand without end",
            data[:at].count(b"\n") + 1)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_blank_text=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        if found:
            return _messages(name, found)
        why = " ".join(str(exc.msg or exc).split())
        why = re.sub(r"(\s*\(<string>, line \d+\)|, line \d+, column \d+)+$", "", why)
        return [(f"the SVG image '{name}' is not well-formed XML (its line {exc.lineno}: {why[:100]})",
                 "open it in an SVG editor and save it again, or save the figure as PNG")]
    if root is None:
        return [(f"the SVG image '{name}' is empty", "save the figure again, or remove the image")]
    try:
        _inspect(root, data, add)
    except (ValueError, TypeError, etree.LxmlError) as exc:  # XML lxml parses but cannot walk: no figure
        return [(f"the SVG image '{name}' cannot be read as SVG ({' '.join(str(exc).split())[:80]})",
                 "open it in an SVG editor and save it again, or save the figure as PNG")]
    return _messages(name, found)


def _inspect(root, data: bytes, add) -> None:
    """Calls ``add(kind, message, line)`` for everything in the parsed SVG
    ``root`` that could run code or load anything."""
    tree = root.getroottree()
    info = tree.docinfo
    doctype_line = data[:max(0, data.find(b"<!DOCTYPE"))].count(b"\n") + 1
    dtd = info.internalDTD  # the same, for a file the text search missed (UTF-16, say)
    if dtd is not None and (list(dtd.iterentities()) or list(dtd.iterelements())):
        add("dtd", "declarations in its DOCTYPE (<!ENTITY …> or others), which could expand without end", doctype_line)
    if info.system_url and not _W3C_DTD.match(info.system_url):
        add("dtd", f"a DOCTYPE naming the file {info.system_url[:60]!r}, outside the figure", doctype_line)
    for node in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(node, etree._ProcessingInstruction) and node.target.lower() == "xml-stylesheet":
            add("stylesheet", "an <?xml-stylesheet?>, which would load a stylesheet", node.sourceline)

    for el in root.iter():
        if isinstance(el, etree._Entity):
            add("dtd", f"the entity reference {el.text}, which would pull in text declared elsewhere", el.sourceline)
            continue
        if not isinstance(el.tag, str):  # comments, processing instructions
            if isinstance(el, etree._ProcessingInstruction) and el.target.lower() == "xml-stylesheet":
                add("stylesheet", "an <?xml-stylesheet?>, which would load a stylesheet", el.sourceline)
            continue
        local = etree.QName(el).localname.lower()
        if local in _ACTIVE:
            add(local, _ACTIVE[local], el.sourceline)
        if local == "style":
            css = "".join(el.itertext())
            loads = _css_loads_outside(css)
            if loads:
                add("css-style", f"a <style> that would load a file ({loads}…)", el.sourceline)
        if local in _ANIMATIONS:  # <set attributeName="href" to="javascript:…"> changes a link as it plays
            target = (el.get("attributeName") or "").rsplit(":", 1)[-1].strip().lower()
            if target.startswith("on"):
                add("on", f"an animation of the event handler {target}=, which would run code", el.sourceline)
            elif target == "href":
                for value in (el.get(a) for a in ("to", "from", "by", "values")):
                    for one in (value or "").split(";"):
                        why = _href_problem("a", one) if one.strip() else None
                        if why:
                            add(why[0], why[1], el.sourceline)
        for key, value in el.attrib.items():
            attr = etree.QName(key).localname.lower()
            value = value or ""
            if attr.startswith("on"):
                add("on", f"the event handler {attr}=, which would run code", el.sourceline)
            elif attr == "href":
                why = _href_problem(local, value)
                if why:
                    add(why[0], why[1], el.sourceline)
            else:
                loads = _css_loads_outside(value) if ("(" in value or "@" in value) else None
                if loads:
                    add("css-attribute", f"the attribute {attr}= that would load a file ({loads}…)", el.sourceline)


def _messages(name: str, found: dict[str, tuple[str, int | None]]) -> list[tuple[str, str]]:
    return [(f"the SVG image '{name}' holds {message}" + (f" (its line {line})" if line else ""), _HINT)
            for message, line in found.values()]


def _href_problem(element: str, value: str) -> tuple[str, str] | None:
    """(kind, message) when an href in an SVG leads outside the figure."""
    squeezed = "".join(ch for ch in value if ch > " " and ch != "\x7f")
    if not squeezed or squeezed.startswith("#"):
        return None
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", squeezed)
    if scheme and scheme.group(1).lower() in ("javascript", "vbscript"):
        return "script-link", f"a {scheme.group(1).lower()}: link, which would run code"
    if element in _IMAGE_ELEMENTS and _INLINE_IMAGE.match(squeezed):
        return None  # pixels carried in the figure itself
    if scheme and scheme.group(1).lower() == "data":
        return "data-link", "a data: URL that is not a PNG, JPEG, GIF or WebP image, which could carry anything"
    shown = value.strip()[:60]
    if element == "a":
        return "link", (f"a link to {shown!r}: a figure is shown as an image, where no link can be followed, "
                        "and a figure refers only to its own parts (#id)")
    if scheme or squeezed.startswith("//"):
        return "outside", f"a reference to {shown!r}, outside the publication: a figure never loads anything"
    return "outside", (f"a reference to the file {shown!r}, which the outputs do not carry: a figure refers only "
                       "to its own parts (#id)")


def _css_loads_outside(css: str) -> str | None:
    """The loading function or @import in CSS, once references to the
    figure's own parts (``url(#gradient)``) are set aside."""
    from pipeline.source import css_loads

    return css_loads(css, own_parts_allowed=True)
