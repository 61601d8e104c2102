"""What a reader finds in a finished file, in one shape for every format,
and the text normalisation every comparison uses.

The readers (``html``, ``epub``, ``pdf``) fill an ``Extracted`` from the file
alone; ``compare`` holds it against the source.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field

from pipeline.errors import one_line


@dataclass
class Entry:
    """One outline entry as an output shows it: a heading, a navigation
    entry or a bookmark. ``level`` 1 is a part (or an unnumbered front or
    back chapter); ``target`` is where it leads (an id, ``doc#id``, or
    ``page N``); ``page`` is the 0-based page index of a PDF destination."""

    level: int
    number: str
    title: str
    target: str = ""
    page: int | None = None

    @property
    def display(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title

    def as_json(self) -> dict:
        d = asdict(self)
        if d["page"] is None:
            del d["page"]
        return d


@dataclass
class ContentsLine:
    """One line of a printed or linked table of contents: its text as shown,
    where it leads, and (PDF) the page number printed beside it."""

    text: str
    level: int = 0  # nesting depth when the format shows it, else 0
    target: str = ""
    printed_page: str = ""


@dataclass
class Page:
    """One PDF page: the folio printed in its bottom margin and the text of
    its body area (running heads and folios left out)."""

    index: int
    folio: str
    text: str


@dataclass
class Finding:
    """One way an output disagrees with its source (or with a standard)."""

    format: str
    kind: str  # outline | contents | text | structure | conformance
    message: str

    def __post_init__(self) -> None:
        # whatever a reader, the comparison or a validator says: one line, no data: URIs
        self.message = one_line(self.message)

    def __str__(self) -> str:
        return f"{self.format}: {self.message}"


@dataclass
class Extracted:
    """Everything one reader found in one file."""

    format: str
    outline: list[Entry] = field(default_factory=list)  # html: headings; epub: nav toc; pdf: bookmarks
    headings: list[Entry] = field(default_factory=list)  # epub: headings of the spine documents
    contents: list[ContentsLine] = field(default_factory=list)  # html/pdf: the contents list
    text: list[str] = field(default_factory=list)  # running text: one string per document (epub) or page (pdf)
    pages: list[Page] = field(default_factory=list)  # pdf only
    problems: list[Finding] = field(default_factory=list)  # found while reading, without the source
    info: dict = field(default_factory=dict)  # extra facts for check.json


# ------------------------------------------------------------------ text

_QUOTES = str.maketrans({
    "\u2611": "\u2612",  # a ticked box (a task done): the PDF's fonts have ☑ where pandoc writes ☒
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
})
# Hyphens (ASCII, U+2010 the PDF's hyphenation character, non-breaking, soft)
# and invisible characters. The PDF's fonts map the hyphen glyph to U+2010
# whether it comes from the text or from hyphenation, so a hyphen at the end
# of a PDF line cannot be told apart: hyphens are left out of every
# comparison of running text; so are PDFium's marks for a hyphen at a line
# end (U+FFFE, U+0002), should one reach a comparison.
# The bidirectional marks and controls (LRM, RLM, ALM, embeddings,
# overrides, isolates) are invisible too: they order the text, no format
# draws them, and a PDF has no character for them.
_INVISIBLE = ("\u00ad\u200b\u200c\u200d\u2060\ufeff"
              "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_STRICT_DROP = re.compile(r"[\s\-\u2010\u2011\ufffe\u0002" + _INVISIBLE + r"]+")
_SPACES = re.compile(r"\s+")


def folded(text: str) -> str:
    """NFKC (so ligatures and no-break spaces become plain letters and
    spaces), case folded (CSS may transform case), straight quotes, one
    ticked box: what
    ``strict`` and ``loose`` start from."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)


def strict(text: str) -> str:
    """Text reduced for comparing running text across formats: ``folded``,
    and no whitespace or hyphens at all (line breaks, hyphenation and
    letter-spacing differ by format)."""
    return _STRICT_DROP.sub("", folded(text))


def loose(text: str) -> str:
    """Text reduced for comparing titles: ``folded``, whitespace collapsed,
    invisible characters removed."""
    text = folded(text).translate({ord(c): None for c in _INVISIBLE})
    return _SPACES.sub(" ", text).strip()


def spaced(text: str) -> str:
    """Whitespace collapsed to single spaces, for reporting."""
    return _SPACES.sub(" ", text).strip()


def short(text: str, limit: int = 25) -> str:
    """A title shortened at a word boundary for messages: 'Role of aids in
    promoting …'."""
    text = spaced(text)
    if len(text) <= limit + 2:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return (text[:cut] if cut > limit // 2 else text[:limit]).rstrip(" ,;:") + " …"


_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\s+(\S.*)$")


def split_number(text: str) -> tuple[str, str]:
    """'2.1 Main roles …' -> ('2.1', 'Main roles …'), for formats that print
    number and title as one string (bookmarks, EPUB navigation)."""
    text = spaced(text)
    m = _NUMBER.match(text)
    return (m.group(1), m.group(2)) if m else ("", text)
