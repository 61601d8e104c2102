"""Issue 5, part 1: bad input gets one clear message per problem.

Every folder of tests/bad/ is a publication with a mistake in it and an
``expected.txt`` naming the problems the build must report (see
tests/bad/README.md). Each is built with the real command line, in a
subprocess, into an output folder that already holds outputs: the build
must exit with status 2, report exactly the expected problems at the
expected file, line and column, each with a hint, print no traceback, and
leave the output folder and the source exactly as they were.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

BAD = ROOT / "tests" / "bad"
CASES = sorted(p.name for p in BAD.iterdir() if (p / "expected.txt").is_file())

#: The cases the issue lists by name, each with its folder here.
ISSUE_CASES = {
    "YAML that does not parse": "yaml-syntax",
    "a required field missing": "missing-title",
    "a version that is not MAJOR.MINOR.PATCH": "version-not-semver",
    "a date that is not a date": "date-not-a-date",
    "a language that is not a BCP 47 tag": "language-not-bcp47",
    "an unknown key, with did you mean": "unknown-key",
    "a chapter file listed but missing": "chapter-missing",
    "a Markdown file that is not UTF-8": "markdown-not-utf8",
    "a YAML file that is not UTF-8": "yaml-not-utf8",
    "an empty publication": "empty-publication",
    "an empty part": "part-empty",
    "two headings that would get the same id": "duplicate-heading-id",
    "the outline in YAML disagreeing with the headings": "part-title-mismatch",
    "an image that does not exist": "image-missing",
    "a link to a section id that does not exist": "link-unknown-id",
    "an image target ../../etc/passwd": "image-parent-escape",
    "an image target given as an absolute path": "image-absolute",
    "an image that is a symlink pointing outside": "image-symlink-outside",
    "an image given as a file:/// URL": "image-file-url",
    "<script> in the Markdown": "raw-script",
    "<iframe> in the Markdown": "raw-iframe",
    "an on*= attribute": "raw-event-handler",
    "a javascript: URL in raw HTML": "raw-javascript-url",
    "a javascript: URL in a Markdown link": "link-javascript",
    "several problems at once": "several-problems",
    "a character no installed font has a glyph for (issue 13)": "glyph-no-font",
}
# A heading that skips a level and a remote image were refused here; since
# issue 12 the build shows them (one level below the parent heading; as a
# link to the image) with a warning: tests/test_as_written.py.

PROBLEM = re.compile(r"^(?P<file>\S.*?):(?P<line>\d+)(?::(?P<col>\d+))?: error: (?P<message>.*)$")
EXPECTED = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<phrase>.+?)(?: \| (?P<hint>.+))?$")


@dataclass
class Reported:
    file: str
    line: int
    column: int | None
    message: str
    hint: str = ""


def parse_stderr(stderr: str) -> list[Reported]:
    """The problems as the CLI prints them: 'FILE:LINE[:COL]: error: …'
    followed by '  hint: …'."""
    out: list[Reported] = []
    for text in stderr.splitlines():
        m = PROBLEM.match(text)
        if m:
            out.append(Reported(m["file"], int(m["line"]), int(m["col"]) if m["col"] else None, m["message"]))
        elif text.startswith("  hint: ") and out:
            out[-1].hint = text[len("  hint: "):]
    return out


def snapshot(folder: Path) -> dict[str, tuple]:
    """Everything under ``folder``, hidden files included: kind, mode,
    modification time and the SHA-256 of each file (symlinks not followed)."""
    out = {}
    if not folder.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode)
            else:
                out[rel] = ("file", st.st_mode, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def previous_outputs(out: Path, slug: str) -> None:
    """An output folder as an earlier build left it: this publication's
    outputs and another publication's."""
    for name, folder in ((slug, out / slug), ("other", out / "other")):
        folder.mkdir(parents=True)
        for fmt in ("pdf", "epub", "html"):
            (folder / f"{name}.{fmt}").write_bytes(hashlib.sha256(f"{name}.{fmt}".encode()).digest() * 64)
        (folder / "check.json").write_text('{"ok": true}\n')


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_the_catalogue_covers_every_case_of_the_issue():
    missing = {what: case for what, case in ISSUE_CASES.items() if case not in CASES}
    assert not missing
    assert (BAD / "image-symlink-outside" / "figures" / "chart.png").is_symlink()


@pytest.mark.parametrize("case", CASES)
def test_a_bad_publication_gets_one_clear_message_per_problem(case, tmp_path):
    source = BAD / case
    expected = [EXPECTED.match(line) for line in (source / "expected.txt").read_text("utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert expected and all(expected), f"{case}/expected.txt has a line that is not FILE:LINE[:COL]: phrase"
    out = tmp_path / "dist"
    previous_outputs(out, case)
    out_before, source_before = snapshot(out), snapshot(source)

    proc = run_cli("build", f"tests/bad/{case}", "--out", str(out))

    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    reported = parse_stderr(proc.stderr)
    n = len(expected)
    assert f"{n} problem{'s' if n != 1 else ''} in the source" in proc.stderr, proc.stderr
    assert len(reported) == n, proc.stderr
    assert all(r.hint for r in reported), "every problem says what to do:\n" + proc.stderr
    unmatched = list(reported)
    for e in expected:
        want_file = f"tests/bad/{case}/{e['file']}"
        hit = next((r for r in unmatched if r.file == want_file and r.line == int(e["line"])
                    and (e["col"] is None or r.column == int(e["col"]))
                    and e["phrase"] in r.message and (not e["hint"] or e["hint"] in r.hint)), None)
        assert hit, f"expected {e.string!r} in:\n{proc.stderr}"
        unmatched.remove(hit)
    assert snapshot(out) == out_before, "the output folder changed"
    assert snapshot(source) == source_before, "the source changed"


def test_several_problems_are_reported_in_one_pass_in_reading_order():
    proc = run_cli("build", "tests/bad/several-problems", "--out", "/nonexistent/never-created")
    reported = parse_stderr(proc.stderr)
    files = [Path(r.file).name for r in reported]
    assert files == ["publication.yaml"] * 2 + ["part.md"] * 4
    assert [r.line for r in reported if r.file.endswith("part.md")] == [5, 7, 9, 11]
    assert not Path("/nonexistent").exists()


def test_debug_shows_the_traceback():
    proc = run_cli("build", "tests/bad/heading-level-6", "--out", "/nonexistent/x", "--debug")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "SourceError" in proc.stderr


def test_an_internal_error_is_one_line_with_a_hint_and_exit_2(tmp_path, monkeypatch, capsys):
    """A bug (here: a renderer that crashes) is not the user's fault, but it
    still gets one line, not a traceback, and the documented exit status."""
    from pipeline import build as build_module
    from pipeline import formats
    from pipeline.cli import main

    def broken(pub, body, design):
        raise ZeroDivisionError("division by zero in the EPUB renderer")

    monkeypatch.setattr(formats.get("epub"), "render", broken)
    out = tmp_path / "dist"
    previous_outputs(out, "sample-report")
    before = snapshot(out)
    status = main(["build", str(ROOT / "tests/fixtures/sample-report"), "--out", str(out), "--no-check",
                   "--formats", "epub", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err
    assert "internal error: ZeroDivisionError: division by zero in the EPUB renderer" in err
    assert "rerun with --debug" in err
    assert snapshot(out) == before

    with pytest.raises(ZeroDivisionError):
        main(["build", str(ROOT / "tests/fixtures/sample-report"), "--out", str(out), "--no-check",
              "--formats", "epub", "--quiet", "--debug"])
    assert snapshot(out) == before


def test_the_readme_shows_a_real_message():
    """The README's "When a build fails" shows what the CLI really prints."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## When a build fails", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n\$ python -m pipeline (build tests/bad/\S+ -q)\n(.*?)```", section, re.S)
    assert block, "the section lost its example"
    proc = run_cli(*block.group(1).split())
    assert proc.returncode == 2
    assert proc.stderr == block.group(2)
