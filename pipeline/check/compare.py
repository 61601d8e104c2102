"""Hold what a reader found against the source.

- The outline, entry by entry: a missing, extra, renamed, re-levelled or
  reordered entry is reported in plain words, naming the format and the
  entry: ``pdf: bookmark "Role of aids in promoting …" (part 2) is missing;
  expected after "China’s achievements in …"``.
- The contents (HTML, PDF): an entry for every heading it is deep enough to
  show, in order; in the PDF, the page number printed beside each entry is
  the folio of the page that prints the heading.
- The text: every paragraph, list item, table cell and caption of the
  source (``pipeline.pandoc.text_blocks``) appears in order in the format's
  text; the first missing one is reported. Every footnote's text is
  present, in any order (the PDF sets notes at the foot of the page).

Text is compared after ``extracted.strict``: NFKC (ligatures), case,
straight quotes, and without whitespace or hyphens (line breaks,
hyphenation and letter-spacing differ by format). Superscripts, footnote
calls among them, are left out on both sides.

Right-to-left text (Arabic, Hebrew) in the PDF is compared by its
characters, not their order: the PDF gives each line that has some its
text in logical order (pipeline/render/actualtext.py), and PDFium reorders
it again as if it were in visual order (words in reverse, a number moved to
the other end of the line), which no comparison of order survives. The
EPUB and HTML check its order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from pipeline import formats, pandoc
from pipeline.check import html as html_reader
from pipeline.check.extracted import ContentsLine, Entry, Extracted, Finding, folded, loose, short, spaced, strict
from pipeline.model import OutlineEntry, Publication

KINDS = {"Para": "paragraph", "Plain": "text", "BulletList": "list item", "OrderedList": "list item",
         "DefinitionList": "definition", "BlockQuote": "quotation", "Table": "table text",
         "Figure": "figure caption", "CodeBlock": "code block", "LineBlock": "line", "Div": "text"}


@dataclass
class Block:
    text: str
    kind: str
    where: str  # the section it is in, for messages
    source: str = ""  # file:line of that section's heading (of the file, before the first heading)


@dataclass
class Expected:
    """What every output must show, taken from the source model."""

    outline: list[OutlineEntry]
    kinds: dict[str, str]  # heading id -> kind of its chapter (front, part, back)
    blocks: list[Block]
    notes: list[str]
    #: heading id -> its number and title with each formula one ``MATH``,
    #: for the headings that hold one (the outline's title has their TeX)
    with_formulas: dict[str, str] = None

    def source(self, e: OutlineEntry) -> str:
        """Where the heading ``e`` is written, for a finding about it:
        ``method.md:12``, as a problem of the source names its file."""
        loc = e.location
        return _where(loc.file, loc.line) if loc is not None and loc.file is not None else ""

    def printed(self, e: OutlineEntry) -> str:
        """The heading as the PDF's text has it: a formula is drawn, so
        only the text around it is there."""
        return (self.with_formulas or {}).get(e.id, e.display).replace(MATH, "")

    @classmethod
    def from_publication(cls, pub: Publication, audience=None) -> "Expected":
        """``audience`` picks the content the output must show
        (``render.audience``): the report's, ``for_reading``, unless told."""
        from pipeline.render.audience import for_reading

        audience = audience or for_reading
        kinds = {e.id: c.kind for c in pub.chapters for e in c.headings}
        blocks: list[Block] = []
        notes: list[str] = []
        with_formulas: dict[str, str] = {}
        for c in pub.chapters:
            entries = iter(c.headings)
            where = Path(c.source).name
            source = _where(c.source, None)
            content = for_comparison(audience(c.blocks))
            for b in content:
                if b["t"] == "Header":
                    e = next(entries, None)
                    if e is not None:
                        where = f"{describe(e, kinds)} \"{short(e.title)}\""
                        source = _where(c.source, e.location.line if e.location else None)
                        title = " ".join(pandoc.stringify(b["c"][2]).split())
                        if MATH in title:
                            numbered = not e.number or title.startswith(e.number)  # the number is in the AST
                            with_formulas[e.id] = title if numbered else f"{e.number} {title}"
                    continue
                for text in pandoc.text_blocks([b]):
                    blocks.append(Block(text, KINDS.get(b["t"], "text"), where, source))
            notes += pandoc.note_blocks(content)
        return cls(list(pub.outline), kinds, blocks, notes, with_formulas)

    def describe(self, e: OutlineEntry) -> str:
        return describe(e, self.kinds)


#: One formula in the text compared (``html.MATH``). Each format shows
#: maths its own way (MathML in the EPUB and HTML, a drawing in the PDF), so
#: a formula is one declared unit: the EPUB and HTML readers put this
#: character for each ``<math>`` element, and the text around it must match.
MATH = html_reader.MATH

_RAW_SUP_OPEN = re.compile(r"^<sup(\s[^>]*)?>$", re.I)
_RAW_SUP_CLOSE = re.compile(r"^</sup\s*>$", re.I)


def for_comparison(node: Any) -> Any:
    """A copy of an AST with its text as the formats' readers take it:
    superscripts left out (footnote calls are superscripts, and a reader
    cannot tell them from others), written ``^x^`` or as raw ``<sup>x</sup>``,
    and each formula one ``MATH`` unit."""
    if isinstance(node, list):
        out, depth = [], 0
        for n in node:
            if isinstance(n, dict) and n.get("t") == "RawInline" and str(n["c"][0]).lower().startswith("html"):
                raw = n["c"][1].strip()
                if _RAW_SUP_OPEN.match(raw):
                    depth += 1
                    continue
                if depth and _RAW_SUP_CLOSE.match(raw):
                    depth -= 1
                    continue
            if depth or (isinstance(n, dict) and n.get("t") == "Superscript"):
                continue
            out.append(for_comparison(n))
        return out
    if isinstance(node, dict):
        if node.get("t") == "Math":
            return {"t": "Str", "c": MATH}
        return {k: for_comparison(v) for k, v in node.items()}
    return node


def _where(file: Path, line: int | None) -> str:
    """``file:line`` of the source, as a finding about it starts (and as
    ``conformance.locate_in_source`` starts the validators' findings)."""
    from pipeline.errors import shown_path

    return f"{shown_path(file)}:{line}" if line else shown_path(file)


def at(source: str, message: str) -> str:
    """``message`` after the place in the source it is about, if any."""
    return f"{source}: {message}" if source else message


def describe(e: OutlineEntry, kinds: dict[str, str]) -> str:
    if e.number:
        return f"part {e.number}" if e.level == 1 else f"section {e.number}"
    kind = kinds.get(e.id, "")
    if kind in ("front", "back"):
        return f"{kind} matter" if e.level == 1 else f"unnumbered section in the {kind} matter"
    return "unnumbered section"


# ---------------------------------------------------------------- outline

def compare_outline(fmt: str, noun: str, exp: Expected, found: list[Entry]) -> list[Finding]:
    """Entry by entry: missing, extra, renamed, re-levelled, reordered."""
    src = exp.outline
    ek = [loose(e.display) for e in src]
    fk = [loose(f.display) for f in found]
    sm = SequenceMatcher(None, ek, fk, autojunk=False)
    pairs: dict[int, int] = {}
    for a, b, size in sm.get_matching_blocks():
        for k in range(size):
            pairs[a + k] = b + k
    free_e = [i for i in range(len(src)) if i not in pairs]
    taken = set(pairs.values())
    free_f = [j for j in range(len(found)) if j not in taken]

    # the same entry elsewhere: reordered
    moved: dict[int, int] = {}
    for i in list(free_e):
        j = next((j for j in free_f if fk[j] == ek[i]), None)
        if j is not None:
            moved[i] = j
            free_e.remove(i)
            free_f.remove(j)
    # the same target, or the same place with a similar text: renamed
    renamed: dict[int, int] = {}
    for i in list(free_e):
        j = next((j for j in free_f if _target_id(found[j]) == src[i].id), None)
        if j is not None:
            renamed[i] = j
            free_e.remove(i)
            free_f.remove(j)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "replace":
            continue
        js = [j for j in free_f if j1 <= j < j2]
        for i in [i for i in free_e if i1 <= i < i2]:
            j = next((j for j in js if SequenceMatcher(None, ek[i], fk[j]).ratio() >= 0.6
                      or (found[j].number and found[j].number == src[i].number)), None)
            if j is not None:
                renamed[i] = j
                js.remove(j)
                free_e.remove(i)
                free_f.remove(j)

    out: list[Finding] = []

    def add(message: str, i: int | None = None) -> None:
        out.append(Finding(fmt, "outline", at(exp.source(src[i]), message) if i is not None else message))

    def name(i: int) -> str:
        return f"\"{short(src[i].title)}\" ({exp.describe(src[i])})"

    def after_src(i: int) -> str:
        return f"after \"{short(src[i - 1].title)}\"" if i > 0 else "first"

    def after_found(j: int) -> str:
        return f"after \"{short(found[j - 1].title)}\"" if j > 0 else "first"

    for i in sorted(free_e):
        add(f"{noun} {name(i)} is missing; expected {after_src(i)}", i)
    for j in free_f:
        add(f"extra {noun} \"{short(found[j].display)}\" at level {found[j].level}, {after_found(j)}: "
            f"the source has no such heading")
    for i, j in sorted(renamed.items()):
        add(f"{noun} {name(i)} reads \"{found[j].display}\"; the source has \"{src[i].display}\"", i)
    for i, j in sorted(moved.items()):
        add(f"{noun} {name(i)} is out of order: it comes {after_found(j)}; the source has it {after_src(i)}", i)
    for i, j in sorted({**pairs, **moved, **renamed}.items()):
        if found[j].level != src[i].level:
            add(f"{noun} {name(i)} is at level {found[j].level}; the source has it at level {src[i].level}", i)
    return out


def _bookmark_pages(src: list[OutlineEntry], found: list[Entry]) -> list[int | None]:
    """The page each heading's bookmark leads to: the bookmarks that say
    what the headings say, paired in order."""
    pages: list[int | None] = []
    j = 0
    for e in src:
        key = loose(e.display)
        k = next((k for k in range(j, len(found)) if loose(found[k].display) == key), None)
        pages.append(found[k].page if k is not None else None)
        if k is not None:
            j = k + 1
    return pages


def _target_id(e: Entry) -> str:
    return e.target.rsplit("#", 1)[-1] if e.target and not e.target.startswith("page ") else ""


# ---------------------------------------------------------------- contents

#: What may stand between the letters of a title in a contents line besides
#: whitespace: hyphens (a line broken and hyphenated inside the title), soft
#: hyphens, zero-width spaces and word joiners.
_BREAK_CHARS = frozenset("-\u2010\u2011\u00ad\u200b\u2060\ufffe\u0002")


def _title_start(letters: str, line: str) -> int | None:
    """Where the title whose ``strict`` letters are ``letters`` begins at
    the end of the contents line ``line`` (``folded``), or None: spaces,
    hyphens and line breaks inside it may differ, but the title must start
    a word ("Regional overview" does not end with "Overview"), and its own
    full stop may run into the leader. A walk back from the line's end (a
    regular expression compiled per heading cost a second per format at 300
    headings)."""
    i = len(line) - 1
    while i >= 0 and (line[i] == "." or line[i].isspace()):
        i -= 1
    for n, ch in enumerate(reversed(letters)):
        if n:
            while i >= 0 and (line[i].isspace() or line[i] in _BREAK_CHARS):
                i -= 1
        if i < 0 or line[i] != ch:
            return None
        i -= 1
    start = i + 1
    before = line[start - 1] if start else ""
    if before.isalnum() and not before.isdecimal():
        return None  # the title would begin inside a word (after a letter, as regular expressions' [^\W\d_])
    return start


def _is_entry(line: str, e: OutlineEntry, letters: str, first: bool) -> bool:
    """The contents line ``line`` (``folded``) is the entry of heading ``e``
    (its title's ``strict`` letters without a full stop): it ends with the
    title, and before it stand only the heading's label and number
    ("Regional overview" is no entry for a heading "Overview"). The first
    line may carry more before it: the contents' own heading."""
    start = _title_start(letters, line) if letters else None
    if start is None:
        return False
    rest = strict(line[:start])
    for part in (strict(e.label).casefold(), strict(e.number)):
        if part:
            rest = rest.replace(part, "", 1)
    return first or not re.search(r"[^\W_]", rest)


def compare_contents(fmt: str, exp: Expected, lines: list[ContentsLine],
                     printed: dict[int, tuple[int | None, str]] | None = None) -> list[Finding]:
    """Every heading down to the contents' depth has an entry, in order.
    ``printed`` (PDF) maps an outline index to (page index, folio) where the
    heading is printed; the page number beside its entry must be that folio."""
    out: list[Finding] = []
    # a line ends with its heading's title (a label, a number or, on the
    # first line of a printed contents, its heading may come before); a
    # title's own full stop runs into the leader dots of a printed contents
    titles = [strict(e.title).rstrip(".") for e in exp.outline]
    texts = [folded(line.text) for line in lines]
    # how deep the contents goes: the deepest level any of its lines shows
    depth = max((e.level for e, t in zip(exp.outline, titles)
                 if any(_is_entry(text, e, t, n == 0) for n, text in enumerate(texts))), default=0)
    if not lines:
        return out
    matched: dict[int, int] = {}
    k = 0
    for i, e in enumerate(exp.outline):
        if e.level > depth or not titles[i]:
            continue
        hit = next((n for n in range(k, len(lines)) if _is_entry(texts[n], e, titles[i], n == 0)), None)
        if hit is None:
            out.append(Finding(fmt, "contents", at(exp.source(e), f"the contents has no entry for \"{short(e.title)}\" "
                                                                  f"({exp.describe(e)})")))
            continue
        matched[i] = hit
        k = hit + 1
    used = set(matched.values())
    for n, line in enumerate(lines):
        if n not in used:
            out.append(Finding(fmt, "contents", f"the contents entry \"{short(line.text)}\" matches no heading of the source"))
    if printed is None:
        return out
    for i, n in matched.items():
        e, line = exp.outline[i], lines[n]
        page, folio = printed.get(i, (None, ""))
        if page is None:
            continue  # reported as a heading that is not printed
        if not folio:
            out.append(Finding(fmt, "contents", at(exp.source(e), f"the contents gives page {line.printed_page} for "
                                                                  f"\"{short(e.title)}\" ({exp.describe(e)}), but the page "
                                                                  f"that prints it (page {page + 1} of the file) shows no "
                                                                  f"page number")))
        elif line.printed_page != folio:
            out.append(Finding(fmt, "contents", at(exp.source(e), f"the contents gives page {line.printed_page} for "
                                                                  f"\"{short(e.title)}\" ({exp.describe(e)}), but that "
                                                                  f"heading is printed on page {folio}")))
    return out


# ---------------------------------------------------------------- text

def compare_text(fmt: str, exp: Expected, chunks: list[str]) -> list[Finding]:
    """Every source block, in order; every footnote, anywhere. The first
    block not found is reported with what differs: the words where the
    output parts from the source."""
    texts = [strict(c) for c in chunks]
    out: list[Finding] = []
    pos = (0, 0)
    first: tuple[Block, str, tuple[int, int] | None] | None = None  # block, key, where it was expected
    missing = 0
    rtl: list[Block] = []
    for block in exp.blocks:
        key = _key(fmt, block.text)
        if not key:
            continue
        if _drawn(fmt) and _RTL.search(block.text):
            rtl.append(block)
            continue
        hit = _find(key, texts, pos)
        if hit is not None:
            pos = hit
            continue
        missing += 1
        if first is None:
            first = (block, key, None if _find(key, texts, (0, 0)) is not None else pos)
    if first is not None:
        block, key, expected_at = first
        name = f"{block.kind} \"{short(shown(block.text), 40)}\" ({block.where})"
        if expected_at is None:
            message = f"{name} is out of order: it appears before the text that precedes it in the source"
        else:
            message = f"{name} is missing from the text" + _difference(fmt, block.text, texts, chunks, expected_at)
        if missing > 1:
            message += f"; {missing - 1} later text block{'s' if missing > 2 else ''} not found either"
        out.append(Finding(fmt, "text", at(block.source, message)))
    whole = "".join(texts)
    have = Counter(whole)
    for block in rtl:
        lacks = Counter(_key(fmt, block.text)) - have
        if lacks:
            out.append(Finding(fmt, "text", at(block.source, f"{block.kind} \"{short(shown(block.text), 40)}\" "
                                                             f"({block.where}) is missing from the text: the {fmt} "
                                                             f"lacks \"{''.join(sorted(lacks.elements()))}\"")))
            break
        have -= Counter(_key(fmt, block.text))
    for note in exp.notes:
        key = _key(fmt, note)
        if key and key not in whole:
            out.append(Finding(fmt, "text", f"footnote \"{short(shown(note), 40)}\" is missing from the text"))
    return out


#: Letters of the right-to-left scripts: Hebrew, Arabic, Syriac, Thaana, NKo,
#: Samaritan, Mandaic, and the Hebrew and Arabic presentation forms.
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def _drawn(fmt: str) -> bool:
    """Whether the format draws formulas (and right-to-left text) rather
    than keeping them as text (``Format.drawn_text``: the PDF)."""
    f = formats.REGISTRY.get(fmt)
    return bool(f and f.drawn_text)


def _key(fmt: str, text: str) -> str:
    """What is looked for in a format's text: ``strict``; a format that
    draws a formula has no text for it, so there only the text around it
    counts."""
    key = strict(text)
    return key.replace(MATH, "") if _drawn(fmt) else key


def shown(text: str) -> str:
    """Source text as a message shows it."""
    return text.replace(MATH, "[formula]")


def _letters(text: str, fmt: str) -> tuple[str, list[int]]:
    """``_key`` of ``text`` character by character, with the offset in
    ``text`` of every character kept, to point back at words."""
    out, where = [], []
    for i, ch in enumerate(text):
        for k in _key(fmt, ch):
            out.append(k)
            where.append(i)
    return "".join(out), where


def _difference(fmt: str, source: str, texts: list[str], chunks: list[str], at: tuple[int, int]) -> str:
    """': after "…", the source has "…" but the <fmt> has "…"': from the
    place the block was expected on (``at`` in ``texts``, the ``strict``
    ``chunks``), the longest head of the block the output has, and the
    words where the two part; '' when not even a head of it is there."""
    src, src_at = _letters(source, fmt)
    lo, hi, end = 0, len(src), None
    while lo < hi:  # found as a block is: across pages too (``_find``)
        mid = (lo + hi + 1) // 2
        hit = _find(src[:mid], texts, at)
        if hit is not None:
            lo, end = mid, hit
        else:
            hi = mid - 1
    if end is None or lo < min(12, len(src)) or lo >= len(src):
        return ""
    s0 = _word_start(source, src_at[lo])  # both sides from the start of the word where they part
    q, o = end
    o = max(0, o - len(_key(fmt, source[s0:src_at[lo]])))
    tail = "\n".join(chunks[q:q + 2])
    _, got_at = _letters(tail, fmt)  # offsets agree with ``strict`` of the chunk but for rare compositions
    g0 = _word_start(tail, got_at[o]) if o < len(got_at) else len(tail)
    before = spaced(source[max(0, s0 - 30):s0])
    cut = before.find(" ")
    before = before[cut + 1:] if s0 > 30 and cut >= 0 else before
    return (f": after \"{'…' if s0 > 30 else ''}{shown(before)}\", the source has \"{_words(shown(source[s0:]))}\" "
            f"but the {fmt} has \"{_words(shown(_joined(tail[g0:], source)))}\"")


def _word_start(text: str, i: int) -> int:
    while i > 0 and not text[i - 1].isspace():
        i -= 1
    return i


def _words(text: str, n: int = 5) -> str:
    words = spaced(text).split(" ")
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


_LINE_END_HYPHEN = re.compile(r"(\w+)[-\u2010\u00ad]\s*[\r\n]+\s*(\w+)")


def _joined(text: str, source: str) -> str:
    """Output text with its line-end hyphens resolved against the source:
    a word hyphenated at a line end is joined again; a hyphen the source
    has ("inter-paragraph") stays."""
    words = folded(source)
    return _LINE_END_HYPHEN.sub(lambda m: m[1] + ("-" if folded(f"{m[1]}-{m[2]}") in words else "") + m[2], text)


def _find(key: str, texts: list[str], pos: tuple[int, int]) -> tuple[int, int] | None:
    """Where ``key`` ends when found at or after ``pos`` (chunk, offset).

    A block may run from one PDF page onto the next (or over several), with
    a page's footnotes or list markers between its parts: its head then lies
    in one chunk and the rest opens the following ones. The rest may be a
    character or two (a listing's closing braces)."""
    p, o = pos
    for q in range(p, len(texts)):
        start = o if q == p else 0
        i = texts[q].find(key, start)
        if i >= 0:
            return q, i + len(key)
        for n in (1, 2):  # too short for the search by the next page's opening below
            if q + 1 < len(texts) and len(key) > n and texts[q + 1].startswith(key[-n:]) \
                    and texts[q].find(key[:-n], start) >= 0:
                return q + 1, n
        if q + 1 < len(texts) and len(texts[q + 1]) >= 3:
            opening = texts[q + 1][:3]
            k = key.rfind(opening, 3)
            while k >= 3:
                if texts[q].find(key[:k], start) >= 0:
                    end = _continues(key[k:], texts, q + 1)
                    if end is not None:
                        return end
                k = key.rfind(opening, 3, k + len(opening) - 1)
    return None


def _continues(rest: str, texts: list[str], q: int) -> tuple[int, int] | None:
    """Where ``rest`` ends if it opens chunk ``q`` and, when longer than
    that chunk's running text, the chunks after it."""
    while q < len(texts):
        t = texts[q]
        if t.startswith(rest):
            return q, len(rest)
        n = 0
        limit = min(len(rest), len(t))
        while n < limit and rest[n] == t[n]:
            n += 1
        if n < 3:
            return None
        rest, q = rest[n:], q + 1
    return None


# ---------------------------------------------------------------- per format

def compare(fmt: str, exp: Expected, ex: Extracted) -> list[Finding]:
    """``ex`` held against ``exp`` by the format's own comparison policy
    (``pipeline.formats``: ``Format.compare``)."""
    return formats.get(fmt).compare(exp, ex)
