"""Issue 12: every Markdown construct real documents use either publishes
clean in all three formats or is refused by the source check, with
file:line and a hint.

tests/fixtures/constructs/ holds a copy of the snippets of
``../shared/realdocs/constructs/`` (one construct each). The supported ones
are the parts of one publication, built and checked once (the validators
included); the tests read its outputs back to see each construct as a
reader does. The refused ones are each a part of a publication that only
the source check reads, and the tests name the exact message.

A snippet is a section (``## …``); a part begins with its title, so each
one is published under a level-1 heading "The <name> snippet", which moves
its lines down by ``OFFSET``."""

from __future__ import annotations

import filecmp
import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree, html as lxml_html

from conftest import ROOT

SNIPPETS = ROOT / "tests" / "fixtures" / "constructs"
SHARED = ROOT.parent / "shared" / "realdocs" / "constructs"
OFFSET = 2  # the part's title and a blank line above the snippet

#: The constructs that publish; each is read back by a test below.
SUPPORTED = ["alert", "autolink", "deflist", "details", "emoji", "fdiv", "imgattr", "lineblock", "longcode",
             "math", "notehead", "notetable", "rawtex", "tasks"]

#: The constructs the source check refuses: (line in the snippet, column, message, hint).
REFUSED = {
    "cite": (3, 17, "the citation '[@doe99, p. 33]' needs a bibliography, which a publication does not have",
             "write the reference out, e.g. (Doe 1999, p. 33), and list the works in a chapter of their own"),
    "setext": (1, None, "the heading '## Setext' is underlined, so pandoc takes its #s for text and prints them",
               "remove the line of - or = under it (the #s make the heading); for a rule below the heading, leave "
               "a blank line before the ---"),
}


#: More of each construct, as real documents vary them: one more part of
#: the publication, after the snippets.
MORE = """# More of each

## Every kind of alert

> [!IMPORTANT]
> - [ ] a task right under the label, as GitHub reads it
> - [x] done

```markdown
> [!NOTE]
> In a code block, as written.
```

> [!TIP]
> A tip with **bold** text.
>
> A second paragraph.

> [!CAUTION]
> Careful.

::: {#boxed .note}
A note box with a list:

- one
- two
:::

::: sidebar
A box with a name of its own.
:::

## The $x^2$ term

Maths in a note.[^m] And in a table:

| Formula | Meaning |
|---------|---------|
| $a^2 + b^2 = c^2$ | Pythagoras |

: Formulas.

[^m]: The note has $\\alpha + \\beta$ in it.

## Nested tasks

- [ ] top
    - [x] inner done
    - [ ] inner open

1. [x] numbered task

## A definition of two paragraphs

Apple
:   A fruit.

    With a second paragraph.

## Nested details

<details>
<summary>Outer</summary>

- a list inside

<details>
<summary>Inner</summary>

Inner text.

</details>

</details>

## Indented lines

| First line
|     indented line

## A heading with an emoji 🎉

Party 🎉 time, and ✅ done.

## Sizes

![A third.](figures/example.svg){width=30%}

Inline ![icon](figures/example.svg){height=1em} image.

Mail <ada@example.org>.

Underlined
----------

Text.
"""


def _publication(folder: Path, names, more: bool = False) -> Path:
    """A publication of the snippets ``names``, one part each (and
    ``MORE``, when asked)."""
    folder.mkdir()
    (folder / "figures").mkdir()
    for svg in (SNIPPETS / "figures").iterdir():
        (folder / "figures" / svg.name).write_bytes(svg.read_bytes())
    parts = []
    for name in names:
        title = f"The {name} snippet"
        text = (SNIPPETS / f"{name}.md").read_text("utf-8")
        (folder / f"{name}.md").write_text(f"# {title}\n\n{text}", "utf-8")
        parts.append(f"    - title: {title}\n      file: {name}.md\n")
    if more:
        (folder / "more.md").write_text(MORE, "utf-8")
        parts.append("    - title: More of each\n      file: more.md\n")
    (folder / "publication.yaml").write_text(
        "title: Markdown constructs\nauthors:\n  - name: Ada Example\nlanguage: en\n"
        "edition:\n  version: 1.0.0\n  date: 2026-12-01\noutline:\n  parts:\n" + "".join(parts), "utf-8")
    return folder


def test_every_snippet_is_supported_or_refused():
    names = sorted(p.stem for p in SNIPPETS.glob("*.md") if p.name != "README.md")
    assert sorted(SUPPORTED + list(REFUSED)) == names
    assert not set(SUPPORTED) & set(REFUSED)


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/realdocs/constructs beside this clone")
def test_the_copy_is_the_shared_snippets():
    shared = sorted(p.name for p in SHARED.glob("*.md"))
    assert shared == sorted(p.name for p in SNIPPETS.glob("*.md") if p.name != "README.md")
    match, mismatch, errors = filecmp.cmpfiles(SHARED, SNIPPETS, shared, shallow=False)
    assert (mismatch, errors) == ([], [])


# ----------------------------------------------------------------- refused


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """The source check's problems with the refused snippets, by file name."""
    from pipeline import source
    from pipeline.errors import SourceError

    folder = _publication(tmp_path_factory.mktemp("refused") / "refused", sorted(REFUSED))
    with pytest.raises(SourceError) as caught:
        source.load(folder)
    found: dict[str, list] = {}
    for problem in caught.value.problems:
        found.setdefault(problem.file.name, []).append(problem)
    return found


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_refused_construct_is_one_message_with_file_line_and_hint(refusals, name):
    line, column, message, hint = REFUSED[name]
    problems = refusals.get(f"{name}.md", [])
    assert len(problems) == 1, [str(p) for p in problems]
    p = problems[0]
    assert (p.line, p.column, p.message, p.hint) == (line + OFFSET, column, message, hint)
    where = f"{name}.md:{line + OFFSET}" + (f":{column}" if column else "")
    assert str(p).endswith(f"{where}: error: {message}\n  hint: {hint}")


def test_setext_headings_as_written_alone_are_supported(tmp_path):
    """Only a heading written both ways is refused: an underlined title
    (either level), or ``## Title`` with a rule after a blank line, is read."""
    from pipeline import source

    folder = _publication(tmp_path / "pub", ["tasks"])
    (folder / "tasks.md").write_text("The tasks snippet\n=================\n\nText.\n\nUnderlined\n----------\n\n"
                                     "Text.\n\n## Ruled\n\n-------\n\nText.\n", "utf-8")
    pub = source.load(folder)
    assert [e.title for e in pub.outline] == ["The tasks snippet", "Underlined", "Ruled"]


# ----------------------------------------------------------------- supported


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The supported snippets, one part each, built and checked in all three
    formats with the validators (a failed check raises CheckFailed)."""
    from pipeline.build import build

    folder = _publication(tmp_path_factory.mktemp("supported") / "constructs", SUPPORTED, more=True)
    return build(folder, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def html(built):
    return lxml_html.fromstring(built.files["html"].read_bytes())


@pytest.fixture(scope="module")
def epub(built):
    """name -> the EPUB's chapter document of that snippet, parsed."""
    out = {}
    with zipfile.ZipFile(built.files["epub"]) as z:
        for name in z.namelist():
            if name.endswith(".xhtml"):
                doc = etree.fromstring(z.read(name))
                text = " ".join("".join(doc.itertext()).split())
                for snippet in SUPPORTED:
                    if f"The {snippet} snippet" in text and name.startswith("EPUB/text/"):
                        out[snippet] = doc
    return out


@pytest.fixture(scope="module")
def pdf_pages(built):
    """name -> the text of the PDF page that starts the snippet's part."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(built.files["pdf"])
    try:
        texts = [doc[i].get_textpage().get_text_range().replace("\r", "") for i in range(len(doc))]
        outline = [(b.get_title(), b.get_dest().get_index()) for b in doc.get_toc()]
    finally:
        doc.close()
    pages = {}
    for title, index in outline:
        m = re.fullmatch(r"\d+ The (\w+) snippet", title)
        if m:
            pages[m.group(1)] = texts[index]
    pages["_outline"] = [t for t, _ in outline]
    pages["_all"] = texts
    return pages


def _section(page, ident):
    found = page.xpath(f"//main//*[@id='{ident}']")
    assert len(found) == 1
    return found[0]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_supported_constructs_build_and_check_clean(built):
    assert built.check.ok and built.check.findings() == []
    import json

    report = json.loads((built.out_dir / "check.json").read_text("utf-8"))
    tools = {fmt: report["formats"][fmt]["conformance"]["tool"] for fmt in ("epub", "html")}
    assert tools["epub"].startswith("EPUBCheck") and tools["html"].startswith("Nu Html Checker")
    assert all(report["formats"][fmt]["conformance"]["ok"] for fmt in ("pdf", "epub", "html"))


def _xhtml(doc, path):
    return doc.xpath(path, namespaces={"h": "http://www.w3.org/1999/xhtml", "m": "http://www.w3.org/1998/Math/MathML"})


def test_alert_is_a_labelled_quote(html, epub, pdf_pages):
    quote = _section(html, "alerts").xpath(".//div[contains(@class, 'alert-note')]/blockquote")[0]
    assert [_words(p.text_content()) for p in quote.xpath("p")] == ["Note", "Useful information that users should know."]
    assert _xhtml(epub["alert"], "//h:div[contains(@class, 'alert-note')]/h:blockquote/h:p/h:strong[.='Note']")
    assert "Note\nUseful information that users should know." in pdf_pages["alert"]


def test_fenced_div_named_like_an_alert_is_the_same_labelled_quote(html, epub, pdf_pages):
    quote = _section(html, "fdiv").xpath(".//div[contains(@class, 'alert-warning')]/blockquote")[0]
    assert [_words(p.text_content()) for p in quote.xpath("p")] == ["Warning", "This is a warning box."]
    assert _xhtml(epub["fdiv"], "//h:div[contains(@class, 'alert-warning')]/h:blockquote")
    assert "Warning\nThis is a warning box." in pdf_pages["fdiv"]


def test_autolink_in_angle_brackets_is_a_link_bare_addresses_are_text(html, pdf_pages):
    para = _section(html, "autolink").xpath("p")[0]
    assert para.xpath("a/@href") == ["https://example.org"]
    assert _words(para.text_content()) == "See https://example.org and www.example.com and bare https://example.net."
    assert "www.example.com" in pdf_pages["autolink"]


def test_definition_list(html, epub, pdf_pages):
    dl = _section(html, "deflist").xpath("dl")[0]
    assert [_words(e.text_content()) for e in dl] == ["Term one", "Definition one.", "Term two",
                                                       "Definition two, with code."]
    assert len(_xhtml(epub["deflist"], "//h:dl/h:dd")) == 2
    assert "Term two\nDefinition two, with code." in pdf_pages["deflist"]


def test_details_are_shown_open(html, epub, pdf_pages):
    details = _section(html, "details").xpath("details")[0]
    assert details.get("open") is not None
    assert _words(details.xpath("summary")[0].text_content()) == "Click to expand"
    assert _xhtml(epub["details"], "//h:details[@open]/h:summary")
    assert "Click to expand" in pdf_pages["details"] and "Hidden text here." in pdf_pages["details"]


def test_emoji_print_and_shortcodes_are_read_as_github_reads_them(html, epub, pdf_pages):
    para = _section(html, "emoji").xpath("p")[0]
    assert _words(para.text_content()) == "Great work 👍 😄"
    assert para.xpath("span[@class='emoji']/@data-emoji") == ["smile"]
    assert _xhtml(epub["emoji"], "//h:span[@class='emoji'][.='😄']")
    assert "Great work 👍 😄" in pdf_pages["emoji"]


def test_image_attributes_size_the_image(html, epub):
    img = _section(html, "imgattr").xpath(".//figure/img")[0]
    assert img.get("alt") == "A half-width figure." and "width:50" in img.get("style").replace(" ", "")
    assert "width:50" in _xhtml(epub["imgattr"], "//h:figure/h:img/@style")[0].replace(" ", "")


def test_line_block_keeps_its_lines(html, pdf_pages):
    block = _section(html, "lineblock").xpath("div[@class='line-block']")[0]
    assert len(block.xpath("br")) == 1
    assert "The limerick packs laughs anatomical\nIn space that is quite economical." in pdf_pages["lineblock"]


def test_a_long_code_line_wraps_in_the_pdf_and_scrolls_on_the_page(html, pdf_pages):
    code = _section(html, "longcode").xpath(".//div[@class='scroll']/pre/code")[0]
    assert code.text.startswith("this_is_a_very_long_line_of_code")
    lines = [ln.strip() for ln in pdf_pages["longcode"].splitlines()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("this_is_a_very_long_line"))
    assert _words(" ".join(lines[start:start + 2])) == ("this_is_a_very_long_line_of_code = call_something(argument_one, "
                                                        "argument_two, argument_three, argument_four)")


def test_maths_is_mathml_on_the_page_and_drawn_in_the_pdf(html, epub, pdf_pages):
    maths = _section(html, "math-sec").xpath(".//*[local-name()='math']")
    assert [m.get("display") for m in maths] == ["inline", "block"]
    assert len(_xhtml(epub["math"], "//m:math")) == 2
    assert "Einstein wrote" in pdf_pages["math"] and "$" not in pdf_pages["math"] and "mc^2" not in pdf_pages["math"]


def test_a_note_in_a_heading_stays_out_of_the_contents(html, pdf_pages):
    heading = _section(html, "hnote").xpath("h3")[0]
    assert heading.xpath("a[@role='doc-noteref']")
    assert "11.1 Heading with a note" in [_words(a.text_content()) for a in html.xpath("//nav//a")]
    assert "11.1 Heading with a note" in pdf_pages["_outline"]
    assert "1. A note in a heading." in pdf_pages["notehead"]


def test_a_note_in_a_table_is_printed_with_the_table(html, pdf_pages):
    cell = _section(html, "notetable").xpath(".//td")[0]
    assert cell.xpath("a[@role='doc-noteref']")
    assert "The note in a table." in pdf_pages["notetable"]


def test_task_lists_are_ballot_boxes(html, pdf_pages):
    boxes = _section(html, "tasks").xpath(".//ul[@class='task-list']//input[@type='checkbox']")
    assert [b.get("checked") is not None for b in boxes] == [False, True]
    assert "☐ write the draft\n☑ collect data" in pdf_pages["tasks"]


def test_the_readme_table_names_every_construct_and_quotes_the_refusals():
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme.split("<!-- constructs table:", 1)[1].split("\n\n### ", 1)[0]
    rows = [ln for ln in table.splitlines() if ln.startswith("| ")]
    named = {m for ln in rows for m in re.findall(r"\(`(\w+)`\)", ln.split("|")[1])}
    assert named == set(SUPPORTED) | set(REFUSED)
    for name, (_, _, message, _) in REFUSED.items():
        row = next(ln for ln in rows if f"(`{name}`)" in ln.split("|")[1])
        assert f"`{message}`" in row, name


def test_more_of_each_construct(html, pdf_pages):
    """The variants of MORE: each kind of alert, a named box with an id,
    a box of another name, a formula in a heading (the contents, the
    bookmarks and the running head give its TeX), nested tasks."""
    labels = [_words(q.xpath("string(blockquote/p[1])")) for q in html.xpath("//main//div[contains(@class, 'alert ')]")]
    assert labels[-4:] == ["Important", "Tip", "Caution", "Note"]
    important = html.xpath("//main//div[contains(@class, 'alert-important')]/blockquote")[0]
    assert [len(ul.xpath("li//input[@type='checkbox']")) for ul in important.xpath("ul")] == [2]
    assert "> [!NOTE]\n> In a code block, as written." in html.xpath("string(//main//pre[contains(., 'In a code')])")
    assert "alert-note" in _section(html, "boxed").get("class")
    assert html.xpath("//main//div[@class='sidebar']/p/text()") == ["A box with a name of its own."]
    heading = html.xpath("//main//h3[contains(., 'term')]")[0]
    assert heading.xpath(".//*[local-name()='math']")
    assert f"{len(SUPPORTED) + 1}.2 The x^2 term" in [_words(a.text_content()) for a in html.xpath("//nav//a")]
    assert f"{len(SUPPORTED) + 1}.2 The x^2 term" in pdf_pages["_outline"]
    assert [b.get("checked") is not None for b in html.xpath("//main//li//input[@type='checkbox']")][-4:] == \
        [False, True, False, True]


def test_newpage_breaks_the_pdf_page_and_nothing_else(html, pdf_pages):
    """\\newpage alone in its paragraph; any other raw TeX is refused
    (tests/bad/cite-and-tex)."""
    section = _section(html, "rawtex")
    assert section.xpath("div[@class='page-break']") and "newpage" not in section.text_content()
    texts = pdf_pages["_all"]
    before = next(i for i, t in enumerate(texts) if "Before the break." in t)
    assert "After the break." not in texts[before] and "After the break." in texts[before + 1]
    assert "newpage" not in "".join(texts)


def test_an_emoji_written_only_as_a_shortcode_gets_the_emoji_font(tmp_path):
    """:+1: in a table is 👍 in every output: the fonts are chosen for the
    characters printed, not only those the Markdown spells (the system
    design primer's table of ticks)."""
    from pipeline import source

    folder = _publication(tmp_path / "pub", ["tasks"])
    (folder / "tasks.md").write_text("# The tasks snippet\n\n| Step | Done |\n|---|---|\n| Read | :+1: |\n", "utf-8")
    pub = source.load(folder)
    assert "Noto Emoji" in pub.fonts.css_family("text")


def test_the_page_of_constructs_has_no_axe_violation_and_fits_a_phone(built):
    """Alerts, boxes, open details, check boxes, maths, emoji and notes:
    axe-core finds nothing, and on a phone nothing is wider than the screen."""
    import shutil

    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--no-sandbox"])
        try:
            for width, scheme in ((360, "light"), (1280, "dark")):
                page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
                page.goto(built.files["html"].as_uri())
                report = Axe().run(page)
                assert [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in report.response["violations"]] == []
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.close()
        finally:
            browser.close()


@pytest.mark.parametrize("language, labels", [("zh-Hans", ["警告", "提示"]), ("ja", ["警告", "ヒント"]),
                                              ("ko", ["경고", "팁"]), ("de", ["Warnung", "Tipp"]),
                                              ("nl", ["Warning", "Tip"])])
def test_an_alert_is_labelled_in_the_publication_language(tmp_path, language, labels):
    """The label comes from templates/words.yaml (English where a language
    has no entry); the check holds the outputs to the labelled source."""
    from pipeline import pandoc, source

    folder = _publication(tmp_path / "pub", ["tasks"])
    yaml_file = folder / "publication.yaml"
    yaml_file.write_text(yaml_file.read_text("utf-8").replace("language: en", f"language: {language}"), "utf-8")
    (folder / "tasks.md").write_text("# The tasks snippet\n\n> [!WARNING]\n> Text.\n\n::: tip\nText.\n:::\n", "utf-8")
    found = []
    pandoc.walk(source.load(folder).chapters[0].blocks,
                lambda el: found.append(pandoc.stringify(el["c"])) if el["t"] == "Strong" else None)
    assert found == labels


def test_a_definition_of_two_paragraphs_keeps_them_apart(html, pdf_pages):
    dd = html.xpath("//main//dt[.='Apple']/following-sibling::dd[1]")[0]
    assert [_words(p.text_content()) for p in dd.xpath("p")] == ["A fruit.", "With a second paragraph."]
