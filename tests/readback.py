"""Independent readers for the tests: pull the text out of finished files
with nothing but the file formats' own libraries, so a test never trusts
the pipeline's own readers."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path

import pypdfium2 as pdfium
from lxml import etree, html as lxml_html

XHTML = "{http://www.w3.org/1999/xhtml}"


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # A word broken at a line end shows a hyphen whether the break was a
    # hyphenation point or a real hyphen; hyphens are left out of comparisons.
    text = re.sub("[-\u2010\u00ad]\\s*[\r\n]+\\s*", "", text)
    text = re.sub("(?<=\\w)[-\u2010](?=\\w)", "", text)
    text = text.replace("\u00ad", "").replace("\ufffe", "").replace("\u0002", "")
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                         "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u00a0": " "}))
    return " ".join(text.split())


def pdf_pages(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def pdf_text(path: Path) -> str:
    return normalise("\n".join(pdf_pages(path)))


def pdf_bookmarks(path: Path) -> list[tuple[int, str, int]]:
    """(level, title, page index) of every bookmark, in order."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [(item.level, item.get_title(), item.get_dest().get_index()) for item in pdf.get_toc()]
    finally:
        pdf.close()


def html_text(path: Path) -> str:
    doc = lxml_html.fromstring(path.read_bytes())
    for bad in doc.xpath("//style|//script"):
        bad.getparent().remove(bad)
    return normalise(" ".join(doc.xpath("//body//text()")))


def epub_documents(path: Path) -> list[tuple[str, bytes]]:
    """(name, content) of the spine's documents, in reading order."""
    with zipfile.ZipFile(path) as z:
        container = etree.fromstring(z.read("META-INF/container.xml"))
        opf_name = container.find(".//{*}rootfile").get("full-path")
        opf = etree.fromstring(z.read(opf_name))
        base = opf_name.rsplit("/", 1)[0] + "/" if "/" in opf_name else ""
        items = {i.get("id"): i.get("href") for i in opf.iter("{*}item")}
        return [(base + items[r.get("idref")], z.read(base + items[r.get("idref")]))
                for r in opf.iter("{*}itemref")]


def epub_text(path: Path) -> str:
    parts = []
    for _name, data in epub_documents(path):
        doc = etree.fromstring(data)
        body = doc.find(f"{XHTML}body")
        parts.append(" ".join(body.itertext()))
    return normalise(" ".join(parts))


def epub_nav(path: Path) -> list[tuple[int, str]]:
    """(depth, text) of every entry of the navigation document's toc."""
    with zipfile.ZipFile(path) as z:
        opf_name = etree.fromstring(z.read("META-INF/container.xml")).find(".//{*}rootfile").get("full-path")
        opf = etree.fromstring(z.read(opf_name))
        nav_href = next(i.get("href") for i in opf.iter("{*}item") if "nav" in (i.get("properties") or "").split())
        base = opf_name.rsplit("/", 1)[0] + "/" if "/" in opf_name else ""
        nav = etree.fromstring(z.read(base + nav_href))
    toc = next(n for n in nav.iter(f"{XHTML}nav") if n.get("{http://www.idpf.org/2007/ops}type") == "toc")
    out = []

    def walk(ol, depth):
        for li in ol.findall(f"{XHTML}li"):
            a = li.find(f"{XHTML}a")
            out.append((depth, normalise("".join(a.itertext()))))
            sub = li.find(f"{XHTML}ol")
            if sub is not None:
                walk(sub, depth + 1)

    walk(toc.find(f"{XHTML}ol"), 1)
    return out
