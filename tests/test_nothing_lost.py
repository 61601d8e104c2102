"""Issue 5, part 2: a failed build loses nothing.

An output folder holds the fixture's real outputs from an earlier build.
Then a build of the same publication fails in every way we can think of
(bad source, failed check, a renderer or a template that crashes, Ctrl-C,
SIGTERM to a real ``python -m pipeline build`` while it lays out the PDF
or while its staging folder is full, a second build at the same time):
afterwards the folder is byte-identical, with no partial or temporary file
left, and the source has not been written to.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import FIXTURE, ROOT
from test_errors import snapshot

SLUG = FIXTURE.name

@pytest.fixture(scope="module")
def earlier_dist(fixture_build) -> Path:
    """An output folder as an earlier, successful (checked) build left it."""
    return fixture_build.out_dir.parent


@pytest.fixture
def dist(earlier_dist, tmp_path) -> Path:
    out = tmp_path / "dist"
    shutil.copytree(earlier_dist, out, symlinks=True)
    assert (out / SLUG / f"{SLUG}.pdf").stat().st_size > 10_000
    return out


@pytest.fixture
def src(tmp_path) -> Path:
    """A copy of the fixture, under its own name (the same slug)."""
    folder = tmp_path / "src" / SLUG
    shutil.copytree(FIXTURE, folder, symlinks=True)
    return folder


def contents(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


# ------------------------------------------------------------- in process

def test_bad_source(dist, src):
    from pipeline.build import build
    from pipeline.errors import SourceError

    text = (src / "method.md").read_text("utf-8")
    (src / "method.md").write_text(text + "\n![A chart](figures/no-such-chart.png)\n", "utf-8")
    before, source_before = snapshot(dist), snapshot(src)
    with pytest.raises(SourceError):
        build(src, dist)
    assert snapshot(dist) == before
    assert snapshot(src) == source_before


def test_failed_check(dist, src, monkeypatch):
    """The HTML loses a heading; the (real) check notices; nothing moves."""
    from pipeline import build as build_module
    from pipeline import formats
    from pipeline.errors import CheckFailed

    html = formats.get("html").render

    def html_without_a_heading(pub, body, design):
        page = html(pub, body, design)
        cut = re.sub(rb"<h3[^>]*>(<span class=\"number\">2\.2</span>)? ?Maintenance</h3>", b"", page)
        assert cut != page
        return cut

    monkeypatch.setattr(formats.get("html"), "render", html_without_a_heading)
    before = snapshot(dist)
    with pytest.raises(CheckFailed) as caught:
        build_module.build(src, dist, check=True)
    assert "Maintenance" in str(caught.value)  # the check failed for the heading, not for another reason
    after = snapshot(dist)
    failed = {k: v for k, v in after.items() if k.split("/")[1:2] == [".failed"]}
    assert {k: v for k, v in after.items() if k not in failed} == before  # the good outputs, untouched
    # the failed outputs are kept beside them for inspection (issue 12), the cut page among them
    kept = dist / src.name / ".failed" / f"{src.name}.html"
    assert kept.is_file() and b"Maintenance</h3>" not in kept.read_bytes()


def _template_that_raises(tmp_path) -> object:
    from pipeline.render.common import Design

    root = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", root)
    page = root / "html" / "page.html.j2"
    page.write_text(page.read_text("utf-8").replace("<main", "{{ no_such_variable.anywhere }}<main", 1), "utf-8")
    return Design(root=root)


@pytest.mark.parametrize("how", ["renderer raises", "template raises", "Ctrl-C in a renderer",
                                 "Ctrl-C with the staging folder full"])
def test_crash_or_ctrl_c(how, dist, src, tmp_path, monkeypatch):
    from pipeline import build as build_module
    from pipeline import formats

    design = None
    expected: type[BaseException] = RuntimeError
    if how == "renderer raises":
        def crash(pub, body, design):
            raise RuntimeError("the HTML renderer crashed")
        monkeypatch.setattr(formats.get("html"), "render", crash)
    elif how == "template raises":
        import jinja2
        design, expected = _template_that_raises(tmp_path), jinja2.UndefinedError
    elif how == "Ctrl-C in a renderer":
        def ctrl_c(pub, body, design):
            raise KeyboardInterrupt
        monkeypatch.setattr(formats.get("html"), "render", ctrl_c)
        expected = KeyboardInterrupt
    else:  # every output written to the staging folder, then Ctrl-C just before the swap
        staged = []

        def ctrl_c_at_swap(staging, final):
            staged.extend(sorted(p.name for p in staging.iterdir()))
            raise KeyboardInterrupt
        monkeypatch.setattr(build_module, "_swap_into_place", ctrl_c_at_swap)
        expected = KeyboardInterrupt
    before, source_before = snapshot(dist), snapshot(src)
    with pytest.raises(expected):
        build_module.build(src, dist, design=design, check=False)
    assert snapshot(dist) == before
    assert snapshot(src) == source_before
    if how.endswith("full"):
        assert {f"{SLUG}.pdf", f"{SLUG}.epub", f"{SLUG}.html"} <= set(staged)


# ------------------------------------------------------- real processes

#: ``python -m pipeline build …`` exactly (runpy is what -m runs), with a
#: probe that writes to a marker file when WeasyPrint starts and finishes
#: laying out the PDF, so the test knows when to send its signal and can
#: tell afterwards that the signal arrived in the middle (from the start of
#: the layout, ``HTML.render``, to the end of the writing,
#: ``Document.write_pdf``: the renderer calls the two itself).
PROBE_PDF = textwrap.dedent("""\
    import runpy, sys
    from pathlib import Path
    import weasyprint
    from weasyprint.document import Document
    marker = Path(sys.argv.pop(1))
    render, write_pdf = weasyprint.HTML.render, Document.write_pdf
    def started(self, *a, **k):
        marker.write_text("started")
        return render(self, *a, **k)
    def finished(self, *a, **k):
        out = write_pdf(self, *a, **k)
        marker.write_text("started finished")
        return out
    weasyprint.HTML.render, Document.write_pdf = started, finished
    sys.argv[0] = "pipeline"
    runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
""")

#: The same, with a check that takes its time (wherever it runs: this
#: process, a thread, a forked one), so that the signal can arrive while
#: the staging folder holds every output. Each call notes its process and
#: the folder it checks.
PROBE_CHECK = textwrap.dedent("""\
    import os, runpy, sys, time, types
    from pathlib import Path
    marker = Path(sys.argv.pop(1))
    def check_outputs(pub, folder, formats=(), expected=None, **options):
        with open(marker, "a") as f:
            f.write(f"{os.getpid()} {folder}\\n")
        time.sleep(120)
        raise AssertionError("the signal did not arrive")
    expected = types.SimpleNamespace(from_publication=lambda pub: "what the source says")
    sys.modules["pipeline.check"] = types.SimpleNamespace(check_outputs=check_outputs, Expected=expected)
    sys.argv[0] = "pipeline"
    runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
""")


def _start(probe: str, marker: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", probe, str(marker), "build", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the build ended early ({proc.returncode}): {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_pdf_is_laid_out(sig, dist, src, tmp_path):
    marker = tmp_path / "marker"
    before, source_before = snapshot(dist), snapshot(src)
    proc = _start(PROBE_PDF, marker, str(src), "--out", str(dist), "--no-check")
    # the marker's text, not the file: write_text creates the file before it
    # writes, and a signal between the two left it empty (seen once in CI)
    _wait_for(lambda: marker.exists() and marker.read_text().startswith("started"), proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert marker.read_text() == "started", f"the signal arrived after the layout: {stderr}"
    assert proc.returncode == 128 + sig, stderr
    assert f"stopped by {sig.name}; the previous outputs were kept." in stderr
    assert "Traceback" not in stderr + stdout
    assert snapshot(dist) == before
    assert snapshot(src) == source_before


def test_sigterm_with_the_staging_folder_full(dist, src, tmp_path):
    """SIGTERM to the build (only: as ``kill PID`` sends it) while every
    output is in the staging folder and being checked: the folder goes, and
    so does every process the build started."""
    marker = tmp_path / "marker"
    before = snapshot(dist)
    proc = _start(PROBE_CHECK, marker, str(src), "--out", str(dist))
    _wait_for(lambda: marker.exists() and marker.read_text().endswith("\n"), proc, timeout=120)
    staging = Path(marker.read_text().splitlines()[0].split(" ", 1)[1])
    assert staging.parent == dist and staging.name.startswith(f".{SLUG}.")
    outputs = {f"{SLUG}.pdf", f"{SLUG}.epub", f"{SLUG}.html"}
    _wait_for(lambda: outputs <= {p.name for p in staging.iterdir()}, proc, timeout=120)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM; the previous outputs were kept." in stderr
    assert "Traceback" not in stderr + stdout
    assert not staging.exists()
    assert snapshot(dist) == before
    for pid in {int(line.split()[0]) for line in marker.read_text().splitlines()}:
        end = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < end, f"process {pid} of the build outlived it"
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())  # a zombie has ended


# ----------------------------------------------------------------- lock

def test_a_second_build_meanwhile_is_told_about_the_lock(dist, src):
    """One build holds the lock (here: this test); a real second build
    stops at once, names the lock and says what to do, touches nothing."""
    from pipeline.lock import output_lock

    with output_lock(dist, SLUG) as lock:
        before = snapshot(dist)
        proc = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src), "--out", str(dist)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert f"another build of '{SLUG}'" in proc.stderr and f"(process {os.getpid()})" in proc.stderr
        assert f"lock {lock}" in proc.stderr and "wait for that build to finish" in proc.stderr
        assert snapshot(dist) == before
    assert not lock.exists()


def test_a_check_while_a_build_runs_waits_its_turn(dist, src):
    """``pipeline check`` of dist/<slug> takes the build's lock too: while a
    build holds it, the check would read a folder being replaced and then
    overwrite the build's check.json, so it stops with the same message."""
    from pipeline.lock import output_lock

    with output_lock(dist, SLUG) as lock:
        before = snapshot(dist)
        proc = subprocess.run([sys.executable, "-m", "pipeline", "check", str(src), "--out", str(dist)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"another build of '{SLUG}'" in proc.stderr and f"lock {lock}" in proc.stderr
        assert snapshot(dist) == before
    proc = subprocess.run([sys.executable, "-m", "pipeline", "check", str(src), "--out", str(dist), "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr  # the lock released, the same check passes
    assert not lock.exists()


def test_two_real_builds_at_once(dist, src):
    """The first builds as if alone (its outputs are byte-identical to the
    earlier build's); the second is refused; the source is only read."""
    outputs_before, source_before = contents(dist / SLUG), snapshot(src)
    lock = dist / f".{SLUG}.lock"
    args = [sys.executable, "-m", "pipeline", "build", str(src), "--out", str(dist), "--no-check", "-q"]
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lock.exists, first)
    second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 2 and "another build" in second.stderr and "Traceback" not in second.stderr
    after = contents(dist / SLUG)
    assert {k: v for k, v in after.items() if k != "check.json"} == \
        {k: v for k, v in outputs_before.items() if k != "check.json"}
    assert not [p.name for p in dist.iterdir() if p.name.startswith(".")], "a lock or staging folder was left"
    assert snapshot(src) == source_before


def test_the_lock_dies_with_its_holder_and_leftovers_are_cleared(tmp_path):
    """A build killed outright (SIGKILL: no finally runs) leaves its lock
    file and staging folder; the next build gets the lock and clears what
    belonged to that publication only."""
    from pipeline.lock import output_lock

    out = tmp_path / "dist"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pipeline.lock import output_lock\n"
         f"with output_lock({str(out)!r}, {SLUG!r}):\n    print('locked', flush=True)\n    time.sleep(120)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    for name in (f".{SLUG}.k2x9_q0a.tmp", f".{SLUG}.old", f".{SLUG}.more.abcdefgh.tmp", ".other.abcdefgh.tmp"):
        (out / name).mkdir()
        (out / name / "partial.pdf").write_bytes(b"%PDF-1.7 half")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (out / f".{SLUG}.lock").exists()
    with output_lock(out, SLUG):
        left = sorted(p.name for p in out.iterdir())
    assert left == sorted([f".{SLUG}.lock", f".{SLUG}.more.abcdefgh.tmp", ".other.abcdefgh.tmp"])
    assert sorted(p.name for p in out.iterdir()) == sorted([f".{SLUG}.more.abcdefgh.tmp", ".other.abcdefgh.tmp"])


def test_a_signal_during_the_swap_waits_for_it():
    """Inside ``uninterrupted()`` SIGTERM is held back and raised at the
    end, saying what had been done."""
    from pipeline import interrupts

    restore = interrupts.install()
    try:
        done = []
        with pytest.raises(interrupts.Interrupted) as caught:
            with interrupts.uninterrupted("the new outputs are in place"):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                done.append("swapped")
        assert done == ["swapped"]
        assert caught.value.signum == signal.SIGTERM and caught.value.note == "the new outputs are in place"
        with pytest.raises(interrupts.Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is not interrupts.handler


def test_a_build_of_some_formats_keeps_the_others(dist, src):
    """`--formats html` (as `watch` may run) replaces the HTML page only;
    the earlier PDF and EPUB stay, byte for byte."""
    from pipeline.build import build

    folder = dist / "sample-report"
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    (src / "method.md").write_text((src / "method.md").read_text("utf-8") + "\nOne more sentence.\n", "utf-8")
    result = build(src, dist, formats=("html",))
    assert result.check.ok
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after["sample-report.pdf"] == before["sample-report.pdf"]
    assert after["sample-report.epub"] == before["sample-report.epub"]
    assert b"One more sentence." in after["sample-report.html"]
    assert b"One more sentence." not in before["sample-report.html"]
