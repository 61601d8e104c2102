"""What every renderer shares: the templates, the body's HTML (written once
by pandoc from the numbered AST), fonts, and the fetcher that keeps a build
inside its folders."""

from __future__ import annotations

import base64
import copy
import contextlib
import datetime as dt
import mimetypes
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
from lxml import etree, html as lxml_html

from pipeline import pandoc
from pipeline.errors import BuildError
from pipeline.model import Publication

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATES = PROJECT_ROOT / "templates"


def font_dirs() -> list[Path]:
    """Folders of the fonts installed with the project (PyPI font packages,
    pipeline.fonts)."""
    from pipeline.fonts import FAMILIES

    return list(dict.fromkeys(f.folder_path for f in FAMILIES))


def build_epoch(pub: Publication) -> int:
    """Every timestamp in the outputs: SOURCE_DATE_EPOCH when set, else
    midnight UTC of the edition date."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env and env.strip().isdigit():
        return int(env)
    d = pub.meta.edition.date
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp())


def build_time(pub: Publication) -> dt.datetime:
    return dt.datetime.fromtimestamp(build_epoch(pub), tz=dt.timezone.utc)


@contextlib.contextmanager
def source_date_epoch(pub: Publication):
    """Set ``SOURCE_DATE_EPOCH`` to the build's epoch while libraries that
    read it run: fontTools stamps every font subset it writes into the PDF
    (the ``head`` table's modified time) with it, or else with the clock."""
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(build_epoch(pub))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


@dataclass
class Design:
    """The project's templates folder: Jinja templates and stylesheets."""

    root: Path = DEFAULT_TEMPLATES

    @cached_property
    def env(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.root)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["roman"] = roman
        env.filters["long_date"] = long_date
        return env

    def render(self, name: str, **context) -> str:
        """A template, given ``words`` for the publication's language when
        its context has the publication's metadata."""
        if "meta" in context and "words" not in context:
            context["words"] = self.words(context["meta"].language)
        return self.env.get_template(name).render(**context)

    @cached_property
    def _words(self) -> dict[str, dict]:
        import yaml

        return yaml.safe_load((self.root / "words.yaml").read_text("utf-8"))

    def words(self, language: str) -> dict:
        """The furniture words (templates/words.yaml) for a BCP 47 tag."""
        table = self._words
        tag = language.lower()
        keys = {k.lower(): k for k in table}
        subtags = tag.split("-")
        candidates = [tag, "-".join(subtags[:2])]
        if subtags[0] == "zh":  # zh, zh-CN, zh-SG: Simplified; zh-TW, zh-HK, zh-MO: Traditional
            candidates.append("zh-hant" if any(t in ("hant", "tw", "hk", "mo") for t in subtags[1:]) else "zh-hans")
        candidates.append(subtags[0])
        chosen = next((keys[c] for c in candidates if c in keys), "en")
        return {**table["en"], **table[chosen]}

    def css(self, *names: str) -> str:
        return "\n".join((self.root / "css" / n).read_text("utf-8") for n in names)


def long_date(date: dt.date, words: dict) -> str:
    """A date as running text in the words' language: 1 November 2026, 2026年11月1日."""
    return words["long_date"].format(day=date.day, month=date.month, year=date.year,
                                     month_name=words["months"][date.month - 1])


def roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                           (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out += letters
            n -= value
    return out


def style_tokens(pub: Publication) -> str:
    """The publication's design-token overrides as a CSS rule."""
    if not pub.meta.style:
        return ""
    decls = "; ".join(f"--{re.sub(r'[^a-z0-9-]', '', k.lower())}: {_css_value(v)}" for k, v in pub.meta.style)
    return f":root {{ {decls} }}"


def script_sheets(pub: Publication) -> tuple[str, ...]:
    """Stylesheets a language's script asks for in the EPUB and the HTML
    page: cjk.css for Chinese, Japanese and Korean."""
    return ("cjk.css",) if pub.meta.language.lower().split("-")[0] in ("zh", "ja", "ko") else ()


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string: every character but a few plain ones
    written as a hex escape, so that no quote, backslash, newline or
    ``</style>`` in it can end the string or the stylesheet."""
    return '"' + "".join(c if c.isalnum() or c in " .,:;-_'()!?&/" else f"\\{ord(c):x} " for c in text) + '"'


def _css_value(v: str) -> str:
    if re.search(r"[;{}<>\\]", v):
        raise BuildError(f"style value {v!r} is not a plain CSS value")
    return v


# ---------------------------------------------------------------- the body

@dataclass
class Body:
    """The publication's body as HTML, one fragment per chapter, and the
    images it shows (the source's own and those made at build time), by the
    name the HTML refers to them with."""

    chapters: dict[str, lxml_html.HtmlElement] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)

    def chapter(self, chapter_id: str) -> lxml_html.HtmlElement:
        """A copy of a chapter's fragment that a renderer may change."""
        return copy.deepcopy(self.chapters[chapter_id])

    def embed_images(self, el) -> None:
        """Point every <img> of ``el`` at a data: URI of its image."""
        for img in el.iter("img"):
            src = img.get("src", "")
            if src in self.images:
                img.set("src", data_uri(src, self.images[src]))


def scroll_boxes(el, words: dict) -> None:
    """Put every table and code block of ``el`` in a box of its own that
    the stylesheet lets scroll sideways, so that a wide one never makes the
    whole page scroll on a phone. A box that scrolls must be reachable by
    keyboard: it takes the focus (tabindex) and is named for a screen
    reader in the publication's language (``words``: "Table: its caption",
    "Code")."""
    for block in el.xpath(".//table[not(ancestor::table)] | .//pre[not(ancestor::table)]"):
        if block.tag == "table":
            caption = " ".join("".join(block.xpath("./caption//text()")).split())
            label = words["table_box_captioned"].format(caption=caption) if caption else words["table_box"]
        else:
            label = words["code_box"]
        box = etree.Element("div", {"class": "scroll", "tabindex": "0", "role": "group", "aria-label": label})
        block.addprevious(box)
        box.tail, block.tail = block.tail, None
        box.append(block)


def drop(el) -> None:
    """Remove ``el`` from its tree, keeping the text that follows it."""
    parent = el.getparent()
    prev = el.getprevious()
    if el.tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def serialise(el, method: str = "html") -> str:
    """The children of ``el`` as HTML (or XHTML with method="xml")."""
    return "".join(etree.tostring(child, method=method, encoding="unicode") for child in el)


def body_html(pub: Publication, design: "Design", audience=None) -> Body:
    """Write the whole body with one pandoc call and split it by chapter.
    ``audience`` picks the content shown (``render.audience``): the
    report's, ``for_reading``, unless told."""
    from pipeline.render import audience as audiences, figures

    audience = audience or audiences.for_reading
    body = Body(images={target: path.read_bytes() for target, path in sorted(pub.assets.items())})
    chapters = [audience(c.blocks) for c in pub.chapters]
    if pub.meta.key_figures:
        panel, images = figures.key_figures(pub, design)
        body.images.update(images)
        chapters = figures.insert_after(pub, chapters, pub.meta.key_figures_after, panel)
    blocks = [pandoc.div(c.id, ["chapter", c.kind], bs) for c, bs in zip(pub.chapters, chapters)]
    text = pandoc.write_html(pub.pandoc_api_version, blocks)
    root = lxml_html.fragment_fromstring(text, create_parent="div")
    for el in root:
        if el.tag == "div" and "chapter" in el.get("class", "").split():
            body.chapters[el.get("id")] = el
    missing = [c.id for c in pub.chapters if c.id not in body.chapters]
    if missing:
        raise BuildError(f"pandoc's HTML lost chapters {missing}")
    return body


def media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def data_uri(name: str, data: bytes) -> str:
    return f"data:{media_type(name)};base64,{base64.b64encode(data).decode('ascii')}"


# ---------------------------------------------------------------- fetching

class RefusedFetch(Exception):
    pass


def allowed_file(url: str, roots: list[Path]) -> Path:
    """The local file a file: URL names, if it lies inside one of ``roots``;
    anything else (network, other files, symlinks out) is refused."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise RefusedFetch(f"refused to fetch {url}: builds never use the network")
    path = Path(unquote(parts.path)).resolve()
    for root in roots:
        try:
            path.relative_to(root.resolve())
            return path
        except ValueError:
            continue
    raise RefusedFetch(f"refused to read {path}: it is outside the publication, templates and fonts")
