"""The document model every renderer and checker shares.

A ``Publication`` is built once per build by ``pipeline.source`` and then
only read. Its body is pandoc's own AST (JSON), one list of blocks per
chapter, already numbered; its ``outline`` is the list of headings a reader
must find again in every output.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Author:
    name: str
    affiliation: str = ""
    organisation: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    version: str
    date: dt.date
    note: str


@dataclass(frozen=True)
class Edition:
    version: str
    date: dt.date
    history: tuple[HistoryEntry, ...] = ()


@dataclass(frozen=True)
class KeyFigure:
    value: float
    unit: str
    label: str
    prefix: str = ""  # "over", "about"
    period: str = ""
    source: str = ""


@dataclass(frozen=True)
class Metadata:
    title: str
    authors: tuple[Author, ...]
    language: str
    edition: Edition
    identifier: str
    subtitle: str = ""
    short_title: str = ""  # for running heads; the title when empty
    description: str = ""
    keywords: tuple[str, ...] = ()
    rights: str = ""
    contents_title: str = ""
    style: tuple[tuple[str, str], ...] = ()
    key_figures_title: str = ""
    key_figures: tuple[KeyFigure, ...] = ()
    key_figures_after: str = ""

    @property
    def author_names(self) -> str:
        return ", ".join(a.name for a in self.authors)


@dataclass(frozen=True)
class Location:
    file: Path
    line: int | None = None


@dataclass(frozen=True)
class OutlineEntry:
    """One heading of the publication, as every format must show it.

    ``level`` is 1 for a part (or an unnumbered front/back chapter), 2 for
    its sections and so on. ``number`` is "" for unnumbered headings.
    """

    level: int
    number: str
    title: str
    id: str
    label: str = ""
    location: Location | None = None

    @property
    def display(self) -> str:
        """The heading as printed: number and title."""
        return f"{self.number} {self.title}" if self.number else self.title


@dataclass
class Chapter:
    """One Markdown file: front matter, a numbered part, or back matter."""

    kind: str  # "front" | "part" | "back"
    source: Path
    blocks: list[Any]
    id: str
    headings: list[OutlineEntry] = field(default_factory=list)  # in order

    @property
    def entry(self) -> OutlineEntry | None:
        """The chapter's own (level-1) heading, if it has one."""
        return self.headings[0] if self.headings and self.headings[0].level == 1 else None

    @property
    def title(self) -> str:
        return self.entry.title if self.entry else ""


@dataclass
class Publication:
    slug: str
    root: Path
    meta: Metadata
    chapters: list[Chapter]
    outline: list[OutlineEntry]
    files: list[Path] = field(default_factory=list)  # every source file read
    assets: dict[str, Path] = field(default_factory=dict)  # image target -> file
    pandoc_api_version: list[int] = field(default_factory=list)
    fonts: Any = None  # pipeline.fonts.Stacks: the families each stack uses, chosen from the text
    names: dict[str, Path] = field(default_factory=dict)  # name in the folder -> file (source.source_files)
    limits: dict[str, float] = field(default_factory=dict)  # source.LIMITS, as publication.yaml raises them
    warnings: list[Any] = field(default_factory=list)  # pipeline.errors.Problem: what the build changed, and why
    formats: tuple[str, ...] = ()  # publication.yaml's formats: (names of pipeline.formats); () = the default ones

    def blocks(self) -> list[Any]:
        return [b for c in self.chapters for b in c.blocks]


def default_identifier(slug: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'pipeline-publication:' + slug)}"
