"""Markdown as people write it for GitHub or an mdBook builds, with a
warning for each change the build makes (issue 12): a link to a file that
is not part of the publication is printed as its text (or becomes a web
link under links.base), a tag HTML does not have is dropped and its
content kept, an image with no description gets its file name, a heading
that skips a level is shown one level below its parent, a remote image is
shown as a link to it, and a ``$`` before a code span is a dollar sign.
Warnings never fail the build: the outputs are checked in full.

One small publication (tests/fixtures/as-written) is built once; the tests
read the warnings and the three outputs back.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

AS_WRITTEN = ROOT / "tests" / "fixtures" / "as-written"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipeline.build import build

    said: list = []
    result = build(AS_WRITTEN, tmp_path_factory.mktemp("dist-as-written"), warn=said.extend)
    return result, said


def _warnings(result) -> dict[str, str]:
    """file:line -> the warning's first line."""
    return {f"{w.file.name}:{w.line}": str(w).splitlines()[0].split(": warning: ", 1)[1]
            for w in result.publication.warnings}


def test_builds_and_checks_clean_with_one_warning_per_change(built):
    result, said = built
    assert result.check.ok and set(result.files) == {"pdf", "epub", "html"}
    assert said == result.publication.warnings  # told as soon as the source was read
    assert all(w.severity == "warning" and "warning: " in str(w) and w.hint for w in said)
    warnings = _warnings(result)
    assert warnings == {
        "links.md:3": "5 links to files outside the publication shown as text (first: CONTRIBUTING.md)",
        "links.md:7": "tags of elements HTML does not have were dropped, their content kept: <Listing>",
        "links.md:31": "1 link with no address, [text](), shown as text (Objects & Classes)",
        "images.md:4": "1 image has no description, so the file name stands in (figures/working-share.png)",
        "images.md:11": "remote image 'https://example.org/chart.png' shown as a link to it: a build never fetches "
                        "anything from the network",
        "images.md:13": "remote image 'https://example.org/icon.png' shown as a link to it: a build never fetches "
                        "anything from the network",
        "images.md:16": "remote image 'https://camo.example.org/77f72259e1eb' shown as a link to it: a build never "
                        "fetches anything from the network",
        "images.md:18": "heading level 4 follows level 2: a level is skipped, so it is shown as level 3 (and 2 more "
                        "headings in this file)",
    }


def test_links_outside_the_publication_are_text_and_links_inside_still_work(built):
    result, _ = built
    html = result.files["html"].read_text("utf-8")
    assert "CONTRIBUTING.md" not in html and "LICENSE" not in html and "solutions/" not in html
    assert "README" not in html
    para = re.search(r"<p>Read .*?</p>", html, re.S).group(0)
    assert " ".join(re.sub(r"<[^>]+>", "", para).split()) == (
        "Read the contributing guide, the solution and the licence; the next part is part of the publication.")
    assert re.search(r'<a href="#images-and-headings">next part</a>', html)


def test_unknown_tags_are_dropped_and_their_content_kept(built):
    from readback import epub_documents, epub_text, pdf_text

    result, _ = built
    html = result.files["html"].read_text("utf-8")
    assert "<Listing" not in html and "</Listing" not in html and "<listing" not in html.lower()
    assert 'println!("listed")' in re.sub(r"<[^>]+>", "", html).replace("&quot;", '"')
    assert 'println!("listed")' in pdf_text(result.files["pdf"])
    assert not any(b"<Listing" in data or b"</Listing" in data for _, data in epub_documents(result.files["epub"]))
    assert '"listed"' in epub_text(result.files["epub"])


def test_a_heading_that_skips_a_level_is_shown_below_its_parent(built):
    from readback import pdf_bookmarks

    result, _ = built
    levels = {title: level for level, title, _ in pdf_bookmarks(result.files["pdf"])}
    base = levels["2 Images and headings"]
    numbered = {re.sub(r"^[\d.]+ ", "", t): lv - base for t, lv in levels.items()}
    assert numbered["Remote images"] == 1
    assert numbered["Skipped a level"] == numbered["Its sibling"] == 2  # #### under ##: shown as ###
    assert numbered["Below the sibling"] == 3
    assert numbered["Underlined"] == 1 and numbered["Far too deep"] == 2
    html = result.files["html"].read_text("utf-8")
    assert re.search(r"<h4[^>]*>.*Skipped a level</h4>", html)  # the publication's title is the h1


def test_remote_images_are_links_to_them_and_never_fetched(built):
    result, _ = built
    html = result.files["html"].read_text("utf-8")
    assert '<a href="https://example.org/chart.png">A remote chart</a>' in html
    assert '<a href="https://example.org/icon.png">remote icon</a>' in html
    assert '<a href="https://camo.example.org/77f72259e1eb">image at camo.example.org</a>' in html
    assert not re.search(r"<img[^>]+src=\"https?:", html)


def test_an_image_without_description_is_described_by_its_file_name(built):
    result, _ = built
    html = result.files["html"].read_text("utf-8")
    assert re.search(r'<img src="data:image/png[^"]*" alt="working share"', html)


def test_a_dollar_before_a_code_span_is_a_dollar_sign(built):
    from readback import pdf_text

    result, _ = built
    assert "<math" not in result.files["html"].read_text("utf-8")
    html = result.files["html"].read_text("utf-8")
    para = re.search(r"<p>The binaries .*?</p>", html, re.S).group(0)
    assert " ".join(re.sub(r"<[^>]+>", "", para).split()) == (
        "The binaries go to $HOME/.cargo/bin. Ensure that this directory is in your $PATH to be able to run them.")
    assert "$HOME/.cargo/bin" in pdf_text(result.files["pdf"])


def test_links_base_makes_them_web_links(tmp_path):
    from pipeline import pandoc, source

    folder = tmp_path / "as-written"
    shutil.copytree(AS_WRITTEN, folder)
    meta = folder / "publication.yaml"
    meta.write_text(meta.read_text("utf-8") + "links:\n  base: https://github.com/owner/repo/blob/main/docs\n", "utf-8")
    pub = source.load(folder)
    targets = []
    pandoc.walk(pub.chapters[0].blocks, lambda el: targets.append(el["c"][2][0]) if el["t"] == "Link" else None)
    assert targets == ["https://github.com/owner/repo/blob/main/docs/CONTRIBUTING.md",
                       "https://github.com/owner/repo/blob/main/docs/solutions/system_design/pastebin/README.md#design",
                       "https://github.com/owner/repo/blob/main/LICENSE", "#images-and-headings",
                       "https://github.com/owner/repo/blob/main/docs/README.md",
                       "https://github.com/owner/repo/blob/main/docs/README-ar.md"]
    assert "made web links under https://github.com/owner/repo/blob/main/docs (first: CONTRIBUTING.md)" in str(
        pub.warnings[0])


def test_the_command_line_prints_the_warnings_and_succeeds(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", str(AS_WRITTEN), "--out", str(tmp_path),
                           "--formats", "html", "--no-check", "-q"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if ": warning: " in line]
    assert len(lines) == 8 and all(re.match(r"^\S+\.md:\d+(:\d+)?: warning: ", line) for line in lines), proc.stderr
    assert "error" not in proc.stderr


def test_a_link_to_a_missing_section_is_still_an_error(tmp_path):
    from pipeline import source
    from pipeline.errors import SourceError

    folder = tmp_path / "as-written"
    shutil.copytree(AS_WRITTEN, folder)
    links = folder / "links.md"
    links.write_text(links.read_text("utf-8").replace("(images.md)", "(images.md#nowhere)"), "utf-8")
    with pytest.raises(SourceError) as caught:
        source.load(folder)
    assert [p.message for p in caught.value.problems] == [
        "link to 'images.md#nowhere', but images.md has no section with the id 'nowhere'"]
    assert len(caught.value.warnings) == 8  # told with the error, so that a fix does not bring surprises


def test_bidirectional_marks_are_not_looked_for_in_the_pdf(built):
    """U+200E and U+200F (a README's list of translations has them) order
    the text and are drawn by no format: the check passes without them."""
    from readback import pdf_text

    result, _ = built
    assert "\u200e" in (AS_WRITTEN / "links.md").read_text("utf-8")
    assert "Read it in English or in" in pdf_text(result.files["pdf"])
    assert result.check.ok


def test_a_table_column_pandoc_made_narrow_keeps_its_words_whole_in_the_pdf(built):
    """The rust book's operators table: pandoc gives the last column the
    share of its dashes (a tenth), too narrow for `RemAssign`; the PDF sizes
    it to its longest word instead of printing Rem/Ass/ign. The check reads
    `Not`, set in code beside a cell that wrapped, as text of its row, not
    as a superscript (it used to drop it and fail)."""
    from readback import pdf_pages

    result, _ = built
    page = next(p for p in pdf_pages(result.files["pdf"]) if "Overloadable?" in p)
    lines = [line.strip() for line in page.splitlines()]
    assert "RemAssign" in lines and "Not" in lines
    assert "Operator Example Explanation Overloadable?" in lines


def test_a_space_in_a_web_addresss_host_is_an_error_at_its_line(tmp_path):
    """[perf](http://en.wikipedia.org /wiki/Perf) (README-zh-Hant.md of
    jlevy/the-art-of-command-line): pandoc links to the host
    'en.wikipedia.org%20', and EPUBCheck and vnu failed the build with lines
    of the outputs. A space in the path stays allowed (pandoc writes %20)."""
    from pipeline import source
    from pipeline.errors import SourceError

    folder = tmp_path / "p"
    shutil.copytree(AS_WRITTEN, folder)
    links = folder / "links.md"
    links.write_text(links.read_text("utf-8") + "\nSee [perf](http://en.wikipedia.org /wiki/Perf) and "
                     "[a file](https://example.org/a b.html).\n", "utf-8")
    with pytest.raises(SourceError) as caught:
        source.load(folder)
    assert [(p.message, p.line) for p in caught.value.problems] == [
        ("link to 'http://en.wikipedia.org /wiki/Perf': a web address's host cannot hold a space", 33)]
