"""What the loaded text becomes before any format renders it: alert labels in the publication's
language, the characters the outputs print that the Markdown does not spell, and headings given
their numbers and levels.
"""

from __future__ import annotations

from pipeline import pandoc
from pipeline.model import Chapter
from pipeline.source.safety import _without_foreign_raw


def furniture_words(language: str) -> dict:
    """The words the outputs print around the text, for ``language``
    (templates/words.yaml, as the templates get them)."""
    from pipeline.render.common import Design

    return Design().words(language)


def _label_alerts(chapters: list[Chapter], language: str) -> str:
    """An alert's label (``> [!NOTE]``, ``::: warning``; pipeline/lua/parse.lua
    writes the English word) in the publication's language, from
    templates/words.yaml (``alert_note``, …). Returns the labels used."""
    used: list[str] = []
    words = None

    def visit(el):
        nonlocal words
        if el["t"] != "Div":
            return
        classes = el["c"][0][1]
        kind = next((c[len("alert-"):] for c in classes if c.startswith("alert-")), None)
        if "alert" not in classes or not kind or not el["c"][1] or el["c"][1][0]["t"] != "BlockQuote":
            return
        quote = el["c"][1][0]["c"]
        head = quote[0]["c"] if quote and quote[0]["t"] == "Para" else []
        if len(head) == 1 and head[0]["t"] == "Strong" and len(head[0]["c"]) == 1 and head[0]["c"][0]["t"] == "Str":
            if words is None:
                words = furniture_words(language)
            label = words.get(f"alert_{kind}")
            if isinstance(label, str) and label:
                head[0]["c"] = [{"t": "Str", "c": label}]
                used.append(label)

    for c in chapters:
        pandoc.walk(c.blocks, visit)
    return "".join(used)


def _list_markers(chapters: list[Chapter]) -> str:
    """Characters the outputs print that the Markdown does not spell: the
    bullets the stylesheets draw for nested lists (a circle at the second
    level, a square below it; the first level's disc is furniture) and the
    emoji of shortcodes (``:+1:`` is 👍)."""
    deepest = 0
    emoji: set[str] = set()

    def depth(blocks, level):
        nonlocal deepest
        for node in blocks if isinstance(blocks, list) else [blocks]:
            if isinstance(node, dict):
                here = level + (node.get("t") == "BulletList")
                deepest = max(deepest, here)
                if node.get("t") == "Span" and "emoji" in node["c"][0][1]:
                    emoji.update(pandoc.stringify(node["c"][1]))
                for v in node.values():
                    if isinstance(v, (list, dict)):
                        depth(v, here)
            elif isinstance(node, list):
                depth(node, level)

    for c in chapters:
        depth(c.blocks, 0)
    return "◦" * (deepest >= 2) + "▪" * (deepest >= 3) + "".join(sorted(emoji))


def _decorate(chapter: Chapter, words: dict) -> None:
    """Give headings their numbers and levels as every format prints them.

    Level-1 source headings become h2 (the publication's title is the only
    h1); a part's heading is preceded by its label. A number is printed as
    the furniture words (``words``, templates/words.yaml) write it:
    ``heading_number``, in a span of the class ``number``, then a space.
    """
    out = []
    entries = iter(chapter.headings)
    for b in _without_foreign_raw(chapter.blocks):
        if b["t"] == "Header":
            entry = next(entries)
            level, (ident, classes, attrs), inlines = b["c"]
            if entry.number:
                inlines = [pandoc.span(["number"], words["heading_number"].format(number=entry.number)),
                           {"t": "Space"}, *inlines]
            classes = list(classes)
            if chapter.kind == "part" and level == 1:
                classes.append("part")
                if entry.label:
                    out.append(pandoc.div("", ["part-label"], [pandoc.plain(entry.label)]))
            b = {"t": "Header", "c": [level + 1, [ident, classes, attrs], inlines]}
        out.append(b)
    chapter.blocks = out
