"""Read the single HTML page back: its headings, its contents list and its
text, from the file alone."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from lxml import etree
from lxml import html as lxml_html

from pipeline.check.extracted import ContentsLine, Entry, Extracted, Finding, loose, short, spaced

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
#: Elements whose text is not running text: superscripts (footnote calls
#: among them) are left out of the comparison in every format.
SKIP = {"sup", "script", "style", "template"}


#: What stands in the text compared for a formula (``compare.MATH``).
MATH = "\ufffc"


def text_of(el, skip: set[str] = SKIP, tex: bool = False) -> str:
    """The text of an element as a reader sees it, without skipped elements
    (their tails are kept) and without comments. A formula (``<math>``) is
    one ``MATH`` character, or with ``tex`` the TeX it was written in (its
    annotation: a heading's title in the outline, the contents and the
    bookmarks is plain text, where a formula stands as its TeX); a task
    list's checkbox is the ballot box pandoc reads ``[ ]`` and ``[x]`` as,
    ☐ or ☒."""
    out: list[str] = []

    def go(e) -> None:
        if isinstance(e.tag, str) and _local(e.tag) not in skip:
            name = _local(e.tag)
            if name == "math":
                source = [a for a in e.iter() if isinstance(a.tag, str) and _local(a.tag) == "annotation"
                          and a.get("encoding") == "application/x-tex"]
                out.append(" ".join("".join(source[0].itertext()).split()) if tex and source else MATH)
                return
            if name == "input" and (e.get("type") or "").lower() == "checkbox":
                out.append("\u2612 " if e.get("checked") is not None else "\u2610 ")
                return
            if e.text:
                out.append(e.text)
            for child in e:
                go(child)
                if child.tail:
                    out.append(child.tail)

    go(el)
    return "".join(out)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _has_class(el, name: str) -> bool:
    return name in (el.get("class") or "").split()


def heading_entry(h, level_offset: int = 1) -> Entry:
    """A heading element as an outline entry. A numbered heading prints its
    number first, in ``<span class="number">``."""
    level = int(_local(h.tag)[1]) - level_offset
    number = ""
    first = next((c for c in h if isinstance(c.tag, str)), None)
    if first is not None and _local(first.tag) == "span" and _has_class(first, "number") and not (h.text or "").strip():
        number = spaced(text_of(first))
    full = spaced(text_of(h, tex=True))
    title = full[len(number):].strip() if number and full.startswith(number) else full
    return Entry(level, number, title, target=heading_target(h))


def heading_target(h) -> str:
    """The id a link to this heading uses: its own, or that of the section
    it opens."""
    if h.get("id"):
        return h.get("id")
    parent = h.getparent()
    if parent is not None and parent.get("id"):
        first = next((c for c in parent if isinstance(c.tag, str)), None)
        if first is h:
            return parent.get("id")
    return ""


def first_heading(el):
    if isinstance(el.tag, str) and _local(el.tag) in HEADINGS:
        return el
    return next((e for e in el.iter() if isinstance(e.tag, str) and _local(e.tag) in HEADINGS), None)


def read(path: Path) -> Extracted:
    out = Extracted("html")
    data = Path(path).read_bytes()
    try:
        root = lxml_html.document_fromstring(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        out.problems.append(Finding("html", "structure", f"the page is not UTF-8 ({exc.reason} at byte {exc.start})"))
        return out
    except (etree.ParserError, ValueError) as exc:
        out.problems.append(Finding("html", "structure", f"the page cannot be parsed: {exc}"))
        return out

    h1 = root.xpath("//h1")
    if len(h1) != 1:
        out.problems.append(Finding("html", "structure",
                                    f"the page has {len(h1)} h1 elements; it must have exactly one, the publication's title"))

    ids: dict[str, object] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") is not None:
            ident = el.get("id")
            if ident in ids:
                out.problems.append(Finding("html", "structure", f"the id '{ident}' is used twice"))
            ids.setdefault(ident, el)

    mains = root.xpath("//main")
    if len(mains) != 1:
        out.problems.append(Finding("html", "structure", f"the page has {len(mains)} main elements; the text must be in exactly one"))
    # a page cut off in its head has no body: the whole page stands for it
    main = mains[0] if mains else (root.body if root.body is not None else root)
    for h in main.iter(*HEADINGS):
        if _local(h.tag) == "h1":
            continue  # the title; counted above
        out.outline.append(heading_entry(h))
    out.text = [text_of(main)]

    navs = root.xpath("//nav[@id='contents']")
    if not navs:
        out.problems.append(Finding("html", "contents", "the page has no contents (nav id=\"contents\")"))
    else:
        _read_contents(navs[0], ids, out)
    out.info = {"ids": len(ids), "contents_links": len(out.contents)}
    return out


def _read_contents(nav, ids: dict, out: Extracted) -> None:
    """Every link of the contents must lead to a heading of the page that
    prints what the link says, in the page's order."""
    order = {el: i for i, el in enumerate(nav.getroottree().iter())}
    previous = None  # (position, text)
    for a in nav.iter("a"):
        href = a.get("href") or ""
        text = spaced(text_of(a))
        depth = sum(1 for anc in a.iterancestors() if _local(anc.tag) in ("ol", "ul")
                    and nav in anc.iterancestors())
        line = ContentsLine(text, level=depth, target=href)
        out.contents.append(line)
        if not href.startswith("#"):
            out.problems.append(Finding("html", "contents", f"contents entry \"{short(text)}\" links to '{href}', not to a heading of the page"))
            continue
        ident = unquote(href[1:])
        target = ids.get(ident)
        if target is None:
            out.problems.append(Finding("html", "contents", f"contents entry \"{short(text)}\" links to #{ident}, which is not an id in the page"))
            continue
        h = first_heading(target)
        if h is None:
            out.problems.append(Finding("html", "contents", f"contents entry \"{short(text)}\" links to #{ident}, which holds no heading"))
            continue
        shown = spaced(text_of(h, tex=True))
        if loose(shown) not in loose(text):
            out.problems.append(Finding("html", "contents",
                                        f"contents entry \"{short(text)}\" leads to the heading \"{short(shown)}\""))
        pos = order.get(h, -1)
        if previous is not None and pos < previous[0]:
            out.problems.append(Finding("html", "contents",
                                        f"contents entry \"{short(text)}\" is listed after \"{short(previous[1])}\" "
                                        f"but its heading comes before it in the page"))
        previous = (pos, text)
