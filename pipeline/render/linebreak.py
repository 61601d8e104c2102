"""Line breaking by the rules of Chinese and Japanese text (W3C clreq,
JIS X 4051) and of Korean text (KLREQ) in the PDF.

WeasyPrint has no ``line-break: strict``: Pango breaks by Unicode's line
breaking algorithm, which lets a line start with a dash (——), an ellipsis
after a dash, or a middle dot (·), and so on. A WORD JOINER (U+2060,
invisible, no width) before each character a line must not start with
forbids those breaks. Only text with CJK characters in it is touched (the
flagship's English is not), and never code. The checks ignore the joiners
(pipeline.check.extracted drops invisible characters). The EPUB and HTML
ask the reader's browser for ``line-break: strict`` (their stylesheets) and
get the joiners too: Chromium's strict breaking still started a line with
—— on a phone.

Korean breaks lines between words, at spaces, never inside one (W3C KLREQ;
CSS ``word-break: keep-all``), but Unicode's rules let a line break between
any two Hangul syllables, and WeasyPrint has no ``keep-all``: so in the PDF
a joiner goes between the letters of a word that has Hangul in it. The EPUB
and HTML ask for ``word-break: keep-all`` instead (cjk.css and html.css),
which browsers have, so their text carries no joiner per syllable.
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"

#: May not start a line: closing brackets and quotes, stops and commas,
#: dashes, ellipses, middle dots, iteration marks, small kana. (ASCII
#: punctuation and units after numbers Pango already keeps; a joiner there
#: would only travel into copied text.)
NO_START = ("，。、；：？！）」』】》〉〕］｝〗〙…‥—―·・〜ー”’々〻ゝゞヽヾ"
            "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ")
# Opening brackets and quotes, which may not end a line, Pango already
# keeps with what follows (Unicode's rules LB14 and LB19); the tests read
# the lines' ends back.

_CJK = re.compile("[\u2e80-\u2fff\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
                  "\U00020000-\U0003ffff]")
#: before the first of a run only: Pango never breaks inside —— or …… or 。” and a
#: joiner inside a run of dashes breaks their shaping (the PDF's text reads 睮)
_BEFORE = re.compile(f"(?<![\\s{WORD_JOINER}{re.escape(NO_START)}])([{re.escape(NO_START)}])")
_SKIP = {"code", "pre", "kbd", "samp", "script", "style", "math"}

_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"
_HAS_HANGUL = re.compile(f"[{_HANGUL}]")
#: between two letters or digits of one word where either is Hangul (a
#: Korean word, or one with a number or a Latin letter in it: 3개, API를)
_IN_KOREAN_WORD = re.compile(f"(?<=[{_HANGUL}])(?=[{_HANGUL}\\w])|(?<=\\w)(?=[{_HANGUL}])")


def keep_korean_words(text: str) -> str:
    """``text`` with a word joiner between the letters of each word that has
    Hangul in it, so that a line breaks at its spaces only."""
    return _IN_KOREAN_WORD.sub(WORD_JOINER, text)


def join(text: str) -> str:
    """``text`` with a word joiner wherever a break would put a character
    where it may not stand: before the first of a run of ``NO_START``
    characters (none where a space is already a break)."""
    return _BEFORE.sub(f"{WORD_JOINER}\\1", text)


def strict_breaks(el, korean_words: bool = False) -> None:
    """Apply ``join`` to every text of ``el`` that holds CJK characters,
    outside code; with ``korean_words`` (the PDF), ``keep_korean_words`` to
    every text that holds Hangul."""
    def fix(text: str | None) -> str | None:
        if text and _CJK.search(text):
            text = join(text)
        if korean_words and text and _HAS_HANGUL.search(text):
            text = keep_korean_words(text)
        return text

    def visit(node, skip: bool):
        skip = skip or (isinstance(node.tag, str) and node.tag in _SKIP)
        if not skip:
            node.text = fix(node.text)
        for child in node:
            visit(child, skip)
            if not skip:
                child.tail = fix(child.tail)

    visit(el, False)
