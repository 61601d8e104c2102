"""The slide deck: a 16:9 PDF laid out by WeasyPrint from the same source
as the report.

The deck is made of the publication's outline and body:

- a title slide (title, subtitle, authors, organisation, edition);
- an agenda slide listing the parts, once after the title and again before
  each part with that part marked (the flagship's own slides do so);
- a section slide per part (its number, label and title);
- content slides: each heading down to ``SLIDE_LEVELS`` starts one; a
  part's or a chapter's text before its first section has a slide of its
  own under the chapter's title; deeper headings are subheads on their
  slide; a horizontal rule (``---``) between blocks breaks the slide. Text
  that does not fit one slide continues on the next, under the same title
  marked "(cont.)" (templates/slides/slides.css: a page group per slide);
  nothing is ever set smaller to fit: body text is 20 pt, tables,
  captions and notes 16 pt (``MIN_TYPE_PT``, held by the check);
- the key figures as a slide of their own, with their chart;
- a back chapter without a heading (the flagship's "Thank you!") as a
  closing slide.

Speaker notes (``::: notes``) are taken off their slide and put on it as
hidden PDF text annotations (``/Subtype /Text``, their ``/Contents`` the
notes, as presenter consoles read them). Content for the slides only or
left out of them: ``render.audience``.

The rest is the report's: its stylesheets' design tokens, font stacks
(CJK included), tagged PDF/UA-1, embedded font subsets, the build's
timestamp (byte-identical rebuilds) and a fetcher that refuses the network
(``render.pdf``).
"""

from __future__ import annotations

import copy
import hashlib
import re

from lxml import etree

from pipeline.model import Publication
from pipeline.render import audience
from pipeline.render.common import Body, Design, body_html, build_time, css_string, drop, style_tokens
from pipeline.render.linebreak import strict_breaks
from pipeline.render.maths import draw_maths

#: The deck's file: ``<slug>.slides.pdf``, a PDF that opens as one.
SUFFIX = ".slides.pdf"
#: 254 x 142.875 mm: PowerPoint's 16:9 (13.333 x 7.5 in).
WIDTH_MM, HEIGHT_MM = 254, 142.875
#: The slide's content box (slides.css): what the check holds text to.
MARGIN_X_MM, MARGIN_TOP_MM, MARGIN_BOTTOM_MM = 20, 12, 15
#: The top margin of a continued slide's page: its title stands in it.
CONT_TOP_MM = 34
#: The smallest type on a slide but its footer (slides.css): tables,
#: captions, footnotes and code; running text and bullets are 20 pt.
MIN_TYPE_PT = 16
BODY_TYPE_PT = 20
#: A paragraph longer than this (characters) is set a sentence a block, so
#: that a slide that cannot hold it breaks it between sentences.
SENTENCES_FROM = 360
#: Headings of outline levels 1 to SLIDE_LEVELS start a slide; deeper
#: ones are subheads on the slide they are in.
SLIDE_LEVELS = 3
#: The key figures' chart is drawn this many units wide and shown the
#: content box's width: its 13-unit axis labels are then 18 pt.
CHART_UNITS = 440
#: The mark of the current part on an agenda slide.
CURRENT = "\u2192"

STYLESHEETS = ("tokens.css",)
SLIDE_SHEETS = ("slides/slides.css",)


def _classes(el) -> list[str]:
    return (el.get("class") or "").split()


def _heading_level(el) -> int | None:
    """The outline level of a body heading: pandoc's HTML is one level
    down (a part's heading is an h2)."""
    if isinstance(el.tag, str) and re.fullmatch(r"h[1-6]", el.tag):
        return int(el.tag[1]) - 1
    return None


class _Deck:
    def __init__(self, pub: Publication, body: Body, design: Design):
        self.pub, self.body, self.design = pub, body, design
        self.slides: list[str] = []
        self.notes: dict[str, str] = {}  # slide id -> its speaker notes
        self.parts = [c for c in pub.chapters if c.kind == "part"]
        #: after the title of a slide that continues the one before: ' (cont.)', '（续）'
        self.continued = design.words(pub.meta.language)["continued"]

    # ------------------------------------------------------------ slides
    def add(self, kind: str, inner: str, notes: str = "", label: str = "") -> None:
        ident = f"slide-{len(self.slides) + 1}"
        if notes.strip():
            self.notes[ident] = notes.strip()
        aria = f' aria-label="{_attr(label)}"' if label else ""
        self.slides.append(f'<section class="slide {kind}" id="{ident}"{aria}>\n{inner}\n</section>')

    def render(self, name: str, **context) -> str:
        return self.design.render(f"slides/{name}", pub=self.pub, meta=self.pub.meta, **context)

    def agenda(self, current: int | None) -> None:
        items = [{"number": c.entry.number if c.entry else str(i + 1), "label": c.entry.label if c.entry else "",
                  "title": c.title, "current": i == current} for i, c in enumerate(self.parts)]
        self.add("agenda", self.render("agenda.html.j2", items=items, mark=CURRENT), label=self._agenda_title())

    def _agenda_title(self) -> str:
        return self.pub.meta.contents_title or self.design.words(self.pub.meta.language)["contents"]

    # ------------------------------------------------------------ content
    def chapter(self, chapter, el) -> None:
        """A chapter's slides: for a part, the agenda with it marked and its
        section slide first; then a slide per section."""
        blocks = _flatten(el)  # first: it gives each heading its section's id
        heading = next((h for h in blocks if _heading_level(h) == 1), None)
        if chapter.kind == "part":
            self.agenda(self.parts.index(chapter))
            entry = chapter.entry
            title_html = _inner_html(heading) if heading is not None else ""
            self.add("section", self.render("section.html.j2", entry=entry, title_html=title_html,
                                            ident=heading.get("id", "") if heading is not None else ""),
                     label=entry.display if entry else "")
            title = ("div", _plain_title(heading)) if heading is not None else None
        elif heading is not None:
            title = ("h1", heading)
        else:
            title = None
        if chapter.kind == "back" and heading is None and _short(blocks):
            self.add("closing", "".join(etree.tostring(b, encoding="unicode", method="html") for b in blocks))
            return
        self.sections(title, blocks)

    def sections(self, title, blocks: list) -> None:
        """Group the chapter's blocks by heading: each heading down to
        SLIDE_LEVELS starts a slide; a horizontal rule breaks one."""
        groups: list[tuple] = []
        current: list = []
        for b in blocks:
            level = _heading_level(b)
            if level is not None and 1 < level <= SLIDE_LEVELS:
                groups.append((title, current))
                title, current = ("h%d" % level, b), []
            elif level == 1:
                continue  # the chapter's own heading: the title of its first slide
            else:
                current.append(b)
        groups.append((title, current))
        for title, group in groups:
            self.content(title, group)

    def content(self, title, blocks: list) -> None:
        figures = [b for b in blocks if b.tag == "aside" and "key-figures" in _classes(b)]
        blocks = [b for b in blocks if b not in figures]
        pieces: list[list] = [[]]
        for b in blocks:
            for h in [b] if _heading_level(b) else []:
                h.tag = f"h{min(_heading_level(h), 6)}"  # a subhead on the slide: h4 for an outline level 4
            if b.tag == "hr":
                pieces.append([])
            else:
                pieces[-1].append(b)
        heading_kept = title is not None and title[0] != "div"
        for n, piece in enumerate(pieces):
            notes = [b for b in piece if b.tag == "div" and audience.NOTES in _classes(b)]
            shown = [b for b in piece if b not in notes]
            for b in shown:  # notes inside a block (a list item, a quote) are the slide's too
                for inner in b.xpath(".//div[contains(concat(' ', normalize-space(@class), ' '), ' notes ')]"):
                    notes.append(copy.deepcopy(inner))
                    drop(inner)
            if not shown and not (n == 0 and heading_kept):
                continue  # a part's heading alone: its section slide says it
            for b in shown:
                _sentences(b)
            self.add("content", self._title(title, n > 0) + "\n<div class=\"slide-body\">\n"
                     + "".join(_html(b) for b in shown) + "</div>",
                     notes="\n\n".join(_text(b) for b in notes))
        for aside in figures:
            self.key_figures(aside)

    def _title(self, title, continued: bool) -> str:
        if title is None:
            return ""
        tag, el = title
        if continued or tag == "div":
            text = _plain_title(el) if tag != "div" else el
            cont = self.continued if continued else ""
            return (f'<p class="slide-title" data-title="{_attr(text)}" data-cont="{_attr(self.continued)}">'
                    f'{_escape(text)}{f"<span class=cont>{_escape(cont)}</span>" if cont else ""}</p>')
        h = copy.deepcopy(el)
        h.tag = tag
        h.tail = None
        h.set("class", " ".join([*_classes(h), "slide-title"]))
        h.set("data-title", _plain_title(el))
        h.set("data-cont", self.continued)
        return _html(h)

    def key_figures(self, aside) -> None:
        title = aside.find("p")
        text = " ".join("".join(title.itertext()).split()) if title is not None else ""
        if title is not None:
            aside.remove(title)
        aside.set("class", " ".join([*_classes(aside), "slide-body"]))
        self.add("figures", f'<p class="slide-title" data-title="{_attr(text)}" data-cont="{_attr(self.continued)}">'
                            f'{_escape(text)}</p>\n{_html(aside)}',
                 label=text)


#: The end of a sentence: its full stop (or ! ?, and the CJK ones) and any
#: closing quote or bracket, then a space (or nothing, after a CJK stop).
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u2019\u201d)\]]*\s+(?=[\"'\u2018\u201c(\[]?[A-Z0-9\u00c0-\u024f\u0400-\u04ff])"
                           r"|(?<=[\u3002\uff01\uff1f])[\u300d\u300f\uff09]*")


def _sentences(block) -> None:
    """A long paragraph (``SENTENCES_FROM``) as one ``span.sentence`` per
    sentence, each a block the slide does not break inside (slides.css): a
    paragraph that runs over continues on the next slide at a sentence, not
    in the middle of one. Only a paragraph of plain text and simple inline
    markup is split, and only in its own text, never inside the markup."""
    for p in ([block] if block.tag == "p" else []) + list(block.iter("li")):
        if p.tag == "li" and len(p) and p[0].tag == "p":
            continue  # its paragraphs are looked at themselves
        text = "".join(p.itertext())
        if len(text) < SENTENCES_FROM or any(c.tag in ("br", "img", "math", "svg") for c in p.iter()):
            continue
        pieces: list[list] = [[]]  # each sentence's pieces: strings and elements
        for node in [p.text or "", *[x for c in p for x in (c, c.tail or "")]]:
            if isinstance(node, str):
                parts = _SENTENCE_END.split(node)
                spaces = _SENTENCE_END.findall(node)
                for k, part in enumerate(parts):
                    if k:
                        pieces[-1].append(spaces[k - 1])
                        pieces.append([])
                    if part:
                        pieces[-1].append(part)
            else:
                pieces[-1].append(node)
        pieces = [x for x in pieces if x]
        if len(pieces) < 2:
            continue
        for c in list(p):
            p.remove(c)
        p.text = None
        for sentence in pieces:
            span = etree.SubElement(p, "span", {"class": "sentence"})
            for node in sentence:
                if isinstance(node, str):
                    if len(span):
                        span[-1].tail = (span[-1].tail or "") + node
                    else:
                        span.text = (span.text or "") + node
                else:
                    node.tail = None
                    span.append(node)


def _flatten(el) -> list:
    """The chapter's blocks in order, pandoc's section wrappers removed
    (``--section-divs``): headings and the blocks between them."""
    out = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "section":
            inner = _flatten(child)
            heading = next((h for h in inner if _heading_level(h) is not None), None)
            if child.get("id") and heading is not None and not heading.get("id"):
                heading.set("id", child.get("id"))  # links to the section lead to its slide
            out += inner
        elif child.tag == "div" and "part-label" in _classes(child):
            continue  # the label is on the section slide
        else:
            out.append(child)
    return out


def _short(blocks: list) -> bool:
    return 0 < len(blocks) <= 2 and sum(len(" ".join("".join(b.itertext()).split())) for b in blocks) <= 80


def _plain_title(el) -> str:
    """A heading's text without its number and footnote calls."""
    copy_ = copy.deepcopy(el)
    for x in copy_.xpath(".//*[contains(concat(' ', @class, ' '), ' number ')] | .//sup | "
                         ".//*[contains(concat(' ', @class, ' '), ' footnote ')]"):
        drop(x)
    return " ".join("".join(copy_.itertext()).split())


def _inner_html(el) -> str:
    return (_escape(el.text) if el.text else "") + "".join(
        _html(c) + (_escape(c.tail) if c.tail else "") for c in el)


def _html(el) -> str:
    return etree.tostring(el, encoding="unicode", method="html", with_tail=False)


def _text(el) -> str:
    paragraphs = [" ".join("".join(p.itertext()).split()) for p in el.iter("p", "li")]
    return "\n".join(p for p in paragraphs if p) or " ".join("".join(el.itertext()).split())


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(s: str) -> str:
    return _escape(s).replace('"', "&quot;")


def slides_body(pub: Publication, design: Design) -> Body:
    """The body as the deck shows it (``audience.for_slides``), its key
    figures' chart drawn for a slide's width (``CHART_UNITS``)."""
    from pipeline.render import figures

    body = body_html(pub, design, audience=audience.for_slides)
    if figures.CHART_NAME in body.images:
        body.images.update(figures.key_figures(pub, design, width=CHART_UNITS)[1])
    return body


def deck(pub: Publication, body: Body, design: Design) -> tuple[str, dict[str, str]]:
    """The deck's HTML and the speaker notes by slide id."""
    from pipeline.render.pdf import _ballot_boxes, _code_lines, _inline_footnotes

    d = _Deck(pub, body, design)
    d.add("title", d.render("title.html.j2"), label=pub.meta.title)
    if d.parts:
        d.agenda(None)
    for c in pub.chapters:
        el = body.chapter(c.id)
        body.embed_images(el)
        _inline_footnotes(el)
        draw_maths(el)
        _ballot_boxes(el)
        strict_breaks(el, korean_words=True)
        _code_lines(el)
        d.chapter(c, el)
    return _page(pub, design, d.slides), d.notes


def _page(pub: Publication, design: Design, slides: list[str]) -> str:
    from markupsafe import Markup

    from pipeline.fonts import cjk_language
    from pipeline.render.pdf import font_faces, font_stacks

    stacks = font_stacks(pub)
    tokens = _tokens(design.css(*STYLESHEETS) + stacks.tokens() + style_tokens(pub))
    pages = design.render(
        "slides/pages.css.j2", top=MARGIN_TOP_MM, side=MARGIN_X_MM, bottom=MARGIN_BOTTOM_MM, cont_top=CONT_TOP_MM,
        accent=Markup(tokens["accent"]), muted=Markup(tokens["muted"]), paper=Markup(tokens["paper"]),
        display_font=Markup(tokens["font-display"]), band=Markup(_band(tokens["accent"])),
        running_title=Markup(css_string(pub.meta.short_title or pub.meta.title)))
    css = (design.render("css/fonts.css.j2", faces=font_faces(pub)) + design.css(*STYLESHEETS) + "\n"
           + (design.root / SLIDE_SHEETS[0]).read_text("utf-8") + "\n" + pages + "\n"
           + (design.css("cjk-pdf.css") if cjk_language(pub.meta.language) else "")
           + stacks.tokens() + stacks.code_css() + style_tokens(pub))
    return design.render("slides/deck.html.j2", pub=pub, meta=pub.meta, css=css, built=build_time(pub),
                         slides=slides)


def _tokens(css: str) -> dict[str, str]:
    """The design tokens' last values in ``css`` (``--accent: #14507a``):
    CSS variables do not reach @page rules, which get the values."""
    found: dict[str, str] = {}
    for m in re.finditer(r"--([a-z0-9-]+)\s*:\s*([^;}]+)", re.sub(r"/\*.*?\*/", "", css, flags=re.S)):
        found[m.group(1)] = m.group(2).strip()
    return found


def _band(colour: str) -> str:
    """A one-colour SVG as a CSS url(): the band at the top of a slide."""
    from urllib.parse import quote

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
           f'<rect width="10" height="10" fill="{colour}"/></svg>')
    return '"data:image/svg+xml,' + quote(svg, safe=" =/:") + '"'


def _annotate(notes_by_page: dict[int, str]):
    """A finisher putting each slide's speaker notes on its page as a hidden
    text annotation."""
    def finish(document, pdf) -> None:
        import pydyf

        for index, text in sorted(notes_by_page.items()):
            page = pdf.objects[pdf.pages["Kids"][index * 3]]  # pydyf: Kids holds "number 0 R" triplets
            annot = pydyf.Dictionary({
                "Type": "/Annot", "Subtype": "/Text", "Rect": pydyf.Array([0, 0, 0, 0]),
                "Contents": pydyf.String(text), "T": pydyf.String("Speaker notes"),
                "F": 2 | 32,  # hidden, not viewed: notes for the presenter's console, not the audience
                "Name": "/Note", "Open": "false",
            })
            pdf.add_object(annot)
            annots = page.get("Annots")
            if annots is None:
                page["Annots"] = pydyf.Array([annot.reference])
            else:
                annots.append(annot.reference)
    return finish


def render(pub: Publication, body: Body | None, design: Design, variant: str | None = "pdf/ua-1") -> bytes:
    """The deck as PDF bytes. ``body`` is ignored: the deck writes its own
    (``slides_body``: the report's body leaves out what is only for the
    slides). Laid out as the report is (``pdf.lay_out``: the same options,
    contexts and fetcher); WeasyPrint warnings fail the build."""
    from pipeline.render import pdf

    own = slides_body(pub, design)
    page, notes = deck(pub, own, design)
    by_page: dict[int, str] = {}

    def keep(document) -> None:  # each slide's notes go on the page that shows its anchor first
        where: dict[str, int] = {}
        for i, p in enumerate(document.pages):
            for anchor in p.anchors:
                if anchor in notes and anchor not in where:
                    where[anchor] = i
        by_page.update({where[k]: v for k, v in notes.items() if k in where})

    def finish(document, written) -> None:
        if by_page:
            _annotate(by_page)(document, written)

    ident = hashlib.sha256(f"{pub.meta.identifier}|{pub.meta.edition.version}|slides".encode()).hexdigest()[:32]
    data, _document, problems = pdf.lay_out(pub, page, design, variant, keep=keep, ident=ident.encode("ascii"),
                                            finisher=finish)
    pdf.raise_problems(problems, pub, own, what="the slides")
    return data
