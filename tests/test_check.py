"""The check reads every output back and holds it against the source.

It passes on the real builds, and it catches real damage: each test below
tampers with a copy of a real output (or builds one with a design that
prints something wrong) and expects a finding that names the format and
the entry."""

from __future__ import annotations

import io
import os
import json
import re
import shutil
import zipfile
from pathlib import Path

import pikepdf
import pytest

from conftest import FIXTURE, FLAGSHIP
from pipeline import source
from pipeline.check import check_outputs
from pipeline.cli import main
from pipeline.errors import CheckFailed, shown_path
from pipeline.render.common import DEFAULT_TEMPLATES, Design


def copy_outputs(result, tmp_path: Path) -> Path:
    """The three outputs of a session build, copied to be tampered with."""
    folder = tmp_path / result.publication.slug
    folder.mkdir()
    for path in result.files.values():
        shutil.copy2(path, folder / path.name)
    return folder


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    path.write_text(text.replace(old, new), "utf-8")


def rezip(epub: Path, name: str, edit) -> None:
    """Rewrite one member of an EPUB the way an EPUB must be zipped:
    mimetype first and stored, the rest deflated, order kept."""
    with zipfile.ZipFile(epub) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info, data in members:
            if info.filename == name:
                data = edit(data.decode("utf-8")).encode("utf-8")
            method = zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED
            out.writestr(info, data, compress_type=method)
    assert members[0][0].filename == "mimetype"
    epub.write_bytes(buf.getvalue())


def check(pub_dir: Path, folder: Path, *formats: str):
    return check_outputs(source.load(pub_dir), folder, formats=formats)


def design_with(tmp_path: Path, sheet: str, css: str) -> Design:
    """A copy of the project's templates with ``css`` added to one sheet."""
    root = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES, root)
    with (root / "css" / sheet).open("a", encoding="utf-8") as f:
        f.write("\n" + css + "\n")
    return Design(root=root)


# ------------------------------------------------------------------ passing

@pytest.mark.parametrize("which", ["flagship_build", "fixture_build"])
def test_the_real_outputs_pass_and_the_readers_find_the_source_outline(which, request):
    result = request.getfixturevalue(which)
    report = result.check
    assert report is not None and report.ok, report.findings()
    assert report.findings() == []
    outline = [(e.level, e.number, e.title) for e in result.publication.outline]
    for fmt in ("pdf", "epub", "html"):
        found = [(e.level, e.number, e.title) for e in report.formats[fmt].extracted.outline]
        assert [(lv, n, " ".join(t.split())) for lv, n, t in found] == outline, fmt
    # every contents line of the PDF carries the folio of the page that prints its heading
    pdf = report.formats["pdf"].extracted
    assert pdf.contents and all(line.printed_page for line in pdf.contents)
    assert {p.folio for p in pdf.pages} >= {line.printed_page for line in pdf.contents}


def test_check_json_is_written_and_well_formed(flagship_build):
    data = json.loads((flagship_build.out_dir / "check.json").read_text("utf-8"))
    pub = flagship_build.publication
    assert data["publication"] == pub.slug and data["ok"] is True and data["findings"] == []
    assert set(data["formats"]) == {"pdf", "epub", "html"}
    for fmt, r in data["formats"].items():
        assert r["file"] == f"{pub.slug}.{fmt}" and r["ok"] is True and r["differences"] == []
        assert [(e["level"], e["number"], e["title"]) for e in r["outline"]] == \
               [(e.level, e.number, e.title) for e in pub.outline]
        assert r["conformance"]["ok"] is True and r["conformance"]["findings"] == []
        assert r["timings"]["read"] >= 0 and r["timings"]["conformance"] > 0
    assert data["formats"]["epub"]["conformance"]["tool"].startswith("EPUBCheck 5")
    assert data["formats"]["epub"]["conformance"]["counts"] == {"fatal": 0, "error": 0, "warning": 0, "usage": 0}
    assert data["formats"]["html"]["conformance"]["tool"].startswith("Nu Html Checker")
    assert data["formats"]["html"]["conformance"]["counts"]["error"] == 0
    assert data["formats"]["pdf"]["conformance"]["counts"]["fonts"] > 0
    assert [c["page"] for c in data["formats"]["pdf"]["contents"]] == ["iii", "1", "3", "3", "5", "7", "7", "8"]  # the preface precedes the contents
    assert data["timings"] and all(isinstance(v, (int, float)) and v >= 0 for v in data["timings"].values())


def at(name: str, line: int, folder: Path = FIXTURE) -> str:
    """How a finding about a heading or its section starts: the file and
    line of the heading in the source, as a problem of the source names it."""
    return f"{shown_path(folder / name)}:{line}: "


# ------------------------------------------------------------------ outline

def test_a_heading_removed_from_the_html(fixture_build, tmp_path):
    folder = copy_outputs(fixture_build, tmp_path)
    edit_text(folder / "sample-report.html", '<h3><span class="number">1.1</span> Sampling</h3>\n', "")
    report = check(FIXTURE, folder, "html")
    assert not report.ok
    assert f'html: {at("method.md", 8)}heading "Sampling" (section 1.1) is missing; expected after "How the survey ' \
           f'was made"' in report.findings()
    # the contents still links to the section, which now opens with another heading
    assert 'html: contents entry "1.1 Sampling" leads to the heading "1.1.1 Cluster selection"' in report.findings()


def test_a_nav_entry_removed_from_the_epub(fixture_build, tmp_path):
    folder = copy_outputs(fixture_build, tmp_path)
    entry = '  <li><a href="text/02-part-1.xhtml#instruments">1.2 Instruments</a></li>\n'
    rezip(folder / "sample-report.epub", "EPUB/nav.xhtml", lambda t: _once(t, entry, ""))
    report = check(FIXTURE, folder, "epub")
    assert report.findings() == [
        f'epub: {at("method.md", 20)}contents entry "Instruments" (section 1.2) is missing; expected after '
        f'"Replacement clusters"']


def test_a_nav_entry_reordered_in_the_epub(fixture_build, tmp_path):
    folder = copy_outputs(fixture_build, tmp_path)
    overview = '  <li><a href="text/03-part-2.xhtml#findings-overview">2.1 Overview</a></li>\n'
    maintenance = '  <li><a href="text/03-part-2.xhtml#maintenance">2.2 Maintenance</a></li>\n'
    rezip(folder / "sample-report.epub", "EPUB/nav.xhtml", lambda t: _once(t, overview + maintenance, maintenance + overview))
    findings = check(FIXTURE, folder, "epub").findings()
    assert any(re.fullmatch(r'epub: \S*findings\.md:(3|12): contents entry "(Overview|Maintenance)" \(section 2\.[12]\) '
                            r'is out of order: it comes after "[\w ]+"; the source has it after "[\w ]+"', f)
               for f in findings), findings
    assert ('epub: contents entry "2.1 Overview" is listed after "2.2 Maintenance" but comes before it '
            'in the reading order (spine)') in findings
    assert all(f.startswith("epub: ") for f in findings)
    # EPUBCheck agrees: a toc must follow the reading order
    assert any(f.startswith("epub: EPUBCheck WARNING NAV-011 at EPUB/nav.xhtml") for f in findings)


def _once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_a_bookmark_removed_from_the_pdf(flagship_build, tmp_path):
    """Part 2's bookmark goes; its one child takes its place at the top level."""
    folder = copy_outputs(flagship_build, tmp_path)
    pdf_path = folder / "poverty-alleviation-cooperation.pdf"
    with pikepdf.open(pdf_path, allow_overwriting_input=True) as pdf:
        with pdf.open_outline() as outline:
            part2 = outline.root[2]
            assert part2.title.startswith("2 Role of aids")
            child = part2.children[0]
            outline.root[2:3] = [pikepdf.OutlineItem(child.title, child.destination)]
        pdf.save(pdf_path)
    findings = check(FLAGSHIP, folder, "pdf").findings()
    assert findings == [
        f'pdf: {at("2-role.md", 1, FLAGSHIP)}bookmark "Role of aids in promoting …" (part 2) is missing; expected '
        f'after "China’s achievements in …"',
        f'pdf: {at("2-role.md", 3, FLAGSHIP)}bookmark "Main roles of aids in …" (section 2.1) is at level 1; the '
        f'source has it at level 2',
    ]


def test_a_bookmark_that_leads_to_the_wrong_page(fixture_build, tmp_path):
    """The finding starts with the place of the bookmark's heading in the
    source, where a writer would look first."""
    folder = copy_outputs(fixture_build, tmp_path)
    pdf_path = folder / "sample-report.pdf"
    with pikepdf.open(pdf_path, allow_overwriting_input=True) as pdf:
        with pdf.open_outline() as outline:
            part1 = next(item for item in outline.root if item.title.endswith("How the survey was made"))
            sampling = part1.children[0]
            assert sampling.title == "1.1 Sampling"
            last = len(pdf.pages) - 1
            moved = pikepdf.OutlineItem(sampling.title, last)
            moved.children[:] = list(sampling.children)
            part1.children[0] = moved
        pdf.save(pdf_path)
    findings = check(FIXTURE, folder, "pdf").findings()
    assert len(findings) == 1 and re.fullmatch(
        re.escape(f'pdf: {at("method.md", 8)}bookmark "1.1 Sampling" leads to page {last + 1} (printed page ')
        + r'\d+\), which does not print that heading', findings[0]), findings


def test_a_contents_page_number_off_by_one(tmp_path):
    """A design whose contents prints each target's page number plus one
    (a counter style whose symbol for n is n+1)."""
    design = design_with(tmp_path, "toc.css", """
        @counter-style off-by-one { system: fixed 0; symbols: "1" "2" "3" "4" "5" "6" "7" "8" "9" "10"; }
        .toc a::after { content: "\\a0" leader(dotted) "\\a0" target-counter(attr(href url), page, off-by-one); }""")
    with pytest.raises(CheckFailed) as failed:
        from pipeline.build import build

        build(FIXTURE, tmp_path / "dist", formats=("pdf",), design=design)
    findings = failed.value.findings
    assert f'pdf: {at("method.md", 1)}the contents gives page 2 for "How the survey was made" (part 1), ' \
           'but that heading is printed on page 1' in findings
    assert f'pdf: {at("findings.md", 3)}the contents gives page 4 for "Overview" (section 2.1), but that heading ' \
           'is printed on page 3' in findings
    assert all(re.match(r"pdf: \S+\.md:\d+: the contents gives page ", f) for f in findings), findings
    # a failed check publishes nothing: what it made is kept aside for inspection
    assert os.listdir(tmp_path / "dist" / "sample-report") == [".failed"]
    assert failed.value.kept == tmp_path / "dist" / "sample-report" / ".failed" and not failed.value.previous


# ------------------------------------------------------------------ text

def test_a_paragraph_and_a_footnote_dropped_from_the_html(fixture_build, tmp_path):
    folder = copy_outputs(fixture_build, tmp_path)
    html = folder / "sample-report.html"
    edit_text(html, "<p>Each district was divided into clusters of about twenty villages.</p>\n", "")
    edit_text(html, "Visits were made on weekdays only, between 8 and 16 hours.", "")
    findings = check(FIXTURE, folder, "html").findings()
    assert findings == [
        f'html: {at("method.md", 8)}paragraph "Each district was divided into clusters …" (section 1.1 "Sampling") '
        f'is missing from the text',
        'html: footnote "Visits were made on weekdays only …" is missing from the text',
    ]


def test_a_paragraph_the_pdf_does_not_print(tmp_path):
    """A design that hides one paragraph in the PDF: the text read back
    from the pages lacks it."""
    design = design_with(tmp_path, "text.css", "#cluster-selection > p { display: none; }")
    with pytest.raises(CheckFailed) as failed:
        from pipeline.build import build

        build(FIXTURE, tmp_path / "dist", formats=("pdf",), design=design)
    assert failed.value.findings == [
        f'pdf: {at("method.md", 12)}paragraph "Clusters were drawn at random, with …" (section 1.1.1 "Cluster '
        f'selection") is missing from the text']


def test_a_paragraph_moved_in_the_epub_is_out_of_order(fixture_build, tmp_path):
    folder = copy_outputs(fixture_build, tmp_path)
    para = "<p>Water points with a local committee were repaired twice as fast.</p>\n"
    heading = '<h3><span class="number">2.1</span> Overview</h3>\n'
    rezip(folder / "sample-report.epub", "EPUB/text/03-part-2.xhtml",
          lambda t: _once(_once(t, para, ""), heading, heading + para))
    findings = check(FIXTURE, folder, "epub").findings()
    assert findings == [f'epub: {at("findings.md", 12)}paragraph "Water points with a local committee were …" '
                        f'(section 2.2 "Maintenance") is out of order: it appears before the text that precedes it in '
                        f'the source']


# ------------------------------------------------------------------ conformance

def test_epubcheck_and_vnu_findings_are_reported(fixture_build, tmp_path):
    folder = copy_outputs(fixture_build, tmp_path)
    edit_text(folder / "sample-report.html", "<p>Each district was", '<p frobnicate="yes">Each district was')
    rezip(folder / "sample-report.epub", "EPUB/text/02-part-1.xhtml",
          lambda t: _once(t, "<p>Each district was", "<p><frobnicate/>Each district was"))
    report = check(FIXTURE, folder, "epub", "html")
    epub, html = report.formats["epub"], report.formats["html"]
    assert epub.differences == [] and html.differences == []  # the text is intact: only the standards object
    # each names the place in the source first: the heading above the output's line (issue 12, messages)
    here = r"(\S*/)?method\.md:8 \(in 'Sampling'\): "
    assert [f.message for f in epub.findings] and all(
        re.match(here + r"EPUBCheck ERROR RSC-005 at EPUB/text/02-part-1\.xhtml:\d+:\d+: .*frobnicate", f.message)
        for f in epub.findings), epub.findings
    assert [str(f) for f in html.findings] and all(
        re.match(r"html: " + here + r"Nu Html Checker error at line \d+: Attribute “frobnicate” not allowed on element “p”",
                 str(f))
        for f in html.findings), html.findings


def test_pdf_metadata_and_fonts(fixture_build, tmp_path):
    folder = copy_outputs(fixture_build, tmp_path)
    path = folder / "sample-report.pdf"
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        del pdf.docinfo["/Title"]
        del pdf.Root["/Lang"]
        font = next(o for o in pdf.objects if isinstance(o, pikepdf.Dictionary) and o.get("/Subtype") == "/CIDFontType2")
        del font.FontDescriptor["/FontFile2"]
        name = str(font.BaseFont)[1:]
        pdf.save(path)
    findings = check(FIXTURE, folder, "pdf").findings()
    assert findings == ["pdf: the document information has no title",
                        "pdf: no language is set (/Lang in the document catalog)",
                        f"pdf: the font {name} is not embedded"]


# ------------------------------------------------------------------ command line

def test_the_check_command(fixture_build, tmp_path, capsys):
    folder = copy_outputs(fixture_build, tmp_path)
    assert main(["check", str(FIXTURE), "--dist", str(folder), "--formats", "pdf"]) == 0
    assert "sample-report: pdf agree with the source" in capsys.readouterr().out
    assert json.loads((folder / "check.json").read_text("utf-8"))["ok"] is True

    with pikepdf.open(folder / "sample-report.pdf", allow_overwriting_input=True) as pdf:
        with pdf.open_outline() as outline:
            del outline.root[0]  # the foreword's bookmark
        pdf.save(folder / "sample-report.pdf")
    assert main(["check", str(FIXTURE), "--dist", str(folder), "--formats", "pdf"]) == 1
    err = capsys.readouterr().err
    assert f'pdf: {at("foreword.md", 1)}bookmark "Foreword" (front matter) is missing; expected first' in err
    data = json.loads((folder / "check.json").read_text("utf-8"))
    assert data["ok"] is False and data["findings"] == data["formats"]["pdf"]["differences"] != []

    assert main(["check", str(FIXTURE), "--dist", str(tmp_path / "nowhere")]) == 2
    assert "nothing to check" in capsys.readouterr().err


# ------------------------------------------------------------------ long text

WORDS = ("poverty alleviation development cooperation international exchange projects investment capacity "
         "sustainability institutional innovation management communication").split()


def _sentence(i: int) -> str:
    return f"Sentence {i} notes that " + " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(12)) + \
        " matter a great deal."


def _long_publication(folder: Path) -> Path:
    """One paragraph that runs over a dozen pages with footnotes at their
    feet, a list whose items straddle pages, and a back-matter heading whose
    words also occur in a sentence before it."""
    folder.mkdir()
    (folder / "publication.yaml").write_text(
        "title: A Long Test\nauthors:\n  - name: Test Author\nlanguage: en\n"
        "edition:\n  version: 1.0.0\n  date: 2026-01-01\n"
        "outline:\n  parts:\n    - title: Long paragraphs\n      file: long.md\nback:\n  - references.md\n", "utf-8")
    big = " ".join(_sentence(i) + (f"[^n{i}]" if i % 40 == 5 else "") for i in range(260))
    items = "\n".join(f"{k}. " + " ".join(_sentence(1000 + k * 10 + j) for j in range(6)) for k in range(1, 12))
    notes = "\n\n".join(f"[^n{i}]: Footnote {i} explains that the figure for {WORDS[i % len(WORDS)]} is an estimate."
                        for i in range(260) if i % 40 == 5)
    (folder / "long.md").write_text(f"# Long paragraphs\n\n{big}\n\nThe list of works is in the references.\n\n"
                                    f"## A long list\n\n{items}\n\n{notes}\n", "utf-8")
    (folder / "references.md").write_text("# References\n\nThe references are listed here.\n", "utf-8")
    return folder


def test_text_that_runs_over_many_pages(tmp_path):
    from pipeline.build import build
    from pipeline.check import compare, pdf as pdf_reader

    src = _long_publication(tmp_path / "long")
    result = build(src, tmp_path / "dist", formats=("pdf",))
    assert result.check.ok, result.check.findings()
    ex = result.check.formats["pdf"].extracted
    big = [p.index for p in ex.pages if re.search(r"Sentence \d{1,3} notes", p.text)]
    assert len(big) > 10  # the paragraph runs over more than ten pages
    assert sum("Footnote" in ex.pages[i].text for i in big) >= 5
    assert [line.printed_page for line in ex.contents] == ["1", "17", "22"]
    assert [line.printed_page for line in ex.contents] == \
           [ex.pages[i].folio for i in pdf_reader.heading_pages(ex, [e.display for e in result.publication.outline])]

    # a sentence lost from the middle of the paragraph, on a page of its own, is still found missing
    lost = next(p for p in ex.pages if "Sentence 100 notes" in p.text)
    assert lost.index not in (big[0], big[-1])
    lost.text = lost.text.replace("Sentence 100 notes", "")
    expected = compare.Expected.from_publication(result.publication)
    after = max(ex.info["contents_pages"]) + 1
    findings = [str(f) for f in compare.compare_text("pdf", expected, [p.text for p in ex.pages[after:]])]
    assert findings == [f'pdf: {at("long.md", 1, src)}paragraph "Sentence 0 notes that poverty …" (part 1 "Long '
                        'paragraphs") is missing from the text: after "…matter a great deal.", the source has "Sentence 100 notes that '
                        'poverty …" but the pdf has "that poverty cooperation projects sustainability …"']


def test_a_title_that_ends_another_is_not_taken_for_its_entry(tmp_path):
    """A deep heading "Overview" (below the PDF contents' depth) must not be
    matched to the contents line "Regional overview": the contents would
    then seem to go four levels deep and to miss entries."""
    from pipeline.build import build

    src = tmp_path / "sample-report"
    shutil.copytree(FIXTURE, src)
    method = src / "method.md"
    method.write_text(method.read_text("utf-8").replace(
        "#### Replacement clusters\n", "#### Replacement clusters\n\nA note.\n\n#### Overview\n", 1), "utf-8")
    with open(src / "findings.md", "a", encoding="utf-8") as f:
        f.write("\n## Regional overview\n\nThe districts differ little.\n")
    result = build(src, tmp_path / "dist")
    assert result.check.ok, result.check.findings()
    contents = [c.text for c in result.check.formats["pdf"].extracted.contents]
    assert any(t.endswith("Regional overview") for t in contents)
    assert not any(t.endswith(" Overview") and "1.1.1" in t for t in contents)  # level 4 is not in the PDF contents


@pytest.mark.parametrize("line, title, start", [
    ("2.1 Main roles of aids", "Main roles of aids", 4),
    ("2.1 Main roles of ai-\nds", "Main roles of aids", 4),  # broken and hyphenated inside the title
    ("Main\u00adroles of\u200baids .", "Main roles of aids", 0),  # soft hyphen, zero-width space, its full stop
    ("1 Overview.", "Overview.", 2),  # the title's own full stop runs into the leader
    ("Regional overview", "Overview", 9),  # found; _is_entry then sees "Regional" is no label or number
    ("Subregionaloverview", "Overview", None),  # "Overview" would begin inside a word
    ("Part 2overview", "Overview", 6),  # a digit before it is no letter
    ("Overview of the regions", "Overview", None),  # the line must end with the title
])
def test_a_contents_line_ends_with_its_title(line, title, start):
    from pipeline.check.compare import _title_start
    from pipeline.check.extracted import folded, strict

    assert _title_start(strict(title).rstrip("."), folded(line)) == start


def test_a_long_pdf_is_read_in_two_processes_with_the_same_result(flagship_build, monkeypatch):
    """From ``TWO_PROCESSES_FROM`` pages on, a forked process reads the
    second half of the pages: the text, folios and contents are those of a
    read in one process, and a child that fails is made up for by reading
    its half here."""
    from pipeline.check import pdf as pdf_reader

    path = flagship_build.files["pdf"]
    monkeypatch.setattr(pdf_reader, "TWO_PROCESSES_FROM", 10**9)
    alone = pdf_reader.read(path)
    forks = []
    real_fork = os.fork

    def fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(pdf_reader.os, "fork", fork)
    monkeypatch.setattr(pdf_reader, "TWO_PROCESSES_FROM", 2)

    def same(a, b):
        return ([(p.index, p.folio, p.text) for p in a.pages] == [(p.index, p.folio, p.text) for p in b.pages]
                and a.contents == b.contents and a.text == b.text and a.problems == b.problems == [])

    if (os.cpu_count() or 1) > 1:
        assert same(pdf_reader.read(path), alone) and forks == [1]
        parent, real_texts = os.getpid(), pdf_reader._texts

        def failing_in_the_child(path, start, stop):
            if os.getpid() != parent:
                raise RuntimeError("the child fails")
            return real_texts(path, start, stop)

        monkeypatch.setattr(pdf_reader, "_texts", failing_in_the_child)
        assert same(pdf_reader.read(path), alone) and forks == [1, 1]
    else:
        assert same(pdf_reader.read(path), alone) and forks == []
