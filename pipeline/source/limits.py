"""The limits on the Markdown (size, headings, nesting, brackets, parse time and memory, image
size), as publication.yaml raises them, and the checks made before pandoc parses a file.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.errors import Problem


#: The limits on the Markdown (publication.yaml's ``limits:`` raises them):
#: generous for real books (a 500-page one uses a tenth of each), small
#: enough that no input takes a build's time or memory without end.
LIMITS = {"markdown_mb": 4, "headings": 3000, "nesting": 32, "brackets": 6, "parse_seconds": 60,
          "parse_memory_mb": 2000, "image_megapixels": 50}
_RAISE = ("{what}; if a real publication needs more, raise it with `limits: {{{key}: N}}` in publication.yaml")


def _limits(data: dict) -> dict:
    """The limits in force: the defaults, and what publication.yaml raises
    (values of the wrong type have been reported by the schema)."""
    given = data.get("limits") if isinstance(data.get("limits"), dict) else {}
    out = dict(LIMITS)
    for key, value in given.items():
        if key in out and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            out[key] = value
    return out


def _too_many_headings(path: Path, line: int | None, count: int, limits: dict) -> Problem:
    return Problem(path, f"the publication has {count}{'' if count > limits['headings'] else ' or more'} headings, "
                         f"more than the limit of {limits['headings']} (limits.headings); this is the first one past it",
                   _RAISE.format(key="headings", what="split the publication into several"), line=line)


def _size_ok(path: Path, limits: dict, problems: list[Problem]) -> bool:
    """A Markdown file no larger than limits.markdown_mb; the problem names
    the line where the limit is crossed."""
    limit = int(limits["markdown_mb"] * 1_000_000)
    try:
        size = path.stat().st_size
        if size <= limit:
            return True
        with open(path, "rb") as f:
            line = f.read(limit).count(b"\n") + 1
    except OSError:
        return True  # reported when it is read
    problems.append(Problem(path, f"the file is {size / 1e6:.1f} MB, more than the limit of {limits['markdown_mb']:g} MB "
                                  "for one Markdown file (limits.markdown_mb); the limit is crossed on this line",
                            _RAISE.format(key="markdown_mb", what="split it into several chapter files"), line=line))
    return False


_QUOTES = re.compile(r"^(?:[ \t]*>)+")
_LIST_ITEM = re.compile(r"^([ \t]*)(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_ANY_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_DIV_FENCE = re.compile(r"^[ \t]*:{3,}[ \t]*(\S?)")
_CODE_SPAN = re.compile(r"(`+).*?\1|\\.")


def _nesting_ok(path: Path, text: str, limits: dict, problems: list[Problem]) -> bool:
    """Refuse, before pandoc parses it, Markdown nested deeper than the
    limits: block quotes, lists and fenced divs inside one another
    (limits.nesting), and [brackets] inside one another in a paragraph
    (limits.brackets: pandoc's time grows about threefold with each level).
    Code is left out. One problem per file, at the line that goes past."""
    fence = None
    lists: list[int] = []
    divs = 0
    brackets = 0
    for number, line in enumerate(text.split("\n"), 1):
        q = _QUOTES.match(line)
        quotes = q.group(0).count(">") if q else 0
        rest = line[q.end():] if q else line
        m = _ANY_FENCE.match(rest)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            brackets = 0
            continue
        if not rest.strip():
            brackets = 0
            continue
        d = _DIV_FENCE.match(rest)
        if d:
            divs = divs + 1 if d.group(1) else max(0, divs - 1)
        item = _LIST_ITEM.match(rest)
        indent = len(rest.expandtabs(4)) - len(rest.expandtabs(4).lstrip())
        if item:
            while lists and lists[-1] >= indent:
                lists.pop()
            lists.append(indent)
        elif indent == 0:
            lists.clear()
        depth = quotes + len(lists) + divs
        if depth > limits["nesting"]:
            problems.append(Problem(path, f"lists, block quotes and divs are nested {depth} deep here, more than the limit "
                                          f"of {limits['nesting']} (limits.nesting)",
                                    _RAISE.format(key="nesting", what="nest them less deeply"), line=number))
            return False
        for ch in _CODE_SPAN.sub("", rest):
            if ch == "[":
                brackets += 1
                if brackets > limits["brackets"]:
                    problems.append(Problem(path, f"brackets [ ] are nested more than {limits['brackets']} deep here, the "
                                                  "limit (limits.brackets): pandoc's time grows about threefold with each level",
                                            _RAISE.format(key="brackets", what="nest them less deeply, or write \\[ for a "
                                                          "bracket that is text"), line=number))
                    return False
            elif ch == "]":
                brackets = max(0, brackets - 1)
    return True
