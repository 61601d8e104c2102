"""Reference links and notes pandoc could not resolve (they would print as written), and
[labels] that nearly name a heading or a link definition.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from pipeline import pandoc
from pipeline.errors import Problem
from pipeline.model import Chapter
from pipeline.source.locate import _Finder


_INLINE_TEXT = {"Str": lambda c: c, "Space": lambda c: " ", "SoftBreak": lambda c: " "}
_FULL_REFERENCE = re.compile(r"\[([^\[\]\x00]+)\]\[([^\[\]\x00]*)\]")
_SHORTCUT = re.compile(r"(?<![\]\w])\[([^\[\]\x00]+)\](?![\[(:])")
_DEFINITION = re.compile(r"^ {0,3}\[([^\]]+)\]:", re.M)


def _check_references(chapters: list[Chapter], texts: dict[Path, str], problems: list[Problem]) -> None:
    """A reference link pandoc could not resolve prints as its literal text
    ([text][label]); so would a note whose text is missing ([^1]). Both are
    refused, and so is a [label] that nearly names a heading or a link
    definition (a typo); other brackets in prose ([sic]) are text."""
    written: dict[str, str] = {}  # folded label -> as written
    for text in texts.values():
        for m in _DEFINITION.findall(text):
            written.setdefault(" ".join(m.lower().split()), m)
    for e in (e for c in chapters for e in c.headings):
        written.setdefault(" ".join(e.title.lower().split()), e.title)
    labels = sorted(written)

    for c in chapters:
        finder = _Finder(texts[c.source])

        def report(message, hint, *needles, c=c, finder=finder):
            # the text as written may differ from the text read (quotes made
            # curly, a line break): the label alone finds it then
            line, column = finder.find(*(("", n) for n in needles))
            problems.append(Problem(c.source, message, hint, line=line, column=column))

        def runs(el):
            # each list of inlines, as the text a reader sees; code, maths and
            # nested elements are a \x00 (they hold no unresolved reference of
            # this list's own)
            c = el.get("c")
            if not isinstance(c, list):
                return
            for v in (c, *c):
                if isinstance(v, list) and v and all(isinstance(x, dict) and x.get("t") in _INLINE_KINDS for x in v):
                    yield "".join(_INLINE_TEXT.get(x["t"], lambda c: "\x00")(x.get("c")) for x in v)

        def visit(el):
            for run in runs(el):
                for m in _FULL_REFERENCE.finditer(run):
                    label = m.group(2) or m.group(1)
                    report(f"the reference link {m.group(0)!r} has no definition: it would print as it is written",
                           f"define it on a line of its own, [{label}]: https://... or [{label}]: #section-id, "
                           "in any chapter file", m.group(0), f"][{m.group(2)}]" if m.group(2) else "", f"[{label}]")
                for m in _SHORTCUT.finditer(run):
                    label = " ".join(m.group(1).lower().split())
                    if label.startswith("^"):
                        report(f"the note [{m.group(1)}] has no text: it would print as it is written",
                               f"add its text on a line of its own: [{m.group(1)}]: The note.", m.group(0))
                        continue
                    near = difflib.get_close_matches(label, labels, n=1, cutoff=0.85) if len(label) >= 4 else []
                    if near and near[0] != label:
                        report(f"[{m.group(1)}] is not a heading or a link definition, and would print as it is written",
                               f"did you mean [{written[near[0]]}]? (to keep the brackets as text, write \\[{m.group(1)}\\])",
                               m.group(0))

        pandoc.walk(c.blocks, visit)


_INLINE_KINDS = {"Str", "Space", "SoftBreak", "LineBreak", "Emph", "Strong", "Strikeout", "Superscript",
                 "Subscript", "SmallCaps", "Underline", "Quoted", "Cite", "Code", "Math", "RawInline", "Link",
                 "Image", "Note", "Span"}
