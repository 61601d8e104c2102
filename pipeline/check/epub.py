"""Read an EPUB back from the zip alone: the package document's spine, the
navigation document's ``toc`` (its nesting gives the levels), and the
headings and text of every spine document."""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

from pipeline.check.extracted import Entry, Extracted, Finding, loose, short, spaced, split_number
from pipeline.check.html import HEADINGS, _local, first_heading, heading_entry, text_of

NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "x": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
}
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class _Broken(Exception):
    pass


def read(path: Path) -> Extracted:
    out = Extracted("epub")
    try:
        with zipfile.ZipFile(path) as z:
            _read(z, out)
    except zipfile.BadZipFile as exc:
        out.problems.append(Finding("epub", "structure", f"the file is not a zip archive: {exc}"))
    except _Broken as exc:
        out.problems.append(Finding("epub", "structure", str(exc)))
    return out


def _xml(z: zipfile.ZipFile, name: str):
    try:
        data = z.read(name)
    except KeyError:
        raise _Broken(f"{name} is missing from the archive") from None
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _Broken(f"{name} is not well-formed XML: {exc}") from None


def _resolve(base: str, href: str) -> tuple[str, str]:
    """An href inside the archive, relative to the document ``base``, as
    (archive path, fragment)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return "", parts.fragment
    path = posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(parts.path))) if parts.path else base
    return path, unquote(parts.fragment)


def _read(z: zipfile.ZipFile, out: Extracted) -> None:
    container = _xml(z, "META-INF/container.xml")
    rootfile = container.find(".//c:rootfile", NS)
    if rootfile is None or not rootfile.get("full-path"):
        raise _Broken("META-INF/container.xml names no package document")
    opf_path = rootfile.get("full-path")
    opf = _xml(z, opf_path)

    manifest: dict[str, dict] = {}
    for item in opf.iterfind("opf:manifest/opf:item", NS):
        path, _ = _resolve(opf_path, item.get("href", ""))
        manifest[item.get("id")] = {"path": path, "type": item.get("media-type", ""),
                                    "properties": (item.get("properties") or "").split()}
    spine: list[str] = []
    for ref in opf.iterfind("opf:spine/opf:itemref", NS):
        item = manifest.get(ref.get("idref"))
        if item is None:
            out.problems.append(Finding("epub", "structure", f"the spine refers to '{ref.get('idref')}', which is not in the manifest"))
            continue
        spine.append(item["path"])
    navs = [m["path"] for m in manifest.values() if "nav" in m["properties"]]
    if len(navs) != 1:
        raise _Broken(f"the package has {len(navs)} navigation documents; it must have exactly one")
    nav_path = navs[0]

    # the spine documents: headings (with their place in reading order) and text
    places: dict[tuple[str, str], tuple[int, int, object]] = {}  # (doc, id) -> (spine index, element index, element)
    docs: dict[str, object] = {}
    for n, doc_path in enumerate(spine):
        if doc_path == nav_path:
            continue
        try:
            root = _xml(z, doc_path)
        except _Broken as exc:
            out.problems.append(Finding("epub", "structure", str(exc)))
            continue
        docs[doc_path] = root
        body = root.find("x:body", NS)
        if body is None:
            continue
        for i, el in enumerate(root.iter()):
            if isinstance(el.tag, str) and el.get("id"):
                places.setdefault((doc_path, el.get("id")), (n, i, el))
        for h in body.iter(*(f"{{{NS['x']}}}{h}" for h in HEADINGS)):
            e = heading_entry(h)
            e.target = f"{doc_path}#{e.target}" if e.target else doc_path
            out.headings.append(e)
        out.text.append(text_of(body))

    nav_root = _xml(z, nav_path)
    tocs = [n for n in nav_root.iter(f"{{{NS['x']}}}nav") if "toc" in (n.get(EPUB_TYPE) or "").split()]
    if len(tocs) != 1:
        raise _Broken(f"the navigation document has {len(tocs)} toc navs; it must have exactly one")
    ol = tocs[0].find("x:ol", NS)
    if ol is None:
        out.problems.append(Finding("epub", "outline", "the navigation document's toc has no list"))
        return
    _walk(ol, 1, nav_path, out)

    # every entry leads to a heading of a spine document that says what the
    # entry says, and the entries follow the reading order
    previous = None
    for e in out.outline:
        path, frag = e.target.split("#", 1) if "#" in e.target else (e.target, "")
        if path not in spine:
            where = "is not in the archive" if path not in z.namelist() else "is not in the spine"
            out.problems.append(Finding("epub", "outline", f"contents entry \"{short(e.display)}\" leads to {path or e.target}, which {where}"))
            continue
        if frag and (path, frag) not in places:
            out.problems.append(Finding("epub", "outline", f"contents entry \"{short(e.display)}\" leads to #{frag}, which is not an id in {path}"))
            continue
        if frag:
            n, i, el = places[(path, frag)]
            h = first_heading(el)
        else:
            n, i = spine.index(path), 0
            body = docs[path].find("x:body", NS) if path in docs else None
            h = first_heading(body) if body is not None else None
        if h is None:
            out.problems.append(Finding("epub", "outline", f"contents entry \"{short(e.display)}\" leads to {e.target}, which holds no heading"))
        else:
            shown = spaced(text_of(h, tex=True))
            if loose(shown) != loose(e.display):
                out.problems.append(Finding("epub", "outline",
                                            f"contents entry \"{short(e.display)}\" leads to the heading \"{short(shown)}\""))
        if previous is not None and (n, i) < previous[0]:
            out.problems.append(Finding("epub", "outline",
                                        f"contents entry \"{short(e.display)}\" is listed after \"{short(previous[1])}\" "
                                        f"but comes before it in the reading order (spine)"))
        previous = ((n, i), e.display)
    out.info = {"package": opf_path, "navigation": nav_path, "spine": spine}


def _walk(ol, level: int, nav_path: str, out: Extracted) -> None:
    for li in ol.iterfind("x:li", NS):
        label = next((c for c in li if isinstance(c.tag, str) and _local(c.tag) in ("a", "span")), None)
        if label is None:
            out.problems.append(Finding("epub", "outline", f"a level-{level} entry of the toc has neither a link nor a label"))
        else:
            text = spaced(text_of(label))
            number, title = split_number(text)
            target = ""
            if _local(label.tag) == "a":
                path, frag = _resolve(nav_path, label.get("href", ""))
                target = f"{path}#{frag}" if frag else path
            else:
                out.problems.append(Finding("epub", "outline", f"contents entry \"{short(text)}\" is not a link"))
            out.outline.append(Entry(level, number, title, target=target))
        child = li.find("x:ol", NS)
        if child is not None:
            _walk(child, level + 1, nav_path, out)
