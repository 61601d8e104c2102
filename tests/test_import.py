"""``pipeline import``: small documents written here, of each kind (one
file, a folder of chapters, an mdBook), imported by the real command; the
tests read the folder it writes and what it prints, and build the imported
publications for real (they must build and check clean)."""

from __future__ import annotations

import filecmp
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

FIGURE = ROOT / "pipeline" / "scaffold" / "figures" / "example.svg"


def run(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH")}
    env["PYTHONPATH"] = str(ROOT)
    env["SOURCE_DATE_EPOCH"] = "1767225600"  # 2026-01-01: the edition date of every import here
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


SINGLE = """\
*[Deutsch](README-de.md) · Read it online*

# A Field Guide

<!-- badges: build -- passing -->
by Ada Lovelace and Grace Hopper

<p align="center">
  <img src="images/fig.svg">
  <br/>
  <i><a href="https://example.org/source">Source: the survey</a></i>
</p>

## Getting started

See [the details](#details-and-more) and [the licence](LICENSE.txt). The
[reference][ref] is defined at the end of the file.

<!--
A comment over several lines
## Not a heading
-->

### Details and more

A paragraph with an inline <img src="images/fig.svg" alt="the example figure"> image.

###### Much too deep

Text under a heading whose level skipped two.

## Going further

Back to [getting started](#getting-started), on to [credits](#credits).

```md
<!-- a comment inside code stays -->
# not a heading either
```

## Credits

Thanks to everyone.

[ref]: #details-and-more
"""


# ------------------------------------------------------------ one file

@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("single")
    doc = write(root / "doc", {"README.md": SINGLE, "images/fig.svg": FIGURE.read_bytes(), "LICENSE.txt": "MIT"})
    r = run("import", doc / "README.md", "--sources", root / "sources", cwd=root)
    return root, r


def test_a_single_file_is_split_at_its_headings(single):
    root, r = single
    assert r.returncode == 0, r.stderr
    folder = root / "sources" / "a-field-guide"  # the slug comes from the title
    assert f"into {Path('sources') / 'a-field-guide'}" in r.stdout or str(folder) in r.stdout
    pub = yaml.safe_load((folder / "publication.yaml").read_text())
    assert pub["title"] == "A Field Guide"
    assert [a["name"] for a in pub["authors"]] == ["Ada Lovelace", "Grace Hopper"]
    assert pub["language"] == "en"
    assert pub["edition"] == {"version": "0.1.0", "date": "2026-01-01"}
    assert [p["title"] for p in pub["outline"]["parts"]] == ["Getting started", "Going further"]
    assert pub["front"] == ["front.md"] and pub["back"] == ["credits.md"]
    part1 = (folder / pub["outline"]["parts"][0]["file"]).read_text()
    # levels moved up one; the skipped level closed up
    assert part1.startswith("# Getting started\n")
    assert "\n## Details and more\n" in part1 and "\n### Much too deep\n" in part1
    # links to sections in other parts keep working; a link to a file out of the publication is text
    assert "[the details](#details-and-more)" in part1
    assert "[the licence]" not in part1 and "the licence." in part1
    # the reference definition at the end of the file came along to the part that uses it
    assert "[ref]: #details-and-more" in part1
    # comments went, code kept its own
    assert "<!--" not in part1 and "Not a heading" not in part1
    part2 = (folder / pub["outline"]["parts"][1]["file"]).read_text()
    assert "<!-- a comment inside code stays -->" in part2 and "# not a heading either" in part2
    assert "[credits](#credits)" in part2
    front = (folder / "front.md").read_text()
    # the title heading is the publication's title (the cover prints it), not a heading of the text
    assert "A Field Guide" not in front and "badges" not in front
    assert "Deutsch" in front and "README-de.md" not in front
    # the <p> figure is a Markdown figure with its caption; the image was copied
    assert "![*[Source: the survey](https://example.org/source)*](images/fig.svg)" in front
    assert "![the example figure](images/fig.svg)" in part1
    assert (folder / "images" / "fig.svg").read_bytes() == FIGURE.read_bytes()
    assert not (folder / "LICENSE.txt").exists()


def test_each_change_is_printed_with_file_and_line(single):
    root, r = single
    out = r.stdout
    src = Path("doc") / "README.md"
    assert f"{src}:3: heading 'A Field Guide' left out: it is the publication's title" in out
    assert f"{src}:5: dropped an HTML comment" in out
    assert f"{src}:19: dropped an HTML comment (lines 19–22)" in out
    assert f"{src}:8: <p> with 1 <img> made a Markdown figure" in out
    assert f"{src}:16: link to 'LICENSE.txt' (not part of the publication) made plain text" in out
    assert f"{src}:28: heading 'Much too deep' made level 3" in out
    assert f"{src}:1: link to 'README-de.md' (not part of the publication) made plain text" in out
    assert "edition date 2026-01-01 from SOURCE_DATE_EPOCH" in out
    for line in out.splitlines():
        assert len(line) < 400


@pytest.fixture(scope="module")
def single_built(single, tmp_path_factory):
    from pipeline.build import build

    root, _ = single
    return build(root / "sources" / "a-field-guide", tmp_path_factory.mktemp("dist-single"))


def test_the_imported_single_file_builds_and_checks_clean(single_built):
    from readback import html_text, pdf_bookmarks

    assert single_built.check.ok
    titles = [t for _, t, _ in pdf_bookmarks(single_built.files["pdf"])]
    assert any("Getting started" in t for t in titles) and any("Much too deep" in t for t in titles)
    assert "Thanks to everyone" in html_text(single_built.files["html"])


# ------------------------------------------------------------ a folder

FOLDER = {
    "README.md": "# Handbook\n\nThe handbook's introduction. Start with [the basics](01-basics.md).\n",
    "01-basics.md": "# Basics\n\nSee [advanced use](02-advanced.md#advanced-tricks) and "
                    "[the notes](notes/todo.txt), or [tricks by their old name](02-advanced.md#tricks).\n\n## Summary\n\nBasics, summed up.\n",
    "02-advanced.md": "# Advanced\n\n> ## A note\n>\n> Quoted.\n\n<a id=\"tricks\"></a>\n\n## Advanced tricks\n\n<img src=\"figures/fig.svg\" alt=\"A figure\" />\n\n"
                      "## Summary\n\nAdvanced, summed up. Back to [the summary of the basics](01-basics.md#summary).\n",
    "10-appendix.md": "Appendix\n========\n\nTen comes after two, not between one and two.\n",
    "figures/fig.svg": FIGURE.read_bytes(),
    "notes/todo.txt": "todo",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    doc = write(root / "handbook-src", FOLDER)
    r = run("import", doc, "--slug", "handbook", "--sources", root / "sources", cwd=root)
    return root, r


def test_a_folder_of_chapters_in_the_order_of_their_names(folder):
    root, r = folder
    assert r.returncode == 0, r.stderr
    pub = yaml.safe_load((root / "sources" / "handbook" / "publication.yaml").read_text())
    assert pub["title"] == "Handbook"
    assert pub["front"] == ["front.md"]
    assert [p["title"] for p in pub["outline"]["parts"]] == ["Basics", "Advanced", "Appendix"]
    assert pub["authors"] == [{"name": "Unknown author"}]
    assert "no author found" in r.stdout


def test_links_between_chapter_files_become_links_to_sections(folder):
    root, r = folder
    f = root / "sources" / "handbook"
    pub = yaml.safe_load((f / "publication.yaml").read_text())
    basics, advanced = (f / p["file"] for p in pub["outline"]["parts"][:2])
    assert "[the basics](#basics)" in (f / "front.md").read_text()
    assert "[advanced use](#advanced-tricks)" in basics.read_text()
    assert "the notes," in basics.read_text()  # a file that is not part of the publication: text
    # an <a id> just before a heading is that heading's old name
    assert "[tricks by their old name](#advanced-tricks)" in basics.read_text()
    assert "tricks\"" not in advanced.read_text() and "{#tricks}" not in advanced.read_text()
    # a heading in a block quote is not part of the outline: bold text
    assert "> **A note**\n" in advanced.read_text()
    # "Summary" twice: the second gets an id of its own, and the link to the first still finds it
    # (the build numbers repeated titles across files now, as pandoc does within one: summary, summary-1)
    assert "## Summary {#summary-1}" in advanced.read_text() or "## Summary\n" in advanced.read_text()
    assert "[the summary of the basics](#summary)" in advanced.read_text()
    assert "![A figure](figures/fig.svg)\\ " in advanced.read_text()  # described, not captioned
    assert (f / "figures" / "fig.svg").is_file() and not (f / "notes").exists()


# ------------------------------------------------------------ an mdBook

BOOK = {
    "book.toml": '[book]\ntitle = "The Little Book"\nauthors = ["Jo Writer"]\nlanguage = "en"\nsrc = "src"\n',
    "src/SUMMARY.md": """\
# Summary

[Foreword](foreword.md)

- [Getting going](ch01.md)
    - [Installing](ch01-01.md)
- [Listings](ch02.md)

---

[Thanks](thanks.md)
""",
    "src/foreword.md": "# Foreword\n\nWhy this book. See [Installing](ch01-01.html#on-linux).\n",
    "src/ch01.md": "# Getting going\n\nFirst steps; see the [Rust\nReference][ref].\n\n[ref]: ../reference/macros.html\n",
    "src/ch01-01.md": "# Installing\n\n## On Linux\n\nRun the installer.\n\n"
                      "<figure>\n\n<img src=\"img/fig.svg\" alt=\"A long description\" />\n\n"
                      "<figcaption>Figure 1-1: The installer</figcaption>\n\n</figure>\n",
    "src/ch02.md": """\
# Listings

<Listing number="2-1" file-name="src/main.rs" caption="The main function">

```rust
{{#rustdoc_include ../listings/ch02/main.rs:here}}
```

</Listing>

Lines two to three:

```rust
{{#include ../listings/ch02/main.rs:2:3}}
```

From a file that is not there:

```text
{{#include ../listings/missing.txt}}
```

From outside the book:

```text
{{#include ../../outside.txt}}
```

> A listing in a quote:
>
> <Listing file-name="src/lib.rs">
>
> ```rust
> pub fn quoted() {}
> ```
>
> </Listing>
""",
    "src/thanks.md": "# Thanks\n\nTo the readers[^all].\n\n[^all]: [Every one](https://example.org/readers)\n",
    "src/img/fig.svg": FIGURE.read_bytes(),
    "listings/ch02/main.rs": "// ANCHOR: here\nfn main() {\n    println!(\"hi\");\n}\n// ANCHOR_END: here\n",
}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    write(root, {"outside.txt": "secret"})
    doc = write(root / "little-book", BOOK)
    r = run("import", doc, "--sources", root / "sources", cwd=root)
    return root, r


def test_an_mdbook_in_its_summarys_order(book):
    root, r = book
    assert r.returncode == 0, r.stderr
    f = root / "sources" / "the-little-book"
    pub = yaml.safe_load((f / "publication.yaml").read_text())
    assert pub["title"] == "The Little Book" and pub["authors"] == [{"name": "Jo Writer"}]
    assert pub["front"] == ["foreword.md"] and pub["back"] == ["thanks.md"]
    assert [p["title"] for p in pub["outline"]["parts"]] == ["Getting going", "Listings"]
    part1 = (f / pub["outline"]["parts"][0]["file"]).read_text()
    # the nested chapter is a section of its part, its headings one level down
    assert "# Getting going" in part1 and "\n## Installing\n" in part1 and "\n### On Linux\n" in part1
    assert "![Figure 1-1: The installer](img/fig.svg)" in part1 and "<figure>" not in part1
    assert "[Installing](#on-linux)" in (f / "foreword.md").read_text()
    # a footnote is no reference link: its call and its text stay as they are
    thanks = (f / "thanks.md").read_text()
    assert "To the readers[^all].\n" in thanks and "[^all]: [Every one](https://example.org/readers)" in thanks
    # a reference link to a page outside the book, its text over a line break: text, with no dangling [ref]
    assert "First steps; see the Rust\nReference.\n" in part1 and "[ref]" not in part1


def test_mdbook_includes_are_resolved_inside_the_book(book):
    root, r = book
    f = root / "sources" / "the-little-book"
    pub = yaml.safe_load((f / "publication.yaml").read_text())
    part2 = (f / pub["outline"]["parts"][1]["file"]).read_text()
    assert "```rust\nfn main() {\n    println!(\"hi\");\n}\n```" in part2  # the anchor's lines, without the markers
    assert "```rust\nfn main() {\n    println!(\"hi\");\n```" in part2  # lines 2 to 3
    assert "Filename: src/main.rs" in part2 and "Listing 2-1: The main function" in part2
    assert "<Listing" not in part2 and "</Listing" not in part2
    assert "> Filename: src/lib.rs\n" in part2  # a listing inside a block quote too
    assert "{{#include ../listings/missing.txt}}" in part2 and "secret" not in part2
    src = Path("little-book") / "src" / "ch02.md"
    assert f"{src}:6: {{{{#rustdoc_include ../listings/ch02/main.rs:here}}}} replaced by the 3 lines it names" in r.stdout
    assert re.search(rf"{re.escape(str(src))}:20: \{{\{{#include ../listings/missing.txt\}}\}} not resolved: .* does not exist",
                     r.stdout)
    assert re.search(rf"{re.escape(str(src))}:26: .* not resolved: the file is outside the book's folder", r.stdout)


@pytest.fixture(scope="module")
def book_built(book, tmp_path_factory):
    from pipeline.build import build

    root, _ = book
    return build(root / "sources" / "the-little-book", tmp_path_factory.mktemp("dist-book"))


def test_the_imported_mdbook_builds_and_checks_clean(book_built):
    from readback import epub_documents, pdf_text

    assert book_built.check.ok
    assert "fn main()" in pdf_text(book_built.files["pdf"]).replace(" ", " ")
    assert any(b"The installer" in content for _, content in epub_documents(book_built.files["epub"]))


# ------------------------------------------------------------ rules

def test_the_same_input_gives_the_same_folder(book, tmp_path):
    root, _ = book
    r = run("import", root / "little-book", "--sources", tmp_path, cwd=root)
    assert r.returncode == 0, r.stderr
    a, b = root / "sources" / "the-little-book", tmp_path / "the-little-book"
    names = sorted(p.relative_to(a) for p in a.rglob("*"))
    assert names == sorted(p.relative_to(b) for p in b.rglob("*"))
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(n) for n in names if (a / n).is_file()], shallow=False)
    assert not mismatch and not errors


def test_an_existing_folder_is_never_overwritten(book):
    root, _ = book
    f = root / "sources" / "the-little-book"
    before = {p: p.read_bytes() for p in f.rglob("*") if p.is_file()}
    r = run("import", root / "little-book", "--sources", root / "sources", cwd=root)
    assert r.returncode == 2
    assert "this folder already exists; nothing was written" in r.stderr and "Traceback" not in r.stderr
    assert {p: p.read_bytes() for p in f.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("files, path, expected", [
    ({}, "nothing-here", r"nothing-here: error: no such file or folder"),
    ({"notes.txt": "x"}, "notes.txt", r"notes.txt: error: this is not a Markdown file"),
    ({"a.md": "Just text, no heading.\n"}, "a.md", r"a.md:1: error: the file has no headings"),
    ({"a.md": "# T\n\n## One\n\n![x](gone.png)\n\n## Two\n\ntext ![y](https://example.org/y.png)\n"}, "a.md",
     r"a.md:5: error: image 'gone.png' does not exist"),
    ({"a.md": b"# T\n\n\xff\xfe\n"}, "a.md", r"a.md:3: error: the file is not UTF-8"),
    ({"book/SUMMARY.md": "# Summary\n\n- [One](one.md)\n"}, "book",
     r"SUMMARY.md:3: error: the chapter file 'one.md' does not exist"),
], ids=["missing", "not-markdown", "no-headings", "missing-image", "not-utf8", "summary-missing-chapter"])
def test_bad_input_exits_2_with_file_and_line(files, path, expected, tmp_path):
    write(tmp_path, files)
    r = run("import", path, "--sources", tmp_path / "sources", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert re.search(expected, r.stderr), r.stderr
    assert "Traceback" not in r.stderr and "nothing was written" in r.stderr
    assert not (tmp_path / "sources").exists() or not any((tmp_path / "sources").iterdir())


def test_an_online_image_becomes_a_link_to_it(tmp_path):
    write(tmp_path, {"a.md": "# T\n\n## One\n\nSee ![the chart](https://example.org/c.png) here.\n"})
    r = run("import", "a.md", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "See [the chart (online image)](https://example.org/c.png) here." in (tmp_path / "out" / "t" / "01-one.md").read_text()
    assert "a.md:5: online image 'https://example.org/c.png' made a link to it" in r.stdout


def test_hundreds_of_changes_are_summarised(tmp_path):
    body = "".join(f"Para {i}.<!-- note {i} -->\n\n" for i in range(300))
    write(tmp_path, {"a.md": f"# T\n\n## One\n\n{body}"})
    r = run("import", "a.md", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) < 30
    assert "… and 295 more changes of this kind (comment); --verbose lists every one" in r.stdout
    r = run("import", "a.md", "--sources", "out2", "--verbose", cwd=tmp_path)
    assert sum("dropped an HTML comment" in line for line in r.stdout.splitlines()) == 300


def test_non_latin_text_gets_its_language(tmp_path):
    write(tmp_path, {"a.md": "# 教程\n\n## 第一章\n\n这是一个中文教程的第一章，讲的是如何开始。\n"})
    r = run("import", "a.md", "--slug", "jiaocheng", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((tmp_path / "out" / "jiaocheng" / "publication.yaml").read_text())["language"] == "zh"


def test_traditional_chinese_text_gets_zh_hant(tmp_path):
    """The Traditional Chinese translation of the-art-of-command-line was
    guessed 'zh', so it was set in the Simplified Chinese fonts (SC) with
    Simplified furniture words (目录 for 目錄)."""
    write(tmp_path, {"a.md": "# 教程\n\n## 第一章\n\n這是一個繁體中文的教程，說明如何開始使用命令列。\n"})
    r = run("import", "a.md", "--slug", "jiaocheng", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((tmp_path / "out" / "jiaocheng" / "publication.yaml").read_text())["language"] == "zh-Hant"
    assert "language 'zh-Hant' guessed" in r.stdout


# ------------------------------------------------------------ the README

def test_the_readmes_example_works_as_written(tmp_path):
    """The README's handbook.md, imported: the command prints what the README
    shows (a '…' stands for what depends on the day), and the folder builds
    and checks clean, as the README says."""
    from pipeline.build import build

    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Bringing an existing document", 1)[1]
    source = re.search(r"```markdown\n(.*?)```", section, re.S).group(1)
    console = re.search(r"```console\n(.*?)```", section, re.S).group(1).splitlines()
    assert console[0] == "$ pipeline import handbook.md"
    write(tmp_path, {"handbook.md": source, "images/map.png": (ROOT / "docs" / "images" / "page-01.png").read_bytes()})
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH", "SOURCE_DATE_EPOCH")}
    env["PYTHONPATH"] = str(ROOT)
    r = subprocess.run([sys.executable, "-m", "pipeline", "import", "handbook.md"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    shown = [line.replace("pipeline ", "python -m pipeline ", 1) if line.startswith("  pipeline ") else line
             for line in console[1:console.index("$ pipeline build sources/the-handbook")]]
    got = r.stdout.splitlines()
    assert len(got) == len(shown), r.stdout
    for want, line in zip(shown, got):
        pattern = ".*".join(re.escape(part) for part in want.split("…"))
        assert re.fullmatch(pattern, line), (want, line)
    built = build(tmp_path / "sources" / "the-handbook", tmp_path / "dist")
    assert built.check.ok


def test_headings_deeper_than_the_outputs_show_are_brought_up(tmp_path):
    from pipeline import source

    text = "# A\n\ntext\n\n## B\n\n### C\n\n#### D\n\n##### E\n\n###### F\n\ndeep\n\n# G\n\nmore\n"
    write(tmp_path, {"a.md": text})
    r = run("import", "a.md", "--slug", "deep", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "##### F\n" in (tmp_path / "out" / "deep" / "01-a.md").read_text()
    assert "a.md:13: heading 'F' made level 5 (was 6)" in r.stdout
    source.load(tmp_path / "out" / "deep")  # the source check accepts it


def test_an_online_badge_inside_a_link_becomes_the_links_text(tmp_path):
    """README badges, [![Join the chat](https://badge.svg)](https://chat): a link
    around the image must not become a link inside a link, which Markdown
    prints as brackets (seen importing jlevy/the-art-of-command-line)."""
    write(tmp_path, {"a.md": "# T\n\n[![Join the chat](https://example.org/b.svg)](https://chat.example.org/)\n\n"
                             "## One\n\nText.\n"})
    r = run("import", "a.md", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    front = (tmp_path / "out" / "t" / "front.md").read_text()
    assert "[Join the chat](https://chat.example.org/)" in front and "b.svg" not in front
    assert "a.md:3: online image 'https://example.org/b.svg' inside a link" in r.stdout
    b = run("build", str(tmp_path / "out" / "t"), "--out", str(tmp_path / "dist"), "--formats", "html", cwd=tmp_path)
    assert b.returncode == 0, b.stderr
    page = (tmp_path / "dist" / "t" / "t.html").read_text()
    assert 'href="https://chat.example.org/"' in page and "[Join the chat" not in page


@pytest.mark.parametrize("title", ["ライセンス", "Лицензия", "Άδεια χρήσης", "授權條款", "Lizenz", "Thank You!"])
def test_back_matter_is_recognised_in_the_documents_language(title, tmp_path):
    """The translations of jlevy/the-art-of-command-line end with their
    licence under a translated heading: English 'License' became back matter,
    Japanese 'ライセンス' a numbered part 12. Also: a long URL in a message is
    cut with '…', not in the middle of its last word ('88x31.pn')."""
    url = "https://i.creativecommons.org/l/by-sa/4.0/88x31.png?long=query"
    write(tmp_path, {"a.md": f"# T\n\n## One\n\nText.\n\n## {title}\n\n[![CC]({url})](https://cc.example.org/)\n"})
    r = run("import", "a.md", "--slug", "t", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = yaml.safe_load((tmp_path / "out" / "t" / "publication.yaml").read_text("utf-8"))
    assert [p["title"] for p in meta["outline"]["parts"]] == ["One"]
    assert len(meta["back"]) == 1
    assert f"online image '{url[:49]}…' inside a link" in r.stdout


def test_a_space_after_a_web_addresss_host_is_removed(tmp_path):
    """README-zh-Hant.md of the-art-of-command-line links to
    'http://en.wikipedia.org /wiki/Perf_(Linux)': pandoc made it a link to the
    host 'en.wikipedia.org%20', which EPUBCheck and vnu refuse."""
    write(tmp_path, {"a.md": "# T\n\n## One\n\nSee [`perf`](http://en.wikipedia.org /wiki/Perf_(Linux)) and "
                             "[a file](http://example.org/a%20b.html).\n"})
    r = run("import", "a.md", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    part = (tmp_path / "out" / "t" / "01-one.md").read_text()
    assert "[`perf`](http://en.wikipedia.org/wiki/Perf_(Linux))" in part
    assert "(http://example.org/a%20b.html)" in part
    assert "a.md:5: space after the host in the web address 'http://en.wikipedia.org /' removed" in r.stdout


def test_chapter_files_that_repeat_the_books_title_are_named_by_their_own_heading(tmp_path):
    """getify/You-Dont-Know-JS: every chapter file starts '# You Don't Know
    JS Yet: Get Started' and then '# Chapter 1: …'; every part was titled
    with the book's title. Its hand-written toc.md became a part too."""
    from pipeline import source

    write(tmp_path / "book", {
        "README.md": "# The Book\n\n* [Contents](toc.md)\n* [Chapter 1](ch1.md)\n",
        "toc.md": "# The Book\n\n## Table of Contents\n\n* [Chapter 1](ch1.md)\n* [Chapter 2](ch2.md)\n",
        "ch1.md": "# The Book\n# Chapter 1: Start\n\nText one.\n\n## A section\n\nMore.\n",
        "ch2.md": "# The Book\n# Chapter 2: Go on\n\nText two.\n",
    })
    r = run("import", "book", "--slug", "book", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "out" / "book"
    meta = yaml.safe_load((folder / "publication.yaml").read_text())
    assert meta["title"] == "The Book"
    assert [p["title"] for p in meta["outline"]["parts"]] == ["Chapter 1: Start", "Chapter 2: Go on"]
    assert (folder / "01-chapter-1-start.md").read_text().startswith("# Chapter 1: Start\n")
    assert "Table of Contents" not in "".join(f.read_text() for f in folder.glob("*.md"))
    assert "book/ch1.md:1: heading 'The Book' left out: it is the publication's title" in r.stdout
    assert "book/toc.md:3: toc.md left out: a table of contents" in r.stdout
    source.load(folder)  # the source check accepts it


def test_a_link_with_no_address_becomes_its_text(tmp_path):
    """getify/You-Dont-Know-JS objects-classes/foreword.md ends '… to double
    down for [You Don't Know JS Yet: Objects & Classes]().': the build then
    warned of '1 link to files outside the publication shown as text ()'."""
    write(tmp_path, {"a.md": "# T\n\n## One\n\nI am here for [The Book]().\n"})
    r = run("import", "a.md", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "I am here for The Book.\n" in (tmp_path / "out" / "t" / "01-one.md").read_text()
    assert "a.md:5: link 'The Book' with no address, [text](), made plain text" in r.stdout


def test_a_folder_takes_the_order_its_readme_lists_the_chapters_in(tmp_path):
    """Chapter files whose names carry no numbers (intro, install, usage,
    faq) came in the order of their names: FAQ first. The README's list of
    them gives the order; a file it does not list comes after."""
    write(tmp_path / "docs", {
        "README.md": "# The Tool\n\n1. [Installing](install.md)\n2. [Using it](usage.md#start)\n3. [FAQ](faq.md)\n",
        "faq.md": "# FAQ\n\nAsked often.\n",
        "install.md": "# Installing\n\nRun the installer.\n",
        "usage.md": "# Using it\n\nRun it.\n",
        "zeta.md": "# Zeta\n\nNot listed.\n",
    })
    r = run("import", "docs", "--slug", "tool", "--sources", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = yaml.safe_load((tmp_path / "out" / "tool" / "publication.yaml").read_text())
    assert [p["title"] for p in meta["outline"]["parts"]] == ["Installing", "Using it", "FAQ", "Zeta"]
