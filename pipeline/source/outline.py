"""The outline: the Markdown files publication.yaml lists in reading order, where each heading is
written, the headings' levels, numbers and ids checked and given, and the publication's metadata.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline import pandoc
from pipeline.errors import Problem
from pipeline.model import Author, Edition, HistoryEntry, KeyFigure, Location, Metadata, OutlineEntry, default_identifier
from pipeline.source.locate import _norm
from pipeline.source.yamldoc import YamlDoc


#: The deepest heading a source may have: every format shows a source
#: heading one level down (the publication's title is the one h1), and HTML
#: stops at h6.
MAX_HEADING_LEVEL = 5
_ATX = re.compile(r"^ {0,3}(#+)(?:[ \t]+|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _heading_candidates(text: str) -> list[tuple[int, str]]:
    """(line, text) of every line outside fenced code that looks like a
    heading: ATX (``# Title``) or the text line of a setext heading."""
    out: list[tuple[int, str]] = []
    fence = None
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":  # a YAML metadata block
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        start = end + 1 if end is not None else 0
    previous: str | None = None  # the line before, if it could be a setext heading's text
    for i in range(start, len(lines)):
        line = lines[i]
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)[0]
            elif m.group(1)[0] == fence:
                fence = None
            previous = None
            continue
        if fence is not None:
            continue
        m = _ATX.match(line)
        if m:
            out.append((i + 1, line[m.end():].strip().rstrip("#")))
            previous = None
        elif _SETEXT.match(line) and previous is not None:
            out.append((i, previous))
            previous = None
        else:
            previous = line if line.strip() and not line.startswith(("    ", "\t", ">", "|")) else None
    return out


def _heading_lines(text: str, titles: list[str]) -> list[int | None]:
    """The line of each top-level heading (``titles``, in order). When the
    candidates and the headings pair up one to one, that pairing is used;
    otherwise (a heading inside a fenced div, say) each title is looked up
    among the candidates in order."""
    candidates = _heading_candidates(text)
    if len(candidates) == len(titles):
        return [line for line, _ in candidates]
    out: list[int | None] = []
    j = 0
    for title in titles:
        want = _norm(title)
        k = next((k for k in range(j, len(candidates))
                  if _norm(re.sub(r"\{[^}]*\}\s*$", "", candidates[k][1])).replace("*", "").replace("_", "") == want), None)
        if k is None:
            out.append(None)
        else:
            out.append(candidates[k][0])
            j = k + 1
    return out


def _written_both_ways(text: str, line: int) -> bool:
    """Whether the heading on ``line`` is an ATX heading (``## Title``)
    with a setext underline on the next line: CommonMark (GitHub) reads a
    heading and a rule, pandoc a heading whose text begins with the #s."""
    lines = text.splitlines()
    return line < len(lines) and bool(_ATX.match(lines[line - 1])) and bool(_SETEXT.match(lines[line]))


@dataclass
class _Planned:
    """A Markdown file publication.yaml lists, and where it lists it."""

    kind: str  # front | part | back
    name: str
    ypos: tuple  # its path in the YAML
    part: dict | None = None


def _plan(data: dict) -> list[_Planned]:
    """The Markdown files in reading order, as far as the YAML can be read
    (entries of the wrong type have been reported by the schema)."""
    plan: list[_Planned] = []

    def listed(key: str):
        items = data.get(key)
        return items if isinstance(items, list) else []

    for i, f in enumerate(listed("front")):
        if isinstance(f, str) and f:
            plan.append(_Planned("front", f, ("front", i)))
    outline = data.get("outline")
    parts = outline.get("parts") if isinstance(outline, dict) else None
    for i, part in enumerate(parts if isinstance(parts, list) else []):
        if isinstance(part, dict) and isinstance(part.get("file"), str) and part["file"]:
            plan.append(_Planned("part", part["file"], ("outline", "parts", i, "file"), part))
    for i, f in enumerate(listed("back")):
        if isinstance(f, str) and f:
            plan.append(_Planned("back", f, ("back", i)))
    return plan


def _metadata(root: Path, d: dict) -> Metadata:
    ed = d["edition"]
    history = tuple(HistoryEntry(h["version"], dt.date.fromisoformat(h["date"]), h["note"]) for h in ed.get("history") or [])
    kf = d.get("key_figures") or {}
    return Metadata(
        title=" ".join(d["title"].split()),
        subtitle=d.get("subtitle", ""),
        short_title=" ".join(d.get("short_title", "").split()),
        authors=tuple(Author(a["name"], a.get("affiliation", ""), a.get("organisation", "")) for a in d["authors"]),
        language=d["language"],
        edition=Edition(ed["version"], dt.date.fromisoformat(ed["date"]), history),
        identifier=d.get("identifier") or default_identifier(root.name),
        description=" ".join(d.get("description", "").split()),
        keywords=tuple(d.get("keywords") or ()),
        rights=" ".join(d.get("rights", "").split()),
        contents_title=" ".join((d["outline"].get("title") or "").split()),
        style=tuple((str(k), str(v)) for k, v in (d.get("style") or {}).items()),
        key_figures_title=kf.get("title", ""),
        key_figures=tuple(KeyFigure(float(i["value"]), i["unit"], i["label"], i.get("prefix", ""),
                                    i.get("period", ""), i.get("source", ""))
                          for i in kf.get("items") or ()),
        key_figures_after=kf.get("after", ""),
    )


def _number_headings(path: Path, text: str, blocks: list, item: _Planned, part_no: int, doc: YamlDoc,
                     problems: list[Problem], warnings: list[Problem] | None = None) -> list[OutlineEntry]:
    """Check a chapter's headings and give them their numbers.

    A part's first block must be a level-1 heading equal to the part's title
    in publication.yaml; its sections are numbered 2.1, 2.1.1 and so on.
    Headings of front and back matter are unnumbered.

    A heading that skips a level (#### under ##) is shown one level below
    the heading it belongs to, with a warning: HTML would show it as
    written, but the outlines (PDF bookmarks, EPUB navigation, the tagged
    PDF's structure) are nested lists, which have no place for it, and
    PDF/UA forbids the skip. Its sub-headings move with it.
    """
    warnings = warnings if warnings is not None else []
    kind, part = item.kind, item.part
    headers = [b for b in blocks if b["t"] == "Header"]
    lines = _heading_lines(text, [" ".join(pandoc.stringify(b["c"][2]).split()) for b in headers])
    entries: list[OutlineEntry] = []
    counters = [part_no] + [0] * (MAX_HEADING_LEVEL - 1)
    previous = 0
    written: list[int] = []  # the levels as written of the headings this one is under, and its own
    skipped: list[tuple[int | None, str]] = []  # (line, message) of each heading that skips a level
    for b, line in zip(headers, lines):
        level, (ident, classes, attrs), inlines = b["c"]
        title = " ".join(pandoc.stringify(inlines).split())
        if not previous and level > 1:
            problems.append(Problem(path, f"heading level {level} follows level none: a level is skipped",
                                    "use # for the file's first heading, or add the missing level above it", line=line))
        while written and written[-1] >= level:
            written.pop()
        above = written[-1] if written else 0
        written.append(level)
        if previous and len(written) != level:
            shown = len(written)
            if level > above + 1:
                skipped.append((line, f"heading level {level} follows level {above}: a level is skipped, so it is "
                                      f"shown as level {shown}"))
            level = shown
            b["c"][0] = level
        if kind == "part" and level == 1 and entries:
            problems.append(Problem(path, "a part file holds only one level-1 heading (the part's title)",
                                    "make this a level-2 heading (##), or move it into a part of its own", line=line))
        if level > MAX_HEADING_LEVEL:
            problems.append(Problem(path, f"heading level {level} is deeper than the outputs can show: the publication's "
                                          f"title takes the first level, so a heading goes down to level {MAX_HEADING_LEVEL} "
                                          f"({'#' * MAX_HEADING_LEVEL}) at most",
                                    f"make it a level-{MAX_HEADING_LEVEL} heading ({'#' * MAX_HEADING_LEVEL}), "
                                    "or a paragraph in bold", line=line))
        if line and title.startswith("#") and _written_both_ways(text, line):
            problems.append(Problem(path, f"the heading '{title[:60]}' is underlined, so pandoc takes its #s for text "
                                          "and prints them",
                                    "remove the line of - or = under it (the #s make the heading); for a rule below "
                                    "the heading, leave a blank line before the ---", line=line))
        previous = level
        number = ""
        if kind == "part" and "unnumbered" not in classes and level <= MAX_HEADING_LEVEL:
            counters[level - 1] += 1 if level > 1 else 0
            for j in range(level, len(counters)):
                counters[j] = 0
            number = ".".join(str(n) for n in counters[:level])
        label = part.get("label", "") if (part and level == 1) else ""
        entries.append(OutlineEntry(level, number, title, ident, label if isinstance(label, str) else "",
                                    Location(path, line)))
    if skipped:  # one warning per file
        more = f" (and {len(skipped) - 1} more heading{'s' if len(skipped) > 2 else ''} in this file)" if len(skipped) > 1 else ""
        warnings.append(Problem(path, skipped[0][1] + more, "write each such heading one level below the heading it "
                                "belongs to, or add the missing level above it", line=skipped[0][0], severity="warning"))
    if kind == "part":
        first = blocks[0] if blocks else None
        expected = part.get("title") if isinstance(part.get("title"), str) else None
        expected = " ".join(expected.split()) if expected else None
        if first is None or first["t"] != "Header" or first["c"][0] != 1:
            problems.append(Problem(path, "a part must begin with its title as a level-1 heading",
                                    f"start the file with: # {expected or 'the part title'}", line=1))
        elif expected and _norm(entries[0].title) != _norm(expected):
            yline = doc.pos(item.ypos[:-1] + ("title",), key=False)[0]
            problems.append(Problem(path, f"the heading '{entries[0].title}' does not match the part's title in publication.yaml",
                                    f"publication.yaml (line {yline}) says '{expected}'; make the two the same",
                                    line=entries[0].location.line))
        if not any(b["t"] != "Header" for b in blocks):
            problems.append(Problem(path, "the part has a title but no text",
                                    "write the part's text under its heading, or remove the part from publication.yaml",
                                    line=entries[0].location.line if entries else 1))
    return entries
