"""Load a publication folder, validate it, and parse its Markdown once.

``load(folder)`` returns a ``Publication`` or raises ``SourceError`` with
every problem found in one pass, each naming its file and line.
"""

from __future__ import annotations

import datetime as dt
import difflib
import errno
import json
import os
import posixpath
import math
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import jsonschema
import yaml

from pipeline import fonts, images, pandoc
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


# ---------------------------------------------------------------- schema

_SCHEMA = json.loads(resources.files("pipeline").joinpath("publication.schema.json").read_text("utf-8"))


def schema() -> dict:
    return _SCHEMA


def _schema_problems(path: Path, doc: YamlDoc, schema: dict | None = None) -> list[Problem]:
    """One problem per schema violation; the messages and hints come from
    the schema (its ``description`` of the key at fault). ``schema``:
    publication.yaml's unless another file's is given (publish.yaml's)."""
    schema = schema or _SCHEMA
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    out = []

    def problem(message, hint, where, key=True):
        line, column = doc.pos(where, key=key)
        out.append(Problem(path, message, hint, line=line, column=column))

    for err in sorted(validator.iter_errors(doc.data), key=lambda e: (doc.line(tuple(e.absolute_path)) or 0, str(e.message))):
        where = tuple(err.absolute_path)
        name = ".".join(str(p) for p in where) or "publication"
        sub = _subschema(where, schema)
        if "propertyNames" in err.schema_path:
            problem(f"'{err.instance}' is not a valid key in '{name}'",
                    (sub.get("propertyNames") or {}).get("description", "") or "rename the key", where + (err.instance,))
        elif err.validator == "additionalProperties":
            allowed = list((err.schema.get("properties") or {}).keys())
            for key in err.instance:
                if key in allowed:
                    continue
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{near[0]}'?" if near else f"allowed keys here: {', '.join(allowed)}"
                problem(f"unknown key '{key}'" + (f" in {name}" if where else ""), hint, where + (key,))
        elif err.validator == "required":
            missing = err.message.split("'")[1]
            desc = ((err.schema.get("properties") or {}).get(missing) or {}).get("description", "")
            problem(f"required key '{missing}' is missing" + (f" in {name}" if where else ""),
                    f"add '{missing}:'" + (f" ({desc})" if desc else ""), where)
        elif err.validator == "pattern" or err.validator == "format":
            desc = sub.get("description", "")
            problem(f"'{name}' has the value {err.instance!r}, which is not valid",
                    desc or f"it must match {err.validator_value}", where, key=False)
        elif err.validator == "type":
            want = err.validator_value
            want = " or ".join(want) if isinstance(want, list) else want
            article = "an" if str(want)[0] in "aeiou" else "a"
            got = "nothing" if err.instance is None else f"{type(err.instance).__name__} {err.instance!r}"
            problem(f"'{name}' must be {article} {want}, not {got}",
                    sub.get("description", "") or "correct the value", where, key=False)
        elif err.validator == "minItems":
            problem(f"'{name}' is empty", sub.get("description", "") or "add at least one item", where)
        else:
            problem(f"'{name}': {err.message}", sub.get("description", ""), where, key=False)
    return out


def _subschema(path: tuple, schema: dict | None = None) -> dict:
    node = schema or _SCHEMA
    for p in path:
        if isinstance(p, int):
            node = node.get("items", {})
        else:
            extra = node.get("additionalProperties")
            node = (node.get("properties") or {}).get(p) or (extra if isinstance(extra, dict) else {})
    return node


# ---------------------------------------------------------------- Markdown

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


class _Finder:
    """Finds where something from the AST is written in a file's text.

    Pandoc's Markdown reader does not report positions, so an element is
    found again by its text: each search skips the places found before, so
    the second of two equal targets gets the second line, whichever way
    each is written (``![..](x)``, ``<img src="x">``)."""

    def __init__(self, text: str):
        self.text = text
        self.after: dict[str, int] = {}
        self.taken: set[int] = set()  # where finds were made

    def find(self, *needles: tuple[str, str]) -> tuple[int | None, int | None]:
        """(line, column) of the first needle found; a needle is (prefix,
        text) and the column is that of the text. A place found before is
        found again only when no needle is found anywhere else."""
        for again in (False, True):
            for prefix, needle in needles:
                if not needle:
                    continue
                key = prefix + needle
                i = self.text.find(key)
                while not again and i >= 0 and i + len(prefix) in self.taken:
                    i = self.text.find(key, i + 1)
                if i < 0:
                    continue
                self.after[key] = i + 1
                i += len(prefix)
                self.taken.add(i)
                line_start = self.text.rfind("\n", 0, i) + 1
                return self.text.count("\n", 0, i) + 1, i - line_start + 1
        return None, None

    def find_in(self, chunk: str, needle: str) -> tuple[int | None, int | None]:
        """(line, column) of ``needle`` inside the next occurrence of
        ``chunk`` (raw HTML is kept verbatim), else of the chunk itself."""
        line, column = self.find(("", chunk))
        if line is None:
            return None, None
        start = self.after[chunk] - 1
        j = chunk.lower().find(needle.lower())
        if j > 0:
            i = start + j
            line_start = self.text.rfind("\n", 0, i) + 1
            return self.text.count("\n", 0, i) + 1, i - line_start + 1
        return line, column


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}))
    return " ".join(text.split())


# ------------------------------------------------------- what may run or load

#: Elements that run code, load another document or resource, or change
#: where links go. They are refused in raw HTML: a publication's outputs
#: carry text, and images come in through Markdown (where they are checked).
_ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta",
                "link", "form", "style", "svg", "portal", "noscript", "template"}
#: Attributes that make the reader's browser fetch something.
_LOADING_ATTRS = {"src", "srcset", "data", "poster", "background", "action", "formaction", "ping",
                  "xlink:href", "lowsrc", "dynsrc", "codebase", "archive", "manifest"}
#: Attributes whose value is a URL a reader may follow (a javascript: one runs).
_URL_ATTRS = {"href", "xlink:href", "cite", "longdesc", "usemap"}
#: CSS that makes the reader's browser fetch something: a loading function
#: (url(), src(), image(), image-set(), cross-fade(), element(), IE's
#: expression()) or an @import, looked for once CSS escapes and comments are
#: decoded (``u\\72l(`` is ``url(``).
_LOADING_CSS = re.compile(r"(url|src|image|image-set|cross-fade|element|expression)\s*\(|@import", re.I)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|\r\n|(.))", re.S)
_OWN_PART = re.compile(r"url\(\s*(['\"]?)#[^)'\"]*\1\s*\)", re.I)
_RUNNING_SCHEMES = ("javascript:", "vbscript:", "data:")
#: Formats whose raw blocks and inlines pandoc's HTML-family writers copy
#: into the HTML verbatim (compared without regard to case, as pandoc does);
#: raw content for any other format is dropped from the document.
HTML_FAMILY = frozenset({"html", "html4", "html5", "revealjs", "slidy", "s5", "dzslides", "slideous",
                         "epub", "epub2", "epub3", "chunkedhtml"})
#: Where a raw <a href> may lead: a section of the publication or the web,
#: as a Markdown link may.
_LINK_OK = re.compile(r"^(#|https?:|mailto:)", re.I)


def css_loads(css: str, own_parts_allowed: bool = False) -> str | None:
    """The loading function or @import in a piece of CSS, found after its
    escapes and comments are decoded; None when it loads nothing. With
    ``own_parts_allowed`` (CSS inside an SVG), ``url(#id)`` names a part of
    the same figure and loads nothing."""
    def unescape(m):
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group(2) or ""
    decoded = re.sub(r"/\*.*?(\*/|$)", "", _CSS_ESCAPE.sub(unescape, css), flags=re.S)
    if own_parts_allowed:
        decoded = _OWN_PART.sub("", decoded)
    m = _LOADING_CSS.search(decoded)
    return None if m is None else m.group(0).replace(" ", "")


def raw_is_html(fmt: str) -> bool:
    """True when pandoc's HTML writer would copy raw content of ``fmt``."""
    return fmt.lower() in HTML_FAMILY


def _scheme_runs(url: str) -> bool:
    """True for javascript:, vbscript: and data: URLs, however they are
    spelt (browsers ignore case, control characters and blanks in them)."""
    squeezed = "".join(ch for ch in url if ch > " " and ch != "\x7f").lower()
    return squeezed.startswith(_RUNNING_SCHEMES)


def _unsafe_attr(name: str, value: str | None) -> str | None:
    name = name.lower()
    value = value or ""
    if name.startswith("on"):
        return f"the event handler {name}= would run code"
    if name in _LOADING_ATTRS:
        return f"the attribute {name}= would load a file or page"
    if name == "style" and css_loads(value):
        return f"the style= attribute would load a file ({css_loads(value)}…)"
    if name in _URL_ATTRS and _scheme_runs(value):
        return f"{name}= holds a {value.strip().split(':')[0].lower()}: URL, which would run code"
    return None


class _RawHtml(HTMLParser):
    """Reads a piece of raw HTML and lists what in it would run or load."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (what, text to find it by)

    def handle_starttag(self, tag, attrs):
        if tag in _ACTIVE_TAGS:
            self.found.append((f"the <{tag}> element would run or load something", f"<{tag}"))
            return  # one message for the element, not one more per attribute
        for name, value in attrs:
            why = _unsafe_attr(name, value)
            if why is None and name == "href" and (value or "").strip() and not _LINK_OK.match(value.strip()):
                why = (f"the link href={value.strip()[:60]!r} leads to a file or another scheme, "
                       "not to a section (#id) or a web address (https:, http:, mailto:)")
            if why:
                self.found.append((why, name))

    handle_startendtag = handle_starttag


def unsafe_html(raw: str) -> list[tuple[str, str]]:
    """What in a piece of raw HTML would run or load something: a list of
    (reason, text to find it by)."""
    parser = _RawHtml()
    parser.feed(raw)
    parser.close()
    return parser.found


#: The elements of HTML5 (WHATWG): raw HTML may use these and no others.
#: Obsolete ones (<center>, <font>, <listing>, ...) and made-up ones are
#: refused with file:line here rather than by a validator, later, with a
#: line of an output.
HTML_ELEMENTS = frozenset("""
a abbr address area article aside audio b bdi bdo blockquote br button canvas caption cite code col colgroup data
datalist dd del details dfn dialog div dl dt em fieldset figcaption figure footer h1 h2 h3 h4 h5 h6 header hgroup hr
i img input ins kbd label legend li main map mark math menu meter nav ol optgroup option output p picture pre
progress q rp rt ruby s samp search section select slot small source span strong sub summary sup table tbody td
textarea tfoot th thead time tr track u ul var video wbr
""".split()) | _ACTIVE_TAGS  # those are refused above, with their own message
#: Presentational attributes HTML5 made obsolete, which READMEs written for
#: GitHub still use (<p align="center">): dropped, the stylesheets lay out.
_OBSOLETE_ATTRS = ("align", "valign", "bgcolor", "cellpadding", "cellspacing", "hspace", "vspace", "clear",
                   "nowrap", "frame", "rules", "charoff", "char")
_OBSOLETE_ATTR = re.compile(r"""\s+(?:%s)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?(?=[\s/>]|$)"""
                            % "|".join(_OBSOLETE_ATTRS), re.I)
_TAG = re.compile(r"""<([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)(\s*/?)>""")
_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9-]*)\s*>")


def clean_html(raw: str) -> tuple[str, list[str]]:
    """Raw HTML as the outputs get it, and the tags in it that are not
    HTML5 elements. Obsolete presentational attributes are dropped;
    ``<details>`` is always open (a printed page cannot open it). The tags
    of elements HTML does not have (an mdBook's ``<Listing>``, a made-up
    ``<note>``) are dropped and their content kept: a validator would
    refuse them, and a reader sees what is inside."""
    unknown: list[str] = []

    def tag(m: re.Match) -> str:
        name, attrs, slash = m.group(1), m.group(2), m.group(3)
        if name.lower() not in HTML_ELEMENTS:
            if name not in unknown:
                unknown.append(name)
            return ""
        attrs = _OBSOLETE_ATTR.sub("", attrs)
        if name.lower() == "details" and not re.search(r"\sopen\b", attrs, re.I):
            attrs += " open"
        return f"<{name}{attrs}{slash}>"

    def end_tag(m: re.Match) -> str:
        name = m.group(1)
        if name.lower() in HTML_ELEMENTS:
            return m.group(0)
        if name not in unknown:
            unknown.append(name)
        return ""

    return _END_TAG.sub(end_tag, _TAG.sub(tag, raw)), unknown


# ---------------------------------------------------------------- load

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
    _check_targets(root, chapters, ids, texts, assets, problems, renamed_in, limits, warnings, base)
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
    language = data.get("language") if isinstance(data.get("language"), str) else "en"
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
                      warnings=_in_reading_order(warnings, files))
    for c in pub.chapters:
        _decorate(c, meta)
    return pub


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
                from pipeline.render.common import Design

                words = Design().words(language)
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


def _name(name: str) -> str:
    """A file's name as the publication gives it, in one spelling
    (``./figures//a.png`` is ``figures/a.png``)."""
    return posixpath.normpath(name.replace("\\", "/"))


def source_files(pub: Publication) -> list[tuple[str, Path]]:
    """Every file of the publication's folder that the build reads, as
    (name, file), sorted by name: publication.yaml, the Markdown files it
    lists and the images they show. The name is the path the publication
    gives (relative, POSIX; through a symlinked folder if that is how it is
    named), the file is where it really is. ``pipeline release`` archives
    exactly these files, so whatever builds also releases."""
    return sorted(pub.names.items())


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


def _in_reading_order(problems: list[Problem], files: list[Path]) -> list[Problem]:
    """Problems sorted by file (publication.yaml first, then the chapters
    in reading order) and by line, as a reader goes through them."""
    rank = {f: i for i, f in enumerate(files)}
    return sorted(problems, key=lambda p: (rank.get(p.file, len(rank)), p.line or 0, p.column or 0))


def _inside(root: Path, name: str) -> Path | None:
    """The file ``name`` names, if it is inside ``root`` (symlinks resolved):
    never an absolute path, a URL (``file:``, ``https:`` …) or a path that
    leads out with ``..`` or through a symlink."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", name):
        return None
    path = Path(os.path.realpath(root / name))  # a symlink loop is left unresolved (then not a file)
    try:
        path.relative_to(root)
    except ValueError:
        return None
    return path


def _loops(path: Path) -> bool:
    """True when ``path`` leads round a loop of symlinks."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


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


_HAS_ATTR = {"Div": 0, "Span": 0, "Code": 0, "CodeBlock": 0, "Image": 0, "Link": 0, "Table": 0, "Figure": 0, "Header": 1}


def _attr(el: dict) -> list | None:
    """The (id, classes, key-values) of an element that has one."""
    i = _HAS_ATTR.get(el["t"])
    if i is None:
        return None
    attr = el["c"][i]
    return attr if isinstance(attr, list) and len(attr) == 3 and isinstance(attr[0], str) else None


def _check_targets(root: Path, chapters: list[Chapter], ids: dict, texts: dict[Path, str],
                   assets: dict[str, Path], problems: list[Problem],
                   renamed: dict[Path, dict[str, str]] | None = None, limits: dict | None = None,
                   warnings: list[Problem] | None = None, base: str | None = None) -> set[str]:
    """Images must be files inside the folder, never fetched from elsewhere;
    links must point at a section that exists or at the web; a link to
    another chapter's file (``other.md#section``) becomes a link to that
    section; raw HTML and attributes may not run or load anything. Fills
    ``assets`` (image target -> file) and returns every id in the
    document.

    What a build can print in a sensible way is changed, with a warning
    (once per file and kind, naming the first place): a link to a file
    that is not part of the publication is printed as its text (a reader
    of the PDF could not follow it), or becomes a web link under ``base``
    (publication.yaml's links.base); a remote image is printed as a link to
    it (a build never fetches anything); an image without a description
    gets its file name; the tags of elements HTML does not have are
    dropped, their content kept."""
    all_ids = set(ids)
    renamed = renamed or {}
    limits = limits or LIMITS
    image_verdicts: dict[Path, list[tuple[str, str]]] = {}  # each file inspected once
    warnings = warnings if warnings is not None else []
    ids_in: dict[Path, set[str]] = {}

    for c in chapters:
        mine = ids_in.setdefault(c.source, set())

        def collect(el, mine=mine):
            attr = _attr(el)
            if attr and attr[0]:
                all_ids.add(attr[0])
                mine.add(attr[0])

        pandoc.walk(c.blocks, collect)
    by_file = {c.source: c for c in chapters}

    def chapter_link(c: Chapter, target: str) -> tuple[str | None, str | None]:
        """(#id, None) for a link to a file of the publication (and maybe a
        section in it), else (None, why not)."""
        name, _, frag = target.partition("#")
        try:
            path = _inside(root, str((c.source.parent / unquote(name)).relative_to(root))) if name else None
        except ValueError:  # an absolute path
            return None, None
        other = by_file.get(path) if path else None
        if other is None and path is not None and path.suffix.lower() in (".html", ".htm"):
            other = by_file.get(path.with_suffix(".md"))  # an mdBook link names the page made from x.md
        if other is None:
            return None, None
        if not frag:
            first = other.headings[0].id if other.headings else None
            return ("#" + first, None) if first else (None, f"{name} has no heading to link to")
        frag = unquote(frag)
        frag = renamed.get(other.source, {}).get(frag, frag)
        if frag in ids_in.get(other.source, ()):
            return "#" + frag, None
        return None, f"{name} has no section with the id '{frag}'"

    for c in chapters:
        finder = _Finder(texts[c.source])
        changed: dict[str, list] = {}  # kind -> [(line, column, what)], said once per file below
        relative = posixpath.dirname(c.source.relative_to(root).as_posix()) if c.source.is_relative_to(root) else ""

        def report(message, hint, *needles, c=c, finder=finder, raw=None, at=None):
            line, column = at or (finder.find_in(raw, needles[0][1]) if raw else finder.find(*needles))
            problems.append(Problem(c.source, message, hint, line=line, column=column))

        def change(kind, what, *needles, finder=finder, raw=None, changed=changed):
            line, column = finder.find_in(raw, needles[0][1]) if raw else finder.find(*needles)
            changed.setdefault(kind, []).append((line, column, what))

        def visit(el, c=c):
            t = el["t"]
            attr = _attr(el)
            if attr:
                for key, value in attr[2]:
                    why = _unsafe_attr(key, value)
                    if why:
                        shown = f"{key}={value!r}"
                        report(f"{why} ({shown[:60]})", "remove the attribute; the outputs must not run code or load anything",
                               ("", f"{key}="), ("", key))
            if t == "Figure" and _remote_figure(el):
                image = _remote_figure(el)
                change("remote", image["c"][2][0], ("](", image["c"][2][0]), ("<", image["c"][2][0]), ("", image["c"][2][0]))
                el["t"], el["c"] = "Para", [_link_to_image(image)]
                return
            if t == "Image":
                target = el["c"][2][0]
                # pandoc gives the target %-escaped where it holds blanks or
                # control characters; the source has it as written
                where = (("](", target), ("<", target), ("", target), ("](<", unquote(target)), ("", unquote(target)))
                no_alt = not pandoc.stringify(el["c"][1]).strip() and not dict(el["c"][0][2]).get("alt", "").strip()
                scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", target)
                if scheme and scheme.group(1).lower() == "file":
                    report(f"image '{target}' is a file: URL, which may point anywhere on this computer",
                           "copy the image into the publication folder and refer to it by a relative path", *where)
                elif ((scheme and scheme.group(1).lower() in ("http", "https") and target[scheme.end():].startswith("//"))
                      or target.startswith("//")):
                    change("remote", target, *where)
                    link = _link_to_image(el)
                    el["t"], el["c"] = link["t"], link["c"]
                elif (scheme and target[scheme.end():].startswith("//")):
                    report(f"remote image '{target}' is not allowed: a build never fetches anything from the network",
                           "download the image into the publication folder and refer to it by a relative path", *where)
                elif scheme and len(scheme.group(1)) > 1:
                    report(f"image '{target}' is not a file in the publication folder",
                           "save the image as a file in the publication folder and refer to it by a relative path", *where)
                else:
                    path = _inside(root, unquote(target))
                    if path is None:
                        report(f"image '{target}' is outside the publication folder",
                               "copy the image into the publication folder and refer to it by a relative path", *where)
                    elif _loops(root / unquote(target)):
                        report(f"image '{unquote(target)}' cannot be read: its path goes round a loop of symlinks",
                               "replace the symlink on its path by the folder or file it should name", *where)
                    elif not path.is_file():
                        report(f"image '{unquote(target)}' does not exist",
                               f"add {unquote(target)} to the publication folder or correct the path", *where)
                    else:
                        assets[target] = path
                        if path not in image_verdicts:
                            image_verdicts[path] = images.problems(path, unquote(target), limits["image_megapixels"])
                        at = finder.find(*where) if image_verdicts[path] else None  # the image's place, once
                        for message, hint in image_verdicts[path]:
                            report(message, hint, at=at)
                        if no_alt:
                            # the tagged PDF needs a description of every image: the file's name stands in
                            change("alt", target, *where)
                            stem = posixpath.splitext(posixpath.basename(unquote(target)))[0]
                            el["c"][1] = [{"t": "Str", "c": " ".join(stem.replace("-", " ").replace("_", " ").split())
                                           or "image"}]
            elif t == "Link":
                target = el["c"][2][0]
                # pandoc gives the target %-escaped where it holds blanks or
                # control characters; the source has it as written
                where = (("](", target), ("<", target), ("", target), ("](<", unquote(target)), ("", unquote(target)))
                if target.startswith("#"):
                    if target[1:] not in all_ids:
                        near = difflib.get_close_matches(target[1:], sorted(all_ids), n=1)
                        report(f"link to '{target}', but no section has the id '{target[1:]}'",
                               f"did you mean '#{near[0]}'?" if near else "give the section that id with {#id} after its heading",
                               *where)
                elif re.match(r"^(https?:|mailto:)", target, re.I):
                    host = re.match(r"^https?://([^/?#]*)", target, re.I)
                    if host and re.search(r"%|\s", host.group(1)):
                        # pandoc takes ](http://host /path) for a link to the host
                        # 'host%20', which no reader can follow and the
                        # validators refuse with lines of the outputs
                        written = unquote(target)
                        report(f"link to '{written[:60]}': a web address's host cannot hold a space",
                               "remove the space (or write it as %20 after the host, in the path)",
                               ("](", written), *where)
                elif _scheme_runs(target):
                    report(f"link to a {target.split(':')[0].strip().lower()}: URL, which would run code or load a page: {target[:60]!r}",
                           "remove the link; link to a section with [text](#section-id) or to a web page with https://", *where)
                else:
                    internal, why = (None, None) if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) else chapter_link(c, target)
                    if internal:
                        el["c"][2][0] = internal
                    elif why:
                        report(f"link to '{target}', but {why}",
                               "link to one of its sections with [text](file.md#section-id), or to the file alone", *where)
                    elif not target:  # [text](): no address at all, so the text alone
                        shown = pandoc.stringify(el["c"][1])
                        change("empty", shown[:40], ("[", shown + "]()"), ("", "]()"))
                        el["t"], el["c"] = "Span", [el["c"][0], el["c"][1]]
                    elif not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):
                        # a file that is not part of the publication: its web address, or its text
                        change("outside", target, *where)
                        if base:
                            el["c"][2][0] = urljoin(base if base.endswith("/") else base + "/",
                                                    posixpath.join(relative, target) if relative else target)
                        else:
                            el["t"], el["c"] = "Span", [el["c"][0], el["c"][1]]
                    else:
                        frag = unquote(target.partition("#")[2])
                        hint = ("it is not one of the chapter files publication.yaml lists: list it there, or link to "
                                "its web address (https://...), or to a section with [text](#section-id)")
                        if frag and frag in all_ids:
                            hint = f"this publication has a section '#{frag}': link to it with [text](#{frag})"
                        report(f"link target '{target}' is not a file of this publication, a section (#id) or a web address",
                               hint, *where)
            elif t == "Cite" and any(ci["citationMode"]["t"] != "AuthorInText" for ci in el["c"][0]):
                written = pandoc.stringify(el["c"][1])
                report(f"the citation {written[:60]!r} needs a bibliography, which a publication does not have",
                       "write the reference out, e.g. (Doe 1999, p. 33), and list the works in a chapter of their own",
                       ("", written), ("", "[@"))
            elif t == "Str" and _TEX_COMMAND.match(el["c"]):
                report(f"raw TeX ({el['c'][:40]}) is not read: it would print as it is written",
                       "remove it, or write what it means in Markdown (a table, list or emphasis has a Markdown "
                       "form; \\newpage alone in its paragraph breaks the PDF's page)", ("", el["c"]))
            elif t in ("RawBlock", "RawInline"):
                fmt, raw = el["c"]
                # pandoc's HTML-family writers copy raw content for these formats
                # into the outputs verbatim; any other format is dropped (_decorate)
                if raw_is_html(fmt) or fmt.lower().startswith(("html", "epub")):
                    for why, needle in unsafe_html(raw):
                        report(f"raw HTML that could run or load something: {why}",
                               "remove it; the outputs carry text and Markdown images only, nothing that runs or loads",
                               ("", needle), raw=raw)
                    cleaned, unknown = clean_html(raw)
                    el["c"][1] = cleaned
                    for tag in unknown:
                        change("element", tag, ("", f"<{tag}"), ("", f"</{tag}"), raw=raw)

        pandoc.walk(c.blocks, visit)
        if "element" in changed:
            c.blocks = _without_empty(c.blocks)
        _say_changes(c.source, changed, base, warnings)
    return all_ids


def _empty(el) -> bool:
    """A raw block, paragraph or line left with nothing in it (the tags it
    held were dropped)."""
    if not isinstance(el, dict):
        return False
    if el.get("t") == "RawBlock":
        return not el["c"][1].strip()
    if el.get("t") in ("Para", "Plain"):
        return all(i.get("t") in ("Space", "SoftBreak", "LineBreak") or (i.get("t") == "RawInline" and not i["c"][1].strip())
                   for i in el["c"])
    return False


def _without_empty(node):
    """``node`` without the blocks ``_empty`` finds (a list that held only
    those keeps one, so that a list item or a cell keeps its shape)."""
    if isinstance(node, list):
        kept = [_without_empty(v) for v in node if not _empty(v)]
        return kept if kept or not node else [_without_empty(node[0])]
    if isinstance(node, dict):
        return {k: _without_empty(v) for k, v in node.items()}
    return node


def _say_changes(path: Path, changed: dict[str, list], base: str | None, warnings: list[Problem]) -> None:
    """One warning per kind of change made in a file, at its first place."""
    def warn(kind, message, hint):
        line, column, _ = changed[kind][0]
        warnings.append(Problem(path, message, hint, line=line, column=column, severity="warning"))

    def count(kind, one, many):
        n = len(changed[kind])
        return f"{n} {one if n == 1 else many}"

    def first(kind):
        return f"{'first: ' if len(changed[kind]) > 1 else ''}{changed[kind][0][2][:80]}"

    if "outside" in changed:
        if base:
            warn("outside", f"{count('outside', 'link', 'links')} to files outside the publication made web links under "
                            f"{base} ({first('outside')})", "links.base in publication.yaml sets the address")
        else:
            warn("outside", f"{count('outside', 'link', 'links')} to files outside the publication shown as text "
                            f"({first('outside')})", "set links.base in publication.yaml to make them web links, or link "
                                                     "to the files' web addresses (https://...)")
    if "empty" in changed:
        warn("empty", f"{count('empty', 'link', 'links')} with no address, [text](), shown as text "
                      f"({first('empty')})", "give the link its address, or write the text without [ ]()")
    if "remote" in changed:
        for line, column, target in changed["remote"]:
            warnings.append(Problem(path, f"remote image '{target[:80]}' shown as a link to it: a build never fetches "
                                          "anything from the network", "download the image into the publication folder "
                                          "and refer to it by a relative path", line=line, column=column,
                                    severity="warning"))
    if "alt" in changed:
        warn("alt", f"{count('alt', 'image has', 'images have')} no description, so the file name stands in "
                    f"({first('alt')})", "write what each shows between the brackets, ![A chart of the yearly totals.]"
                                         "(figures/chart.png), or alt=\"...\" in <img>")
    if "element" in changed:
        tags = ", ".join(f"<{t}>" for t in dict.fromkeys(w for _, _, w in changed["element"]))
        warn("element", f"tags of elements HTML does not have were dropped, their content kept: {tags}",
             "write it in Markdown instead (a fenced div `::: name` ... `:::` for a block, [text]{.name} for a phrase)")


def _remote_figure(fig: dict) -> dict | None:
    """The image of a figure that is one remote image, else None."""
    body = fig["c"][2]
    if len(body) == 1 and body[0]["t"] in ("Plain", "Para") and len(body[0]["c"]) == 1:
        image = body[0]["c"][0]
        if image["t"] == "Image" and re.match(r"^(https?:)?//", image["c"][2][0], re.I):
            return image
    return None


def _link_to_image(image: dict) -> dict:
    """A link to a remote image, its description as the link's text."""
    target = image["c"][2][0]
    text = image["c"][1] if pandoc.stringify(image["c"][1]).strip() else [
        {"t": "Str", "c": "image"}, {"t": "Space"}, {"t": "Str", "c": "at"}, {"t": "Space"},
        {"t": "Str", "c": (re.match(r"^(?:https?:)?//([^/?#]+)", target, re.I) or [None, "the web"])[1]}]
    url = ("https:" + target) if target.startswith("//") else target
    return {"t": "Link", "c": [[image["c"][0][0], image["c"][0][1], []], text, [url, ""]]}


def _foreign_raw(el) -> bool:
    return (isinstance(el, dict) and el.get("t") in ("RawBlock", "RawInline")
            and not (raw_is_html(el["c"][0]) or el["c"][0].lower().startswith(("html", "epub"))))


def _without_foreign_raw(node):
    """``node`` without raw blocks and inlines for formats other than the
    HTML family (``{=latex}``, ``{=tex}``, …): they were not checked, and no
    output may carry them."""
    if isinstance(node, list):
        return [_without_foreign_raw(v) for v in node if not _foreign_raw(v)]
    if isinstance(node, dict):
        return {k: _without_foreign_raw(v) for k, v in node.items()}
    return node


#: A TeX command at the start of a word, as pandoc leaves it with raw_tex off
_TEX_COMMAND = re.compile(r"^\\(?:[A-Za-z]{2,}|\[|\(|begin|end)(?:\{|\[|$)")
_INLINE_TEXT = {"Str": lambda c: c, "Space": lambda c: " ", "SoftBreak": lambda c: " "}
_FULL_REFERENCE = re.compile(r"\[([^\[\]\x00]+)\]\[([^\[\]\x00]*)\]")
_SHORTCUT = re.compile(r"(?<![\]\w])\[([^\[\]\x00]+)\](?![\[(:])")
_DEFINITION = re.compile(r"^ {0,3}\[([^\]]+)\]:", re.M)


def _check_references(chapters: list[Chapter], texts: dict[Path, str], problems: list[Problem]) -> None:
    """A reference link pandoc could not resolve prints as its literal text
    ([text][label]); so would a note whose text is missing ([^1]). Both are
    refused, and so is a [label] that nearly names a heading or a link
    definition (a typo); other brackets in prose ([sic]) are text."""
    written: dict[str, str] = {}  # folded label -> as written
    for text in texts.values():
        for m in _DEFINITION.findall(text):
            written.setdefault(" ".join(m.lower().split()), m)
    for e in (e for c in chapters for e in c.headings):
        written.setdefault(" ".join(e.title.lower().split()), e.title)
    labels = sorted(written)

    for c in chapters:
        finder = _Finder(texts[c.source])

        def report(message, hint, *needles, c=c, finder=finder):
            # the text as written may differ from the text read (quotes made
            # curly, a line break): the label alone finds it then
            line, column = finder.find(*(("", n) for n in needles))
            problems.append(Problem(c.source, message, hint, line=line, column=column))

        def runs(el):
            # each list of inlines, as the text a reader sees; code, maths and
            # nested elements are a \x00 (they hold no unresolved reference of
            # this list's own)
            c = el.get("c")
            if not isinstance(c, list):
                return
            for v in (c, *c):
                if isinstance(v, list) and v and all(isinstance(x, dict) and x.get("t") in _INLINE_KINDS for x in v):
                    yield "".join(_INLINE_TEXT.get(x["t"], lambda c: "\x00")(x.get("c")) for x in v)

        def visit(el):
            for run in runs(el):
                for m in _FULL_REFERENCE.finditer(run):
                    label = m.group(2) or m.group(1)
                    report(f"the reference link {m.group(0)!r} has no definition: it would print as it is written",
                           f"define it on a line of its own, [{label}]: https://... or [{label}]: #section-id, "
                           "in any chapter file", m.group(0), f"][{m.group(2)}]" if m.group(2) else "", f"[{label}]")
                for m in _SHORTCUT.finditer(run):
                    label = " ".join(m.group(1).lower().split())
                    if label.startswith("^"):
                        report(f"the note [{m.group(1)}] has no text: it would print as it is written",
                               f"add its text on a line of its own: [{m.group(1)}]: The note.", m.group(0))
                        continue
                    near = difflib.get_close_matches(label, labels, n=1, cutoff=0.85) if len(label) >= 4 else []
                    if near and near[0] != label:
                        report(f"[{m.group(1)}] is not a heading or a link definition, and would print as it is written",
                               f"did you mean [{written[near[0]]}]? (to keep the brackets as text, write \\[{m.group(1)}\\])",
                               m.group(0))

        pandoc.walk(c.blocks, visit)


_INLINE_KINDS = {"Str", "Space", "SoftBreak", "LineBreak", "Emph", "Strong", "Strikeout", "Superscript",
                 "Subscript", "SmallCaps", "Underline", "Quoted", "Cite", "Code", "Math", "RawInline", "Link",
                 "Image", "Note", "Span"}


def _decorate(chapter: Chapter, meta: Metadata) -> None:
    """Give headings their numbers and levels as every format prints them.

    Level-1 source headings become h2 (the publication's title is the only
    h1); a part's heading is preceded by its label.
    """
    out = []
    entries = iter(chapter.headings)
    for b in _without_foreign_raw(chapter.blocks):
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
