"""Errors are values with a location.

Every mistake a user can make in a source folder becomes a ``SourceError``
naming the file, the line (and column when known) and what to do about it.
The command line turns them into one message each; nothing below the CLI
prints or exits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: A data: URI (an image embedded in the HTML page or handed to WeasyPrint).
_DATA_URI = re.compile(r"data:([\w.+-]+/[\w.+-]+)?[^\s\"'”’<>)]{40,}", re.I)
#: What one message may take at most: a line, not a page.
MESSAGE_LIMIT = 600


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` fit for one message: on one line, every data: URI in it
    replaced by its type and size ("data:image/png, 3.5 MB"), and at most
    ``limit`` characters."""
    def uri(m: re.Match) -> str:
        size = len(m.group(0))
        if size < 1000:  # a piece of one, as a validator quotes it
            return f"data:{m.group(1) or ''}…"
        return f"data:{m.group(1) or ''}, {f'{size / 1e6:.1f} MB' if size >= 1e6 else f'{size / 1e3:.0f} kB'}"

    text = " ".join(_DATA_URI.sub(uri, text).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


#: Characters a terminal acts on rather than shows (C0 and C1 controls, DEL)
#: and those that end or turn a line (line and paragraph separators, the
#: bidirectional overrides and isolates).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on written as an
    escape (``\\x1b``, ``\\n``, ``\\u202e``): a file name cannot clear the
    screen, start a line of its own or reorder what is printed."""
    def escape(m: re.Match) -> str:
        ch = m.group(0)
        return _ESCAPES.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")

    return _UNPRINTABLE.sub(escape, text)


def shown_path(path: Path) -> str:
    """A path as a message shows it: relative to the current folder when it
    is inside it (what the user typed), else as it is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a source, where it is, and what to do."""

    file: Path | None
    message: str
    hint: str = ""
    line: int | None = None
    column: int | None = None
    #: "error" stops the build; "warning" is printed and the build goes on
    #: (the outputs are still checked in full)
    severity: str = "error"

    def where(self) -> str:
        if self.file is None:
            return ""
        text = shown_path(self.file)
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text

    def __str__(self) -> str:
        """Two lines at most, the message and its hint, whatever a file
        name in them holds (see ``printable``)."""
        head = f"{printable(self.where())}: " if self.file is not None else ""
        text = f"{head}{self.severity}: {printable(self.message)}"
        if self.hint:
            text += f"\n  hint: {printable(self.hint)}"
        return text


class SourceError(Exception):
    """One or more problems with a publication's source; exit status 2."""

    def __init__(self, problems: list[Problem] | Problem, warnings: list[Problem] | None = None):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.warnings: list[Problem] = list(warnings or [])  # found on the way; printed before the problems
        super().__init__("\n".join(str(p) for p in self.problems))


class BuildError(Exception):
    """A build could not finish for a reason that is not the source's fault
    (a renderer crashed, a tool is missing, the output folder is locked)."""


class DiskFull(BuildError):
    """The disk filled up while writing; the message names the disk and
    says what was kept. Exit status 2."""


DISK_FULL_ERRNOS = (28, 122)  # ENOSPC, EDQUOT


def mount_point(path) -> str:
    """The mount point of the disk that holds ``path`` (or would hold it)."""
    import os

    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


class CheckFailed(Exception):
    """An output disagrees with its source; exit status 1. ``kept`` is the
    folder that holds the failed outputs for inspection (``<out>/<slug>/.failed``),
    or None when they were not kept; ``previous`` says whether earlier good
    outputs stand beside it."""

    def __init__(self, findings: list[str], kept: Path | None = None, previous: bool = False):
        self.findings = findings
        self.kept = kept
        self.previous = previous
        super().__init__("\n".join(findings))

    def outcome(self) -> str:
        """The line that closes the findings: what was kept, and where."""
        text = "check failed; " + ("the previous outputs were kept" if self.previous else "nothing was published")
        if self.kept is not None:
            text += f"; the failed outputs are in {shown_path(self.kept)}/ for inspection"
        return text + "."
