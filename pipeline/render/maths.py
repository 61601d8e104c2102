"""Maths for the PDF: WeasyPrint lays out no MathML, so each formula of the
body (pandoc writes ``<math>`` for ``$…$`` and ``$$…$$``) is drawn by
ziamath, which renders MathML to SVG paths with the STIX Two Math font it
ships, and set as an image: inline in the line, its baseline on the text's
baseline, its size in ``em`` so that it follows the text around it; a
display formula is a centred block. The image's text alternative is the
formula's TeX, which pandoc keeps in the MathML's annotation.

The EPUB and HTML keep pandoc's MathML, which e-readers and browsers set
themselves."""

from __future__ import annotations

import base64
import re
from functools import lru_cache

from lxml import etree

MATHML = "http://www.w3.org/1998/Math/MathML"
#: The size ziamath draws at, in its points; the image is scaled to the text by ``em``.
SIZE = 20
_VIEWBOX = re.compile(r'viewBox="([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+)"')


def _is_math(el) -> bool:
    return isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "math"


def draw_maths(root) -> None:
    """Replace every ``<math>`` element under ``root`` (an lxml HTML tree)
    by an ``<img>`` of the formula."""
    for math in [el for el in root.iter() if _is_math(el)]:
        block = math.get("display") == "block"
        tex = " ".join("".join(math.xpath(".//*[local-name()='annotation']//text()")).split())
        svg, width, height, depth = _drawing(_mathml(math))
        img = etree.Element("img", {
            "class": "math display" if block else "math",
            "src": "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii"),
            "alt": tex or "formula",
            "style": f"width: {width / SIZE:.3f}em; height: {height / SIZE:.3f}em"
                     + ("" if block else f"; vertical-align: {-depth / SIZE:.3f}em"),
        })
        img.tail = math.tail
        math.getparent().replace(math, img)


def _mathml(math) -> str:
    """The formula as a MathML document of its own, in the MathML
    namespace whatever the HTML parser made of it."""
    copy = etree.fromstring(etree.tostring(math, with_tail=False))
    for el in copy.iter():
        if isinstance(el.tag, str):
            el.tag = f"{{{MATHML}}}{el.tag.rsplit('}', 1)[-1]}"
    for ann in copy.xpath(".//*[local-name()='annotation' or local-name()='annotation-xml']"):
        ann.getparent().remove(ann)
    for sem in copy.xpath(".//*[local-name()='semantics']"):  # ziamath draws no <semantics>: an <mrow> of its content
        sem.tag = f"{{{MATHML}}}mrow"
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding="unicode")


@lru_cache(maxsize=4096)
def _drawing(mathml: str) -> tuple[str, float, float, float]:
    """(SVG, width, height, depth below the baseline) of a formula, in
    ziamath's units at ``SIZE``."""
    import ziamath

    svg = ziamath.Math(mathml, size=SIZE).svg()
    m = _VIEWBOX.search(svg)
    if m is None:
        raise ValueError("ziamath drew an SVG without a viewBox")
    _x, y, width, height = (float(v) for v in m.groups())
    return svg, width, height, height + y
