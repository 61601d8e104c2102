"""Markdown through pandoc and pipeline/lua/parse.lua, within the limits' time and memory; a
``$`` that pandoc would take for maths where CommonMark reads a code span is escaped first.
"""

from __future__ import annotations

import re

from pipeline import pandoc
from pipeline.errors import Problem
from pipeline.source.limits import _ANY_FENCE, _RAISE


def _parse(read: list, limits: dict, problems: list[Problem]):
    """pandoc's parse of the files ``read``, within the limits' time and
    memory. When pandoc goes past them, each file is parsed alone to name
    the one at fault; returns (None, None, None) with the problem recorded."""
    if not read:
        return [], [], []
    texts = [_code_before_maths(text) for _, _, text in read]
    cap = dict(seconds=limits["parse_seconds"], memory_mb=int(limits["parse_memory_mb"]))
    try:
        return pandoc.parse_publication(texts, **cap)
    except pandoc.TooComplex as exc:
        why, culprit = str(exc), None
        if len(read) > 1:
            for _, path, text in sorted(read, key=lambda r: len(r[2])):
                try:
                    pandoc.parse_markdown([text], **cap)
                except pandoc.TooComplex as alone:
                    why, culprit = str(alone), path
                    break
        culprit = culprit or max(read, key=lambda r: len(r[2]))[1]
    problems.append(Problem(culprit, f"the Markdown is too complex to parse ({why}, the limit of limits.parse_seconds "
                                     "and limits.parse_memory_mb)",
                            _RAISE.format(key="parse_seconds", what="look for deeply nested or very long "
                                          "constructs and simplify them").replace(
                                "`limits: {parse_seconds: N}`", "`limits: {parse_seconds: N, parse_memory_mb: N}`"),
                            line=1))
    return None, None, None


_BACKTICKS = re.compile(r"`+")


def _code_spans(para: str) -> list[tuple[int, int]]:
    """(start, end) of each code span of a paragraph, as CommonMark pairs
    backtick strings of equal length."""
    spans, i = [], 0
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(para) if not (m.start() and para[m.start() - 1] == "\\")]
    while i < len(runs):
        a, b = runs[i]
        for j in range(i + 1, len(runs)):
            c, d = runs[j]
            if d - c == b - a:
                spans.append((a, d))
                i = j
                break
        i += 1
    return spans


def _code_before_maths(text: str) -> str:
    """The text with a ``$`` escaped where pandoc would start a formula
    whose closing ``$`` is inside a code span (``*$HOME/bin*. Add it to
    your `$PATH`.``): CommonMark and GitHub read the code span first, so
    the ``$`` is a dollar sign; pandoc reads maths first and swallows the
    text up to the code span. Fenced code and indented code are left alone."""
    if "$" not in text or "`" not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    fence = None
    para: list[str] = []

    def flush():
        if not para:
            return
        joined = "\n".join(para)
        if "$" in joined and "`" in joined and not para[0].startswith("    "):
            spans = _code_spans(joined)
            inside = lambda k: any(a <= k < b for a, b in spans)  # noqa: E731
            escape, k = [], 0
            while True:
                k = joined.find("$", k)
                if k < 0:
                    break
                if inside(k) or (k and joined[k - 1] == "\\") or k + 1 >= len(joined) or joined[k + 1].isspace() \
                        or joined[k + 1] == "$":
                    k += 1
                    continue
                # pandoc's closing $: not after a blank or a backslash, not before a digit
                close = k + 1
                while True:
                    close = joined.find("$", close + 1)
                    if close < 0 or (not joined[close - 1].isspace() and joined[close - 1] != "\\"
                                     and not joined[close + 1:close + 2].isdigit()):
                        break
                if close < 0:
                    break
                if inside(close):
                    escape.append(k)
                    k += 1
                else:
                    k = close + 1
            for k in reversed(escape):
                joined = joined[:k] + "\\" + joined[k:]
        out.extend(joined.split("\n"))
        para.clear()

    for line in lines:
        m = _ANY_FENCE.match(line)
        if fence is not None:
            out.append(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            flush()
            fence = m.group(1)
            out.append(line)
        elif not line.strip():
            flush()
            out.append(line)
        else:
            para.append(line)
    flush()
    return "\n".join(out)
