"""Content meant for one audience: the reader of the report (PDF, EPUB,
HTML) or the audience of the slide deck. An author marks it with pandoc
fenced divs, in the one source:

- ``::: notes`` speaker notes: on the deck only, as notes of its slide;
- ``::: {.slides-only}`` shown on the slides only;
- ``::: {.no-slides}`` shown in the report only.

The report's body (``common.body_html``) and what its check expects
(``check.compare.Expected``) are taken ``for_reading``; the deck's
``for_slides``.
"""

from __future__ import annotations

from typing import Any

NOTES = "notes"
SLIDES_ONLY = "slides-only"
NO_SLIDES = "no-slides"


def _without(blocks: list[Any], classes: set[str]) -> list[Any]:
    """The blocks without any Div (at any depth) that has one of ``classes``."""
    out = []
    for b in blocks:
        if not isinstance(b, dict):
            out.append(b)
            continue
        if b.get("t") == "Div" and classes & set(b["c"][0][1]):
            continue
        out.append(_inside(b, classes))
    return out


def _inside(node: Any, classes: set[str]) -> Any:
    if isinstance(node, list):
        if node and all(isinstance(n, dict) and "t" in n for n in node):
            return _without(node, classes)
        return [_inside(n, classes) for n in node]
    if isinstance(node, dict):
        return {k: _inside(v, classes) for k, v in node.items()}
    return node


def for_reading(blocks: list[Any]) -> list[Any]:
    """The blocks as the report shows them: no speaker notes, nothing
    meant for the slides only."""
    return _without(blocks, {NOTES, SLIDES_ONLY})


def for_slides(blocks: list[Any]) -> list[Any]:
    """The blocks as the deck shows them: nothing left out of the slides
    (``no-slides``); the speaker notes are kept (the deck takes them out
    of its slides as their notes)."""
    return _without(blocks, {NO_SLIDES})


def without_notes(blocks: list[Any]) -> list[Any]:
    """The blocks without speaker notes: what the deck's check expects on
    its slides."""
    return _without(blocks, {NOTES})
