"""Load a publication folder, validate it, and parse its Markdown once.

``load(folder)`` returns a ``Publication`` or raises ``SourceError`` with
every problem found in one pass, each naming its file and line.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline import pandoc
from pipeline.errors import Problem, SourceError
from pipeline.model import (
    Author, Chapter, Edition, HistoryEntry, KeyFigure, Location, Metadata,
    OutlineEntry, Publication, default_identifier,
)

PUBLICATION_FILE = "publication.yaml"


# ------------------------------------------------------------------ YAML

class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text (the schema checks them) and
    remembers the line of every key and value."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlDoc:
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)  # path -> line (1-based)

    def line(self, path: tuple) -> int | None:
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)


def _read_yaml(path: Path, problems: list[Problem]) -> YamlDoc | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(
            path, f"this is not valid YAML: {getattr(exc, 'problem', None) or exc}",
            "check the indentation and quoting near this line; a value containing ': ' or '#' needs quotes",
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None))
        return None
    if node is None:
        problems.append(Problem(path, "the file is empty", "start from the publication.yaml that `pipeline new` writes", line=1))
        return None
    doc = YamlDoc(None)
    loader = _Loader("")

    def build(n, p):
        doc.lines[p] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                key = loader.construct_object(k)
                doc.lines[p + (key,)] = k.start_mark.line + 1
                out[key] = build(v, p + (key,))
                doc.lines[p + (key,)] = k.start_mark.line + 1
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, p + (i,)) for i, v in enumerate(n.value)]
        return loader.construct_object(n)

    doc.data = build(node, ())
    return doc


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        problems.append(Problem(path, "file not found", "create it, or correct the name that refers to it"))
        return None
    try:
        return raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(path, f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x})",
                                "save the file as UTF-8 in your editor", line=line))
        return None


# ---------------------------------------------------------------- schema

_SCHEMA = json.loads(resources.files("pipeline").joinpath("publication.schema.json").read_text("utf-8"))


def schema() -> dict:
    return _SCHEMA


def _schema_problems(path: Path, doc: YamlDoc) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(_SCHEMA, format_checker=jsonschema.FormatChecker())
    out = []
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: (doc.line(tuple(e.absolute_path)) or 0, str(e.message))):
        where = tuple(err.absolute_path)
        name = ".".join(str(p) for p in where) or "publication"
        sub = _subschema(where)
        if err.validator == "additionalProperties":
            allowed = list((err.schema.get("properties") or {}).keys())
            for key in err.instance:
                if key in allowed:
                    continue
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{near[0]}'?" if near else f"allowed keys here: {', '.join(allowed)}"
                out.append(Problem(path, f"unknown key '{key}'" + (f" in {name}" if where else ""), hint,
                                   line=doc.line(where + (key,))))
        elif err.validator == "required":
            missing = err.message.split("'")[1]
            desc = ((err.schema.get("properties") or {}).get(missing) or {}).get("description", "")
            out.append(Problem(path, f"required key '{missing}' is missing" + (f" in {name}" if where else ""),
                               f"add '{missing}:'" + (f" ({desc})" if desc else ""), line=doc.line(where)))
        elif err.validator == "pattern" or err.validator == "format":
            desc = sub.get("description", "")
            out.append(Problem(path, f"'{name}' has the value {err.instance!r}, which is not valid",
                               desc or f"it must match {err.validator_value}", line=doc.line(where)))
        elif err.validator == "type":
            want = err.validator_value
            want = " or ".join(want) if isinstance(want, list) else want
            article = "an" if str(want)[0] in "aeiou" else "a"
            out.append(Problem(path, f"'{name}' must be {article} {want}, not {type(err.instance).__name__} {err.instance!r}",
                               sub.get("description", "") or "correct the value", line=doc.line(where)))
        elif err.validator == "minItems":
            out.append(Problem(path, f"'{name}' is empty", sub.get("description", "") or "add at least one item",
                               line=doc.line(where)))
        else:
            out.append(Problem(path, f"'{name}': {err.message}", sub.get("description", ""), line=doc.line(where)))
    return out


def _subschema(path: tuple) -> dict:
    node = _SCHEMA
    for p in path:
        if isinstance(p, int):
            node = node.get("items", {})
        else:
            node = (node.get("properties") or {}).get(p, {})
    return node


# ---------------------------------------------------------------- Markdown

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _heading_lines(text: str) -> list[int]:
    """1-based line numbers of the ATX headings outside fenced code."""
    lines, fence = [], None
    for i, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)[0]
            elif m.group(1)[0] == fence:
                fence = None
            continue
        if fence is None and _ATX.match(line):
            lines.append(i)
    return lines


def _line_of(text: str, needle: str, start: int = 0) -> int | None:
    i = text.find(needle, start)
    return None if i < 0 else text.count("\n", 0, i) + 1


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}))
    return " ".join(text.split())


_UNSAFE_HTML = re.compile(r"<\s*(script|iframe|object|embed|frame|frameset|base|meta|link|form)\b|\bon[a-z]+\s*=|javascript:", re.I)


# ---------------------------------------------------------------- load

def load(folder: Path | str) -> Publication:
    root = Path(folder).resolve()
    problems: list[Problem] = []
    if not root.is_dir():
        raise SourceError(Problem(Path(folder), "no such publication folder",
                                  "give the path of a folder that holds publication.yaml"))
    ypath = root / PUBLICATION_FILE
    if not ypath.is_file():
        raise SourceError(Problem(ypath, "publication.yaml is missing",
                                  "every publication folder needs one; `pipeline new SLUG` writes a commented example"))
    doc = _read_yaml(ypath, problems)
    if doc is None:
        raise SourceError(problems)
    if not isinstance(doc.data, dict):
        raise SourceError(Problem(ypath, "publication.yaml must be a mapping of keys to values", line=1,
                                  hint="start from the publication.yaml that `pipeline new` writes"))
    problems += _schema_problems(ypath, doc)
    if problems:
        raise SourceError(problems)
    data = doc.data

    # the chapter files, in reading order
    plan: list[tuple[str, str, tuple, dict | None]] = []  # kind, file, yaml path, part
    for i, f in enumerate(data.get("front") or []):
        plan.append(("front", f, ("front", i), None))
    for i, part in enumerate(data["outline"]["parts"]):
        plan.append(("part", part["file"], ("outline", "parts", i, "file"), part))
    for i, f in enumerate(data.get("back") or []):
        plan.append(("back", f, ("back", i), None))

    texts: list[str] = []
    paths: list[Path] = []
    seen: dict[Path, tuple] = {}
    for kind, name, ypos, _part in plan:
        path = _inside(root, name)
        if path is None:
            problems.append(Problem(ypath, f"'{name}' is outside the publication folder",
                                    "chapter files must live inside the publication's folder", line=doc.line(ypos)))
            continue
        if path in seen:
            problems.append(Problem(ypath, f"'{name}' is listed twice", "list each Markdown file once", line=doc.line(ypos)))
            continue
        seen[path] = ypos
        if not path.is_file():
            problems.append(Problem(ypath, f"chapter file '{name}' does not exist",
                                    f"create {path.relative_to(root)} or correct the name", line=doc.line(ypos)))
            continue
        text = _read_text(path, problems)
        if text is None:
            continue
        if not text.strip():
            problems.append(Problem(path, "the file is empty", "write the chapter, or remove it from publication.yaml", line=1))
            continue
        texts.append(text)
        paths.append(path)
    if problems:
        raise SourceError(problems)

    api_version, parsed = pandoc.parse_markdown(texts)
    by_path = dict(zip(paths, zip(texts, parsed)))

    meta = _metadata(root, data)
    chapters: list[Chapter] = []
    outline: list[OutlineEntry] = []
    ids: dict[str, Location] = {}
    part_no = 0
    for kind, name, ypos, part in plan:
        path = _inside(root, name)
        text, blocks = by_path[path]
        heading_lines = _heading_lines(text)
        if kind == "part":
            part_no += 1
        chapter_id = f"{kind}-{part_no}" if kind == "part" else f"{kind}-{len(chapters) + 1}"
        entries = _number_headings(path, text, blocks, heading_lines, kind, part_no, part, ypath,
                                   doc.line(ypos[:-1] if kind == "part" else ypos), problems)
        for e in entries:
            if e.id in ids:
                other = ids[e.id]
                problems.append(Problem(path, f"two headings get the same id '{e.id}' (the other is at {other.file.name}:{other.line})",
                                        "give one of them its own id with {#another-id} after the heading", line=e.location.line))
            else:
                ids[e.id] = e.location
        outline += entries
        chapters.append(Chapter(kind, path, blocks, chapter_id, entries))

    if not any(c.kind == "part" for c in chapters):
        problems.append(Problem(ypath, "the publication has no parts", "list at least one part under outline.parts"))

    pub = Publication(root.name, root, meta, chapters, outline, files=[ypath, *paths],
                      pandoc_api_version=api_version)
    _check_targets(pub, ids, by_path, problems)
    after = meta.key_figures_after
    if after and after not in ids:
        near = difflib.get_close_matches(after, sorted(ids), n=1)
        problems.append(Problem(ypath, f"key_figures.after names '{after}', but no heading has that id",
                                f"did you mean '{near[0]}'?" if near else "use the id of a heading ({#id} after it)",
                                line=doc.line(("key_figures", "after"))))
    if problems:
        raise SourceError(problems)
    for c in pub.chapters:
        _decorate(c, meta)
    return pub


def _inside(root: Path, name: str) -> Path | None:
    """The file ``name`` names, if it is inside ``root`` (symlinks resolved)."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", name):
        return None
    path = (root / name).resolve()
    try:
        path.relative_to(root)
    except ValueError:
        return None
    return path


def _metadata(root: Path, d: dict) -> Metadata:
    ed = d["edition"]
    history = tuple(HistoryEntry(h["version"], dt.date.fromisoformat(h["date"]), h["note"]) for h in ed.get("history") or [])
    kf = d.get("key_figures") or {}
    return Metadata(
        title=" ".join(d["title"].split()),
        subtitle=d.get("subtitle", ""),
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


def _number_headings(path, text, blocks, heading_lines, kind, part_no, part, ypath, yline, problems) -> list[OutlineEntry]:
    """Check a chapter's headings and give them their numbers.

    A part's first block must be a level-1 heading equal to the part's title
    in publication.yaml; its sections are numbered 2.1, 2.1.1 and so on.
    Headings of front and back matter are unnumbered.
    """
    entries: list[OutlineEntry] = []
    counters = [part_no, 0, 0, 0, 0, 0]
    previous = 0
    index = 0
    for pos, b in enumerate(blocks):
        if b["t"] != "Header":
            continue
        level, (ident, classes, attrs), inlines = b["c"]
        line = heading_lines[index] if index < len(heading_lines) else None
        index += 1
        title = " ".join(pandoc.stringify(inlines).split())
        if level > previous + 1:
            problems.append(Problem(path, f"heading level {level} follows level {previous or 'none'}: a level is skipped",
                                    f"use {'#' * (previous + 1)} for this heading, or add the missing level above it", line=line))
        if kind == "part" and level == 1 and entries:
            problems.append(Problem(path, "a part file holds only one level-1 heading (the part's title)",
                                    "make this a level-2 heading (##), or move it into a part of its own", line=line))
        previous = level
        number = ""
        if kind == "part" and "unnumbered" not in classes:
            counters[level - 1] += 1 if level > 1 else 0
            for j in range(level, len(counters)):
                counters[j] = 0
            number = ".".join(str(n) for n in counters[:level])
        entries.append(OutlineEntry(level, number, title, ident, part.get("label", "") if (part and level == 1) else "",
                                    Location(path, line)))
    if kind == "part":
        first = next((b for b in blocks), None)
        expected = " ".join(part["title"].split())
        if first is None or first["t"] != "Header" or first["c"][0] != 1:
            problems.append(Problem(path, "a part must begin with its title as a level-1 heading",
                                    f"start the file with: # {expected}", line=1))
        elif _norm(entries[0].title) != _norm(expected):
            problems.append(Problem(path, f"the heading '{entries[0].title}' does not match the part's title in publication.yaml",
                                    f"publication.yaml (line {yline}) says '{expected}'; make the two the same",
                                    line=entries[0].location.line))
        if not any(b["t"] != "Header" for b in blocks):
            problems.append(Problem(path, "the part has a title but no text",
                                    "write the part's text under its heading", line=entries[0].location.line if entries else 1))
    return entries


def _check_targets(pub: Publication, ids: dict, by_path: dict, problems: list[Problem]) -> None:
    """Images must be files inside the folder; links must point at a
    section that exists or at the web; raw HTML may not run anything."""
    all_ids = set(ids)

    def collect(el):
        if el["t"] in ("Div", "Span", "Header", "Code", "CodeBlock", "Image", "Link", "Table", "Figure"):
            attr = el["c"][1] if el["t"] == "Header" else el["c"][0]
            if isinstance(attr, list) and attr and isinstance(attr[0], str) and attr[0]:
                all_ids.add(attr[0])

    for c in pub.chapters:
        pandoc.walk(c.blocks, collect)

    for c in pub.chapters:
        text = by_path[c.source][0]

        def visit(el, c=c, text=text):
            t = el["t"]
            if t == "Image":
                target = el["c"][2][0]
                line = _line_of(text, target)
                if re.match(r"^[a-z][a-z0-9+.-]*://", target, re.I) or target.startswith("//"):
                    problems.append(Problem(c.source, f"remote image '{target}' is not allowed",
                                            "download the image into the publication folder and refer to it by a relative path", line=line))
                    return
                path = _inside(pub.root, target)
                if path is None:
                    problems.append(Problem(c.source, f"image '{target}' is outside the publication folder",
                                            "copy the image into the publication folder and refer to it by a relative path", line=line))
                elif not path.is_file():
                    problems.append(Problem(c.source, f"image '{target}' does not exist",
                                            f"add {target} to the publication folder or correct the path", line=line))
                else:
                    pub.assets[target] = path
                    if path not in pub.files:
                        pub.files.append(path)
            elif t == "Link":
                target = el["c"][2][0]
                line = _line_of(text, target)
                if target.startswith("#"):
                    if target[1:] not in all_ids:
                        near = difflib.get_close_matches(target[1:], sorted(all_ids), n=1)
                        problems.append(Problem(c.source, f"link to '{target}', but no section has the id '{target[1:]}'",
                                                f"did you mean '#{near[0]}'?" if near else "give the section that id with {#id} after its heading",
                                                line=line))
                elif re.match(r"^(https?:|mailto:)", target, re.I):
                    pass
                else:
                    problems.append(Problem(c.source, f"link target '{target}' is neither a section (#id) nor a web address",
                                            "link to a section with [text](#section-id), or give a full https:// address", line=line))
            elif t in ("RawBlock", "RawInline"):
                fmt, raw = el["c"]
                if fmt.lower() in ("html", "html5", "html4") and _UNSAFE_HTML.search(raw):
                    problems.append(Problem(c.source, f"raw HTML that could run or load something: {raw.strip()[:60]!r}",
                                            "remove the script, frame, event handler or javascript: URL; the outputs must not run code",
                                            line=_line_of(text, raw.strip()[:30])))

        pandoc.walk(c.blocks, visit)


def _decorate(chapter: Chapter, meta: Metadata) -> None:
    """Give headings their numbers and levels as every format prints them.

    Level-1 source headings become h2 (the publication's title is the only
    h1); a part's heading is preceded by its label.
    """
    out = []
    entries = iter(chapter.headings)
    for b in chapter.blocks:
        if b["t"] == "Header":
            entry = next(entries)
            level, (ident, classes, attrs), inlines = b["c"]
            if entry.number:
                inlines = [pandoc.span(["number"], entry.number), {"t": "Space"}, *inlines]
            classes = list(classes)
            if chapter.kind == "part" and level == 1:
                classes.append("part")
                if entry.label:
                    out.append(pandoc.div("", ["part-label"], [pandoc.plain(entry.label)]))
            b = {"t": "Header", "c": [level + 1, [ident, classes, attrs], inlines]}
        out.append(b)
    chapter.blocks = out
