"""Pandoc, from the pypandoc-binary wheel, and helpers for its JSON AST.

Markdown is parsed once per build (``parse_markdown``: one pandoc process
for all of a publication's files); the HTML every format is made from is
written once (``write_html``) from the numbered AST.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import subprocess
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import pypandoc

from pipeline.errors import BuildError

#: Counted by the tests: every call of pandoc in a build goes through here.
CALLS: list[str] = []


@lru_cache(maxsize=1)
def pandoc_path() -> str:
    """The pandoc binary: ``PYPANDOC_PANDOC`` when set, else the one the
    pypandoc-binary wheel ships. Found without running it (pypandoc's own
    search runs ``pandoc --version`` on every candidate, a process per build)."""
    chosen = os.environ.get("PYPANDOC_PANDOC")
    if chosen:
        return chosen
    bundled = Path(pypandoc.__file__).parent / "files" / "pandoc"
    return str(bundled) if os.access(bundled, os.X_OK) else pypandoc.get_pandoc_path()


@lru_cache(maxsize=1)
def pandoc_version() -> str:
    return pypandoc.get_pandoc_version()


class TooComplex(Exception):
    """pandoc went past its time or memory limit: the input is too complex
    for it (the message says which limit)."""


def _run(args: list[str], stdin: str, what: str, seconds: float = 600, memory_mb: int = 4000) -> str:
    """Run pandoc with a cap on its heap (the GHC runtime's ``-M``) and on
    its processor time (``RLIMIT_CPU``, with a wall-clock limit of four
    times as much for a busy machine); past either, ``TooComplex``."""
    CALLS.append(what)
    proc = subprocess.Popen(
        [pandoc_path(), "+RTS", f"-M{int(memory_mb)}m", "-RTS", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
    )
    try:
        if hasattr(resource, "prlimit"):
            cpu = max(1, math.ceil(seconds))
            resource.prlimit(proc.pid, resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (OSError, ValueError):  # the process already ended
        pass
    try:
        out, err = proc.communicate(stdin.encode("utf-8"), timeout=4 * seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TooComplex(f"more than {seconds:g} s") from None
    except BaseException:  # Ctrl-C, SIGTERM: pandoc ends with the build
        proc.kill()
        proc.wait()
        raise
    error = err.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "Heap exhausted" in error or "heap overflow" in error.lower():
            raise TooComplex(f"more than {memory_mb} MB of memory")
        if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise TooComplex(f"more than {seconds:g} s of processor time")
        raise BuildError(f"pandoc failed while {what}: {error}")
    return out.decode("utf-8")


def parse_markdown(texts: list[str], seconds: float = 600, memory_mb: int = 4000) -> tuple[list[int], list[list[Any]]]:
    """Parse Markdown texts in one pandoc process, within ``seconds`` of
    processor time and ``memory_mb`` of memory (else ``TooComplex``).

    Returns pandoc's API version and, for each text, its list of blocks.
    """
    api, blocks, _renamed = parse_publication(texts, seconds, memory_mb)
    return api, blocks


def parse_publication(texts: list[str], seconds: float = 600,
                      memory_mb: int = 4000) -> tuple[list[int], list[list[Any]], list[dict[str, str]]]:
    """Parse a publication's Markdown texts, in reading order, in one pandoc
    process (lua/parse.lua says what it does across the files).

    Returns pandoc's API version, each text's blocks, and for each text the
    heading ids that were numbered on because an earlier file had them
    (the id pandoc made -> the id the heading has).
    """
    script = resources.files("pipeline").joinpath("lua/parse.lua")
    with resources.as_file(script) as path:
        out = _run(["lua", str(path)], json.dumps(texts), "parsing Markdown", seconds, memory_mb)
    try:
        doc = json.loads(out)
    except RecursionError:
        raise TooComplex("nested too deeply to read back") from None
    divs = doc["blocks"]
    renamed = [json.loads(dict(div["c"][0][2]).get("renamed", "{}")) for div in divs]
    return doc["pandoc-api-version"], [div["c"][1] for div in divs], renamed


def write_html(api_version: list[int], blocks: list[Any]) -> str:
    """Write pandoc's HTML5 for an AST (a writer only: nothing is parsed
    from Markdown again). ``--sandbox`` keeps pandoc from reading any file;
    maths is written as MathML (the PDF draws it: ``render.maths``)."""
    doc = {"pandoc-api-version": api_version, "meta": {}, "blocks": blocks}
    # pandoc itself, not pypandoc.convert_text: that would first run pandoc
    # twice more to list its formats
    return _run(["--from=json", "--to=html5", "--sandbox", "--section-divs", "--reference-location=section",
                 "--wrap=none", "--mathml"], json.dumps(doc), "writing HTML")


# ---------------------------------------------------------------- AST helpers

_CONTAINERS = {"Emph", "Strong", "Strikeout", "Superscript", "Subscript", "SmallCaps", "Underline"}


def stringify(inlines: Iterable[dict]) -> str:
    """Plain text of inlines, as a reader sees it (notes left out)."""
    out: list[str] = []
    for el in inlines:
        t, c = el["t"], el.get("c")
        if t == "Str":
            out.append(c)
        elif t in ("Space", "SoftBreak", "LineBreak"):
            out.append(" ")
        elif t in _CONTAINERS:
            out.append(stringify(c))
        elif t == "Quoted":
            q = ("\u201c", "\u201d") if c[0]["t"] == "DoubleQuote" else ("\u2018", "\u2019")
            out.append(q[0] + stringify(c[1]) + q[1])
        elif t in ("Span", "Link"):
            out.append(stringify(c[1]))
        elif t == "Cite":
            out.append(stringify(c[1]))
        elif t == "Code":
            out.append(c[1])
        elif t == "Math":
            out.append(c[1])
        # Image, Note and RawInline carry no running text
    return "".join(out)


def walk(blocks: list[dict], visit) -> None:
    """Call ``visit(element)`` on every block and inline, depth first."""

    def go(node):
        if isinstance(node, dict):
            if "t" in node:
                visit(node)
            for v in node.values():
                if isinstance(v, (list, dict)):
                    go(v)
        elif isinstance(node, list):
            for v in node:
                go(v)

    go(blocks)


def text_blocks(blocks: list[dict]) -> list[str]:
    """The running text of a body, one string per paragraph, list item line,
    table cell or caption, in reading order. Headings and notes are not
    included (the outline and ``note_blocks`` cover them)."""
    out: list[str] = []

    def go(bs: list[dict]) -> None:
        for b in bs:
            t, c = b["t"], b.get("c")
            if t in ("Para", "Plain"):
                text = stringify(c).strip()
                if text:
                    out.append(text)
            elif t == "LineBlock":
                for line in c:
                    text = stringify(line).strip()
                    if text:
                        out.append(text)
            elif t == "CodeBlock":
                if c[1].strip():
                    out.append(c[1])
            elif t == "BlockQuote":
                go(c)
            elif t == "OrderedList":
                for item in c[1]:
                    go(item)
            elif t == "BulletList":
                for item in c:
                    go(item)
            elif t == "DefinitionList":
                for term, defs in c:
                    out.append(stringify(term))
                    for d in defs:
                        go(d)
            elif t == "Div":
                go(c[1])
            elif t == "Figure":
                go(c[2])
                go(c[1][1])  # caption follows the figure
            elif t == "Table":
                _table_blocks(c, go)

    go(blocks)
    return out


def _table_blocks(c: list, go) -> None:
    _attr, caption, _specs, head, bodies, foot = c
    go(caption[1])
    rows = list(head[1])
    for body in bodies:
        rows += body[2] + body[3]
    rows += foot[1]
    for row in rows:
        for cell in row[1]:
            go(cell[4])


def note_blocks(blocks: list[dict]) -> list[str]:
    """Text of every footnote, in order of reference."""
    notes: list[str] = []

    def visit(el):
        if el["t"] == "Note":
            notes.extend(text_blocks(el["c"]))

    walk(blocks, visit)
    return notes


def header(level: int, ident: str, classes: list[str], inlines: list[dict]) -> dict:
    return {"t": "Header", "c": [level, [ident, classes, []], inlines]}


def span(classes: list[str], text: str) -> dict:
    return {"t": "Span", "c": [["", classes, []], [{"t": "Str", "c": text}]]}


def div(ident: str, classes: list[str], blocks: list[dict], attrs: list | None = None) -> dict:
    return {"t": "Div", "c": [[ident, classes, attrs or []], blocks]}


def plain(text: str) -> dict:
    return {"t": "Plain", "c": [{"t": "Str", "c": text}]}
