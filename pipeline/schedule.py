"""Produce every format at once, on the available cores.

A heavy format (``Format.heavy`` in ``pipeline.formats``: the PDF, whose
WeasyPrint layout is the long pole) is CPU-bound Python, so a thread would
hold the GIL the whole time. ``produce()`` therefore starts each heavy
format's branch first, in a forked process that inherits the parsed
publication and the body's HTML (nothing is parsed or pickled again), and
meanwhile renders the light formats here (the EPUB, the HTML page),
writing each file as soon as it is ready and starting its check at once,
so that their validators (EPUBCheck, the Nu Html Checker) run beside the
heavy layout. A heavy branch checks its own file when it has written it
and sends back its timings and its part of the check's report.

Each branch's check is ``pipeline.check.check_outputs`` for that one format
(it starts the format's validator before anything else); the three reports
are merged into one, in the order of the requested formats.

Without the ``fork`` start method (Windows), or on a single core, a heavy
branch runs in a thread of this process: the same steps, without the speed.

Every branch records ``Event(step, start, end)`` with ``time.monotonic()``,
which is one clock for all processes of a machine; ``BuildResult.events``
keeps them, so that one can see (and the tests assert) what overlapped.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from pipeline import children, lock
from pipeline import formats as registry
from pipeline.errors import BuildError
from pipeline.model import Publication
from pipeline.render.common import Body, Design, body_html


@dataclass(frozen=True)
class Event:
    """One step of one branch: a format's name (rendering and writing the
    file) or ``check <name>`` (that format's check)."""

    step: str
    start: float  # time.monotonic()
    end: float
    pid: int = 0  # the process that did it


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


_warming: threading.Thread | None = None


def warm_up(formats, check: bool) -> None:
    """Import what the formats ask for (``Format.warm_up``: WeasyPrint,
    0.7 s) and the check's readers in a background thread while the source
    is read: reading mostly waits for pandoc, so the import costs the build
    nothing, and a forked heavy branch inherits it instead of paying for it
    on the critical path. ``produce`` waits for it
    before forking (a fork must not copy a half-done import)."""
    global _warming
    names = [m for f in formats if f in registry.REGISTRY for m in registry.get(f).warm_up()]
    names += ["pipeline.check"] if check else []
    missing = [n for n in names if n not in sys.modules]
    if not missing or (_warming is not None and _warming.is_alive()):
        return

    def imports():
        import importlib

        for name in missing:
            try:
                importlib.import_module(name)
            except Exception:  # the branch that needs it will meet the error and report it
                pass

    _warming = threading.Thread(target=imports, name="warm-up imports", daemon=True)
    _warming.start()


def _warmed() -> None:
    if _warming is not None:
        _warming.join()


class _Progress:
    """Turns branch events into ``progress(step, seconds)`` calls (see
    pipeline.progress) from any thread; ``check`` starts with the first
    format's check and ends with the last."""

    def __init__(self, progress, timings: dict):
        self.progress, self.timings = progress, timings
        self.lock = threading.Lock()
        self.checks_left = 0
        self.check_started = None

    def start(self, step: str) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress(step, None)

    def end(self, step: str, seconds: float) -> None:
        with self.lock:
            self.timings[step] = seconds
            if self.progress is not None:
                self.progress(step, seconds)

    def check_start(self, when: float) -> None:
        with self.lock:
            first = self.check_started is None
            if first:
                self.check_started = when
        if first:
            self.start("check")

    def check_end(self, when: float) -> None:
        with self.lock:
            self.checks_left -= 1
            last = self.checks_left == 0
        if last:
            self.end("check", when - self.check_started)


def produce(pub: Publication, design: Design, staging: Path, formats, check: bool, timings: dict,
            progress=None, render_options: dict[str, dict] | None = None, events: list | None = None,
            previous: Path | None = None):
    """Render ``formats`` into ``staging`` (``<slug>.<format>``), checking
    each file as soon as it is written when ``check`` is true. Returns the
    merged ``pipeline.check.Report``, or None without a check. Steps are
    reported to ``progress`` and their seconds stored in ``timings``.
    ``previous`` is the last good build's folder, whose validator verdicts
    stand for files that have not changed (``check_outputs``)."""
    events = [] if events is None else events
    options = render_options or {}
    tell = _Progress(progress, timings)
    tell.checks_left = len(formats) if check else 0

    tell.start("body")
    t = time.perf_counter()
    body = body_html(pub, design)
    tell.end("body", time.perf_counter() - t)

    # what the source says, worked out once for every format's check (a
    # heavy format's forked branch inherits it); None when there is no check
    expected = None
    if check:
        from pipeline.check import Expected

        expected = Expected.from_publication(pub)

    done: queue.Queue = queue.Queue()  # (what, exception or None) from every branch
    reports: dict[str, object] = {}
    branches = 0
    heavy_branches: list[_HeavyBranch] = []
    group = children.Group()  # every process this build starts: ended with it (pipeline.children)
    _warmed()
    try:
        for fmt in formats:  # the heavy formats first, each in a process of its own
            if not registry.get(fmt).heavy:
                continue
            tell.start(fmt)
            branch = _HeavyBranch(fmt, pub, body, design, staging, expected, options.get(fmt, {}), tell, events,
                                  reports, done, group)
            heavy_branches.append(branch)
            branch.start()
            branches += 1
        for fmt in formats:
            if registry.get(fmt).heavy:
                continue
            tell.start(fmt)
            t0 = time.monotonic()
            data = registry.get(fmt).render(pub, body, design, **options.get(fmt, {}))
            _output(staging, pub.slug, fmt).write_bytes(data)
            t1 = time.monotonic()
            events.append(Event(fmt, t0, t1, os.getpid()))
            tell.end(fmt, t1 - t0)
            if check:
                threading.Thread(target=_check_here,
                                 args=(pub, staging, fmt, expected, previous, tell, events, reports, done, group),
                                 name=f"check {fmt}", daemon=True).start()
                branches += 1
        for _ in range(branches):
            what, exc = done.get()
            if exc is not None:
                raise exc
    finally:
        # a failed or stopped build ends its validators and the heavy formats'
        # processes at once, instead of leaving them to finish work nobody will read
        group.end()
        for branch in heavy_branches:
            branch.stop()
    if not check:
        return None
    return _merge(pub, staging, formats, reports)


def _output(staging: Path, slug: str, fmt: str) -> Path:
    return staging / registry.get(fmt).output_name(slug)


def _check_here(pub, staging, fmt, expected, previous, tell, events, reports, done, group) -> None:
    from pipeline.check import check_outputs

    try:
        t0 = time.monotonic()
        tell.check_start(t0)
        with group.active():  # the validator it starts belongs to this build
            reports[fmt] = check_outputs(pub, staging, formats=(fmt,), expected=expected, previous=previous)
        t1 = time.monotonic()
        events.append(Event(f"check {fmt}", t0, t1, os.getpid()))
        tell.check_end(t1)
        done.put((fmt, None))
    except BaseException as exc:  # handed to the main thread, which raises it
        done.put((fmt, exc))


def _merge(pub, staging, formats, reports):
    from pipeline.check import Report

    merged = Report(pub.slug, staging)
    for fmt in formats:
        merged.formats[fmt] = reports[fmt].formats[fmt]
        for k, v in reports[fmt].timings.items():
            merged.timings[f"{fmt} {k}"] = v
    return merged


# ------------------------------------------------------------ a heavy format's branch

def _heavy_steps(fmt: str, pub: Publication, body: Body, design: Design, staging: Path, expected, options: dict,
                 send) -> None:
    """Render, write and check the heavy format ``fmt`` (against
    ``expected``, unless it is None), telling ``send`` each step as it
    ends. Runs in the forked process (or a thread)."""
    t0 = time.monotonic()
    data = registry.get(fmt).render(pub, body, design, **options)
    _output(staging, pub.slug, fmt).write_bytes(data)
    t1 = time.monotonic()
    for piece in registry.get(fmt).pieces():  # the pieces of a file laid out in parallel, each in its process
        send(("piece", *piece))
    send(("rendered", t0, t1, os.getpid()))
    if expected is not None:
        from pipeline.check import check_outputs

        send(("checking", t1))
        report = check_outputs(pub, staging, formats=(fmt,), expected=expected)
        send(("checked", report, t1, time.monotonic(), os.getpid()))


def _child(conn, parent: int, *args) -> None:
    """The forked process: a heavy format's steps, each message sent up the pipe;
    an exception is sent too (as itself when it survives pickling)."""
    children.die_with_parent(parent)  # a build killed outright takes this process with it
    lock.close_inherited()  # the build's lock is the parent's: it must not outlive the parent here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us with SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        _heavy_steps(*args, send=conn.send)
    except BaseException as exc:
        text = "".join(traceback.format_exception(exc))
        try:
            pickle.loads(pickle.dumps(exc))
            conn.send(("error", exc, text))
        except Exception:
            conn.send(("error", BuildError(f"{type(exc).__name__}: {exc}"), text))
    finally:
        conn.close()


class ChildTraceback(Exception):
    """The traceback of an exception raised in a heavy format's process."""


class _HeavyBranch:
    """A heavy format's branch, in a forked process when possible; a thread
    of this process reads its messages and reports its steps as they end."""

    def __init__(self, fmt, pub, body, design, staging, expected, options, tell: _Progress, events, reports, done,
                 group: children.Group):
        self.fmt = fmt
        self.args = (fmt, pub, body, design, staging, expected, options)
        self.group = group
        self.tell, self.events, self.reports, self.done = tell, events, reports, done
        self.check = expected is not None
        self.process = None
        self.launched = 0.0

    def start(self) -> None:
        self.launched = time.monotonic()  # the branch's start: its time includes the fork
        if can_fork():
            ctx = multiprocessing.get_context("fork")
            receive, send = ctx.Pipe(duplex=False)
            for stream in (sys.stdout, sys.stderr):  # else the child would flush our buffered output again
                stream.flush()
            self.process = ctx.Process(target=_child, args=(send, os.getpid(), *self.args), name=self.fmt, daemon=True)
            self.process.start()
            self.group.add(self.process)
            send.close()
            threading.Thread(target=self._listen, args=(receive,), name=f"{self.fmt} messages", daemon=True).start()
        else:
            messages: queue.Queue = queue.Queue()

            def run():
                try:
                    _heavy_steps(*self.args, send=messages.put)
                except BaseException as exc:
                    messages.put(("error", exc, None))
                messages.put(None)

            threading.Thread(target=run, name=self.fmt, daemon=True).start()
            threading.Thread(target=self._listen, args=(messages,), name=f"{self.fmt} messages", daemon=True).start()

    def _listen(self, source) -> None:
        get = source.get if isinstance(source, queue.Queue) else source.recv
        try:
            while True:
                try:
                    message = get()
                except EOFError:
                    message = None
                if message is None:
                    code = self.process.exitcode if self.process is not None else None
                    raise BuildError(f"the {registry.get(self.fmt).label} process ended before it had finished "
                                     f"(exit status {code})")
                kind = message[0]
                if kind == "piece":
                    _, name, p0, p1, pid = message
                    self.events.append(Event(f"{self.fmt} {name}", p0, p1, pid))
                elif kind == "rendered":
                    _, _rendering, t1, pid = message
                    self.events.append(Event(self.fmt, self.launched, t1, pid))
                    self.tell.end(self.fmt, t1 - self.launched)
                    if not self.check:
                        break
                elif kind == "checking":
                    self.tell.check_start(message[1])
                elif kind == "checked":
                    _, report, t0, t1, pid = message
                    self.reports[self.fmt] = report
                    self.events.append(Event(f"check {self.fmt}", t0, t1, pid))
                    self.tell.check_end(t1)
                    break
                elif kind == "error":
                    _, exc, text = message
                    if text:
                        exc.__cause__ = ChildTraceback(f"in the {registry.get(self.fmt).label} process:\n" + text)
                    raise exc
            self.done.put((self.fmt, None))
        except BaseException as exc:
            self.done.put((self.fmt, exc))
        finally:
            if not isinstance(source, queue.Queue):
                source.close()

    def stop(self) -> None:
        """End the process if it still runs (another branch failed, or the
        build was interrupted) and reap it."""
        if self.process is None:
            return
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
