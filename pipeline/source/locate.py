"""Find again, in a file's text, where something from pandoc's AST is written (pandoc's Markdown
reader reports no positions), so that a problem names its file:line.
"""

from __future__ import annotations

import unicodedata


class _Finder:
    """Finds where something from the AST is written in a file's text.

    Pandoc's Markdown reader does not report positions, so an element is
    found again by its text: each search skips the places found before, so
    the second of two equal targets gets the second line, whichever way
    each is written (``![..](x)``, ``<img src="x">``)."""

    def __init__(self, text: str):
        self.text = text
        self.after: dict[str, int] = {}
        self.taken: set[int] = set()  # where finds were made

    def find(self, *needles: tuple[str, str]) -> tuple[int | None, int | None]:
        """(line, column) of the first needle found; a needle is (prefix,
        text) and the column is that of the text. A place found before is
        found again only when no needle is found anywhere else."""
        for again in (False, True):
            for prefix, needle in needles:
                if not needle:
                    continue
                key = prefix + needle
                i = self.text.find(key)
                while not again and i >= 0 and i + len(prefix) in self.taken:
                    i = self.text.find(key, i + 1)
                if i < 0:
                    continue
                self.after[key] = i + 1
                i += len(prefix)
                self.taken.add(i)
                line_start = self.text.rfind("\n", 0, i) + 1
                return self.text.count("\n", 0, i) + 1, i - line_start + 1
        return None, None

    def find_in(self, chunk: str, needle: str) -> tuple[int | None, int | None]:
        """(line, column) of ``needle`` inside the next occurrence of
        ``chunk`` (raw HTML is kept verbatim), else of the chunk itself."""
        line, column = self.find(("", chunk))
        if line is None:
            return None, None
        start = self.after[chunk] - 1
        j = chunk.lower().find(needle.lower())
        if j > 0:
            i = start + j
            line_start = self.text.rfind("\n", 0, i) + 1
            return self.text.count("\n", 0, i) + 1, i - line_start + 1
        return line, column


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}))
    return " ".join(text.split())
