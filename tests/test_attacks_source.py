"""Issue 17, items 2 and 3 (the source's side): hostile or huge input is
refused by the source check with one `file:line: error:` and a hint, fast,
and never reaches an output or ends as "internal error".

The cases come from ../shared/redteam/ (scripts 01, 03, 04, 11, 12, 14 and
15, each named in its test), with variants. Each builds a copy of the test
fixture with the attack added, through the real command line, and reads
what it printed (and, where something is built, the outputs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import FIXTURE, ROOT

PROBLEM = re.compile(r"^(?P<file>\S.*?):(?P<line>\d+)(?::(?P<col>\d+))?: error: (?P<message>.*)$", re.M)


def publication(tmp_path: Path, findings: str = "", yaml: str = "", name: str = "pub") -> Path:
    """A copy of the fixture with ``findings`` appended to findings.md and
    ``yaml`` to publication.yaml."""
    pub = tmp_path / name
    shutil.copytree(FIXTURE, pub)
    if findings:
        with open(pub / "findings.md", "a", encoding="utf-8") as f:
            f.write(findings)
    if yaml:
        with open(pub / "publication.yaml", "a", encoding="utf-8") as f:
            f.write(yaml)
    return pub


def build(pub: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "build", str(pub), "--out", str(pub.parent / "out"),
                           "-q", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def line_of(pub: Path, file: str, needle: str) -> int:
    """The line of ``file`` in ``pub`` where ``needle`` first occurs."""
    for i, text in enumerate((pub / file).read_text("utf-8").splitlines(), 1):
        if needle in text:
            return i
    raise AssertionError(f"{needle!r} not in {file}")


def refused(proc: subprocess.CompletedProcess, file: str, line: int | None, *phrases: str) -> None:
    """The build stopped with a source error at ``file:line`` whose message
    holds every phrase, with a hint, and nothing else went wrong."""
    assert proc.returncode == 2, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    hits = [m for m in PROBLEM.finditer(proc.stderr)
            if m["file"].endswith("/" + file) and (line is None or int(m["line"]) == line)
            and all(p in m["message"] for p in phrases)]
    assert hits, f"expected {file}:{line}: … {phrases} in:\n{proc.stderr}"
    after = proc.stderr[hits[0].end():].lstrip("\n")
    assert after.startswith("  hint: "), proc.stderr
    assert "nothing was written" in proc.stderr


# ------------------------------------------------ 01: raw blocks for any HTML-family format

@pytest.mark.parametrize("fmt", ["revealjs", "slidy", "s5", "dzslides", "slideous", "HTML5", "Html4",
                                 "epub3", "RevealJS"])
def test_raw_inline_for_an_html_family_format_is_checked(tmp_path, fmt):
    """redteam 01: `{=revealjs}` (and every other format pandoc's HTML
    writer copies, in any case) skipped the check; a javascript: link
    reached all three outputs."""
    pub = publication(tmp_path, f'\na `<a href="javascript:alert(document.cookie)">`{{={fmt}}}click`</a>`{{={fmt}}} b\n')
    proc = build(pub)
    refused(proc, "findings.md", line_of(pub, "findings.md", "javascript:"), "javascript: URL")
    assert not (tmp_path / "out").exists()


def test_raw_block_for_a_slide_format_is_checked(tmp_path):
    """redteam 01, variant 2: a <script> block tagged revealjs, HTML only."""
    pub = publication(tmp_path, "\n```{=revealjs}\n<script>alert(1)</script>\n```\n")
    proc = build(pub, "--formats", "html")
    refused(proc, "findings.md", line_of(pub, "findings.md", "<script>"), "<script>")


def test_raw_content_for_other_formats_never_reaches_the_outputs(tmp_path):
    """Raw LaTeX (or any format outside the HTML family) is dropped: it was
    not checked, and the outputs are made from HTML."""
    pub = publication(tmp_path, "\nText with `<b>raw-latex-inline</b>`{=latex} here.\n\n"
                                "```{=tex}\n<script>alert('raw-tex-block')</script>\n```\n\n"
                                "```{=markdown}\n<script>alert('raw-md-block')</script>\n```\n")
    proc = build(pub, "--formats", "html,epub", "--no-check")
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "out" / "pub" / "pub.html").read_text("utf-8")
    epub = b"".join(zipfile.ZipFile(tmp_path / "out" / "pub" / "pub.epub").read(n)
                    for n in zipfile.ZipFile(tmp_path / "out" / "pub" / "pub.epub").namelist())
    for marker in ("raw-latex-inline", "raw-tex-block", "raw-md-block"):
        assert marker not in html and marker.encode() not in epub
    assert "Text with  here." in html or "Text with here." in html


# ------------------------------------------------ 11: heading levels

def test_a_level_7_heading_is_a_source_error(tmp_path):
    """redteam 11: ####### ended as "internal error: IndexError"."""
    pub = publication(tmp_path, "\n### a\n\nta\n\n#### b\n\ntb\n\n##### c\n\ntc\n\n###### d\n\ntd\n\n####### e\n\nte\n")
    proc = build(pub)
    refused(proc, "findings.md", line_of(pub, "findings.md", "####### e"), "heading level 7")
    refused(proc, "findings.md", line_of(pub, "findings.md", "###### d"), "heading level 6")


def test_a_level_6_heading_is_a_source_error_not_a_failed_check(tmp_path):
    """redteam 11: a level-6 heading is shown one level down, where HTML has
    no element: the check failed (exit 1) instead of a source error."""
    pub = publication(tmp_path, "\n### a\n\nta\n\n#### b\n\ntb\n\n##### c\n\ntc\n\n###### d\n\ntd\n")
    proc = build(pub)
    refused(proc, "findings.md", line_of(pub, "findings.md", "###### d"), "heading level 6", "level 5")


# ------------------------------------------------ 12: raw links, style=

@pytest.mark.parametrize("href", ["../../../../etc/passwd", "smb://127.0.0.1/share", "file:///etc/passwd",
                                  "other.md", "ftp://example.org/x"])
def test_a_raw_link_to_a_file_or_another_scheme_is_refused(tmp_path, href):
    """redteam 12 a: raw <a href> was not refused like a Markdown link."""
    pub = publication(tmp_path, f'\nSee <a href="{href}">this</a>.\n')
    proc = build(pub, "--formats", "html,pdf")
    refused(proc, "findings.md", line_of(pub, "findings.md", "<a href"), "leads to a file or another scheme")


def test_raw_links_to_the_web_mail_and_sections_stay_fine(tmp_path):
    pub = publication(tmp_path, '\nSee <a href="https://example.org/">the web</a>, <a href="mailto:a@example.org">mail</a>'
                                ' and <a href="#sampling">a section</a>.\n')
    proc = build(pub, "--formats", "html", "--no-check")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("css", ["background:src('http://127.0.0.1:8999/s')", "background:u\\72l(http://x/s)",
                                 "background:u\\rl(x.png)", "background:image-set('x.png' 1x)",
                                 "background:-webkit-image-set('x.png' 1x)", "x:1;@import 'x.css'",
                                 "background:ur/**/l(x.png)", "background:URL (x.png)"])
def test_a_style_attribute_that_loads_anything_is_refused(tmp_path, css):
    """redteam 12 c: style="background:src(…)" passed; so would escapes."""
    pub = publication(tmp_path, f'\n[x]{{style="{css}"}}\n')
    proc = build(pub)
    refused(proc, "findings.md", line_of(pub, "findings.md", "[x]{style"), "style= attribute would load")


def test_a_plain_style_attribute_stays_fine():
    from pipeline.source import css_loads

    assert css_loads("color: #333; font-weight: bold; margin: 0 auto") is None
    assert css_loads("content: '\\2014'") is None
    assert css_loads("background: u\\72l(x)") == "url("
