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
    """The blocks without any Div (at any depth) that has one of
    ``classes``. Only what changes is copied: a body without such divs
    comes back as it was."""
    out = _inside(blocks, classes)
    return blocks if out is None else out


def _inside(node: Any, classes: set[str]) -> Any:
    """``node`` with the divs left out, or None when it has none."""
    if isinstance(node, list):
        changed = None
        for i, n in enumerate(node):
            if isinstance(n, dict) and n.get("t") == "Div" and classes & set(n["c"][0][1]):
                new = _DROP
            elif isinstance(n, (list, dict)):
                new = _inside(n, classes)
            else:
                continue
            if new is not None:
                if changed is None:
                    changed = list(node)
                changed[i] = new
        return None if changed is None else [n for n in changed if n is not _DROP]
    if isinstance(node, dict):
        c = node.get("c")
        if not isinstance(c, list) or node.get("t") in _LEAVES:
            return None
        new = _inside(c, classes)
        return None if new is None else {**node, "c": new}
    return None


_DROP = object()
#: Elements that hold no blocks: no need to look inside.
_LEAVES = {"Str", "Space", "SoftBreak", "LineBreak", "Code", "CodeBlock", "RawBlock", "RawInline", "Math",
           "HorizontalRule", "Header", "Para", "Plain"}


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
