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

HTML_FAMILY = ["revealjs", "slidy", "s5", "dzslides", "slideous", "HTML5", "Html4", "epub3", "RevealJS"]


def test_raw_inline_for_an_html_family_format_is_checked(tmp_path):
    """redteam 01: `{=revealjs}` (and every other format pandoc's HTML
    writer copies, in any case) skipped the check; a javascript: link
    reached all three outputs. One build: each line is refused."""
    pub = publication(tmp_path, "".join(f'\n{fmt} `<a href="javascript:alert(document.cookie)">`{{={fmt}}}click'
                                        f'`</a>`{{={fmt}}} b\n' for fmt in HTML_FAMILY))
    proc = build(pub)
    for fmt in HTML_FAMILY:
        refused(proc, "findings.md", line_of(pub, "findings.md", f"{{={fmt}}}"), "javascript: URL")
    assert proc.stderr.count("error:") == len(HTML_FAMILY), proc.stderr
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

RAW_HREFS = ["../../../../etc/passwd", "smb://127.0.0.1/share", "file:///etc/passwd", "other.md", "ftp://example.org/x"]


def test_a_raw_link_to_a_file_or_another_scheme_is_refused(tmp_path):
    """redteam 12 a: raw <a href> was not refused like a Markdown link
    (one build, each link on its own line)."""
    pub = publication(tmp_path, "".join(f'\nSee <a href="{href}">this</a>.\n' for href in RAW_HREFS))
    proc = build(pub, "--formats", "html,pdf")
    for href in RAW_HREFS:
        refused(proc, "findings.md", line_of(pub, "findings.md", f'"{href}"'), "leads to a file or another scheme",
                repr(href))
    assert proc.stderr.count("error:") == len(RAW_HREFS), proc.stderr


def test_raw_links_to_the_web_mail_and_sections_stay_fine(tmp_path):
    pub = publication(tmp_path, '\nSee <a href="https://example.org/">the web</a>, <a href="mailto:a@example.org">mail</a>'
                                ' and <a href="#sampling">a section</a>.\n')
    proc = build(pub, "--formats", "html", "--no-check")
    assert proc.returncode == 0, proc.stderr


LOADING_CSS = ["background:src('http://127.0.0.1:8999/s')", "background:u\\72l(http://x/s)", "background:u\\rl(x.png)",
               "background:image-set('x.png' 1x)", "background:-webkit-image-set('x.png' 1x)", "x:1;@import 'x.css'",
               "background:ur/**/l(x.png)", "background:URL (x.png)"]


def test_a_style_attribute_that_loads_anything_is_refused(tmp_path):
    """redteam 12 c: style="background:src(…)" passed; so would escapes
    (one build, each on its own line)."""
    pub = publication(tmp_path, "".join(f'\n[x{i}]{{style="{css}"}}\n' for i, css in enumerate(LOADING_CSS)))
    proc = build(pub)
    for i, css in enumerate(LOADING_CSS):
        refused(proc, "findings.md", line_of(pub, "findings.md", f"[x{i}]{{style"), "style= attribute would load")
    assert proc.stderr.count("error:") == len(LOADING_CSS), proc.stderr


def test_a_plain_style_attribute_stays_fine():
    from pipeline.source import css_loads

    assert css_loads("color: #333; font-weight: bold; margin: 0 auto") is None
    assert css_loads("content: '\\2014'") is None
    assert css_loads("background: u\\72l(x)") == "url("


# ------------------------------------------------ 12 b: SVG figures

def svg(inner: str, prolog: str = "") -> str:
    return (prolog + '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="100" height="50">\n{inner}\n</svg>\n')


def laughs(levels: int = 10) -> str:
    entities = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, levels)]
    return "<?xml version=\"1.0\"?>\n<!DOCTYPE svg [\n" + "\n".join(entities) + "\n]>\n"


#: name -> (the SVG, what the message says): redteam 12's two and variants
SVG_ATTACKS = {
    "script": (svg("<script>alert(1)</script>"), "a <script> element"),
    "script-in-a-namespace": (svg('<s:script xmlns:s="http://www.w3.org/2000/svg">alert(1)</s:script>'), "a <script> element"),
    "onload": (svg('<rect width="10" height="10" onload="alert(1)"/>'), "the event handler onload="),
    "javascript-link": (svg('<a xlink:href="javascript:alert(2)"><rect width="10" height="10"/></a>'), "a javascript: link"),
    "javascript-link-spelt-oddly": (svg('<a href=" JaVa\tScRiPt:alert(2)"><rect width="1" height="1"/></a>'), "a javascript: link"),
    "animated-href": (svg('<a href="#x"><set attributeName="href" to="javascript:alert(1)"/><text>x</text></a>'),
                      "a javascript: link"),
    "data-link": (svg('<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;"><rect width="1" height="1"/></a>'),
                  "a data: URL that is not a PNG"),
    "svg-in-an-image": (svg('<image href="data:image/svg+xml;base64,PHN2Zy8+" width="1" height="1"/>'), "a data: URL"),
    "foreign-object": (svg('<foreignObject width="10" height="10"><p xmlns="http://www.w3.org/1999/xhtml">x</p></foreignObject>'),
                       "a <foreignObject> element"),
    "remote-image": (svg('<image href="https://example.org/x.png" width="1" height="1"/>'), "a reference to 'https://example.org/x.png', outside"),
    "file-outside": (svg('<image xlink:href="../../../../etc/passwd" width="1" height="1"/>'), "a reference to the file '../../../../etc/passwd'"),
    "web-link": (svg('<a href="https://example.org/"><text>web</text></a>'), "a link to 'https://example.org/': a figure is shown as an image"),
    "use-another-file": (svg('<use href="other.svg#part"/>'), "a reference to the file 'other.svg#part'"),
    "url-in-fill": (svg('<rect width="1" height="1" fill="url(https://example.org/p.svg#p)"/>'), "the attribute fill= that would load"),
    "url-in-style": (svg('<rect width="1" height="1" style="fill: u\\72l(x.png)"/>'), "the attribute style= that would load"),
    "import": (svg("<style>@import url(x.css);</style>"), "a <style> that would load a file (@import"),
    "xml-stylesheet": (svg("", '<?xml-stylesheet type="text/css" href="https://example.org/s.css"?>\n'), "an <?xml-stylesheet?>"),
    "billion-laughs": (svg("<text>&l9;</text>", laughs()), "declarations in its DOCTYPE"),
    "external-entity": (svg("<text>&x;</text>", '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'), "declarations in its DOCTYPE"),
    "external-dtd": (svg("", '<!DOCTYPE svg SYSTEM "http://127.0.0.1:9/x.dtd">\n'), "a DOCTYPE naming the file 'http://127.0.0.1:9/x.dtd'"),
    "not-xml": (svg("<g>"), "is not well-formed XML"),
}


def test_svg_figures_that_could_run_or_load_anything_are_refused(tmp_path):
    """redteam 12 b: SVG figures were not inspected; a <script> or onload=
    was published with --formats html,pdf, an <a xlink:href="javascript:">
    with every format. Each is refused at the line that shows it, one build
    for all, never expanding an entity nor fetching a DTD."""
    lines = "".join(f"\n![Figure {name}.](figures/{name}.svg)\n" for name in SVG_ATTACKS)
    lines += '\nThe same in raw HTML: <img src="figures/script.svg" alt="A script."> here.\n'
    pub = publication(tmp_path, lines)
    for name, (text, _) in SVG_ATTACKS.items():
        (pub / "figures" / f"{name}.svg").write_text(text, "utf-8")
    start = time.monotonic()
    proc = build(pub, "--formats", "html,pdf", timeout=60)
    assert time.monotonic() - start < 30  # the laughs are never expanded
    for name, (_, phrase) in SVG_ATTACKS.items():
        refused(proc, "findings.md", line_of(pub, "findings.md", f"figures/{name}.svg"), f"'figures/{name}.svg' ", phrase)
    refused(proc, "findings.md", line_of(pub, "findings.md", "<img src"), "'figures/script.svg' ", "a <script> element")
    assert proc.stderr.count("error:") == len(SVG_ATTACKS) + 1, proc.stderr  # one each, nothing more
    assert "root:" not in proc.stderr  # /etc/passwd was never read
    assert not (tmp_path / "out").exists()


def test_svg_references_to_its_own_parts_and_inline_pixels_stay_fine(tmp_path):
    """What real figures do: gradients and clip paths by url(#id), <use
    href="#id">, a PNG carried inline, the W3C DOCTYPE (never read)."""
    from pipeline import source

    figure = svg('<defs><linearGradient id="g"/><clipPath id="c"><rect width="5" height="5"/></clipPath></defs>'
                 '<rect width="9" height="9" fill="url(#g)" clip-path="url(\'#c\')" style="stroke: url( #g )"/>'
                 '<use xlink:href="#c"/><a href="#c"><text>a part</text></a>'
                 '<image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/>',
                 '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
                 '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n')
    pub = publication(tmp_path, "\n![A figure.](figures/ok.svg)\n")
    (pub / "figures" / "ok.svg").write_text(figure, "utf-8")
    assert "figures/ok.svg" in source.load(pub).assets


REAL_SVGS = sorted((ROOT.parent / "shared" / "realdocs" / "rust-book").rglob("*.svg"))


@pytest.mark.skipif(not REAL_SVGS, reason="no ../shared/realdocs beside this clone")
def test_every_figure_of_the_rust_book_passes_the_source_check(tmp_path):
    """The rust book's 23 SVG figures (Graphviz and Illustrator, each with
    the W3C DOCTYPE), as upstream has them and in the initial and adapted
    copies: shown in one publication, the source check accepts them all."""
    from pipeline import source

    assert len(REAL_SVGS) >= 60
    pub = publication(tmp_path)
    lines = []
    for i, real in enumerate(REAL_SVGS):
        shutil.copyfile(real, pub / "figures" / f"real-{i}.svg")
        lines.append(f"\n![The figure {real.relative_to(ROOT.parent)}.](figures/real-{i}.svg)\n")
    with open(pub / "findings.md", "a", encoding="utf-8") as f:
        f.write("".join(lines))
    loaded = source.load(pub)
    assert sum(1 for name in loaded.assets if name.endswith(".svg")) == len(REAL_SVGS)


# ------------------------------------------------ 14: images and names that ended in "internal error"

def test_an_image_through_a_symlink_loop_is_a_source_error(tmp_path):
    """redteam 14: "internal error: RuntimeError: Symlink loop"."""
    pub = publication(tmp_path, "\n![x](x/a.png)\n")
    (pub / "x").symlink_to("y")
    (pub / "y").symlink_to("x")
    refused(build(pub), "findings.md", line_of(pub, "findings.md", "(x/a.png)"), "'x/a.png'", "loop of symlinks")


def test_a_20000_by_20000_png_is_refused_by_name_and_the_limit_raised(tmp_path):
    """redteam 14: a 48 kB PNG of 400 million pixels ended in a message that
    was the whole image as a data: URI, and an empty reason."""
    from PIL import Image

    from pipeline import source

    pub = publication(tmp_path, "\n![Big.](figures/big.png)\n")
    Image.new("1", (20000, 20000)).save(pub / "figures" / "big.png")
    assert (pub / "figures" / "big.png").stat().st_size < 100_000
    proc = build(pub)
    refused(proc, "findings.md", line_of(pub, "findings.md", "figures/big.png"),
            "'figures/big.png' is 20000 x 20000 pixels (400 megapixels), more than the limit of 50 megapixels "
            "(limits.image_megapixels)")
    assert "limits: {image_megapixels: N}" in proc.stderr and "data:" not in proc.stderr
    raised = publication(tmp_path, "\n![Big.](figures/big.png)\n", yaml="limits:\n  image_megapixels: 400\n", name="raised")
    shutil.copyfile(pub / "figures" / "big.png", raised / "figures" / "big.png")
    assert "figures/big.png" in source.load(raised).assets


def test_a_file_that_is_no_image_is_refused_by_name(tmp_path):
    pub = publication(tmp_path, "\n![Chart.](figures/chart.png)\n")
    (pub / "figures" / "chart.png").write_text("not a PNG\n")
    refused(build(pub), "findings.md", line_of(pub, "findings.md", "figures/chart.png"),
            "'figures/chart.png' cannot be read as an image")


def test_control_characters_in_names_are_printed_escaped_one_line_each(tmp_path):
    """redteam 14: a file name's terminal escapes reached the terminal (the
    screen cleared, "Build ok." printed); a newline made a line of its own."""
    pub = publication(tmp_path, "\n![x](<figures/\x1b[2J\x1b[1;1HBuild ok.png>)\n",
                      yaml='back:\n  - "notes\\nBuild ok.\\u202e.md"\n')
    proc = build(pub)
    assert "\x1b" not in proc.stderr and "\u202e" not in proc.stderr
    refused(proc, "findings.md", line_of(pub, "findings.md", "Build ok.png"),
            "image 'figures/\\x1b[2J\\x1b[1;1HBuild ok.png' does not exist")
    refused(proc, "publication.yaml", line_of(pub, "publication.yaml", '- "notes'),
            "chapter file 'notes\\nBuild ok.\\u202e.md' does not exist")
    assert not any(line.startswith("Build ok") for line in proc.stderr.splitlines())


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


NOT_PRINTABLE = ["9" * 5000, ".nan", "-.inf", "1.0e+400"]


def test_a_key_figure_that_is_no_printable_number_is_refused(tmp_path):
    """redteam 14: 5000 digits ended as an internal error; .nan was
    accepted (one build, each item refused at its line)."""
    items = "".join(f'    - value: {value}\n      unit: "%"\n      label: x\n' for value in NOT_PRINTABLE)
    pub = publication(tmp_path, yaml=f"key_figures:\n  items:\n{items}")
    proc = build(pub)
    for value in NOT_PRINTABLE:
        refused(proc, "publication.yaml", line_of(pub, "publication.yaml", f"- value: {value[:20]}"),
                "is not one a publication can print")
    assert proc.stderr.count("error:") == len(NOT_PRINTABLE), proc.stderr


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
