"""Read publication.yaml: safe YAML that keeps the line and column of every key and value, refusing
aliases and deep nesting before anything is built; and reading any source file as UTF-8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import Problem


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
    keys: dict[tuple, tuple[int, int]] = field(default_factory=dict)  # path -> (line, column) of its key
    values: dict[tuple, tuple[int, int]] = field(default_factory=dict)  # path -> (line, column) of its value

    def pos(self, path: tuple, key: bool = True) -> tuple[int | None, int | None]:
        """Where ``path`` is written: its key (``key=True``) or its value,
        else the nearest enclosing key that exists."""
        path = tuple(path)
        if not key and path in self.values:
            return self.values[path]
        while path and path not in self.keys:
            path = path[:-1]
        return self.keys.get(path) or self.values.get((), (1, 1))

    def line(self, path: tuple) -> int | None:
        return self.pos(path)[0]


def _read_yaml(path: Path, problems: list[Problem]) -> YamlDoc | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    if not _yaml_shape_ok(path, text, problems):
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
        problems.append(Problem(path, "the file is empty",
                                "start from the publication.yaml that `pipeline new` writes", line=1))
        return None
    doc = YamlDoc(None)
    loader = _Loader("")

    def at(mark) -> tuple[int, int]:
        return mark.line + 1, mark.column + 1

    def build(n, p):
        doc.values[p] = at(n.start_mark)
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                try:
                    key = loader.construct_object(k)
                    hash(key)
                except (yaml.YAMLError, TypeError):
                    key = str(getattr(k, "value", "?"))
                if key in out:
                    first = doc.keys[p + (key,)][0]
                    problems.append(Problem(path, f"the key '{key}' appears twice (first on line {first})",
                                            "keep one of them; YAML would silently use the last",
                                            line=k.start_mark.line + 1, column=k.start_mark.column + 1))
                    continue
                doc.keys[p + (key,)] = at(k.start_mark)
                out[key] = build(v, p + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, p + (i,)) for i, v in enumerate(n.value)]
        try:
            value = loader.construct_object(n)
        except ValueError:  # an integer of more digits than Python converts
            value = None
        if isinstance(value, (int, float)) and not isinstance(value, bool) or value is None and n.tag.endswith(":int"):
            try:
                finite = value is not None and math.isfinite(float(value)) and abs(float(value)) < 1e15
            except OverflowError:
                finite = False
            if not finite:
                problems.append(Problem(path, f"the number '{n.value[:20]}{'…' if len(n.value) > 20 else ''}' is not one a "
                                              "publication can print (not finite, or more than 15 digits)",
                                        "write the number in digits, e.g. 517 or 2.5", *at(n.start_mark)))
                value = 0
        return value

    doc.data = build(node, ())
    return doc


#: publication.yaml is a few levels deep; anything much deeper is a mistake
#: or an attack on the parser (which recurses once per level).
MAX_YAML_DEPTH = 20


def _yaml_shape_ok(path: Path, text: str, problems: list[Problem]) -> bool:
    """Refuse aliases (``*name``: one small file could expand without end,
    the "billion laughs") and nesting deeper than ``MAX_YAML_DEPTH``, by
    reading the YAML's events, before anything is built from them."""
    depth = 0
    aliases = []
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                aliases.append(event)
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    m = event.start_mark
                    problems.append(Problem(path, f"the YAML is nested more than {MAX_YAML_DEPTH} levels deep",
                                            "publication.yaml needs four levels at most; close the brackets or "
                                            "indent less", line=m.line + 1, column=m.column + 1))
                    return False
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        pass  # reported with its place when the file is composed
    if aliases:
        m = aliases[0].start_mark
        more = f" ({len(aliases)} aliases in the file)" if len(aliases) > 1 else ""
        problems.append(Problem(path, f"YAML aliases such as '*{aliases[0].anchor}' are not allowed{more}",
                                "write the value out in full where it is needed; aliases can make a small file "
                                "expand without end", line=m.line + 1, column=m.column + 1))
        return False
    return True


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
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.append(Problem(path, f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x})",
                                "save the file as UTF-8 in your editor", line=line, column=column))
        return None
