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


# ------------------------------------------------ 03 and 14: YAML that expands or nests without end

def alias_bomb() -> str:
    lines = ["x_bomb:", '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"  a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_within_seconds(tmp_path):
    """redteam 03: the billion laughs grew to 9.5 GB with no message."""
    pub = publication(tmp_path, yaml=alias_bomb())
    start = time.monotonic()
    proc = build(pub, timeout=60)
    assert time.monotonic() - start < 30
    refused(proc, "publication.yaml", line_of(pub, "publication.yaml", "a1: &a1"), "YAML aliases", "'*a0'")


def test_yaml_nested_100000_deep_is_refused(tmp_path):
    """redteam 14: ended as "internal error: RecursionError"."""
    pub = publication(tmp_path, yaml="x_deep: " + "[" * 100000 + "]" * 100000 + "\n")
    refused(build(pub), "publication.yaml", line_of(pub, "publication.yaml", "x_deep"), "nested more than")


@pytest.mark.parametrize("value", ["9" * 5000, ".nan", "-.inf", "1.0e+400"])
def test_a_key_figure_that_is_no_printable_number_is_refused(tmp_path, value):
    """redteam 14: 5000 digits ended as an internal error; .nan was accepted."""
    pub = publication(tmp_path, yaml=f'key_figures:\n  items:\n    - value: {value}\n      unit: "%"\n      label: x\n')
    refused(build(pub), "publication.yaml", line_of(pub, "publication.yaml", "- value:"), "is not one a publication can print")


def test_style_keys_and_values_that_break_the_stylesheet_are_refused(tmp_path):
    """redteam 14: a style key `___` and a value opening a CSS comment."""
    pub = publication(tmp_path, yaml='style:\n  ___: red\n  accent: "red /*"\n')
    proc = build(pub)
    refused(proc, "publication.yaml", line_of(pub, "publication.yaml", "___"), "'___' is not a valid key in 'style'")
    refused(proc, "publication.yaml", line_of(pub, "publication.yaml", "accent:"), "'style.accent' has the value")


# ------------------------------------------------ 04 and 15: Markdown past the limits

def deep_brackets(n: int) -> str:
    return "\n" + "[" * n + "x" + "](#sampling)" * n + "\n"


@pytest.mark.parametrize("name, text, phrase", [
    ("50,000 nested brackets", deep_brackets(50000), "brackets [ ] are nested more than 6 deep"),
    ("a list 5,000 deep", "\n" + "".join("  " * i + "- item\n" for i in range(5000)), "more than the limit of 4 MB"),
    ("a list 300 deep", "\n" + "".join("  " * i + "- item\n" for i in range(300)), "nested 33 deep here, more than the limit of 32"),
    ("5,000 nested quotes", "\n" + ">" * 5000 + " deep\n", "deep here, more than the limit of 32"),
    ("5,000 nested divs", "\n" + "::: a\n" * 5000 + "x\n" + ":::\n" * 5000, "nested 33 deep here"),
    ("nested quotes and lists", "\n" + "".join("> " * i + "- x\n" for i in range(1, 40)), "more than the limit of 32"),
])
def test_markdown_nested_past_the_limits_is_refused_at_once(tmp_path, name, text, phrase):
    """redteam 04: pandoc ran for minutes and GBs; quotes ended in a RecursionError."""
    pub = publication(tmp_path, text)
    start = time.monotonic()
    proc = build(pub, timeout=60)
    assert time.monotonic() - start < 30, name
    refused(proc, "findings.md", None, phrase)
    assert "limits:" in proc.stderr and "publication.yaml" in proc.stderr  # how to raise it
    assert proc.stderr.count("error:") == 1, proc.stderr  # no knock-on errors from the unparsed file


def test_brackets_in_code_do_not_count(tmp_path):
    pub = publication(tmp_path, "\n`[[[[[[[[[[x]]]]]]]]]]` and\n\n```\n[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]\n```\n\n"
                                "~~~\n" + "> " * 40 + "\n~~~\n")
    assert build(pub, "--formats", "html", "--no-check").returncode == 0


def test_a_limit_is_raised_in_publication_yaml(tmp_path):
    """The documented way past a limit: limits: in publication.yaml."""
    text = "\n" + "".join("  " * i + "- item\n" for i in range(40))
    pub = publication(tmp_path, text)
    refused(build(pub), "findings.md", None, "limits.nesting")
    pub2 = publication(tmp_path, text, yaml="limits:\n  nesting: 50\n", name="pub2")
    assert build(pub2, "--formats", "html", "--no-check").returncode == 0


def test_pandoc_past_its_time_limit_ends_in_a_message(tmp_path):
    """redteam 04: with the bracket limit raised, pandoc's own time limit
    (limits.parse_seconds) ends the parse, and the file is named."""
    pub = publication(tmp_path, deep_brackets(50000), yaml="limits:\n  brackets: 100000\n  parse_seconds: 2\n")
    start = time.monotonic()
    proc = build(pub, timeout=120)
    assert time.monotonic() - start < 40
    refused(proc, "findings.md", 1, "the Markdown is too complex to parse (more than 2 s")
    assert "parse_memory_mb" in proc.stderr


def test_pandoc_runs_with_a_memory_cap():
    """The parse's heap is capped (GHC's -M): pandoc stops at the cap."""
    from pipeline import pandoc

    with pytest.raises(pandoc.TooComplex):
        pandoc._run(["--from=markdown", "--to=json"], "word " * 3_000_000, "parsing", seconds=60, memory_mb=100)


def test_10000_headings_are_refused_at_the_first_past_the_limit(tmp_path):
    """redteam 15: 10,000 headings ran 300 s and 4.6 GB."""
    pub = publication(tmp_path, "".join(f"\n## Heading number {i}\n\nText {i}.\n" for i in range(10000)))
    proc = build(pub, timeout=120)
    first = sum(1 for t in (pub / "findings.md").read_text("utf-8").splitlines() if t.startswith("#"))
    assert first > 3000
    refused(proc, "findings.md", None, "more than the limit of 3000 (limits.headings)")


def test_a_markdown_file_past_the_size_limit_is_refused(tmp_path):
    """redteam 15: 50 MB of Markdown ran 300 s and 11.5 GB."""
    pub = publication(tmp_path, "\n" + "A line of text.\n" * 400_000)
    proc = build(pub, timeout=60)
    limit_line = (pub / "findings.md").read_bytes()[:4_000_000].count(b"\n") + 1
    refused(proc, "findings.md", limit_line, "more than the limit of 4 MB", "limits.markdown_mb")
