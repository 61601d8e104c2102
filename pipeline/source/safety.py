"""What may run or load: raw HTML, attributes, URLs and CSS that would run code or make the
reader's browser fetch something are found; raw HTML is cleaned to HTML5 elements; raw content
for formats other than HTML is dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser


#: Elements that run code, load another document or resource, or change
#: where links go. They are refused in raw HTML: a publication's outputs
#: carry text, and images come in through Markdown (where they are checked).
_ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta",
                "link", "form", "style", "svg", "portal", "noscript", "template"}
#: Attributes that make the reader's browser fetch something.
_LOADING_ATTRS = {"src", "srcset", "data", "poster", "background", "action", "formaction", "ping",
                  "xlink:href", "lowsrc", "dynsrc", "codebase", "archive", "manifest"}
#: Attributes whose value is a URL a reader may follow (a javascript: one runs).
_URL_ATTRS = {"href", "xlink:href", "cite", "longdesc", "usemap"}
#: CSS that makes the reader's browser fetch something: a loading function
#: (url(), src(), image(), image-set(), cross-fade(), element(), IE's
#: expression()) or an @import, looked for once CSS escapes and comments are
#: decoded (``u\\72l(`` is ``url(``).
_LOADING_CSS = re.compile(r"(url|src|image|image-set|cross-fade|element|expression)\s*\(|@import", re.I)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|\r\n|(.))", re.S)
_OWN_PART = re.compile(r"url\(\s*(['\"]?)#[^)'\"]*\1\s*\)", re.I)
_RUNNING_SCHEMES = ("javascript:", "vbscript:", "data:")
#: Formats whose raw blocks and inlines pandoc's HTML-family writers copy
#: into the HTML verbatim (compared without regard to case, as pandoc does);
#: raw content for any other format is dropped from the document.
HTML_FAMILY = frozenset({"html", "html4", "html5", "revealjs", "slidy", "s5", "dzslides", "slideous",
                         "epub", "epub2", "epub3", "chunkedhtml"})
#: Where a raw <a href> may lead: a section of the publication or the web,
#: as a Markdown link may.
_LINK_OK = re.compile(r"^(#|https?:|mailto:)", re.I)


def css_loads(css: str, own_parts_allowed: bool = False) -> str | None:
    """The loading function or @import in a piece of CSS, found after its
    escapes and comments are decoded; None when it loads nothing. With
    ``own_parts_allowed`` (CSS inside an SVG), ``url(#id)`` names a part of
    the same figure and loads nothing."""
    def unescape(m):
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group(2) or ""
    decoded = re.sub(r"/\*.*?(\*/|$)", "", _CSS_ESCAPE.sub(unescape, css), flags=re.S)
    if own_parts_allowed:
        decoded = _OWN_PART.sub("", decoded)
    m = _LOADING_CSS.search(decoded)
    return None if m is None else m.group(0).replace(" ", "")


def raw_is_html(fmt: str) -> bool:
    """True when pandoc's HTML writer would copy raw content of ``fmt``."""
    return fmt.lower() in HTML_FAMILY


def _scheme_runs(url: str) -> bool:
    """True for javascript:, vbscript: and data: URLs, however they are
    spelt (browsers ignore case, control characters and blanks in them)."""
    squeezed = "".join(ch for ch in url if ch > " " and ch != "\x7f").lower()
    return squeezed.startswith(_RUNNING_SCHEMES)


def _unsafe_attr(name: str, value: str | None) -> str | None:
    name = name.lower()
    value = value or ""
    if name.startswith("on"):
        return f"the event handler {name}= would run code"
    if name in _LOADING_ATTRS:
        return f"the attribute {name}= would load a file or page"
    if name == "style" and css_loads(value):
        return f"the style= attribute would load a file ({css_loads(value)}…)"
    if name in _URL_ATTRS and _scheme_runs(value):
        return f"{name}= holds a {value.strip().split(':')[0].lower()}: URL, which would run code"
    return None


class _RawHtml(HTMLParser):
    """Reads a piece of raw HTML and lists what in it would run or load."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (what, text to find it by)

    def handle_starttag(self, tag, attrs):
        if tag in _ACTIVE_TAGS:
            self.found.append((f"the <{tag}> element would run or load something", f"<{tag}"))
            return  # one message for the element, not one more per attribute
        for name, value in attrs:
            why = _unsafe_attr(name, value)
            if why is None and name == "href" and (value or "").strip() and not _LINK_OK.match(value.strip()):
                why = (f"the link href={value.strip()[:60]!r} leads to a file or another scheme, "
                       "not to a section (#id) or a web address (https:, http:, mailto:)")
            if why:
                self.found.append((why, name))

    handle_startendtag = handle_starttag


def unsafe_html(raw: str) -> list[tuple[str, str]]:
    """What in a piece of raw HTML would run or load something: a list of
    (reason, text to find it by)."""
    parser = _RawHtml()
    parser.feed(raw)
    parser.close()
    return parser.found


#: The elements of HTML5 (WHATWG): raw HTML may use these and no others.
#: Obsolete ones (<center>, <font>, <listing>, ...) and made-up ones are
#: refused with file:line here rather than by a validator, later, with a
#: line of an output.
HTML_ELEMENTS = frozenset("""
a abbr address area article aside audio b bdi bdo blockquote br button canvas caption cite code col colgroup data
datalist dd del details dfn dialog div dl dt em fieldset figcaption figure footer h1 h2 h3 h4 h5 h6 header hgroup hr
i img input ins kbd label legend li main map mark math menu meter nav ol optgroup option output p picture pre
progress q rp rt ruby s samp search section select slot small source span strong sub summary sup table tbody td
textarea tfoot th thead time tr track u ul var video wbr
""".split()) | _ACTIVE_TAGS  # those are refused above, with their own message
#: Presentational attributes HTML5 made obsolete, which READMEs written for
#: GitHub still use (<p align="center">): dropped, the stylesheets lay out.
_OBSOLETE_ATTRS = ("align", "valign", "bgcolor", "cellpadding", "cellspacing", "hspace", "vspace", "clear",
                   "nowrap", "frame", "rules", "charoff", "char")
_OBSOLETE_ATTR = re.compile(r"""\s+(?:%s)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?(?=[\s/>]|$)"""
                            % "|".join(_OBSOLETE_ATTRS), re.I)
_TAG = re.compile(r"""<([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)(\s*/?)>""")
_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9-]*)\s*>")


def clean_html(raw: str) -> tuple[str, list[str]]:
    """Raw HTML as the outputs get it, and the tags in it that are not
    HTML5 elements. Obsolete presentational attributes are dropped;
    ``<details>`` is always open (a printed page cannot open it). The tags
    of elements HTML does not have (an mdBook's ``<Listing>``, a made-up
    ``<note>``) are dropped and their content kept: a validator would
    refuse them, and a reader sees what is inside."""
    unknown: list[str] = []

    def tag(m: re.Match) -> str:
        name, attrs, slash = m.group(1), m.group(2), m.group(3)
        if name.lower() not in HTML_ELEMENTS:
            if name not in unknown:
                unknown.append(name)
            return ""
        attrs = _OBSOLETE_ATTR.sub("", attrs)
        if name.lower() == "details" and not re.search(r"\sopen\b", attrs, re.I):
            attrs += " open"
        return f"<{name}{attrs}{slash}>"

    def end_tag(m: re.Match) -> str:
        name = m.group(1)
        if name.lower() in HTML_ELEMENTS:
            return m.group(0)
        if name not in unknown:
            unknown.append(name)
        return ""

    return _END_TAG.sub(end_tag, _TAG.sub(tag, raw)), unknown


def _empty(el) -> bool:
    """A raw block, paragraph or line left with nothing in it (the tags it
    held were dropped)."""
    if not isinstance(el, dict):
        return False
    if el.get("t") == "RawBlock":
        return not el["c"][1].strip()
    if el.get("t") in ("Para", "Plain"):
        return all(i.get("t") in ("Space", "SoftBreak", "LineBreak") or (i.get("t") == "RawInline" and not i["c"][1].strip())
                   for i in el["c"])
    return False


def _without_empty(node):
    """``node`` without the blocks ``_empty`` finds (a list that held only
    those keeps one, so that a list item or a cell keeps its shape)."""
    if isinstance(node, list):
        kept = [_without_empty(v) for v in node if not _empty(v)]
        return kept if kept or not node else [_without_empty(node[0])]
    if isinstance(node, dict):
        return {k: _without_empty(v) for k, v in node.items()}
    return node


def _foreign_raw(el) -> bool:
    return (isinstance(el, dict) and el.get("t") in ("RawBlock", "RawInline")
            and not (raw_is_html(el["c"][0]) or el["c"][0].lower().startswith(("html", "epub"))))


def _without_foreign_raw(node):
    """``node`` without raw blocks and inlines for formats other than the
    HTML family (``{=latex}``, ``{=tex}``, …): they were not checked, and no
    output may carry them."""
    if isinstance(node, list):
        return [_without_foreign_raw(v) for v in node if not _foreign_raw(v)]
    if isinstance(node, dict):
        return {k: _without_foreign_raw(v) for k, v in node.items()}
    return node
