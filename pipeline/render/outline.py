"""The outline as a tree, for templates that print nested contents."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.model import Chapter, OutlineEntry


@dataclass
class TocNode:
    entry: OutlineEntry
    kind: str  # the kind of chapter it is in: front, part or back
    children: list["TocNode"] = field(default_factory=list)


def toc_tree(chapters: list[Chapter], max_level: int = 6) -> list[TocNode]:
    roots: list[TocNode] = []
    stack: list[TocNode] = []
    for c, e in ((c, e) for c in chapters for e in c.headings):
        if e.level > max_level:
            continue
        node = TocNode(e, c.kind)
        while stack and stack[-1].entry.level >= e.level:
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    return roots
