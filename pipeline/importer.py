"""``pipeline import PATH``: a publication folder made from an existing
document.

Three kinds of document are read:

- **one Markdown file**, split at its top-level headings; when it has a
  single level-1 heading, that is the title and the levels move up one;
- **a folder of chapters** (``*.md``), in the order their names give
  (numeric prefixes; ``README.md`` or ``index.md`` first);
- **an mdBook** (``SUMMARY.md``, in the folder or in its ``src/``), in the
  summary's order: prefix chapters are front matter, suffix chapters back
  matter, each numbered chapter a part with its nested chapters as sections.

Each source file is converted on its own text: every change is an *edit*
of a span of the original, so that each one is reported with the file and
line it was made at. What is converted: HTML comments are dropped; ``<img>``
(alone, in a ``<p>``/``<figure>`` with a caption, or inline) becomes a
Markdown image; links between the document's files become links to the
heading's id; links to local files that are not part of the publication
keep their text and lose the link; mdBook's ``{{#include}}`` and
``{{#rustdoc_include}}`` are resolved inside the book's folder (with their
``:anchor`` and ``:start:end`` forms); heading levels are moved to fit the
outline (no level skipped, one level-1 heading per part); headings whose id
another heading already has get an explicit ``{#id}`` that is unique across
the publication; referenced images are copied, keeping their relative paths.

Nothing is written unless the whole import succeeds, and an existing folder
is never touched: the folder is made under a temporary name and renamed
into place. Problems are ``SourceError`` values with locations, like the
build's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from pipeline import pandoc
from pipeline.errors import Problem, SourceError, shown_path
from pipeline.scaffold import MAX_SLUG, check_slug
from pipeline.source import MAX_HEADING_LEVEL

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
#: Titles of top-level sections that are front or back matter when a single
#: file is split (compared case-blind, without punctuation), in English and in
#: the languages a translated document is most often in: a README translated
#: into Japanese ends with ライセンス where the English one has License, and
#: both are back matter.
FRONT_TITLES = {
    "preface", "foreword", "prologue", "dedication", "about this book", "acknowledgements", "acknowledgments",
    "前言", "序言", "序", "まえがき", "はじめに", "序文", "머리말", "서문", "предисловие", "передмова",
    "πρόλογος", "vorwort", "préface", "avantpropos", "prefacio", "prólogo", "prefácio", "prefazione",
    "przedmowa", "předmluva",
}
BACK_TITLES = {
    "afterword", "epilogue", "credits", "acknowledgements", "acknowledgments", "contact", "contact info",
    "contact information", "license", "licence", "copyright", "about the author", "about the authors",
    "colophon", "references", "bibliography", "glossary", "index", "further reading", "thanks", "thank you",
    # Chinese (Simplified, Traditional), Japanese, Korean
    "授权条款", "授權條款", "许可证", "許可證", "许可协议", "授權", "版权", "版權", "版权声明", "版權聲明",
    "致谢", "致謝", "参考文献", "參考文獻", "术语表", "術語表", "索引", "后记", "後記", "关于作者", "關於作者",
    "ライセンス", "著作権", "謝辞", "あとがき", "用語集", "著者について",
    "라이선스", "라이센스", "저작권", "감사의 글", "참고 문헌", "참고문헌", "용어집", "색인", "저자 소개",
    # Russian, Ukrainian, Greek
    "лицензия", "ліцензія", "благодарности", "подяки", "литература", "список литературы", "глоссарий",
    "об авторе", "про автора", "άδεια χρήσης", "άδεια", "ευχαριστίες", "βιβλιογραφία", "γλωσσάριο",
    # German, French, Spanish, Portuguese, Italian, Polish, Czech
    "lizenz", "danksagung", "literatur", "glossar", "licence", "remerciements", "bibliographie",
    "glossaire", "licencia", "agradecimientos", "bibliografía", "glosario", "licença", "agradecimentos",
    "bibliografia", "glossário", "licenza", "ringraziamenti", "glossario", "licencja", "podziękowania",
    "licence", "poděkování",
}
#: File names (stems, lower case) that come first in a folder of chapters.
FIRST_NAMES = ("readme", "index", "preface", "foreword", "introduction", "intro")
#: More than this many changes of one kind are summarised (``--verbose`` lists them all).
SUMMARY_AFTER = 12


# ----------------------------------------------------------------- results

@dataclass(frozen=True)
class Change:
    """One change the import made to the text, where it was made."""

    file: Path
    line: int | None
    kind: str  # comment, image, link, include, heading, id, html, listing, reference, copy, warning
    message: str

    def __str__(self) -> str:
        where = shown_path(self.file) + (f":{self.line}" if self.line else "")
        return f"{where}: {self.message}"


@dataclass
class Imported:
    folder: Path
    kind: str  # file | folder | mdbook
    files: list[str]  # written, relative to the folder
    changes: list[Change]
    notes: list[str]  # the decisions publication.yaml records (title, date, language ...)

    def warnings(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "warning"]


def summarise(changes: list[Change], verbose: bool = False) -> list[str]:
    """One line per change, file by file in line order; a kind with more than
    SUMMARY_AFTER changes shows its first five and then a count of the rest
    (all of them with ``verbose``)."""
    files = list(dict.fromkeys(c.file for c in changes))
    ordered = sorted(changes, key=lambda c: (files.index(c.file), c.line or 0))
    count: dict[str, int] = {}
    for c in changes:
        count[c.kind] = count.get(c.kind, 0) + 1
    shown: dict[str, int] = {}
    out: list[str] = []
    for c in ordered:
        shown[c.kind] = shown.get(c.kind, 0) + 1
        if verbose or count[c.kind] <= SUMMARY_AFTER or shown[c.kind] <= 5:
            out.append(str(c))
    for kind, n in count.items():
        if not verbose and n > SUMMARY_AFTER:
            out.append(f"  … and {n - 5} more changes of this kind ({kind}); --verbose lists every one")
    return out


# ------------------------------------------------------------------ input

@dataclass
class Piece:
    """A stretch of one source file that goes into one output file."""

    file: Path
    text: str
    first_line: int = 1  # the line of the file the text starts on
    shift: int = 0  # added to every heading level
    title: str = ""  # for an mdBook chapter: its title in SUMMARY.md
    repeats_title: bool = False  # its first heading says the book's title again, above the chapter's own


@dataclass
class Unit:
    """One output file: front matter, a part or back matter."""

    kind: str  # front | part | back
    pieces: list[Piece]
    name: str = ""
    title: str = ""  # the first heading's text, as the build reads it


@dataclass
class Heading:
    piece: Piece
    start: int  # offset of its line in the piece's text
    end: int  # offset of the end of its text (before a setext underline)
    level: int
    raw: str  # the heading's Markdown text, without the # marks or {#id}
    explicit: str = ""  # {#id} written in the source
    setext_end: int = -1  # end of the underline line for a setext heading
    quoted: bool = False  # inside a block quote
    dropped: bool = False  # the publication's title, which the cover prints: left out of the text
    marker_end: int = 0  # offset after the '#'s and the space
    new_level: int = 0
    plain: str = ""  # the text as pandoc reads it
    auto: str = ""  # pandoc's identifier for it alone
    final: str = ""  # its id in the publication
    write_id: bool = False


class _Problems(list):
    def add(self, file, message, hint="", line=None, column=None):
        self.append(Problem(Path(file) if file else None, message, hint, line=line, column=column))


def import_document(path: Path | str, sources: Path | str = "sources", slug: str | None = None,
                    date: dt.date | None = None) -> Imported:
    """Make ``sources/<slug>/`` from the document at ``path``. Raises
    SourceError (nothing written) on bad input or an existing folder."""
    given = Path(path)
    problems = _Problems()
    if not given.exists():
        raise SourceError(Problem(given, "no such file or folder",
                                  "give a Markdown file, a folder of Markdown chapters, or an mdBook's folder"))
    if slug is not None:
        try:
            check_slug(slug)
        except ValueError as exc:
            raise SourceError(Problem(None, str(exc))) from None
    reader = _Reader(given.resolve(), problems)
    units = reader.read()
    if problems:
        raise SourceError(problems)
    title = reader.title or (units[0].title if units else "") or _title_from_name(reader.root.name)
    if slug is None:
        slug = _slugify(title) or _slugify(reader.root.name)
        if not slug:
            raise SourceError(Problem(given, "no slug could be made from the title or the name",
                                      "give one with --slug, e.g. --slug my-book"))
    folder = Path(sources) / slug
    if folder.exists() or folder.is_symlink():
        raise SourceError(Problem(folder, "this folder already exists; nothing was written",
                                  "choose another name with --slug, or move the existing folder away first"))
    conv = _Converter(reader, units, problems, title)
    outputs = conv.run()
    if problems:
        raise SourceError(problems)
    notes: list[str] = []
    stamp = _edition_date(reader.files_read, date, notes)
    language = reader.language or _guess_language("".join(p.text for u in units for p in u.pieces), notes)
    if reader.language:
        notes.append(f"language '{language}' from book.toml")
    authors = reader.authors or []
    if authors:
        notes.append(f"authors {', '.join(authors)} from {reader.authors_from}")
    else:
        authors = ["Unknown author"]
        notes.append("no author found: publication.yaml names 'Unknown author'; put the real names there")
    notes.append(f"title '{title}' from {reader.title_from or 'the first heading'}")
    yaml_text = _publication_yaml(title, authors, language, stamp, units, reader)
    files = {"publication.yaml": yaml_text.encode("utf-8")}
    for unit in units:
        files[unit.name] = outputs[unit.name].encode("utf-8")
    written = _write(folder, files, conv.copies)
    return Imported(folder, reader.kind, written, conv.changes, notes)


def _write(folder: Path, files: dict[str, bytes], copies: dict[str, Path]) -> list[str]:
    """Write the folder under a temporary name and rename it into place, so
    it appears whole or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.import"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        for name, src in copies.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, staging / name)
        if folder.exists():  # made meanwhile: still never overwritten
            raise SourceError(Problem(folder, "this folder already exists; nothing was written",
                                      "choose another name with --slug"))
        os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted([*files, *copies])


# --------------------------------------------------------------- reading

_ATX = re.compile(r"^( {0,3})(#{1,6})(?=[ \t]|$)[ \t]*(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_QUOTED_ATX = re.compile(r"^( {0,3}>[ \t]?)(#{1,6})[ \t]+(.*?)[ \t]*$")
_ID_ATTR = re.compile(r"[ \t]*\{[ \t]*#([^\s}]+)[^}]*\}[ \t]*$")


def _mask(text: str) -> str:
    """The text with fenced code, inline code and HTML comments blanked out
    (newlines kept, so offsets and lines stay those of the text)."""
    out = list(text)

    def blank(a, b):
        for i in range(a, b):
            if out[i] != "\n":
                out[i] = " "

    pos = 0
    fence = None
    fence_start = 0
    for line in text.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is None and m:
            fence, fence_start = m.group(1), pos
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line[m.end():].strip():
            blank(fence_start, pos + len(line))
            fence = None
        pos += len(line)
    if fence is not None:
        blank(fence_start, len(text))
    masked = "".join(out)
    for m in re.finditer(r"<!--.*?-->", masked, re.S):
        blank(m.start(), m.end())
    masked = "".join(out)
    # inline code: a run of backticks to the same run, within a paragraph
    for m in re.finditer(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", masked, re.S):
        blank(m.start(), m.end())
    return "".join(out)


def _headings(piece: Piece, masked: str) -> list[Heading]:
    """The headings of a piece, outside code and comments."""
    out: list[Heading] = []
    pos = 0
    lines = masked.splitlines(keepends=True)
    for i, line in enumerate(lines):
        body = line.rstrip("\n")
        m = _ATX.match(body)
        if m:
            raw = piece.text[pos + len(m.group(1)) + len(m.group(2)):pos + len(body)].strip()
            raw = re.sub(r"[ \t]+#+$", "", raw)
            explicit = ""
            e = _ID_ATTR.search(raw)
            if e:
                explicit, raw = e.group(1), raw[:e.start()]
            after = body[len(m.group(1)) + len(m.group(2)):]
            marker = pos + len(m.group(1)) + len(m.group(2)) + len(after) - len(after.lstrip(" \t"))
            out.append(Heading(piece, pos, pos + len(body), len(m.group(2)), raw, explicit, marker_end=marker))
        else:
            q = _QUOTED_ATX.match(body)
            if q:
                out.append(Heading(piece, pos, pos + len(body), len(q.group(2)), q.group(3), quoted=True,
                                   marker_end=pos + len(q.group(1))))
            elif _SETEXT.match(body) and i > 0 and _setext_underline(lines, i):
                prev_start = pos - len(lines[i - 1])
                raw = piece.text[prev_start:pos].strip()
                explicit = ""
                e = _ID_ATTR.search(raw)
                if e:
                    explicit, raw = e.group(1), raw[:e.start()]
                out.append(Heading(piece, prev_start, pos - 1, 1 if body.strip()[0] == "=" else 2, raw, explicit,
                                   setext_end=pos + len(line), marker_end=prev_start))
        pos += len(line)
    return out


def _setext_underline(lines: list[str], i: int) -> bool:
    """Whether line i (a row of = or -) underlines a setext heading: the line
    before is a lone line of text (a blank line or a block before it)."""
    prev = lines[i - 1].rstrip("\n")
    if not prev.strip() or prev.startswith(("    ", "\t", ">", "|", "-", "*", "+", "#")) or re.match(r"^\d+[.)] ", prev):
        return False
    if lines[i].strip().startswith("-") and set(lines[i].strip()) == {"-"} and len(lines[i].strip()) < 3:
        return False
    return i < 2 or not lines[i - 2].strip()


class _Reader:
    """Finds what the document is and splits it into units."""

    def __init__(self, path: Path, problems: _Problems):
        self.path = path
        self.problems = problems
        self.root = path if path.is_dir() else path.parent  # files inside it may be referred to
        self.book_root = self.root  # includes may reach up to here
        self.kind = ""
        self.title = ""
        self.title_from = ""
        self.authors: list[str] = []
        self.authors_from = ""
        self.language = ""
        self.files_read: list[Path] = []
        self.texts: dict[Path, str] = {}
        self.part_titles: list[tuple[Path, int, str]] = []  # mdBook part titles, left out
        self.drafts: list[tuple[Path, int, str]] = []  # mdBook draft chapters (no file)
        self.left_out: list[tuple[Path, int, str]] = []  # files not taken, with why

    def text(self, path: Path) -> str | None:
        if path in self.texts:
            return self.texts[path]
        try:
            raw = path.read_bytes()
        except OSError as exc:
            self.problems.add(path, f"cannot be read: {exc.strerror or exc}", "check that the file exists")
            return None
        try:
            text = raw.decode("utf-8").lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self.problems.add(path, f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x})",
                              "save the file as UTF-8 and import it again", line=line)
            return None
        self.files_read.append(path)
        self.texts[path] = text
        return text

    def read(self) -> list[Unit]:
        p = self.path
        if p.is_file():
            if p.name.lower() == "summary.md":
                return self._mdbook(p)
            if p.suffix.lower() not in MARKDOWN_SUFFIXES:
                self.problems.add(p, "this is not a Markdown file",
                                  f"give a file ending in {', '.join(MARKDOWN_SUFFIXES)}, or a folder of them")
                return []
            self.kind = "file"
            return self._single(p)
        for summary in (p / "SUMMARY.md", p / "src" / "SUMMARY.md"):
            if summary.is_file():
                return self._mdbook(summary)
        chapters = [c for c in sorted(p.iterdir()) if c.is_file() and c.suffix.lower() in MARKDOWN_SUFFIXES]
        if not chapters:
            self.problems.add(p, "the folder holds no Markdown files (*.md) and no mdBook SUMMARY.md",
                              "give a Markdown file, a folder of Markdown chapters, or an mdBook's folder")
            return []
        self.kind = "folder"
        return self._folder(chapters)

    # ---- one file

    def _single(self, path: Path) -> list[Unit]:
        text = self.text(path)
        if text is None:
            return []
        whole = Piece(path, text)
        heads = _headings(whole, _mask(text))
        heads = [h for h in heads if not h.quoted]
        if not heads:
            self.problems.add(path, "the file has no headings, so there is nothing to split it at",
                              "give the chapters headings (# Title), then import it again", line=1)
            return []
        top = min(h.level for h in heads)
        tops = [h for h in heads if h.level == top]
        shift = 0
        title_head = None
        if len(tops) == 1 and any(h.level == top + 1 for h in heads):
            title_head = tops[0]  # the one title heading: the parts are one level down
            self.title, self.title_from = _plain_md(title_head.raw), f"the title heading ({path.name}:{_line(text, title_head.start)})"
            top += 1
            shift = -1
        top_heads = [h for h in heads if h.level == top and (title_head is None or h.start > title_head.start)]
        # pieces: the text before the first part heading, then one per part heading
        bounds = [h.start for h in top_heads] + [len(text)]
        units: list[Unit] = []
        first = bounds[0]
        rest = text[:first]
        if title_head is not None:
            rest = rest[:title_head.start] + rest[title_head.end:]
        if _COMMENT.sub("", rest).strip():
            before = Piece(path, text[:first], 1, shift=0 if title_head else shift)
            units.append(Unit("front", [before]))
        for h, end in zip(top_heads, bounds[1:]):
            line = _line(text, h.start)
            piece = Piece(path, text[h.start:end], line, shift=shift)
            units.append(Unit("part", [piece], title=_plain_md(h.raw)))
        self._authors_from_text(text, path)
        _assign_matter(units)
        return units

    # ---- a folder of chapters

    def _folder(self, chapters: list[Path]) -> list[Unit]:
        def key(p: Path):
            stem = p.stem.lower()
            if stem in FIRST_NAMES:
                return (0, FIRST_NAMES.index(stem), 0, stem)
            m = re.match(r"^(?:ch(?:apter)?[-_ ]?)?(\d+)", stem)
            return (1, 0, int(m.group(1)), stem) if m else (2, 0, 0, stem)

        ordered = sorted(chapters, key=key)
        listed = self._listed_order(ordered) if ordered and ordered[0].stem.lower() in FIRST_NAMES[:2] else {}
        if len(listed) > 1:  # the README lists the chapters: its order, then the files it leaves out
            ordered = ordered[:1] + sorted(ordered[1:], key=lambda q: (0, listed[q.resolve()]) if q.resolve() in listed
                                           else (1, key(q)))
        units: list[Unit] = []
        read = []
        for path in ordered:
            text = self.text(path)
            if text is None or not text.strip():
                continue
            piece = Piece(path, text)
            read.append((piece, [h for h in _headings(piece, _mask(text)) if not h.quoted]))
        # a book whose every chapter file starts with the book's title, then the
        # chapter's own heading (# The Book / # Chapter 1: …): the title is left
        # out of each, and the chapter is named by its own heading
        firsts = [_fold(_plain_md(heads[0].raw)) for _, heads in read if len(heads) > 1]
        repeated = max(set(firsts), key=firsts.count) if len(firsts) > 1 else None
        if repeated is None or firsts.count(repeated) < 2:
            repeated = None
        for piece, heads in read:
            if repeated and len(heads) > 1 and _fold(_plain_md(heads[0].raw)) == repeated:
                piece.repeats_title = True
                if not self.title:
                    self.title = _plain_md(heads[0].raw)
                    self.title_from = f"the heading {firsts.count(repeated)} chapter files start with"
                heads = heads[1:]
            title = _plain_md(heads[0].raw) if heads else ""
            if _fold(title) in ("table of contents", "contents", "toc") or piece.file.stem.lower() in ("toc", "contents"):
                self.left_out.append((piece.file, _line(piece.text, heads[0].start) if heads else 1,
                                      f"{piece.file.name} left out: a table of contents, which each format makes "
                                      "itself (links to it are made plain text)"))
                continue
            piece.shift = 1 - min((h.level for h in heads), default=1)
            stem = piece.file.stem.lower()
            kind = "front" if stem in FIRST_NAMES else "part"
            units.append(Unit(kind, [piece], title=title))
        if units and units[0].kind == "front" and len(units) > 1 and any(u.kind == "part" for u in units):
            first = units[0]
            heads = [h for h in _headings(first.pieces[0], _mask(first.pieces[0].text)) if not h.quoted]
            if heads and sum(1 for h in heads if h.level == heads[0].level) == 1:
                self.title, self.title_from = _plain_md(heads[0].raw), f"the heading of {first.pieces[0].file.name}"
        for u in units:
            self._authors_from_text(u.pieces[0].text, u.pieces[0].file)
            if self.authors:
                break
        for u in units[1:]:  # the first file leads; other introductions are parts
            if u.kind == "front" and units.index(u) > 0:
                u.kind = "part"
        _assign_matter(units, keep_front=True)
        return units

    def _listed_order(self, ordered: list[Path]) -> dict[Path, int]:
        """The chapter files the first file (README.md, index.md) links to, in
        the order of its links: a book's README often lists its chapters, in
        an order their names do not give (ch1 … ch4, then apA, apB; or
        intro, install, usage, faq)."""
        text = self.text(ordered[0])
        if text is None:
            return {}
        files = {q.resolve() for q in ordered[1:]}
        order: dict[Path, int] = {}
        for m in _INLINE_LINK.finditer(_mask(text)):
            target = m.group(1).strip("<>").partition("#")[0]
            if not target or _SCHEME.match(target):
                continue
            path = (ordered[0].parent / _url_path(target)).resolve()
            if path.suffix.lower() in (".html", ".htm"):
                path = path.with_suffix(".md")
            if path in files and path not in order:
                order[path] = len(order)
        return order

    # ---- an mdBook

    def _mdbook(self, summary: Path) -> list[Unit]:
        self.kind = "mdbook"
        src = summary.parent
        self.root = src
        toml = None
        for cand in (src / "book.toml", src.parent / "book.toml"):
            if cand.is_file():
                toml = cand
                break
        self.book_root = toml.parent if toml else (src.parent if src.name == "src" else src)
        if toml is not None:
            self._book_toml(toml)
        text = self.text(summary)
        if text is None:
            return []
        masked = _mask(text)
        entries: list[tuple[str, int, str, str, int]] = []  # (where, depth, title, target, line)
        seen_list = False
        after_list = False
        for n, line in enumerate(masked.splitlines(), 1):
            if not line.strip():
                continue
            h = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if h:
                name = _plain_md(h.group(1))
                if not seen_list and not self.title and name.lower() not in ("summary", "table of contents", "contents"):
                    self.title, self.title_from = name, f"the heading of {summary.name}"
                elif seen_list:
                    entries.append(("part-title", 0, name, "", n))
                continue
            m = re.match(r"^(\s*)[-*+]\s+\[(.*)\]\((.*?)\)\s*$", line)
            if m:
                if after_list:
                    self.problems.add(summary, "a numbered chapter after the suffix chapters",
                                      "mdBook allows suffix chapters only after the last numbered chapter", line=n)
                seen_list = True
                depth = len(m.group(1).expandtabs(4)) // 2
                entries.append(("numbered", depth, m.group(2), m.group(3).strip(), n))
                continue
            m = re.match(r"^\s*\[(.*)\]\((.*?)\)\s*$", line)
            if m:
                if seen_list:
                    after_list = True
                entries.append(("suffix" if seen_list else "prefix", 0, m.group(1), m.group(2).strip(), n))
                continue
            if re.match(r"^\s*-{3,}\s*$", line):
                continue  # a separator
        if not any(e[0] in ("numbered", "prefix", "suffix") for e in entries):
            self.problems.add(summary, "SUMMARY.md lists no chapters",
                              "list the chapters as [Title](file.md), one per line", line=1)
            return []
        # depths: nested list indentation may be 2 or 4 spaces
        depths = sorted({d for w, d, *_ in entries if w == "numbered"})
        rank = {d: i for i, d in enumerate(depths)}
        units: list[Unit] = []
        current: Unit | None = None
        for where, depth, title, target, n in entries:
            if where == "part-title":
                self.part_titles.append((summary, n, title))
                continue
            title = _plain_md(title)
            path = None
            if target:
                path = (summary.parent / _url_path(target)).resolve()
                if not _within(path, self.root) or not path.is_file():
                    self.problems.add(summary, f"the chapter file '{target}' does not exist"
                                      + ("" if _within(path, self.root) else " inside the book's folder"),
                                      "correct the link, or remove the chapter from SUMMARY.md", line=n)
                    continue
            text = self.text(path) if path else f"# {title}\n"
            if text is None:
                continue
            if path is None:
                self.drafts.append((summary, n, title))
            piece = Piece(path or summary, text, title=title)
            level = rank.get(depth, 0) if where == "numbered" else 0
            heads = [h for h in _headings(piece, _mask(text)) if not h.quoted]
            top = min((h.level for h in heads), default=1)
            piece.shift = level + 1 - top
            if path is None:
                piece.first_line = n
            if where == "numbered" and level > 0 and current is not None:
                current.pieces.append(piece)
                continue
            kind = {"prefix": "front", "suffix": "back", "numbered": "part"}[where]
            current = Unit(kind, [piece], title=title)
            units.append(current)
        # a title page: a prefix chapter that only repeats the title gives the authors
        for u in units:
            p = u.pieces[0]
            if u.kind == "front" and not self.authors:
                self._authors_from_text(p.text, p.file)
        return units

    def _book_toml(self, path: Path) -> None:
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            return
        text = self.text(path)
        if text is None:
            return
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.problems.add(path, f"book.toml is not valid TOML: {exc}", "correct it, or remove it")
            return
        book = data.get("book") or {}
        if isinstance(book.get("title"), str) and book["title"].strip():
            self.title, self.title_from = " ".join(book["title"].split()), path.name
        if isinstance(book.get("authors"), list):
            self.authors = [a for a in book["authors"] if isinstance(a, str) and a.strip()]
            self.authors_from = path.name
        if isinstance(book.get("language"), str) and re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$", book["language"]):
            self.language = book["language"]

    def _authors_from_text(self, text: str, path: Path) -> None:
        """Authors from a 'by A, B and C' line near the top of a text."""
        if self.authors:
            return
        head = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), "\n".join(text.splitlines()[:30]))
        for para in re.split(r"\n[ \t]*\n", head):
            flat = " ".join(para.split()).strip("_* ")
            m = re.match(r"^(?:written )?by\s+(.+)$", flat, re.I)
            if m and len(flat) < 300:
                names = re.split(r",\s*with\s|\s+with\s+contributions", m.group(1))[0]
                names = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*", names.strip(" ._*"))
                names = [" ".join(n.split()) for n in names if n.strip()]
                if names and all(len(n) < 60 and not re.search(r"[\[\]()<>]", n) for n in names):
                    self.authors = names
                    self.authors_from = f"the line 'by …' in {path.name}:{_line(head, head.find(para.strip()[:20]))}"
                return


def _assign_matter(units: list[Unit], keep_front: bool = False) -> None:
    """Leading sections named like front matter are front matter, trailing
    ones named like back matter back matter; the rest stay parts."""
    def name(u):
        return re.sub(r"[^\w ]", "", unicodedata.normalize("NFC", u.title).lower()).strip()

    i = 0
    while i < len(units) and (units[i].kind == "front" or name(units[i]) in FRONT_TITLES):
        units[i].kind = "front"
        i += 1
    j = len(units)
    while j > i and name(units[j - 1]) in BACK_TITLES:
        units[j - 1].kind = "back"
        j -= 1
    if not any(u.kind == "part" for u in units) and units:
        # a publication needs a part: the first non-front unit, else the last
        rest = [u for u in units if u.kind != "front"] or units
        rest[0].kind = "part"


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^\w ]", " ", unicodedata.normalize("NFKC", text).casefold()).split())


def _cut(text: str, n: int) -> str:
    """``text`` for a message: at most ``n`` characters, a cut one ending in …"""
    return text if len(text) <= n else text[:n - 1] + "…"


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def _plain_md(text: str) -> str:
    """A heading's or a link's text without Markdown marks (for messages and
    the YAML; the build compares the part titles as pandoc reads them)."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[`*_]", "", text)
    return " ".join(unescape(text).split())


def _url_path(target: str) -> str:
    from urllib.parse import unquote

    return unquote(target.split("#", 1)[0])


def _within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:MAX_SLUG].rstrip("-")


def _title_from_name(name: str) -> str:
    return " ".join(w.capitalize() for w in re.split(r"[-_ ]+", name) if w)


# ------------------------------------------------------------- converting

_HTML_IMG = re.compile(r"<img\b[^>]*?/?>", re.I | re.S)
_FIGURE_BLOCK = re.compile(r"^[ \t]*<(p|figure|div|center)\b[^>]*>.{0,3000}?</\1>[ \t]*$", re.I | re.S | re.M)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_INCLUDE = re.compile(r"\{\{#(include|rustdoc_include|playground|playpen)\s+([^}\s]+)[^}]*\}\}")
_INLINE_LINK = re.compile(r"\]\((<[^>\n]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)((?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*)\)")
#: a reference link's definition, [label]: target (a footnote's, [^label]:, is none)
_REF_DEF = re.compile(r"^( {0,3}\[((?!\^)(?:[^\]\\]|\\.)+)\]:[ \t]*)(<[^>\n]*>|\S+)(.*)$", re.M)
#: a reference link's use: [text][label], [label][] or [label] (group 1 the text, 2 the label)
#: a reference link's use: [text][label], [label][] or [label]; its text may
#: run over a line break, as a paragraph's lines do (not over a blank line);
#: a footnote's call, [^label], is none
_REF_USE = re.compile(r"(?<![\]\\!])\[(?!\^)((?:[^\[\]\n]|\n(?![ \t]*\n)|\[[^\[\]\n]*\])+)\](?:\[([^\[\]\n]*)\])?(?![(:\[])")
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)\s*=\s*[\"']([^\"']+)[\"']\s*>\s*</a>", re.I)
_HTML_LINK = re.compile(r"<a\s+[^>]*?href\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)[^>]*>(.*?)</a>", re.I | re.S)
#: a <Listing> tag on a line of its own, also inside a block quote or a list item
_LISTING_OPEN = re.compile(r"^(?:[ \t]*>)*[ \t]*(?P<tag><Listing\b([^>]*)>)[ \t]*$", re.M)
_LISTING_CLOSE = re.compile(r"^(?:[ \t]*>)*[ \t]*(?P<tag></Listing>)[ \t]*$", re.M)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: a link to a web address with spaces right after its host, ](http://host /path):
#: pandoc keeps it as a link to the host "host%20", which no reader can follow
#: and the validators refuse (group 1 the spaces)
_SPACED_HOST = re.compile(r"\]\([a-z][a-z0-9+.-]*://[^\s/()<>]+([ \t]+)/")


class _Attrs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: (v or "") for k, v in attrs}))

    handle_startendtag = handle_starttag


def _attrs(tag_text: str) -> dict:
    p = _Attrs()
    p.feed(tag_text)
    p.close()
    return p.tags[0][1] if p.tags else {}


def _html_inline_to_md(html: str) -> str:
    """A caption's HTML as Markdown: links, emphasis and line breaks."""
    text = re.sub(r"<br\s*/?>", " ", html, flags=re.I)
    text = _HTML_LINK.sub(lambda m: f"[{_html_inline_to_md(m.group(2))}]({m.group(1).strip(chr(34) + chr(39))})", text)
    text = re.sub(r"</?(i|em)\s*>", "*", text, flags=re.I)
    text = re.sub(r"</?(b|strong)\s*>", "**", text, flags=re.I)
    text = re.sub(r"<[^>]+>", "", text)
    text = " ".join(unescape(text).split())
    return text.replace("**", "**").strip()


def _github_slug(text: str) -> str:
    """The anchor GitHub and mdBook give a heading."""
    text = text.lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in "-_ " or unicodedata.category(ch).startswith("M"))
    return text.replace(" ", "-")


class _Converter:
    def __init__(self, reader: _Reader, units: list[Unit], problems: _Problems, title: str = ""):
        self.reader = reader
        self.title = title
        self.units = units
        self.problems = problems
        self.changes: list[Change] = []
        self.copies: dict[str, Path] = {}  # output path -> source file
        self.headings: dict[int, list[Heading]] = {}  # id(piece) -> its headings
        self.files = {p.file.resolve() for u in units for p in u.pieces if p.file.name.lower() != "summary.md"}
        self.aliases: dict[Path, dict[str, str]] = {}  # file -> anchor as written -> id
        self.first_id: dict[Path, str] = {}  # file -> the id of its first heading
        self.used: set[str] = set()
        self.absorbed: set[tuple[int, int]] = set()  # (piece, offset) of <a id> anchors that name a heading

    def note(self, piece: Piece, offset: int | None, kind: str, message: str):
        line = piece.first_line + piece.text.count("\n", 0, offset) if offset is not None else None
        self.changes.append(Change(piece.file, line, kind, message))

    # ---- the plan: headings, levels, ids

    def run(self) -> dict[str, str]:
        pieces = [p for u in self.units for p in u.pieces]
        masks = {id(p): _mask(p.text) for p in pieces}
        for p in pieces:
            self.headings[id(p)] = _headings(p, masks[id(p)])
        self._title_headings()
        self._levels()
        self._ids(pieces)
        self._redirect_dropped(pieces)
        self._names()
        out: dict[str, str] = {}
        refdefs = self._reference_definitions(pieces, masks)
        for u in self.units:
            texts = [self._convert(p, masks[id(p)], refdefs) for p in u.pieces]
            text = "\n\n".join(t.strip("\n") for t in texts if t.strip()) + "\n"
            out[u.name] = text
        self._check_parts(out)
        for where, n, title in self.reader.part_titles:
            self.changes.append(Change(where, n, "heading", f"mdBook part title '{title}' left out: "
                                       "the outline has no level above its parts"))
        for where, n, message in self.reader.left_out:
            self.changes.append(Change(where, n, "file", message))
        for where, n, title in self.reader.drafts:
            self.changes.append(Change(where, n, "heading", f"draft chapter '{title}' (no file): "
                                       "written as a heading only"))
        return out

    def _title_headings(self):
        """The first heading of front matter that says the publication's
        title again is left out: the cover and title page print the title."""
        for u in self.units:
            if u.kind != "front":
                continue
            heads = [h for h in self.headings[id(u.pieces[0])] if not h.quoted]
            if heads and _fold(_plain_md(heads[0].raw)) == _fold(self.title):
                heads[0].dropped = True
        for p in (p for u in self.units for p in u.pieces if p.repeats_title):
            heads = [h for h in self.headings[id(p)] if not h.quoted]
            heads[0].dropped = True

    def _levels(self):
        """New heading levels: each piece shifted so its chapter fits, every
        part with one level-1 heading, no level skipped."""
        for u in self.units:
            previous = 0
            count1 = 0
            for p in u.pieces:
                heads = self.headings[id(p)]
                for h in heads:
                    level = h.level + p.shift
                    if h.quoted or h.dropped:
                        h.new_level = level
                        continue
                    if u.kind == "part" and level == 1:
                        count1 += 1
                        if count1 > 1:
                            level = 2
                    level = max(1, min(level, previous + 1, MAX_HEADING_LEVEL))
                    if u.kind == "part" and previous == 0 and level != 1:
                        level = 1
                    h.new_level = level
                    previous = level
                    if level != h.level + p.shift and level != h.level:
                        self.note(p, h.start, "heading", f"heading '{_cut(_plain_md(h.raw), 50)}' made level {level} "
                                  f"(was {h.level}{f', {h.level + p.shift} after the move' if p.shift else ''}): "
                                  f"no level may be skipped, a part has one level-1 heading, "
                                  f"and {MAX_HEADING_LEVEL} is the deepest")
        moved = {}
        for u in self.units:
            for p in u.pieces:
                if p.shift and self.headings[id(p)]:
                    moved.setdefault((p.file, p.shift), p)
        for (file, shift), p in moved.items():
            self.changes.append(Change(file, None, "heading", f"heading levels moved {'up' if shift < 0 else 'down'} "
                                       f"{abs(shift)} to fit the outline"))

    def _ids(self, pieces: list[Piece]):
        """Each heading's id as pandoc gives it, and an explicit one where two
        headings of the publication would get the same."""
        heads = [h for p in pieces for h in self.headings[id(p)] if not h.quoted]
        texts = [f"# {_COMMENT.sub('', h.raw)}\n" for h in heads]
        if texts:
            _, parsed = pandoc.parse_markdown(texts)
            for h, blocks in zip(heads, parsed):
                block = next((b for b in blocks if b["t"] == "Header"), None)
                if block is not None:
                    h.auto = block["c"][1][0]
                    h.plain = " ".join(pandoc.stringify(block["c"][2]).split())
                else:
                    h.plain = _plain_md(h.raw)
        reserved = {h.explicit for h in heads if h.explicit} | {h.auto for h in heads if h.auto}
        for p in pieces:
            for m in _HTML_ANCHOR.finditer(p.text):
                reserved.add(m.group(1))
        self.used = set(h.explicit for h in heads if h.explicit)
        for p in pieces:
            aliases = self.aliases.setdefault(p.file.resolve(), {})
            gh_count: dict[str, int] = {}
            for h in self.headings[id(p)]:
                if h.quoted:
                    continue
                if h.explicit:
                    h.final = h.explicit
                else:
                    base = h.auto or "section"
                    if base not in self.used:
                        h.final = base
                    else:
                        n = 1
                        while f"{base}-{n}" in self.used or f"{base}-{n}" in reserved:
                            n += 1
                        h.final = f"{base}-{n}"
                        h.write_id = True
                    self.used.add(h.final)
                gh = _github_slug(h.plain)
                k = gh_count.get(gh, 0)
                gh_count[gh] = k + 1
                for alias in (h.explicit, f"{gh}-{k}" if k else gh, h.auto if h.auto not in aliases else ""):
                    if alias and alias not in aliases:
                        aliases[alias] = h.final
                if not h.dropped:
                    self.first_id.setdefault(p.file.resolve(), h.final)
            starts = {h.start: h for h in self.headings[id(p)] if not h.quoted}
            masked = _mask(p.text)
            for m in _HTML_ANCHOR.finditer(masked):
                # an anchor just before a heading (an old id kept for old links) names that heading
                after = re.match(r"(?:\s|<a\s+(?:id|name)\s*=\s*[\"'][^\"']+[\"']\s*>\s*</a>)*", masked[m.end():])
                nxt = m.end() + after.end()
                nxt = p.text.rfind("\n", 0, nxt) + 1 if nxt < len(p.text) else nxt
                head = starts.get(nxt)
                if head is not None and head.final:
                    aliases.setdefault(m.group(1), head.final)
                    self.absorbed.add((id(p), m.start()))
                else:
                    aliases.setdefault(m.group(1), m.group(1))
            for m in re.finditer(r"\{#([A-Za-z][\w:.-]*)\}", p.text):
                aliases.setdefault(m.group(1), m.group(1))
            for m in re.finditer(r"<span\s+id=[\"']([^\"']+)[\"']", p.text):
                aliases.setdefault(m.group(1), m.group(1))

    def _redirect_dropped(self, pieces):
        """Links to a heading left out lead to the next heading kept."""
        heads = [h for p in pieces for h in self.headings[id(p)] if not h.quoted]
        for i, h in enumerate(heads):
            if not h.dropped:
                continue
            nxt = next((k for k in heads[i + 1:] if not k.dropped), None)
            if nxt is None:
                continue
            for aliases in self.aliases.values():
                for key, value in list(aliases.items()):
                    if value == h.final:
                        aliases[key] = nxt.final
            for file, first in list(self.first_id.items()):
                if first == h.final:
                    self.first_id[file] = nxt.final
            self.first_id.setdefault(h.piece.file.resolve(), nxt.final)
            self.used.discard(h.final)

    def _names(self):
        """File names: 01-title.md for parts, title.md for front and back matter."""
        taken = {"publication.yaml"}
        n = 0
        for u in self.units:
            first = next((h for p in u.pieces for h in self.headings[id(p)] if not h.quoted and not h.dropped), None)
            if first is not None and first.plain:
                u.title = first.plain
            elif any(h.dropped for p in u.pieces for h in self.headings[id(p)]):
                u.title = ""  # only the publication's title, left out
            base = _slugify(u.title)[:40].rstrip("-") or u.kind
            if u.kind == "part":
                n += 1
                name = f"{n:02d}-{base}.md"
            else:
                name = f"{base}.md"
            k = 2
            while name in taken:
                name = re.sub(r"(-\d+)?\.md$", f"-{k}.md", name)
                k += 1
            taken.add(name)
            u.name = name

    def _check_parts(self, out: dict[str, str]):
        """A part must start with its title and hold some text: an empty
        chapter would be refused by the build, so it is said here."""
        for u in self.units:
            if u.kind != "part":
                continue
            heads = [h for p in u.pieces for h in self.headings[id(p)] if not h.quoted]
            if not heads:
                p = u.pieces[0]
                title = p.title or _title_from_name(p.file.stem)
                out[u.name] = f"# {title}\n\n" + out[u.name]
                u.title = title
                self.note(p, 0, "heading", f"added the heading '# {title}': a part begins with its title")

    def _reference_definitions(self, pieces, masks) -> dict[Path, dict[str, tuple[Piece, str]]]:
        """Reference link definitions ([label]: target) of each file: a file
        split into parts gets, in each part, the ones that part uses."""
        defs: dict[Path, dict[str, tuple[Piece, str]]] = {}
        for p in pieces:
            for m in _REF_DEF.finditer(masks[id(p)]):
                line = p.text[m.start():m.end()]
                defs.setdefault(p.file, {}).setdefault(_label(m.group(2)), (p, line))
        return defs

    # ---- the edits of one piece

    def _convert(self, p: Piece, masked: str, refdefs) -> str:
        edits: list[tuple[int, int, str]] = []
        text = p.text

        def edit(a, b, new, kind=None, message=None):
            edits.append((a, b, new))
            if kind:
                self.note(p, a, kind, message)

        # mdBook includes: anywhere (code blocks are where they usually are), not in comments
        if self.reader.kind == "mdbook":
            comment_free = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
            for m in _INCLUDE.finditer(comment_free):
                self._include(p, m, edit)
        # comments: whole lines go, with their line ends
        for m in _COMMENT.finditer(_mask_code_only(text)):
            a, b = m.start(), m.end()
            line_start = text.rfind("\n", 0, a) + 1
            line_end = text.find("\n", b)
            line_end = len(text) if line_end < 0 else line_end
            if not text[line_start:a].strip() and not text[b:line_end].strip():
                a, b = line_start, min(line_end + 1, len(text))
            lines = text.count("\n", m.start(), m.end())
            span = f"lines {_line(text, m.start()) + p.first_line - 1}–{_line(text, m.end()) + p.first_line - 1}" if lines else "this line"
            edit(a, b, "", "comment", f"dropped an HTML comment ({span}): comments must not reach the outputs")
        # headings
        for h in self.headings[id(p)]:
            self._heading(p, h, edit)
        # raw HTML: figures and images, anchors, links, mdBook listings
        taken: list[tuple[int, int]] = []
        for m in _FIGURE_BLOCK.finditer(masked):
            block = text[m.start():m.end()]
            imgs = list(_HTML_IMG.finditer(block))
            rest = _HTML_IMG.sub("", block)
            caption_html = ""
            cap = re.search(r"<figcaption[^>]*>(.*?)</figcaption>", rest, re.I | re.S)
            if cap:
                caption_html = cap.group(1)
            else:
                inner = re.sub(r"^\s*<(p|figure|div|center)\b[^>]*>|</(p|figure|div|center)>\s*$", "", rest, flags=re.I)
                caption_html = inner
            caption = _html_inline_to_md(caption_html)
            if not imgs or re.search(r"<(?!/?(?:i|em|b|strong|a|br|p|figure|figcaption|div|center|span|sub|sup)\b)[a-z]", rest, re.I):
                continue
            if not imgs:
                continue
            figures = []
            for k, im in enumerate(imgs):
                a = _attrs(im.group(0))
                src = a.get("src", "")
                target = self._image_target(p, src, m.start() + im.start(), a)
                if target is None:
                    continue
                captioned = bool(caption) and k == len(imgs) - 1
                cap_text = caption if captioned else _escape_md(" ".join(a.get("alt", "").split()))
                figures.append(self._image_md(p, cap_text, target, a, m.start(), figure=captioned))
            edit(m.start(), m.end(), "\n\n".join(figures), "image",
                 f"<{m.group(1).lower()}> with {len(imgs)} <img> made {'a Markdown figure' if len(imgs) == 1 else 'Markdown figures'}"
                 + (f" captioned '{_cut(caption, 40)}'" if caption else ""))
            taken.append((m.start(), m.end()))
        for m in _HTML_IMG.finditer(masked):
            if any(a <= m.start() < b for a, b in taken):
                continue
            a = _attrs(text[m.start():m.end()])
            target = self._image_target(p, a.get("src", ""), m.start(), a)
            if target is None:
                continue
            alt = _escape_md(" ".join(a.get("alt", "").split()))
            line_start = text.rfind("\n", 0, m.start()) + 1
            line_end = text.find("\n", m.end())
            alone = not text[line_start:m.start()].strip() and not text[m.end():line_end if line_end >= 0 else None].strip()
            new = self._image_md(p, alt, target, a, m.start(), inline=not alone)
            edit(m.start(), m.end(), new, "image", f"<img src=\"{_cut(a.get('src', ''), 50)}\"> made a Markdown image")
        for m in _HTML_ANCHOR.finditer(masked):
            if (id(p), m.start()) in self.absorbed:
                a, b = m.start(), m.end()
                line_start = text.rfind("\n", 0, a) + 1
                if not text[line_start:a].strip() and text[b:b + 1] in ("\n", ""):
                    a, b = line_start, b + 1
                edit(a, b, "", "html", f"<a id=\"{m.group(1)}\"> before a heading left out: links to "
                     f"'#{m.group(1)}' lead to that heading")
                continue
            edit(m.start(), m.end(), f"[]{{#{m.group(1)}}}", "html", f"<a id=\"{m.group(1)}\"> made the anchor []{{#{m.group(1)}}}")
        for m in _HTML_LINK.finditer(masked):
            if any(a <= m.start() < b for a, b in taken):
                continue
            href = m.group(1).strip("\"'")
            inner = _html_inline_to_md(text[m.start(2):m.end(2)])
            edit(m.start(), m.end(), f"[{inner}]({href})", "html", f"<a href> made a Markdown link")
            taken.append((m.start(), m.end()))
        if self.reader.kind == "mdbook":
            self._listings(p, masked, edit)
        for m in _SPACED_HOST.finditer(masked):
            edit(m.start(1), m.end(1), "", "link", f"space after the host in the web address "
                 f"'{_cut(m.group(0)[2:], 40)}' removed: no address holds one")
        # links
        for m in _INLINE_LINK.finditer(masked):
            if any(a <= m.start() < b for a, b in taken):
                continue
            target = m.group(1)
            bare = target[1:-1] if target.startswith("<") else target
            opening = _open_bracket(masked, m.start())
            if opening > 0 and masked[opening - 1] == "!":  # a Markdown image: copied, its path kept or mended
                if _SCHEME.match(bare) or bare.startswith("//"):
                    alt = text[opening + 1:m.start()].strip() or "Image"
                    if opening > 1 and masked[opening - 2] == "[":  # [![badge](img)](page): a link's text already
                        edit(opening - 1, m.end(), alt, "image", f"online image '{_cut(bare, 50)}' inside a link: its "
                             "alt text made the link's text, since a build never fetches anything")
                        continue
                    edit(opening - 1, m.end(), f"[{alt} (online image)]({bare})", "image",
                         f"online image '{_cut(bare, 50)}' made a link to it: a build never fetches anything")
                    continue
                new = self._image_target(p, _url_path(bare), m.start()) if bare else None
                if new is not None and new != bare:
                    edit(m.start(1), m.end(1), _md_url(new), "copy", f"image '{_cut(bare, 60)}' copied to {new}")
                continue
            self._link(p, masked, m, bare, edit)
        own = set()
        dead: set[str] = set()
        for m in _REF_DEF.finditer(masked):
            own.add(_label(m.group(2)))
            if self._refdef(p, m, edit):
                dead.add(_label(m.group(2)))
        # definitions this piece uses but another piece of the same file holds
        used_labels = set()
        for m in _REF_USE.finditer(masked):
            used_labels.add(_label(m.group(2) or m.group(1)))
        extra = []
        for label in sorted(used_labels - own):
            found = refdefs.get(p.file, {}).get(label)
            if found and found[0] is not p:
                other, line = found
                new = self._refdef_text(other, line)
                if new is None:
                    dead.add(label)
                else:
                    extra.append(new)
        if extra:
            edit(len(text), len(text), "\n\n" + "\n".join(extra) + "\n", "reference",
                 f"copied {len(extra)} reference link definition{'s' if len(extra) != 1 else ''} "
                 f"from elsewhere in {p.file.name} into this part")
        if dead:  # uses of a definition that leads out of the publication: the text stays, the link goes
            for m in _REF_USE.finditer(masked):
                label = _label(m.group(2) or m.group(1))
                if label in dead and not masked[m.end():m.end() + 1] == ":":
                    edit(m.start(), m.end(), m.group(1), "link", f"reference link [{_cut(m.group(1), 40)}] to a file that is "
                         "not part of the publication made plain text")
        return _apply(text, edits)

    def _heading(self, p: Piece, h: Heading, edit):
        if h.dropped:
            end = h.setext_end if h.setext_end >= 0 else h.end
            end = end + 1 if p.text[end:end + 1] == "\n" else end
            edit(h.start, end, "", "heading", f"heading '{_cut(_plain_md(h.raw), 50)}' left out: it is the publication's "
                 "title, which publication.yaml holds and the cover prints")
            return
        if h.quoted:
            # a heading inside a block quote is not part of the outline: bold text
            edit(h.marker_end, h.end, f"**{h.raw.strip()}**", "heading",
                 f"heading '{_cut(_plain_md(h.raw), 50)}' inside a block quote made bold text: "
                 "the outline has no headings inside quotes")
            return
        marks = "#" * h.new_level
        id_attr = f" {{#{h.final}}}" if h.write_id else ""
        if h.setext_end >= 0:
            if h.new_level != h.level or h.write_id or h.level > 2:
                edit(h.start, h.setext_end, f"{marks} {h.raw.strip()}{id_attr}\n")
            return
        if h.new_level != h.level:
            edit(h.start, h.marker_end, marks + " ")
        if h.write_id:
            edit(h.end, h.end, id_attr, "id", f"heading '{_cut(h.plain, 50)}' given the id '{h.final}': "
                 "another heading of the publication has the same title")

    def _include(self, p: Piece, m, edit):
        kind, target = m.group(1), m.group(2)
        if kind in ("playground", "playpen"):
            kind = "include"
        path_part, _, spec = target.partition(":")
        path = (p.file.parent / path_part).resolve()
        shown = m.group(0)
        if not _within(path, self.reader.book_root):
            self.note(p, m.start(), "warning", f"{shown} not resolved: the file is outside the book's folder; "
                      "left as written")
            return
        if not path.is_file():
            self.note(p, m.start(), "warning", f"{shown} not resolved: {shown_path(path)} does not exist; "
                      "left as written")
            return
        try:
            lines = path.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            self.note(p, m.start(), "warning", f"{shown} not resolved: {exc}; left as written")
            return
        self.reader.files_read.append(path)
        picked = _pick_lines(lines, spec)
        if picked is None:
            self.note(p, m.start(), "warning", f"{shown} not resolved: no anchor or lines '{spec}' in the file; "
                      "left as written")
            return
        body = "\n".join(l for l in picked if not re.search(r"\bANCHOR(_END)?:\s*\w", l))
        edit(m.start(), m.end(), body, "include", f"{_cut(shown, 70)} replaced by the {len(picked)} lines it names")

    def _listings(self, p: Piece, masked: str, edit):
        """mdBook's <Listing number= file-name= caption=> (the trpl
        preprocessor) as the file name before the code and the caption
        after it, as the book's print edition sets them."""
        opens = list(_LISTING_OPEN.finditer(masked))
        closes = list(_LISTING_CLOSE.finditer(masked))
        for o in opens:
            c = next((c for c in closes if c.start() > o.end()), None)
            if c is None:
                continue
            a = _attrs(p.text[o.start("tag"):o.end("tag")])
            head = f"Filename: {a['file-name']}" if a.get("file-name") else ""
            cap = a.get("caption", "")
            num = a.get("number", "")
            tail = f"Listing {num}: {cap}" if num else cap
            edit(o.start("tag"), o.end("tag"), head, "listing", f"<Listing{' ' + num if num else ''}> made plain paragraphs "
                 "(file name above the code, caption below)")
            edit(c.start("tag"), c.end("tag"), tail)
            closes.remove(c)

    def _image_target(self, p: Piece, src: str, offset: int, attrs: dict | None = None) -> str | None:
        """The image's path in the new folder (copied there), or None with a
        problem when it cannot be used."""
        line = p.first_line + p.text.count("\n", 0, offset)
        if not src:
            return None
        if _SCHEME.match(src) or src.startswith("//"):
            self.problems.add(p.file, f"image '{_cut(src, 80)}' is not a local file: a build never fetches anything",
                              "download the image beside the document, point the image at it, then import again",
                              line=line)
            return None
        path = (p.file.parent / _url_path(src)).resolve()
        if not path.is_file():
            self.problems.add(p.file, f"image '{src}' does not exist", "put the image where the document says "
                              "it is (beside the document), then import again", line=line)
            return None
        if _within(path, self.reader.root):
            rel = path.relative_to(self.reader.root.resolve()).as_posix()
        else:
            rel = "images/" + path.name
            self.note(p, offset, "copy", f"image '{src}' is outside the document's folder: copied to {rel}")
        if rel in self.copies and self.copies[rel] != path:
            stem, dot, ext = rel.rpartition(".")
            k = 2
            while f"{stem}-{k}.{ext}" in self.copies:
                k += 1
            rel = f"{stem}-{k}.{ext}"
        self.copies[rel] = path
        return rel

    def _image_md(self, p: Piece, alt: str, target: str, attrs: dict, offset: int, inline: bool = False,
                  figure: bool = False) -> str:
        """``![alt](target)``: a figure captioned by ``alt`` when ``figure``,
        else an image that is not one (pandoc's ``\\ `` after it), so that
        a description written for screen readers is not printed as a caption."""
        if not alt.strip():
            alt = _escape_md(Path(target).stem.replace("-", " ").replace("_", " "))
            self.note(p, offset, "warning", f"image '{target}' has no description: its file name stands in; "
                      "describe the image in the brackets of ![…]")
        width = attrs.get("width", "")
        extra = ""
        if re.match(r"^\d+(\.\d+)?%$", width):
            extra = f"{{width={width}}}"
        return f"![{alt}]({_md_url(target)}){extra}" + ("" if figure or inline else "\\ ")

    def _link(self, p: Piece, masked: str, m, target: str, edit):
        if target in ("", "<>"):  # [text](): a link with no address, which leads nowhere
            start = _open_bracket(masked, m.start())
            if start >= 0:
                edit(start, start + 1, "")
                edit(m.start(), m.end(), "", "link", f"link '{_cut(_plain_md(p.text[start + 1:m.start()]), 40)}' "
                     "with no address, [text](), made plain text")
            return
        new = self._resolve(p, target, m.start())
        if new is None or new == target:
            return
        if new == "":
            start = _open_bracket(masked, m.start())
            if start < 0:
                return
            edit(start, start + 1, "")
            edit(m.start(), m.end(), "", "link",
                 f"link to '{_cut(target, 60)}' (not part of the publication) made plain text")
            return
        a = m.start(1)
        edit(a, m.end(1), new, "link", f"link to '{_cut(target, 60)}' now points at '{new}'")

    def _refdef(self, p: Piece, m, edit) -> bool:
        """Rewrite a reference definition's target; True when it leads out of
        the publication (the definition goes, its uses become text)."""
        target = m.group(3)
        bare = target[1:-1] if target.startswith("<") else target
        if not _SCHEME.match(bare) and _url_path(bare).lower().endswith(IMAGE_SUFFIXES):
            new = self._image_target(p, _url_path(bare), m.start())
            if new is not None and new != bare:
                edit(m.start(3), m.end(3), _md_url(new), "copy", f"image '{_cut(bare, 60)}' copied to {new}")
            return False
        new = self._resolve(p, bare, m.start())
        if new is None or new == bare:
            return False
        if new == "":
            end = m.end() + 1 if p.text[m.end():m.end() + 1] == "\n" else m.end()
            edit(m.start(), end, "", "link", f"reference [{_cut(m.group(2), 30)}] to '{_cut(bare, 50)}' (not part of the "
                 "publication) removed; the text that used it stays")
            return True
        edit(m.start(3), m.end(3), new, "link", f"reference [{_cut(m.group(2), 30)}] to '{_cut(bare, 50)}' now points at '{new}'")
        return False

    def _refdef_text(self, p: Piece, line: str) -> str | None:
        m = _REF_DEF.match(line)
        bare = m.group(3)[1:-1] if m.group(3).startswith("<") else m.group(3)
        new = self._resolve(p, bare, None)
        if new == "":
            return None
        return f"{m.group(1)}{new or bare}{m.group(4)}".strip()

    def _resolve(self, p: Piece, target: str, offset: int | None) -> str | None:
        """What a link target becomes: the same, '#id', or '' (keep the text,
        drop the link). None when it is left alone."""
        if not target or _SCHEME.match(target) or target.startswith("//"):
            return None
        path_part, hash_, frag = target.partition("#")
        if not path_part:
            file = p.file.resolve()
        else:
            file = (p.file.parent / _url_path(path_part)).resolve()
            if file not in self.files and file.suffix.lower() in (".html", ".htm"):
                file = file.with_suffix(".md")
            if file not in self.files and file.is_dir():
                for name in ("README.md", "index.md"):
                    if (file / name).resolve() in self.files:
                        file = (file / name).resolve()
        if file not in self.files:
            return ""
        aliases = self.aliases.get(file, {})
        from urllib.parse import unquote

        if frag:
            for cand in (frag, unquote(frag), unquote(frag).lower()):
                if cand in aliases:
                    return f"#{aliases[cand]}"
            if offset is not None:
                self.note(p, offset, "warning", f"link to '{_cut(target, 60)}': no heading or anchor '{frag}' there; "
                          "it now points at the start of that file")
        first = self.first_id.get(file)
        if first is None:
            return ""
        return f"#{first}"


def _mask_code_only(text: str) -> str:
    out = list(text)
    pos = 0
    fence = None
    fence_start = 0
    for line in text.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is None and m:
            fence, fence_start = m.group(1), pos
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line[m.end():].strip():
            for i in range(fence_start, pos + len(line)):
                if out[i] != "\n":
                    out[i] = " "
            fence = None
        pos += len(line)
    if fence is not None:
        for i in range(fence_start, len(text)):
            if out[i] != "\n":
                out[i] = " "
    s = "".join(out)
    for m in re.finditer(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", s, re.S):
        for i in range(m.start(), m.end()):
            if out[i] != "\n":
                out[i] = " "
    return "".join(out)


def _open_bracket(masked: str, close: int) -> int:
    """The '[' that the ']' at ``close`` closes (nested brackets counted)."""
    depth = 0
    i = close
    while i >= 0:
        ch = masked[i]
        if ch == "]" and (i == 0 or masked[i - 1] != "\\"):
            depth += 1
        elif ch == "[" and (i == 0 or masked[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return i
        elif ch == "\n" and i + 1 < len(masked) and masked[i + 1] == "\n":
            return -1
        i -= 1
    return -1


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping edits (an edit overlapping an earlier-listed
    one is left out)."""
    def clash(e, k):
        if e[0] == e[1] or k[0] == k[1]:  # an insertion clashes only with a span around it
            x, (a, b) = (e[0], k[:2]) if e[0] == e[1] else (k[0], e[:2])
            return a < x < b
        return e[0] < k[1] and k[0] < e[1]

    kept: list[tuple[int, int, str]] = []
    for e in edits:
        if not any(clash(e, k) for k in kept):
            kept.append(e)
    out = text
    for a, b, new in sorted(kept, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:a] + new + out[b:]
    return out


def _label(text: str) -> str:
    return " ".join(text.lower().split())


def _escape_md(text: str) -> str:
    return re.sub(r"([\[\]])", r"\\\1", text)


def _md_url(target: str) -> str:
    return f"<{target}>" if re.search(r"[\s()]", target) else target


def _pick_lines(lines: list[str], spec: str) -> list[str] | None:
    """mdBook's include forms: 'name' (between ANCHOR: name and ANCHOR_END:
    name), 'N', 'N:', ':M', 'N:M' (1-based, inclusive); '' the whole file."""
    if not spec:
        return lines
    m = re.match(r"^(\d*)(:?)(\d*)$", spec)
    if m and (m.group(1) or m.group(3)):
        start = int(m.group(1)) if m.group(1) else 1
        if not m.group(2):
            end = start
        else:
            end = int(m.group(3)) if m.group(3) else len(lines)
        return lines[start - 1:end]
    name = spec.strip()
    inside = False
    out: list[str] = []
    found = False
    for line in lines:
        if re.search(rf"\bANCHOR:\s*{re.escape(name)}\b", line):
            inside, found = True, True
            continue
        if re.search(rf"\bANCHOR_END:\s*{re.escape(name)}\b", line):
            inside = False
            continue
        if inside:
            out.append(line)
    return out if found else None


# ------------------------------------------------------------ publication.yaml

def _edition_date(files: list[Path], given: dt.date | None, notes: list[str]) -> dt.date:
    if given is not None:
        notes.append(f"edition date {given.isoformat()} as given")
        return given
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        d = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).date()
        notes.append(f"edition date {d.isoformat()} from SOURCE_DATE_EPOCH")
        return d
    newest = max((f.stat().st_mtime for f in files if f.exists()), default=0)
    d = dt.datetime.fromtimestamp(newest, dt.timezone.utc).date()
    notes.append(f"edition date {d.isoformat()}: the day the newest file read was last changed (UTC), "
                 "so the same files give the same folder")
    return d


#: Scripts whose letters name a language well enough for hyphenation and fonts.
_SCRIPTS = [("CJK UNIFIED", "zh"), ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"),
            ("CYRILLIC", "ru"), ("GREEK", "el"), ("ARABIC", "ar"), ("HEBREW", "he"), ("THAI", "th"),
            ("DEVANAGARI", "hi")]


#: Common characters written differently in Simplified and Traditional Chinese
#: (each Simplified one, then its Traditional form): which of the two a Chinese
#: text uses picks zh (Simplified) or zh-Hant, and with it the fonts (SC or TC)
#: and the furniture words.
_SIMPLIFIED_TRADITIONAL = ("这這们們个個为為说說时時会會来來对對发發过過还還没沒国國学學开開关關经經进進种種实實现現"
                           "与與长長问問应應么麼样樣动動将將认認无無从從两兩产產东東间間让讓处處当當机機电電书書"
                           "见見写寫数數话話题題网網统統际際历歷边邊亲親务務类類传傳体體记記档檔资資讯訊设設计計"
                           "执執读讀译譯语語请請该該简簡单單码碼录錄络絡")


def _guess_language(text: str, notes: list[str]) -> str:
    """The language from the script most of the letters are in (outside code);
    Latin script (or too little text) gives the default, en."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    counts: dict[str, int] = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        name = unicodedata.name(ch, "")
        for script, lang in _SCRIPTS:
            if name.startswith(script):
                counts[lang] = counts.get(lang, 0) + 1
                break
    if "ja" in counts and counts["ja"] * 20 > counts.get("zh", 0):
        counts["ja"] += counts.pop("zh", 0)
    best = max(counts.items(), key=lambda kv: kv[1], default=(None, 0))
    if best[0] == "zh":
        simplified = sum(text.count(c) for c in _SIMPLIFIED_TRADITIONAL[0::2])
        traditional = sum(text.count(c) for c in _SIMPLIFIED_TRADITIONAL[1::2])
        if traditional > simplified:
            best = ("zh-Hant", best[1])
    if best[0] and letters and best[1] * 3 > letters:
        notes.append(f"language '{best[0]}' guessed from the script of most of the text; correct it in "
                     "publication.yaml if it is wrong")
        return best[0]
    notes.append("language 'en' (the default: the text is in Latin script); correct it in publication.yaml "
                 "if it is not English")
    return "en"


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _publication_yaml(title: str, authors: list[str], language: str, date: dt.date, units: list[Unit],
                      reader: _Reader) -> str:
    what = {"file": "one Markdown file", "folder": "a folder of Markdown chapters", "mdbook": "an mdBook"}[reader.kind]
    lines = [f"# Imported by `pipeline import` from {what}: {reader.path.name}",
             "# Every key is explained in the README (the publication.yaml reference).",
             f"title: {_q(title)}",
             "authors:"]
    lines += [f"  - name: {_q(a)}" for a in authors]
    lines += [f"language: {language}",
              "edition:",
              "  version: 0.1.0",
              f"  date: \"{date.isoformat()}\""]
    front = [u for u in units if u.kind == "front"]
    parts = [u for u in units if u.kind == "part"]
    back = [u for u in units if u.kind == "back"]
    if front:
        lines.append("front:")
        lines += [f"  - {u.name}" for u in front]
    lines += ["outline:", "  parts:"]
    for u in parts:
        lines += [f"    - title: {_q(u.title)}", f"      file: {u.name}"]
    if back:
        lines.append("back:")
        lines += [f"  - {u.name}" for u in back]
    return "\n".join(lines) + "\n"
