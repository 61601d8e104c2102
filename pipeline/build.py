"""Build a publication: read everything, render every format, check, and
only then move the finished files into place.

``build()`` reads top to bottom: load the source (parsing its Markdown
once), write the body's HTML once, render the formats from the same model
at the same time (``pipeline.schedule``: the PDF in a forked process, each
file checked as soon as it is written) in a temporary folder, and swap it into
``<out>/<slug>/`` when every format is done and checked. A failure at any
step leaves the previous outputs exactly as they were; when the check
failed, what it read is moved to ``<out>/<slug>/.failed/`` for inspection
(``_keep_failed``), beside them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import formats as registry
from pipeline import outputs, schedule, source
from pipeline.errors import DISK_FULL_ERRNOS, BuildError, DiskFull, mount_point, shown_path
from pipeline.interrupts import uninterrupted
from pipeline.lock import output_lock
from pipeline.model import Publication
from pipeline.render.common import Design


@dataclass
class BuildResult:
    publication: Publication
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)  # format -> final path
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds
    check: object | None = None  # pipeline.check.Report, when checked
    events: list = field(default_factory=list)  # pipeline.schedule.Event: what ran when, in which process


def output_name(slug: str, fmt: str) -> str:
    return registry.get(fmt).output_name(slug)


def _tell(progress, step: str, timings: dict | None = None) -> None:
    """Report a step to the optional ``progress(step, seconds)`` callback:
    seconds is None when the step starts, its duration when it ends."""
    if progress is not None:
        progress(step, None if timings is None else timings[step])


def build(source_dir: Path | str, out: Path | str = "dist", formats=None, design: Design | None = None,
          check: bool = True, progress=None, render_options: dict[str, dict] | None = None,
          keep_failed: bool = True, warn=None, jobs: int | None = None) -> BuildResult:
    """``progress``, if given, is called as ``progress(step, None)`` when a
    step (load, body, each format, check) starts and ``progress(step,
    seconds)`` when it ends (see pipeline.progress). When the check fails,
    the outputs it read are kept in ``<out>/<slug>/.failed/`` (unless
    ``keep_failed`` is false) beside the previous good ones. ``warn``, if
    given, is called with the source's warnings (pipeline.errors.Problem) as
    soon as it has been read, before anything is rendered; they are also in
    ``result.publication.warnings``. ``formats`` are names of the registry
    (``pipeline.formats``); None builds those the publication.yaml lists
    under ``formats:``, else the registry's default ones. ``jobs``, if
    given, is how many processes lay out each format that can be laid out
    in parallel (``Format.parallel``: the PDF, pipeline.render.parallel;
    1: one, as before); None, one per available core."""
    design = design or Design()
    render_options = dict(render_options or {})
    for f in registry.REGISTRY.values():
        if f.parallel:  # None: one process per available core (pipeline.render.parallel)
            render_options[f.name] = {"jobs": jobs, **render_options.get(f.name, {})} if jobs is None \
                else {**render_options.get(f.name, {}), "jobs": jobs}
    timings: dict[str, float] = {}
    schedule.warm_up(registry.default() if formats is None else formats, check)  # imports for later steps, while the source is read
    _tell(progress, "load")
    t = time.perf_counter()
    read_at = time.time_ns()
    pub = source.load(source_dir)
    timings["load"] = time.perf_counter() - t
    _tell(progress, "load", timings)
    if warn is not None and pub.warnings:
        warn(pub.warnings)
    formats = registry.ordered(pub.formats or registry.default()) if formats is None else tuple(formats)
    bad = registry.unknown(formats)
    if bad:
        raise BuildError(f"unknown format {', '.join(map(repr, bad))}\n"
                         f"  hint: the formats are {', '.join(registry.names())}")

    out = Path(out)
    why = outputs.reserved(pub.slug)
    if why:
        raise BuildError(f"the publication's folder name '{pub.slug}' cannot name its outputs: {why}\n"
                         f"  hint: rename the folder {shown_path(pub.root)} (e.g. to {pub.slug.strip('.')}-report)")
    with output_lock(out, pub.slug):  # a second build of it into `out` stops here with a message
        refused = outputs.refusal(out / pub.slug, pub.slug)  # never replace what a build did not make
        if refused:
            raise BuildError(refused)
        try:
            return _render_check_swap(pub, out, design, formats, check, timings, progress, render_options, read_at,
                                      keep_failed)
        except OSError as exc:
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
            raise DiskFull(f"the disk that holds {shown_path(out)} (mounted on {mount_point(out)}) is full "
                           f"({exc.strerror}); the previous outputs were kept\n"
                           f"  hint: free some space on that disk and build again") from None


def _render_check_swap(pub: Publication, out: Path, design: Design, formats, check: bool, timings: dict,
                       progress, render_options: dict[str, dict] | None = None,
                       read_at: int | None = None, keep_failed: bool = True) -> BuildResult:
    out.mkdir(parents=True, exist_ok=True)
    final = out / pub.slug
    staging = Path(tempfile.mkdtemp(prefix=f".{pub.slug}.", suffix=".tmp", dir=out))
    try:
        result = BuildResult(pub, final, timings=timings)
        # every format at once, each checked as soon as it is written (pipeline.schedule)
        # the last good build's folder: its validators' verdicts stand for files that did not change
        report = schedule.produce(pub, design, staging, formats, check, timings, progress, render_options,
                                  result.events, previous=final if final.is_dir() else None)
        if check:
            report.write(staging / "check.json")
            if read_at is not None:  # make's stamp: as old as the source it checked (a file saved meanwhile
                os.utime(staging / "check.json", ns=(read_at, read_at))  # is newer, so make builds again)
            result.check = report
            if not report.ok:
                from pipeline.errors import CheckFailed

                previous = any((final / output_name(pub.slug, fmt)).is_file() for fmt in registry.names())
                kept = _keep_failed(staging, final, pub.slug) if keep_failed else None
                raise CheckFailed(report.findings(), kept=kept, previous=previous)
        _keep_other_formats(pub.slug, final, staging, formats)
        with uninterrupted(f"the build had finished: {final} holds the new outputs"):  # no half-done swap
            _swap_into_place(staging, final)
        result.files = {fmt: final / output_name(pub.slug, fmt) for fmt in formats}
        return result
    finally:
        if staging.exists():
            with uninterrupted():
                shutil.rmtree(staging, ignore_errors=True)


def _keep_failed(staging: Path, final: Path, slug: str) -> Path | None:
    """Move the failed build's outputs (``staging``) to ``final/.failed``
    for inspection, replacing the last failed build's; the good outputs in
    ``final`` are not touched. Returns the folder, or None when ``final``
    is not a build's own folder (``outputs.refusal``): then nothing is kept."""
    if outputs.refusal(final, slug):
        return None
    failed = final / outputs.FAILED
    own = outputs.own_names(slug)
    with uninterrupted():
        try:
            for entry in os.scandir(staging):  # only the outputs and their report go along
                if entry.name not in own or not entry.is_file(follow_symlinks=False):
                    shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
            os.chmod(staging, 0o755)
            final.mkdir(exist_ok=True)
            if failed.is_dir():
                shutil.rmtree(failed)
            os.rename(staging, failed)
        except OSError:  # kept for inspection at best: the check's findings are what the build reports
            return None
    return failed


def _keep_other_formats(slug: str, final: Path, staging: Path, formats) -> None:
    """A build of some formats (``--formats html``, as ``watch`` may run)
    keeps the previous build's files of the others: they are linked into
    the staging folder, so the swap replaces only what was built."""
    for fmt in registry.names():
        previous = final / output_name(slug, fmt)
        if fmt not in formats and previous.is_file():
            try:
                os.link(previous, staging / previous.name)
            except OSError:  # a file system without hard links
                shutil.copy2(previous, staging / previous.name)


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` with renames only: the old folder is
    moved aside first and deleted only once the new one is in place. A
    ``final`` that is not a build's output folder (``outputs.refusal``) is
    never touched."""
    slug = final.name
    os.chmod(staging, 0o755)
    refused = outputs.refusal(final, slug)  # checked again: the folder may have changed during the build
    if refused:
        raise BuildError(refused)
    if not final.exists():
        os.rename(staging, final)
        return
    old = final.with_name(f".{final.name}.old")
    if old.is_symlink() or old.exists():
        if old.is_symlink() or not old.is_dir() or outputs.foreign(old, slug):
            raise BuildError(f"{shown_path(old)} is in the way: the build sets the previous outputs aside under "
                             f"that name, and it holds something a build did not make\n"
                             f"  hint: move {shown_path(old)} elsewhere")
        shutil.rmtree(old)
    os.rename(final, old)
    try:
        os.rename(staging, final)
    except BaseException:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
