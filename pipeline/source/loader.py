"""``load(folder)``: read and check a publication folder in one pass, through the other modules of
this package, and return a ``Publication`` or raise ``SourceError`` with every problem found.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from urllib.parse import unquote

from pipeline import fonts
from pipeline.errors import Problem, SourceError
from pipeline.model import Chapter, Location, OutlineEntry, Publication
from pipeline.source.decorate import _decorate, _label_alerts, _list_markers, furniture_words
from pipeline.source.files import PUBLICATION_FILE, _in_reading_order, _inside, _loops, _name
from pipeline.source.limits import _limits, _nesting_ok, _size_ok, _too_many_headings
from pipeline.source.markdown import _parse
from pipeline.source.outline import _Planned, _heading_candidates, _metadata, _number_headings, _plan
from pipeline.source.references import _check_references
from pipeline.source.targets import _check_targets
from pipeline.source.validate import _formats_problems, _schema_problems
from pipeline.source.yamldoc import _read_text, _read_yaml


def load(folder: Path | str) -> Publication:
    """Read and check a publication folder; every problem found is reported
    together, as far as the parts that could be read allow."""
    root = Path(folder).resolve()
    problems: list[Problem] = []
    warnings: list[Problem] = []  # what the build changes in the text it prints, each said once per file
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
    problems += _formats_problems(ypath, doc)
    data = doc.data
    limits = _limits(data)

    # the chapter files, in reading order
    plan = _plan(data)
    read: list[tuple[_Planned, Path, str]] = []
    seen: set[Path] = set()
    past_limits = False
    headings_seen = 0
    for item in plan:
        line, column = doc.pos(item.ypos, key=False)
        at = dict(line=line, column=column)
        path = _inside(root, item.name)
        if path is None:
            problems.append(Problem(ypath, f"'{item.name}' is outside the publication folder",
                                    "chapter files must live inside the publication's folder; "
                                    "give a path relative to it", **at))
            continue
        if path in seen:
            problems.append(Problem(ypath, f"'{item.name}' is listed twice", "list each Markdown file once", **at))
            continue
        seen.add(path)
        if _loops(root / item.name):
            problems.append(Problem(ypath, f"chapter file '{item.name}' cannot be read: its path goes round a loop "
                                           "of symlinks", "replace the symlink on its path by the file it should name", **at))
            continue
        if not path.is_file():
            problems.append(Problem(ypath, f"chapter file '{item.name}' does not exist",
                                    f"create {path.relative_to(root)} or correct the name", **at))
            continue
        if not _size_ok(path, limits, problems):
            past_limits = True
            continue
        text = _read_text(path, problems)
        if text is None:
            continue
        if not text.strip():
            problems.append(Problem(path, "the file is empty", "write the chapter, or remove it from publication.yaml", line=1))
            continue
        if not _nesting_ok(path, text, limits, problems):
            past_limits = True
            continue
        # headings counted before pandoc parses them (the count decides how
        # long the parse and every later stage take); checked again after
        candidates = _heading_candidates(text)
        if not past_limits and headings_seen + len(candidates) > limits["headings"]:
            line = candidates[limits["headings"] - headings_seen][0]
            problems.append(_too_many_headings(path, line, headings_seen + len(candidates), limits))
            past_limits = True
            continue
        headings_seen += len(candidates)
        read.append((item, path, text))
    if past_limits:  # a file left unparsed would make its sections' links look broken: stop here
        raise SourceError(_in_reading_order(problems, [ypath, *(path for _, path, _ in read)]))

    api_version, parsed, renamed = _parse(read, limits, problems)
    if parsed is None:
        raise SourceError(_in_reading_order(problems, [ypath, *(path for _, path, _ in read)]))
    renamed_in = {path: r for (_, path, _), r in zip(read, renamed)}

    # headings: levels, numbers, ids, part titles
    chapters: list[Chapter] = []
    outline: list[OutlineEntry] = []
    ids: dict[str, Location] = {}
    texts: dict[Path, str] = {}
    blocks_of = iter(parsed)
    read_paths = {id(item): (path, text) for item, path, text in read}
    part_no = 0
    for item in plan:
        if item.kind == "part":
            part_no += 1
        if id(item) not in read_paths:
            continue
        path, text = read_paths[id(item)]
        blocks = next(blocks_of)
        texts[path] = text
        chapter_id = f"part-{part_no}" if item.kind == "part" else f"{item.kind}-{len(chapters) + 1}"
        entries = _number_headings(path, text, blocks, item, part_no, doc, problems, warnings)
        for e in entries:
            if e.id in ids:
                other = ids[e.id]
                problems.append(Problem(path, f"two headings get the same id '{e.id}' (the other is at {other.file.name}:{other.line})",
                                        "give one of them its own id with {#another-id} after the heading", line=e.location.line))
            else:
                ids[e.id] = e.location
        outline += entries
        chapters.append(Chapter(item.kind, path, blocks, chapter_id, entries))

    if len(outline) > limits["headings"]:
        e = outline[limits["headings"]]
        problems.append(_too_many_headings(e.location.file, e.location.line, len(outline), limits))
        raise SourceError(_in_reading_order(problems, [ypath, *(path for _, path, _ in read)]))
    assets: dict[str, Path] = {}
    links = data.get("links") if isinstance(data.get("links"), dict) else {}
    base = links.get("base") if isinstance(links.get("base"), str) else None
    language = data.get("language") if isinstance(data.get("language"), str) else "en"
    _check_targets(root, chapters, ids, texts, assets, problems, renamed_in, limits, warnings, base,
                   furniture_words(language))
    _check_references(chapters, texts, problems)
    kf = data.get("key_figures")
    after = kf.get("after") if isinstance(kf, dict) else None
    if isinstance(after, str) and after and chapters and after not in ids:
        near = difflib.get_close_matches(after, sorted(ids), n=1)
        line, column = doc.pos(("key_figures", "after"), key=False)
        problems.append(Problem(ypath, f"key_figures.after names '{after}', but no heading has that id",
                                f"did you mean '{near[0]}'?" if near else "use the id of a heading ({#id} after it)",
                                line=line, column=column))
    # every character of the text has a glyph in the fonts the formats use, checked before any layout
    labels = _label_alerts(chapters, language)
    sources = {ypath: ypath.read_text("utf-8", errors="replace"), **texts}
    stack = fonts.stacks(language, "".join(sources.values()) + _list_markers(chapters) + labels)
    problems += fonts.glyph_problems(sources, stack)
    if problems:
        order = [ypath, *(path for _, path, _ in read)]
        raise SourceError(_in_reading_order(problems, order), _in_reading_order(warnings, order))

    meta = _metadata(root, data)
    files = [ypath, *(path for _, path, _ in read)]
    files += [p for p in dict.fromkeys(assets.values()) if p not in files]
    # every file read, by the name the publication gives it (see source_files)
    names = {PUBLICATION_FILE: ypath, **{_name(item.name): path for item, path, _ in read},
             **{_name(unquote(target)): path for target, path in assets.items()}}
    pub = Publication(root.name, root, meta, chapters, outline, files=files, assets=assets,
                      pandoc_api_version=api_version, fonts=stack, names=names, limits=limits,
                      warnings=_in_reading_order(warnings, files), formats=tuple(data.get("formats") or ()))
    words = furniture_words(meta.language)
    for c in pub.chapters:
        _decorate(c, words)
    return pub
