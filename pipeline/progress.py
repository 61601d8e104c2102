"""What a build tells the person who started it.

``build()`` calls ``progress(step, None)`` when a step starts and
``progress(step, seconds)`` when it ends (steps: ``load``, ``body``, one per
format, ``check``). A ``Reporter`` turns those calls into output:

* on a terminal, a live display (``rich``): one line per step with a
  spinner while it runs and its time once done;
* when stdout is not a terminal, or ``CI`` is set: plain log lines, one per
  finished step, that read well in a CI log or a file;
* with ``--quiet``: nothing (errors still go to stderr from the CLI).

After the build, ``summary()`` lists the files written with their sizes,
the page count of those that have pages (``Format.pages``) and the check's
result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TextIO

#: What each build step other than a format is called on screen; a format
#: step is called by its ``Format.label`` (``step_label``).
STEP_LABELS = {
    "load": "read the source",
    "body": "write the body",
    "check": "check the outputs",
}


def step_label(step: str) -> str:
    from pipeline import formats

    fmt = formats.REGISTRY.get(step)
    return fmt.label if fmt is not None else STEP_LABELS.get(step, step)

OnStep = Callable[[str, "float | None"], None]


def in_ci(environ=os.environ) -> bool:
    """True when a CI service runs us (they all set ``CI``)."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def interactive(stream: TextIO) -> bool:
    try:
        return stream.isatty() and not in_ci()
    except (AttributeError, ValueError):
        return False


# ----------------------------------------------------------------- summary

@dataclass(frozen=True)
class OutputFile:
    format: str
    path: Path
    size: int
    pages: int | None = None  # for a format that has pages (Format.pages)


@dataclass(frozen=True)
class Summary:
    slug: str
    folder: Path
    files: tuple[OutputFile, ...]
    check: str  # "passed", "not run (--no-check)", ...
    seconds: float
    kept: tuple[str, ...] = ()  # formats whose file was unchanged: the last build's validator verdict kept

    @property
    def kept_note(self) -> str:
        if not self.kept:
            return ""
        from pipeline import formats

        labels = [formats.REGISTRY[f].label if f in formats.REGISTRY else f.upper() for f in self.kept]
        return f"{' and '.join(labels)} unchanged: the last build's validator verdict kept"

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def summarise(result, seconds: float) -> Summary:
    """What a ``BuildResult`` amounts to, read back from the files written."""
    from pipeline import formats

    files = []
    for fmt, path in result.files.items():
        pages = formats.get(fmt).pages(path)
        files.append(OutputFile(fmt, path, path.stat().st_size, pages))
    if result.check is None:
        check = "not run (--no-check)"
    else:
        check = "passed" if getattr(result.check, "ok", False) else "failed"
    kept = tuple(fmt for fmt, r in getattr(result.check, "formats", {}).items()
                 if getattr(r.conformance, "reused", False))
    return Summary(result.publication.slug, result.out_dir, tuple(files), check, seconds, kept)


def human_size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


# --------------------------------------------------------------- reporters

class Reporter:
    """Base: the interface, and the quiet behaviour (say nothing)."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False):
        self.stream = stream or sys.stdout
        self.verbose = verbose

    @contextlib.contextmanager
    def building(self, slug: str) -> Iterator[OnStep]:
        """Around one publication's build; yields the ``progress`` callback."""
        yield lambda step, seconds: None

    def summary(self, summary: Summary) -> None:
        pass

    def line(self, text: str) -> None:
        """A message that is not part of a build (e.g. 'serving ...')."""

    def warnings(self, warnings: list) -> None:
        """The source's warnings: on stderr, as errors are, even when quiet."""
        for w in warnings:
            print(w, file=sys.stderr, flush=True)

    def log_handler(self) -> logging.Handler:
        """Where library log records go with --verbose."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        return handler


class QuietReporter(Reporter):
    pass


class PlainReporter(Reporter):
    """One line per finished step; for logs, pipes and CI."""

    def __init__(self, stream=None, verbose=False):
        super().__init__(stream, verbose)
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def building(self, slug):
        def on_step(step, seconds):
            if seconds is not None:
                self.line(f"{slug}: {step_label(step)} ({seconds:.2f}s)")

        self.line(f"{slug}: building")
        try:
            yield on_step
        except BaseException:
            self.line(f"{slug}: failed")
            raise

    def summary(self, s: Summary) -> None:
        self.line(f"{s.slug}: wrote {len(s.files)} file{'s' if len(s.files) != 1 else ''} "
                  f"({human_size(s.total_size)}) to {s.folder} in {s.seconds:.1f}s; check {s.check}"
                  + (f" ({s.kept_note})" if s.kept else ""))
        for f in s.files:
            pages = f", {f.pages} pages" if f.pages is not None else ""
            self.line(f"  {f.format:<4} {f.path} ({human_size(f.size)}{pages})")


class RichReporter(Reporter):
    """A live display on a terminal: a spinner per running step, then its time."""

    def __init__(self, stream=None, verbose=False):
        super().__init__(stream, verbose)
        from rich.console import Console

        self.console = Console(file=self.stream, highlight=False)

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)

    def log_handler(self) -> logging.Handler:
        from rich.logging import RichHandler

        return RichHandler(console=self.console, show_time=False, show_path=False)

    @contextlib.contextmanager
    def building(self, slug):
        from rich.progress import Progress, SpinnerColumn, TextColumn

        progress = Progress(SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description}"),
                            _seconds_column()(), console=self.console, transient=False)
        tasks: dict[str, int] = {}
        lock = threading.Lock()

        def on_step(step, seconds):
            label = f"[bold]{slug}[/] · {step_label(step)}"
            with lock:
                if seconds is None:
                    tasks[step] = progress.add_task(label, total=1, seconds=None)
                    return
                if step not in tasks:
                    tasks[step] = progress.add_task(label, total=1, seconds=None)
                progress.update(tasks[step], completed=1, seconds=seconds)
                progress.stop_task(tasks[step])

        with progress:
            try:
                yield on_step
            except BaseException:
                with lock:
                    for task in progress.tasks:
                        if not task.finished:
                            progress.update(task.id, description=task.description + " [red]✗ failed[/]")
                            progress.stop_task(task.id)
                raise

    def summary(self, s: Summary) -> None:
        from rich.table import Table

        table = Table(title=f"{s.slug} → {s.folder}", title_justify="left", show_edge=False, box=None,
                      pad_edge=False, padding=(0, 1))
        table.add_column("format")
        table.add_column("file")
        table.add_column("size", justify="right")
        table.add_column("pages", justify="right")
        for f in s.files:
            table.add_row(f.format, f.path.name, human_size(f.size), "" if f.pages is None else str(f.pages))
        self.console.print(table)
        colour = {"passed": "green", "failed": "red"}.get(s.check, "yellow")
        self.console.print(f"check [{colour}]{s.check}[/] · {len(s.files)} file{'s' if len(s.files) != 1 else ''}, {human_size(s.total_size)} "
                           f"· {s.seconds:.1f}s" + (f" · {s.kept_note}" if s.kept else ""))


def _seconds_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Seconds(ProgressColumn):
        """The step's time: as measured by the build once done, live meanwhile."""

        def render(self, task):
            seconds = task.fields.get("seconds")
            if seconds is None:
                seconds = task.elapsed or 0.0
                return Text(f"{seconds:.1f}s", style="dim")
            return Text(f"{seconds:.2f}s", style="cyan")

    return Seconds


def reporter(quiet: bool = False, verbose: bool = False, stream: TextIO | None = None) -> Reporter:
    """The reporter that fits: quiet, a terminal display, or plain lines."""
    stream = stream or sys.stdout
    if quiet:
        return QuietReporter(stream, verbose)
    if interactive(stream):
        return RichReporter(stream, verbose)
    return PlainReporter(stream, verbose)


def run_build(report: Reporter, source_dir: Path, **build_args):
    """``build()`` with progress shown and a summary at the end."""
    from pipeline.build import build

    slug = Path(source_dir).resolve().name
    started = time.perf_counter()
    with report.building(slug) as on_step:
        result = build(source_dir, progress=on_step, warn=report.warnings, **build_args)
    report.summary(summarise(result, time.perf_counter() - started))
    return result


def verbose_logging(report: Reporter) -> None:
    """--verbose: the libraries' own log messages (WeasyPrint's layout steps
    and warnings) go to the reporter's log handler."""
    handler = report.log_handler()
    handler.setLevel(logging.INFO)
    for name in ("weasyprint", "weasyprint.progress", "pipeline"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    for name in ("weasyprint", "pipeline"):
        logging.getLogger(name).addHandler(handler)
