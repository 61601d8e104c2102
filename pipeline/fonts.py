"""The fonts a publication is set in: which families, chosen by its
``language`` and by the characters its text uses, and whether every one of
those characters has a glyph in them.

Every font comes from a pinned PyPI package (pyproject.toml): Source Serif
and Source Sans for Latin text; Noto Serif SC and Noto Sans SC for Chinese
(and as the fallback for Han characters and kana in any text); Noto Sans,
Noto Sans for other scripts, Noto Sans Symbols and the monochrome Noto
Emoji as fallbacks. A family joins a publication's stacks only when its
language asks for it or when a character of the text needs it, so the PDF
embeds (subset) and the HTML page carries (subset) only what is used.

``stacks(language, characters)`` gives the two stacks (text and display)
and the characters no installed font covers; ``glyph_problems`` turns the
latter into source errors at file:line:column, before anything is laid out.
"""

from __future__ import annotations

import importlib
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from pipeline.errors import BuildError, Problem


@dataclass(frozen=True)
class Face:
    file: str
    weight: int
    style: str


@dataclass(frozen=True)
class Family:
    name: str
    package: str  # the module whose folder holds the files
    folder: str   # inside that folder ('' for the folder itself)
    faces: tuple[Face, ...]

    def path(self, face: Face) -> Path:
        try:
            module = importlib.import_module(self.package)
        except ImportError:
            raise BuildError(f"the font package {self.package} is not installed; run `make` to install the project's fonts")
        path = Path(module.__file__).parent / self.folder / face.file
        if not path.is_file():
            raise BuildError(f"font file {face.file} is not installed; run `make` to install the project's fonts")
        return path

    @property
    def folder_path(self) -> Path:
        return self.path(self.faces[0]).parent

    @property
    def regular(self) -> Face:
        return next((f for f in self.faces if f.weight == 400 and f.style == "normal"), self.faces[0])

    def covers(self, codepoint: int) -> bool:
        return codepoint in _cmap(self.path(self.regular))


def _weights(prefix: str, ext: str = "ttf") -> tuple[Face, ...]:
    return (Face(f"{prefix}-Regular.{ext}", 400, "normal"), Face(f"{prefix}-It.{ext}", 400, "italic"),
            Face(f"{prefix}-Semibold.{ext}", 600, "normal"), Face(f"{prefix}-Bold.{ext}", 700, "normal"),
            Face(f"{prefix}-BoldIt.{ext}", 700, "italic"))


def _one(file: str) -> tuple[Face, ...]:
    return (Face(file, 400, "normal"),)


SERIF = Family("Source Serif Pro", "font_source_serif_pro", "files", _weights("SourceSerifPro"))
SANS = Family("Source Sans Pro", "font_source_sans_pro", "files", _weights("SourceSansPro"))
SERIF_SC = Family("Noto Serif SC", "pylopdf_fonts_zh_cn", "", _one("NotoSerifSC-Regular.otf"))
SANS_SC = Family("Noto Sans SC", "pylopdf_fonts_zh_cn", "", _one("NotoSansSC-Regular.otf"))
SERIF_TC = Family("Noto Serif TC", "pylopdf_fonts_zh_tw", "", _one("NotoSerifTC-Regular.otf"))
SANS_TC = Family("Noto Sans TC", "pylopdf_fonts_zh_tw", "", _one("NotoSansTC-Regular.otf"))
SERIF_JP = Family("Noto Serif JP", "pylopdf_fonts_jp", "", _one("NotoSerifJP-Regular.otf"))
SANS_JP = Family("Noto Sans JP", "pylopdf_fonts_jp", "", _one("NotoSansJP-Regular.otf"))
SERIF_KR = Family("Noto Serif KR", "pylopdf_fonts_ko", "", _one("NotoSerifKR-Regular.otf"))
SANS_KR = Family("Noto Sans KR", "pylopdf_fonts_ko", "", _one("NotoSansKR-Regular.otf"))
#: The CJK families by the language they set: (text, display).
CJK = {"zh-Hans": (SERIF_SC, SANS_SC), "zh-Hant": (SERIF_TC, SANS_TC), "ja": (SERIF_JP, SANS_JP),
       "ko": (SERIF_KR, SANS_KR)}
CJK_FAMILIES = tuple(f for pair in CJK.values() for f in pair)
NOTO_SANS = Family("Noto Sans", "manimgx_fonts", "", (Face("NotoSans[wght].ttf", 400, "normal"),
                                                       Face("NotoSans-Italic[wght].ttf", 400, "italic")))
SCRIPTS = tuple(Family(f"Noto Sans {script}", "manimgx_fonts", "", _one(f"NotoSans{script}[wght].ttf")) for script in (
    "Arabic", "Armenian", "Bengali", "Devanagari", "Ethiopic", "Georgian", "Gujarati", "Gurmukhi", "Hebrew",
    "Kannada", "Khmer", "Lao", "Malayalam", "Myanmar", "Oriya", "Sinhala", "Tamil", "Telugu", "Thai"))
SYMBOLS = Family("Noto Sans Symbols", "manimgx_fonts", "", _one("NotoSansSymbols[wght].ttf"))
EMOJI = Family("Noto Emoji", "manimgx_fonts", "", _one("NotoEmoji[wght].ttf"))
FAMILIES = (SERIF, SANS, *CJK_FAMILIES, NOTO_SANS, *SCRIPTS, SYMBOLS, EMOJI)
BY_NAME = {f.name: f for f in FAMILIES}

#: Scripts the monospace font for code has letters for but does not shape
#: (joining): their family sets their letters in code (``Stacks.code_css``).
CODE_FIRST = {"Noto Sans Arabic": "U+0600-06FF, U+0750-077F, U+0870-08FF, U+FB50-FDFF, U+FE70-FEFC",
              "Noto Sans Hebrew": "U+0590-05FF, U+FB1D-FB4F"}

#: The generic family closing each stack (the stylesheets' own fallback).
GENERIC = {"text": "serif", "display": "sans-serif"}

#: Characters every publication prints that its source need not hold: the
#: first list marker (a disc), counters, the contents' leaders, and the
#: quotes and dashes pandoc's smart punctuation makes of ' " -- ... .
#: The deeper list markers (circle, square) are added when a list is nested.
FURNITURE = "•0123456789.:ivxlcdm “”‘’–—…"


@lru_cache(maxsize=None)
def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(path, lazy=True, fontNumber=0)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


def cjk_language(language: str) -> str | None:
    """The CJK writing a language tag asks for: ``zh-Hans`` (zh, zh-CN,
    zh-SG and their longer forms), ``zh-Hant`` (zh-Hant, zh-TW, zh-HK,
    zh-MO), ``ja`` or ``ko``; None for any other language."""
    tags = language.lower().split("-")
    if tags[0] == "zh":
        return "zh-Hant" if any(t in ("hant", "tw", "hk", "mo") for t in tags[1:]) else "zh-Hans"
    return {"ja": "ja", "ko": "ko"}.get(tags[0])


def is_chinese(language: str) -> bool:
    """Simplified Chinese: zh, zh-Hans, zh-CN, zh-SG and their longer forms."""
    return cjk_language(language) == "zh-Hans"


def primaries(language: str) -> dict[str, tuple[Family, ...]]:
    """The families a language's text is set in, before any fallback: for
    Chinese, Japanese and Korean the Noto CJK family of that writing, whose
    own Latin letters set the Latin words in it (Source Serif and Source
    Sans follow for anything it lacks)."""
    cjk = cjk_language(language)
    if cjk:
        serif, sans = CJK[cjk]
        return {"text": (serif, SERIF), "display": (sans, SANS)}
    return {"text": (SERIF,), "display": (SANS,)}


def _has(codepoints: set[int], lo: int, hi: int) -> bool:
    return any(lo <= cp <= hi for cp in codepoints)


def _fallbacks(role: str, codepoints: set[int]) -> tuple[Family, ...]:
    """The fallbacks in the order they are tried. Han characters in a text
    that is not Chinese, Japanese or Korean are set in the Simplified
    Chinese family, or the Japanese one when the text has kana (a Japanese
    phrase); Hangul in the Korean family; each only for the characters the
    families before it lack."""
    index = 0 if role == "text" else 1
    order = ["zh-Hans", "zh-Hant", "ja", "ko"]
    if _has(codepoints, 0x3040, 0x30FF):  # Hiragana, Katakana
        order.remove("ja")
        order.insert(0, "ja")
    return (NOTO_SANS, *SCRIPTS, SYMBOLS, *(CJK[o][index] for o in order), EMOJI)


def ignorable(ch: str) -> bool:
    """Characters that are never drawn: controls, format characters (joiners,
    soft hyphen, bidi marks), variation selectors and line separators."""
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return True
    cp = ord(ch)
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF or ch in " \t\n\r"


@dataclass
class Stacks:
    language: str
    text: tuple[Family, ...]
    display: tuple[Family, ...]
    #: character -> the family its script is set in (the one that lacks it)
    missing: dict[str, str] = field(default_factory=dict)

    @cached_property
    def families(self) -> tuple[Family, ...]:
        """Every family either stack uses, each once, in a fixed order."""
        used = {f.name for f in self.text + self.display}
        return tuple(f for f in FAMILIES if f.name in used)

    def characters_for(self, family: Family, characters: str | set[str]) -> str:
        """The characters of ``characters`` that ``family`` sets: those it
        has and no family before it in a stack it is part of has."""
        out = set()
        for stack in (self.text, self.display):
            if family in stack:
                before = stack[:stack.index(family)]
                out |= {c for c in set(characters) if family.covers(ord(c)) and not any(f.covers(ord(c)) for f in before)}
        return "".join(sorted(out))

    def css_family(self, role: str) -> str:
        return ", ".join([f'"{f.name}"' for f in getattr(self, role)] + [GENERIC[role]])

    def is_default(self) -> bool:
        return self.text == (SERIF,) and self.display == (SANS,)

    def code_css(self) -> str:
        """The PDF's stack for code: the monospace font, with the stack's
        CJK sans-serif family after it for the CJK characters it lacks, and
        before it, for their letters only, the families of the scripts it
        has but does not shape (DejaVu Sans Mono's Arabic letters are drawn
        unjoined). '' when there is none of these."""
        first = [f for f in self.families if f.name in CODE_FIRST]
        cjk = [f for f in self.display if f in CJK_FAMILIES]
        if not first and not cjk:
            return ""
        faces = "".join(f'@font-face {{ font-family: "Code {f.name}"; src: url("{f.path(f.regular).as_uri()}"); '
                        f"unicode-range: {CODE_FIRST[f.name]}; }}\n" for f in first)
        stack = [f'"Code {f.name}"' for f in first] + ['"DejaVu Sans Mono"', "monospace"] + [f'"{f.name}"' for f in cjk]
        return faces + f"pre, code, kbd, samp {{ font-family: {', '.join(stack)}; }}\n"

    def tokens(self) -> str:
        """The stacks as design tokens (a rule the publication's own
        ``style:`` tokens come after, so they can override it)."""
        if self.is_default():
            return ""
        return f':root {{ --font-text: {self.css_family("text")}; --font-display: {self.css_family("display")}; }}\n'

    def html_code_css(self) -> str:
        """Code on the HTML page: the reader's monospace font, then the
        families the page carries for the characters it may lack; before it
        those of the scripts a monospace font may have but not join (the
        page's subsets of them have those scripts' letters only)."""
        if self.is_default():
            return ""
        first = [f for f in self.display if f.name in CODE_FIRST]
        code = ", ".join([f'"{f.name}"' for f in first] + ["monospace"]
                         + [f'"{f.name}"' for f in self.display if f is not SANS and f not in first])
        return f"pre, code, kbd, samp {{ font-family: {code}; }}\n"


def _choose(base: tuple[Family, ...], candidates: tuple[Family, ...], codepoints: set[int]):
    chosen = list(base)
    left = {cp for cp in codepoints if not any(f.covers(cp) for f in chosen)}
    for family in candidates:
        if not left:
            break
        if family in chosen:
            continue
        covered = {cp for cp in left if family.covers(cp)}
        if covered:
            chosen.append(family)
            left -= covered
    return tuple(chosen), left


def stacks(language: str, characters: str | set[str]) -> Stacks:
    """The text and display stacks for a publication in ``language`` whose
    pages print ``characters``: the language's own families, then only the
    fallbacks some character needs."""
    codepoints = {ord(c) for c in set(characters) | set(FURNITURE) if not ignorable(c)}
    base = primaries(language)
    text, left_text = _choose(base["text"], _fallbacks("text", codepoints), codepoints)
    display, left_display = _choose(base["display"], _fallbacks("display", codepoints), codepoints)
    missing = {}
    for cp in sorted(left_text | left_display):
        stack = text if cp in left_text else display
        missing[chr(cp)] = _expected(chr(cp), stack).name
    return Stacks(language, text, display, missing)


def _expected(ch: str, stack: tuple[Family, ...]) -> Family:
    """The family a character's script is set in: the CJK fonts for Han
    characters, kana and Hangul, Noto Emoji for emoji, else the stack's first."""
    block = block_name(ord(ch))
    if block.startswith("CJK") or block in ("Hiragana", "Katakana") or block.startswith("Hangul"):
        return next((f for f in stack if f in CJK_FAMILIES), SERIF_SC)
    if "Emoji" in block or "Pictographs" in block or "Emoticons" in block:
        return EMOJI
    return stack[0]


_BLOCKS = (
    (0x1100, 0x11FF, "Hangul Jamo"), (0x3130, 0x318F, "Hangul Compatibility Jamo"),
    (0x2E80, 0x2EFF, "CJK Radicals Supplement"), (0x3000, 0x303F, "CJK Symbols and Punctuation"),
    (0x3040, 0x309F, "Hiragana"), (0x30A0, 0x30FF, "Katakana"), (0x3400, 0x4DBF, "CJK Extension A"),
    (0x4E00, 0x9FFF, "CJK Unified Ideographs"), (0xAC00, 0xD7AF, "Hangul Syllables"),
    (0xF900, 0xFAFF, "CJK Compatibility Ideographs"), (0xFF00, 0xFFEF, "Halfwidth and Fullwidth Forms"),
    (0x1F300, 0x1F5FF, "Miscellaneous Symbols and Pictographs"), (0x1F600, 0x1F64F, "Emoticons"),
    (0x1F680, 0x1F6FF, "Transport and Map Symbols"), (0x1F900, 0x1F9FF, "Supplemental Symbols and Pictographs"),
    (0x1FA70, 0x1FAFF, "Symbols and Pictographs Extended-A"), (0x20000, 0x2A6DF, "CJK Extension B"),
    (0x2A700, 0x2B73F, "CJK Extension C"), (0x2B740, 0x2B81F, "CJK Extension D"),
    (0x2B820, 0x2CEAF, "CJK Extension E"), (0x2CEB0, 0x2EBEF, "CJK Extension F"),
    (0x2F800, 0x2FA1F, "CJK Compatibility Ideographs Supplement"), (0x30000, 0x3134F, "CJK Extension G"),
    (0x31350, 0x323AF, "CJK Extension H"), (0xE000, 0xF8FF, "Private Use Area"),
    (0xF0000, 0x10FFFF, "Private Use Area"),
)


def block_name(cp: int) -> str:
    for lo, hi, name in _BLOCKS:
        if lo <= cp <= hi:
            return name
    return ""


def describe(ch: str) -> str:
    """``U+20B9F 𠮟 (CJK Extension B)``; the character's name when its
    block is not one of the few named here."""
    cp = ord(ch)
    what = block_name(cp) or unicodedata.name(ch, "").lower() or "unassigned"
    return f"U+{cp:04X} {ch} ({what})"


def glyph_problems(texts: dict[Path, str], stack: Stacks) -> list[Problem]:
    """One problem per character no font has, at its first place in the
    sources (file:line:column), saying how often it occurs elsewhere."""
    places: dict[str, list[tuple[Path, int, int]]] = {}
    wanted = set(stack.missing)
    for path, text in texts.items():
        if not wanted.intersection(text):
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for col, ch in enumerate(line, 1):
                if ch in wanted:
                    places.setdefault(ch, []).append((path, lineno, col))
    problems = []
    for ch, where in places.items():
        path, line, col = where[0]
        more = f"; it also appears {len(where) - 1} more time{'s' if len(where) > 2 else ''}" if len(where) > 1 else ""
        problems.append(Problem(
            path, f"{describe(ch)} has no glyph in {stack.missing[ch]}, nor in any other font the project installs{more}",
            "write a character the fonts have instead (a standard variant, or a word), or leave it out; "
            "the fonts are listed in the README under 'Fonts'",
            line=line, column=col))
    return problems
