"""The slide deck (issue 16): built from the same source as the report,
read back from the PDF and held against the source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pikepdf
import pytest

from pipeline import source
from pipeline.check import slides as slides_check
from pipeline.check.extracted import strict
from pipeline.render import slides
from pipeline.render.common import Design

from conftest import FIXTURE, FLAGSHIP


def _deck(src: Path, dest: Path) -> tuple[object, Path]:
    pub = source.load(src)
    dest.write_bytes(slides.render(pub, None, Design()))
    return pub, dest


@pytest.fixture(scope="module")
def flagship_built(tmp_path_factory):
    """The flagship's deck alone, built and checked as `pipeline build --formats slides` does."""
    from pipeline.build import build

    return build(FLAGSHIP, tmp_path_factory.mktemp("dist-slides"), formats=("slides",))


@pytest.fixture(scope="module")
def flagship_deck(flagship_built):
    return flagship_built.publication, flagship_built.files["slides"]


def test_build_formats_slides_writes_the_deck_and_its_verdict(flagship_built):
    import json

    deck = flagship_built.files["slides"]
    assert deck.name == "poverty-alleviation-cooperation.slides.pdf"
    assert sorted(p.name for p in deck.parent.iterdir()) == ["check.json", deck.name]
    verdict = json.loads((deck.parent / "check.json").read_text("utf-8"))["formats"]["slides"]
    assert verdict["ok"] and verdict["info"]["slides"] == 23 and verdict["conformance"]["counts"]["fonts"] > 0


def test_the_flagship_asks_for_its_deck(tmp_path):
    from pipeline import formats

    assert "slides" not in formats.default()  # a deck only for a publication that asks
    assert source.load(FLAGSHIP).formats == ("pdf", "epub", "html", "slides")


@pytest.fixture(scope="module")
def flagship_read(flagship_deck):
    pub, path = flagship_deck
    return slides_check.check(pub, path)


def _page_of(ex, text: str, start: int = 0) -> int:
    key = strict(text)
    return next(i for i, p in enumerate(ex.pages) if i >= start and strict(p.text) == key)


def test_the_flagship_deck_passes_its_check(flagship_read):
    ex, findings = flagship_read
    assert findings == []
    texts = [strict(p.text) for p in ex.pages]
    # title, agenda, preface (2), then per part: agenda, section, content (key figures after part 1), closing
    assert ex.info["slides"] == 23
    agenda = strict("Further promotion of international exchange and cooperation in poverty alleviation "
                    "under the new situation")
    assert sum(t.startswith(agenda) for t in texts) == 5
    marks = [t.split(strict(slides.CURRENT))[1][:4] if strict(slides.CURRENT) in t else "" for t in texts
             if t.startswith(agenda)]
    assert marks == ["", "effe", "role", "expe", "outl"]
    assert strict("Effectiveness 1 China's achievements in poverty alleviation and development") in texts
    assert texts[-1] == strict("Thank you!")
    assert any(t.startswith(strict("Key figures 517 million")) for t in texts)
    assert any(strict("Preface (cont.)") in t for t in texts)  # the preface does not fit one slide
    assert [e.display for e in ex.outline if e.level == 1][0] == "Preface"


def test_the_deck_is_tagged_pdf_ua_with_its_fonts_and_a_16_9_page(flagship_deck):
    _, path = flagship_deck
    with pikepdf.open(path) as pdf:
        assert "/StructTreeRoot" in pdf.Root
        assert 'pdfuaid:part="1"' in pdf.Root.Metadata.read_bytes().decode() or \
            "<pdfuaid:part>1</pdfuaid:part>" in pdf.Root.Metadata.read_bytes().decode()
        for page in pdf.pages:
            x0, y0, x1, y1 = (float(v) for v in page.MediaBox)
            assert abs((x1 - x0) - 254 / 25.4 * 72) < 0.5 and abs((y1 - y0) - 142.875 / 25.4 * 72) < 0.5


def test_the_deck_is_reproducible(flagship_deck, tmp_path):
    pub, path = flagship_deck
    assert slides.render(pub, None, Design()) == path.read_bytes()


def _without_page(path: Path, index: int, dest: Path) -> Path:
    with pikepdf.open(path) as pdf:
        del pdf.pages[index]
        pdf.save(dest)
    return dest


def test_the_check_finds_a_missing_section_slide(flagship_deck, flagship_read, tmp_path):
    pub, path = flagship_deck
    ex, _ = flagship_read
    role = _page_of(ex, "Role 2 Role of aids in promoting poverty alleviation & development")
    _, findings = slides_check.check(pub, _without_page(path, role, tmp_path / "missing.pdf"))
    assert any("the section slide of part 2 \"Role of aids in promoting …\"" in str(f) and "is missing" in str(f)
               for f in findings), findings


def test_the_check_finds_reordered_section_slides(flagship_deck, flagship_read, tmp_path):
    pub, path = flagship_deck
    ex, _ = flagship_read
    two = _page_of(ex, "Role 2 Role of aids in promoting poverty alleviation & development")
    three = _page_of(ex, "Experience 3 Successful experience in promoting poverty alleviation & development "
                         "with free aids")
    with pikepdf.open(path) as pdf:
        # slides 2 and 3 of the parts change places, each with the agenda before it
        order = list(range(len(pdf.pages)))
        order[two - 1:two + 1], order[three - 1:three + 1] = order[three - 1:three + 1], order[two - 1:two + 1]
        out = pikepdf.new()
        for i in order:
            out.pages.append(pdf.pages[i])
        out.save(tmp_path / "reordered.pdf")
    _, findings = slides_check.check(pub, tmp_path / "reordered.pdf")
    assert any("the section slide of part 2 \"Role of aids in promoting …\"" in str(f)
               and "comes after that of part 3" in str(f) for f in findings), findings


def _publication(tmp_path: Path, extra: str) -> Path:
    src = tmp_path / "sample-report"
    shutil.copytree(FIXTURE, src)
    findings = src / "findings.md"
    findings.write_text(findings.read_text("utf-8") + "\n" + extra, "utf-8")
    return src


def test_the_check_finds_text_that_runs_off_a_slide(tmp_path):
    src = _publication(tmp_path, "## Checksums\n\nThe archive's digest is "
                                 + "a1b2c3d4e5f6" * 30 + ".\n")
    pub, path = _deck(src, tmp_path / "deck.pdf")
    _, findings = slides_check.check(pub, path)
    runs_off = [str(f) for f in findings if "runs off the slide" in str(f)]
    assert runs_off and "a1b2c3d4e5f6" in runs_off[0], findings


def test_the_fixture_with_four_heading_levels_tables_figures_and_footnotes_passes(tmp_path):
    pub, path = _deck(FIXTURE, tmp_path / "fixture.pdf")
    ex, findings = slides_check.check(pub, path)
    assert findings == []
    assert [e.level for e in ex.outline] == [e.level for e in pub.outline]
    assert max(e.level for e in ex.outline) == 4
    text = strict(" ".join(ex.text))
    assert strict("Visits were made on weekdays only") in text  # a footnote, on its slide
    assert strict("Questionnaire modules and their length.") in text  # a table's caption


def test_speaker_notes_and_content_for_one_audience(tmp_path):
    from pipeline.render.common import body_html

    src = _publication(tmp_path, """## Next steps

Every district gets a repair fund.

::: notes
Say that the funds start next year.
:::

::: {.slides-only}
Funds: next year.
:::

::: {.no-slides}
The funds are described in the annex of the ministry's budget.
:::

- A fund per district.

  ::: notes
  Mention the audit.
  :::

---

Each fund is audited every year.
""")
    pub, path = _deck(src, tmp_path / "deck.pdf")
    ex, findings = slides_check.check(pub, path)
    assert findings == []
    slide = next(i for i, p in enumerate(ex.pages) if strict("Every district gets a repair fund") in strict(p.text))
    assert ex.info["notes"] == {str(slide + 1): "Say that the funds start next year.\n\nMention the audit."}
    assert "Mention the audit" not in ex.pages[slide].text
    assert strict("Funds: next year.") in strict(ex.pages[slide].text)
    assert strict("annex of the ministry") not in strict(" ".join(ex.text))
    # the horizontal rule broke the slide: the next one continues under the same title
    after = ex.pages[slide + 1].text
    assert strict("Each fund is audited every year.") in strict(after) and "Next steps (cont.)" in after
    assert strict("Each fund") not in strict(ex.pages[slide].text)

    # the report: no notes, nothing only for the slides, what is left out of them
    report = "".join(body_html(pub, Design()).chapters[pub.chapters[-1].id].itertext())
    assert "repair fund" in report and "annex of the ministry" in report
    assert "start next year" not in report and "Funds: next year" not in report and "Mention the audit" not in report

    # notes the deck lost are a finding
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            if "/Annots" in page.obj:
                del page.obj["/Annots"]
        pdf.save(tmp_path / "no-notes.pdf")
    _, findings = slides_check.check(pub, tmp_path / "no-notes.pdf")
    assert any("speaker notes \"Say that the funds start next year.\" are missing" in str(f) for f in findings)


def test_a_chinese_deck_passes_with_its_own_words(tmp_path):
    from conftest import ZH_FIXTURE

    pub, path = _deck(ZH_FIXTURE, tmp_path / "zh.pdf")
    ex, findings = slides_check.check(pub, path)
    assert findings == []
    assert any("各县的供水点（续）" in p.text for p in ex.pages)  # a continued slide, in the deck's language
    with pikepdf.open(path) as pdf:
        fonts = {str(f.get("/BaseFont")) for p in pdf.pages for f in p.Resources.get("/Font", {}).values()}
    assert any("CJK" in f or "Noto" in f or "Han" in f for f in fonts), fonts


def test_preview_pictures_every_slide(flagship_deck, tmp_path):
    from PIL import Image

    from pipeline.preview import render_slides

    _, path = flagship_deck
    shown = render_slides(path, tmp_path, width=240)
    assert shown.page_count == 23 and [p.name for p in shown.pages][::22] == ["slide-01.png", "slide-23.png"]
    with Image.open(shown.pages[0]) as first:
        assert first.size == (240, 135)  # 16:9
    assert shown.sheet.is_file()
