"""Issue 13: publications in Chinese and every other script.

The Chinese test publication (tests/fixtures/zh-report) is built once and
read back: every character of its source is in each format's text, the
PDF embeds subsets of the Chinese fonts and gives the Chinese text back,
and no PDF line starts with closing punctuation. A character no installed
font has is a source error (tests/bad/glyph-no-font, run by test_errors.py).
"""

from __future__ import annotations

import re
import unicodedata
import zipfile

import pikepdf
import pytest
from lxml import etree, html as lxml_html

from conftest import ZH_FIXTURE
from readback import pdf_pages

#: clreq / JIS X 4051: characters a line must not start with, and not end with
CLOSING = "，。、；：？！）」』】》〉〕］｝…‥—·・〜ー”’%‰℃々ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ"
OPENING = "（「『【《〈〔［｛“‘"
#: invisible characters the pipeline may insert to keep characters on one line
JOINERS = dict.fromkeys(map(ord, "\u2060\u200b\ufeff"))


def source_characters() -> set[str]:
    """Every letter and punctuation mark of the fixture's Markdown, less the
    Markdown syntax itself (ASCII)."""
    text = "".join(p.read_text("utf-8") for p in sorted(ZH_FIXTURE.glob("*.md")))
    return {c for c in text if ord(c) > 0x7F and not c.isspace()}


def raw(text: str) -> str:
    return re.sub(r"\s+", "", text.translate(JOINERS))


def html_raw(path) -> str:
    doc = lxml_html.fromstring(path.read_bytes())
    for bad in doc.xpath("//style|//script"):
        bad.getparent().remove(bad)
    return raw("".join(doc.xpath("//body//text()")))


def epub_raw(path) -> str:
    parts = []
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if name.endswith(".xhtml"):
                parts.append("".join(etree.fromstring(z.read(name)).itertext()))
    return raw("".join(parts))


def test_the_chinese_publication_builds_and_checks_clean(zh_build):
    assert zh_build.check.ok
    assert {p.suffix for p in zh_build.files.values()} == {".pdf", ".epub", ".html"}


def test_the_fixture_has_what_the_issue_asks_for():
    chars = source_characters()
    assert any(0x20000 <= ord(c) <= 0x2A6DF for c in chars), "an Extension B character"
    assert set("，。、：；？！（）“”《》") <= chars, "full-width punctuation"
    text = "".join(p.read_text("utf-8") for p in ZH_FIXTURE.glob("*.md"))
    assert re.search(r"[\u4e00-\u9fff]\d", text) and re.search(r"[\u4e00-\u9fff][A-Za-z]", text), "mixed text"
    for what in (r"^- ", r"^\| ", r"\[\^\w+\]:", r"^!\[", r"^## "):
        assert re.search(what, text, re.M), what


@pytest.mark.parametrize("fmt", ["pdf", "epub", "html"])
def test_every_character_of_the_source_is_in_each_format(zh_build, fmt):
    path = zh_build.files[fmt]
    text = {"pdf": lambda: raw("".join(pdf_pages(path))), "epub": lambda: epub_raw(path),
            "html": lambda: html_raw(path)}[fmt]()
    missing = sorted(source_characters() - set(text))
    assert not missing, f"{fmt} lacks {''.join(missing)!r}"


def test_pdf_text_extraction_gives_back_the_chinese_text(zh_build):
    text = raw("".join(pdf_pages(zh_build.files["pdf"])))
    for sentence in ("子曰：“学而时习之，不亦说乎？有朋自远方来，不亦乐乎？",
                     "例如𠂇字和𠳐字",
                     "使用的工具包括GPS定位仪、Android平板电脑和一个用Python3.12编写的数据录入程序。",
                     "各县供水点的数量和状况（2026年）"):
        assert raw(sentence) in text


def test_no_pdf_line_starts_with_closing_or_ends_with_opening_punctuation(zh_build):
    bad = []
    for n, page in enumerate(pdf_pages(zh_build.files["pdf"]), 1):
        for line in page.translate(JOINERS).splitlines():
            line = line.strip()
            if line and (line[0] in CLOSING or line[-1] in OPENING):
                bad.append(f"page {n}: {line!r}")
    assert not bad, "\n".join(bad)


def test_the_pdf_embeds_subsets_of_the_chinese_fonts_and_says_its_language(zh_build):
    with pikepdf.open(zh_build.files["pdf"]) as pdf:
        assert str(pdf.Root.Lang) == "zh-Hans"
        fonts = {}
        for page in pdf.pages:
            for font in page.Resources.get("/Font", {}).values():
                fonts[str(font.BaseFont)] = font
        names = {n.split("+", 1)[1] for n in fonts}
        assert {"Noto-Serif-SC", "Noto-Sans-SC"} <= names
        for name, font in fonts.items():
            assert re.match(r"/[A-Z]{6}\+", name), f"{name} is embedded whole, not subset"
            assert "/ToUnicode" in font, f"{name} has no ToUnicode map: copied text would be lost"
    size = zh_build.files["pdf"].stat().st_size
    assert size < 1_000_000, f"{size} bytes for an 11-page PDF"


def test_an_english_publication_embeds_no_fallback_font(fixture_build):
    with pikepdf.open(fixture_build.files["pdf"]) as pdf:
        names = {str(f.BaseFont).split("+", 1)[1] for p in pdf.pages for f in p.Resources.get("/Font", {}).values()}
    assert not any(n.startswith("Noto") for n in names), names
    html = fixture_build.files["html"].read_text("utf-8")
    assert "Noto" not in html


def test_the_html_page_carries_only_the_characters_it_uses(zh_build):
    import base64
    import io

    from fontTools.ttLib import TTFont

    page = zh_build.files["html"].read_text("utf-8")
    faces = re.findall(r'font-family: "(Noto [^"]+)";\s*src: url\("data:font/woff;base64,([^"]+)"\)', page)
    assert {f for f, _ in faces} == {"Noto Serif SC", "Noto Sans SC"}
    used = source_characters()
    for family, data in faces:
        cmap = TTFont(io.BytesIO(base64.b64decode(data))).getBestCmap()
        assert len(cmap) < 2 * len(used) + 200, f"{family}: {len(cmap)} characters for a page of {len(used)}"
    han = {c for c in used if unicodedata.name(c, "").startswith("CJK UNIFIED")}
    serif = dict(faces)["Noto Serif SC"]
    assert han <= {chr(c) for c in TTFont(io.BytesIO(base64.b64decode(serif))).getBestCmap()}


def _lines_of(paragraph: str, face: str = "SERIF_SC", lang: str = "zh-Hans") -> list[str]:
    """The lines of a paragraph set by WeasyPrint in Noto Serif SC (or
    ``face``) at 22 widths, read back from the PDF."""
    import pypdfium2 as pdfium
    import weasyprint

    from pipeline import fonts

    font = getattr(fonts, face).path(getattr(fonts, face).regular).as_uri()
    paras = "".join(f"<p style='width:{w}em'>{paragraph}</p>" for w in range(8, 30))
    css = (f'@font-face {{ font-family: "Test Face"; src: url("{font}"); }} '
           'body { font: 10pt "Test Face"; text-align: justify } p { margin: 0 0 1em }')
    pdf = pdfium.PdfDocument(weasyprint.HTML(string=f"<html lang='{lang}'><style>{css}</style>{paras}</html>").write_pdf())
    return [line.strip() for i in range(len(pdf)) for line in pdf[i].get_textpage().get_text_range().splitlines()
            if line.strip()]


def test_korean_lines_break_between_words_never_inside_one():
    """Korean breaks at spaces (KLREQ, CSS word-break: keep-all), which
    WeasyPrint lacks: Pango alone splits words between syllables (전/부,
    seen in the-art-of-command-line's Korean README); with the joiners the
    PDF renderer puts between a word's letters, every line holds whole words."""
    from pipeline.render.linebreak import keep_korean_words

    text = ("이 문서는 명령줄을 능숙하게 다루는 방법을 설명합니다. 대부분의 내용은 리눅스를 기준으로 "
            "작성되었지만 3개의 장은 다른 운영체제에서도 진행하고 API를 사용하는 방법을 다룹니다.") * 3
    words = set(text.split())

    def split_words(lines):
        return [ln for ln in lines for w in ln.translate(JOINERS).split() if w not in words]

    assert split_words(_lines_of(text, "SERIF_KR", "ko")), "the case no longer shows Pango's breaks; make it harder"
    kept = _lines_of(keep_korean_words(text), "SERIF_KR", "ko")
    assert not split_words(kept), split_words(kept)[:3]
    assert raw("".join(kept)) == raw(text) * 22, "joined text reads back as the text"


def test_word_joiners_keep_closing_punctuation_off_the_start_of_a_line():
    """Pango alone starts lines with —— and · (Unicode's line breaking
    allows it); with the joiners the PDF renderer inserts it never does."""
    from pipeline.render.linebreak import join

    text = ("子曰：“学而时习之，不亦说乎？”这是《论语·学而》的第一章。他说：“好！”然后——沉默……"
            "《孟子》、「大学」都是经典（见第3章），共有1,487个供水点，用Python 3.12编写。") * 4

    def bad(lines):
        return [ln for ln in lines if ln.translate(JOINERS)[0] in CLOSING or ln.translate(JOINERS)[-1] in OPENING]

    assert bad(_lines_of(text)), "the case no longer shows Pango's breaks; make it harder"
    joined = _lines_of(join(text))
    assert not bad(joined), bad(joined)
    assert raw("".join(joined)) == raw(text) * 22, "joined text reads back as the text"


def test_the_check_compares_chinese_character_by_character(zh_build, tmp_path):
    """One character dropped from a paragraph with no spaces in it is found."""
    import shutil

    from pipeline import source
    from pipeline.check import check_outputs

    folder = tmp_path / "zh-report"
    folder.mkdir()
    for path in zh_build.files.values():
        shutil.copy2(path, folder / path.name)
    page = folder / "zh-report.html"
    text = page.read_text("utf-8")
    assert text.count("例如𠂇字和𠳐字") == 1
    page.write_text(text.replace("例如𠂇字和𠳐字", "例如字和𠳐字"), "utf-8")
    findings = check_outputs(source.load(ZH_FIXTURE), folder, formats=("html",)).findings()
    assert len(findings) == 1 and "汇总时发现" in findings[0] and "is missing from the text" in findings[0], findings


def test_the_furniture_is_in_the_publications_language(zh_build, fixture_build):
    """templates/words.yaml: 目录 for Contents, the date as 2026年11月1日."""
    pdf = raw("".join(pdf_pages(zh_build.files["pdf"])))
    html = html_raw(zh_build.files["html"])
    epub = epub_raw(zh_build.files["epub"])
    for text in (pdf, html, epub):
        assert "目录" in text and "版本1.0.0" in text and "Contents" not in text and "Edition" not in text
    assert "2026年11月1日" in pdf and "2026年11月1日" in html
    english = raw("".join(pdf_pages(fixture_build.files["pdf"])))
    assert "Contents" in english and "1October2026" in english


def test_chinese_headings_get_ids_that_links_reach_in_every_format(zh_build):
    """Pandoc keeps Han characters in the ids it makes; a link to one works
    in the HTML page, the EPUB (EPUBCheck passed in the build's check) and
    the PDF's destinations."""
    html = zh_build.files["html"].read_text("utf-8")
    assert 'id="调查发现了什么"' in html and 'href="#调查发现了什么"' in html
    with zipfile.ZipFile(zh_build.files["epub"]) as z:
        text = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xhtml"))
    assert 'id="调查发现了什么"' in text and "#调查发现了什么\"" in text
    with pikepdf.open(zh_build.files["pdf"]) as pdf:
        links = [a for p in pdf.pages for a in p.get("/Annots", []) if a.get("/Subtype") == "/Link"]
        assert any("/Dest" in a or "/A" in a for a in links)


# ------------------------------------------------- other scripts (tests/fixtures/scripts)

SCRIPTS_FIXTURE = ZH_FIXTURE.parent / "scripts"
#: Letters of the right-to-left scripts (as pipeline.check.compare has them)
RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def script_samples() -> dict[str, tuple[list[str], list[str]]]:
    """Section title -> (its paragraphs, the lines of its code block), as
    written in the fixture's Markdown."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    paras: list[str] = []
    code: list[str] = []
    fenced = False
    for line in (SCRIPTS_FIXTURE / "scripts.md").read_text("utf-8").splitlines():
        if line.startswith("## "):
            paras, code = [], []
            out[line[3:]] = (paras, code)
        elif line.startswith("```"):
            fenced = not fenced
        elif fenced:
            code.append(line)
        elif line.strip() and out and not line.startswith("[^"):
            paras.append(re.sub(r"\[\^\w+\]", "1", line))  # the note's call, as every format prints it
    return out


@pytest.fixture(scope="module")
def scripts_build(tmp_path_factory):
    """An English publication quoting Devanagari, Bengali, Arabic, Thai,
    Hangul, Japanese and emoji, in paragraphs and code blocks."""
    from pipeline.build import build

    return build(SCRIPTS_FIXTURE, tmp_path_factory.mktemp("dist-scripts"))


def _flat(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text.translate(JOINERS)).split())


def _html_text(path) -> str:
    doc = lxml_html.fromstring(path.read_bytes())
    for bad in doc.xpath("//style|//script"):
        bad.getparent().remove(bad)
    return "\n".join(doc.xpath("//body//text()"))


def _epub_text(path) -> str:
    with zipfile.ZipFile(path) as z:
        return "\n".join("".join(etree.fromstring(z.read(n)).itertext()) for n in sorted(z.namelist())
                         if n.endswith(".xhtml"))


def test_the_scripts_publication_builds_and_checks_clean(scripts_build):
    """Its check passes: a footnote called on the page of the emoji too
    (PDFium counts a character outside the BMP as two, and the check read
    every such page without leaving out the superscript footnote call)."""
    assert scripts_build.check.ok
    assert set(script_samples()) == {"Devanagari", "Bengali", "Arabic", "Thai", "Hangul", "Japanese", "Emoji"}


@pytest.mark.parametrize("fmt", ["pdf", "epub", "html"])
def test_each_script_reads_back_from_each_format_in_text_and_code(scripts_build, fmt):
    """The paragraph and every code line of each script, as written, in the
    format's text: in the PDF as PDFium extracts it (the PDF's ActualText
    spans give Devanagari's reordered vowel signs, the dotted circle before
    a lone virama and Thai's tone marks back as written). Right-to-left
    lines are the exception in the PDF (next test)."""
    path = scripts_build.files[fmt]
    # without whitespace: PDFium sets the raised footnote call on a line of its own
    text = raw(_flat({"pdf": lambda: "\n".join(pdf_pages(path)), "epub": lambda: _epub_text(path),
                      "html": lambda: _html_text(path)}[fmt]()))
    missing = []
    for script, (paras, code) in script_samples().items():
        for sample in paras + code:
            if fmt == "pdf" and RTL.search(sample):
                continue
            if raw(_flat(sample)) not in text:
                missing.append(f"{script}: {sample}")
    assert not missing, "\n".join(missing)


def _actual_texts(path) -> list[str]:
    out = []
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            for operands, op in pikepdf.parse_content_stream(page):
                if str(op) == "BDC" and len(operands) == 2 and isinstance(operands[1], pikepdf.Dictionary) \
                        and "/ActualText" in operands[1]:
                    out.append(str(operands[1].ActualText))
    return out


def test_a_right_to_left_line_has_its_text_in_logical_order_in_the_pdf(scripts_build):
    """Arabic is drawn in visual order; the PDF gives each line that has
    some its text as written (ActualText), which copying and reading aloud
    use. PDFium then reorders it once more (the words of an Arabic line in
    reverse), so its text has the same letters, not the same order."""
    from collections import Counter

    paras, code = script_samples()["Arabic"]
    spans = [_flat(t) for t in _actual_texts(scripts_build.files["pdf"])]
    for sample in paras + code:
        assert _flat(sample) in spans, (sample, [s for s in spans if RTL.search(s)])
    pdf = Counter(raw("".join(pdf_pages(scripts_build.files["pdf"]))))
    assert not Counter(raw("".join(paras + code))) - pdf


def test_latin_and_chinese_text_get_no_actualtext(fixture_build):
    """One glyph per character: the PDF's text is its ToUnicode map alone."""
    assert _actual_texts(fixture_build.files["pdf"]) == []


def test_the_check_finds_an_arabic_word_missing_from_the_pdf(scripts_build):
    """Compared by letters, not order, a right-to-left paragraph still
    fails when a word is gone."""
    from pipeline import source
    from pipeline.check.compare import Expected, compare_text

    # without the emoji paragraph's footnote call, which the check's own reader leaves out
    pages = [p.replace("👍,\r\n1\r\n", "👍,") for p in pdf_pages(scripts_build.files["pdf"])]
    exp = Expected.from_publication(source.load(SCRIPTS_FIXTURE))
    assert compare_text("pdf", exp, pages) == []
    word = "العربية"
    assert sum(p.count(word) for p in pages) == 1
    findings = compare_text("pdf", exp, [p.replace(word, "") for p in pages])
    assert len(findings) == 1 and "Arabic" in findings[0].message and "is missing" in findings[0].message, findings


def test_the_fonts_each_script_needs_are_embedded_subset(scripts_build):
    with pikepdf.open(scripts_build.files["pdf"]) as pdf:
        names = {str(f.BaseFont).split("+", 1)[1] for p in pdf.pages for f in p.Resources.get("/Font", {}).values()}
    for family in ("Devanagari", "Bengali", "Arabic", "Thai"):
        assert f"Noto-Sans-{family}" in names, names
    assert {"Noto-Serif-KR", "Noto-Serif-JP", "Noto-Emoji"} <= names, names
    assert not {"Noto-Serif-SC", "Noto-Serif-TC"} & names, "Japanese kana pick the JP fonts for its Han characters"
    size = scripts_build.files["pdf"].stat().st_size
    assert size < 600_000, f"{size} bytes"


def _stroked_fonts(path) -> set[str]:
    """The fonts text is drawn in with rendering mode 2 (fill and stroke:
    the synthetic bold of pipeline/render/actualtext.py)."""
    out = set()
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            names = {str(k): str(v.BaseFont).split("+", 1)[1] for k, v in page.Resources.get("/Font", {}).items()}
            font, mode = None, 0
            for operands, op in pikepdf.parse_content_stream(page):
                if str(op) == "Tf":
                    font = names.get(str(operands[0]))
                elif str(op) == "Tr":
                    mode = int(operands[0])
                elif str(op) in ("TJ", "Tj") and mode == 2:
                    out.add(font)
    return out


def test_bold_chinese_is_drawn_bold_and_nothing_else_is_stroked(zh_build, fixture_build):
    """The CJK fonts have one weight: headings (600 and 700) in Chinese are
    stroked as well as filled; body text and English text are not."""
    # WeasyPrint names the bold use of the Regular face Noto-Sans-SC-Bold (and
    # the semibold one, in the contents, Noto-Sans-SC)
    stroked = _stroked_fonts(zh_build.files["pdf"])
    assert "Noto-Sans-SC-Bold" in stroked and all(f.startswith("Noto-Sans-SC") for f in stroked), stroked
    assert _stroked_fonts(fixture_build.files["pdf"]) == set()
    text = raw("".join(pdf_pages(zh_build.files["pdf"])))
    assert "调查是怎样做的" in text, "stroked text reads back as text"


def test_code_keeps_a_monospace_font_and_sets_arabic_joined(scripts_build):
    """Code is set in the monospace font; Arabic letters, which it has but
    does not join, in Noto Sans Arabic (for those letters only), and CJK
    characters, which it lacks, in the publication's CJK sans-serif."""
    with pikepdf.open(scripts_build.files["pdf"]) as pdf:
        names = {str(f.BaseFont).split("+", 1)[1] for p in pdf.pages for f in p.Resources.get("/Font", {}).values()}
    assert {"DejaVu-Sans-Mono", "Code-Noto-Sans-Arabic", "Noto-Sans-KR", "Noto-Sans-JP"} <= names, names
    page = next(p for p in pdf_pages(scripts_build.files["pdf"]) if "let hello" in p)
    assert 'let hello = "' in page


# ------------------------------------------------- fonts by language and by character

@pytest.mark.parametrize("language, text, families", [
    ("zh-Hans", "中文", ["Noto Serif SC", "Source Serif Pro"]),
    ("zh-Hant", "正體中文", ["Noto Serif TC", "Source Serif Pro"]),
    ("zh-TW", "正體中文", ["Noto Serif TC", "Source Serif Pro"]),
    ("ja", "日本語のテキスト", ["Noto Serif JP", "Source Serif Pro"]),
    ("ko", "한국어 텍스트", ["Noto Serif KR", "Source Serif Pro"]),
    # in English text: Hangul takes the KR fonts (for Hangul only: SC sets the Han
    # characters, as before it), kana take the JP fonts, Han characters alone SC
    ("en", "[한국어](x) and 简体中文", ["Source Serif Pro", "Noto Serif SC", "Noto Serif KR"]),
    ("en", "こんにちは世界", ["Source Serif Pro", "Noto Serif JP"]),
    ("en", "简体中文", ["Source Serif Pro", "Noto Serif SC"]),
])
def test_the_cjk_fonts_are_chosen_by_language_and_by_the_characters(language, text, families):
    from pipeline import fonts

    stack = fonts.stacks(language, text)
    assert [f.name for f in stack.text] == families
    assert not stack.missing
    if "Noto Serif KR" in families and language == "en":
        assert stack.characters_for(fonts.SERIF_KR, text) == "".join(sorted(set("한국어")))


def test_a_korean_publication_is_set_in_the_korean_fonts(tmp_path):
    """language: ko: Noto Serif KR and Noto Sans KR embedded, the furniture
    in Korean, every Hangul syllable read back from the PDF."""
    import shutil

    from pipeline.build import build

    folder = tmp_path / "ko"
    folder.mkdir()
    (folder / "publication.yaml").write_text(
        "title: 한국어 시험\nauthors:\n  - name: 김민수\nlanguage: ko\nedition:\n  version: 1.0.0\n"
        "  date: 2026-12-01\noutline:\n  parts:\n    - title: 첫째 장\n      file: one.md\n", "utf-8")
    text = "한국어는 한글로 씁니다. 안녕하세요, 세계! 漢字도 씁니다: 大韓民國."
    (folder / "one.md").write_text(f"# 첫째 장\n\n{text}\n\n**굵은 글씨**도 있습니다.\n", "utf-8")
    result = build(folder, tmp_path / "dist")
    assert result.check.ok
    with pikepdf.open(result.files["pdf"]) as pdf:
        assert str(pdf.Root.Lang) == "ko"
        names = {str(f.BaseFont).split("+", 1)[1] for p in pdf.pages for f in p.Resources.get("/Font", {}).values()}
    assert {"Noto-Serif-KR", "Noto-Sans-KR"} <= names and not any("SC" in n or "JP" in n for n in names), names
    pdf_text = raw("".join(pdf_pages(result.files["pdf"])))
    assert raw(text) in pdf_text and "차례" in pdf_text and "2026년12월1일" in pdf_text
    assert raw(text) in html_raw(result.files["html"]) and raw(text) in epub_raw(result.files["epub"])
    shutil.rmtree(tmp_path / "dist", ignore_errors=True)


def test_the_html_page_carries_what_each_script_needs_to_be_shaped(scripts_build):
    """The page's subsets of the script fonts keep their layout tables (or
    Arabic is drawn unjoined, Devanagari conjuncts apart), the letters a
    browser decomposes a character into (Thai ำ is drawn as ํ and า) and
    the dotted circle; code falls back to the page's fonts, Arabic first
    (a monospace font may have its letters without joining them)."""
    import base64
    import io

    from fontTools.ttLib import TTFont

    page = scripts_build.files["html"].read_text("utf-8")
    faces = dict(re.findall(r'font-family: "(Noto [^"]+)";\s*src: url\("data:font/woff;base64,([^"]+)"\)', page))
    for family in ("Noto Sans Arabic", "Noto Sans Devanagari", "Noto Sans Bengali", "Noto Sans Thai"):
        font = TTFont(io.BytesIO(base64.b64decode(faces[family])))
        assert {"GSUB", "GPOS"} <= set(font.keys()), family
        assert 0x25CC in font.getBestCmap(), family
    # the quote before a lone virama in code: set in one font with the mark
    assert ord("'") in TTFont(io.BytesIO(base64.b64decode(faces["Noto Sans Devanagari"]))).getBestCmap()
    thai = TTFont(io.BytesIO(base64.b64decode(faces["Noto Sans Thai"]))).getBestCmap()
    assert {0x0E33, 0x0E4D, 0x0E32} <= set(thai)
    cjk = TTFont(io.BytesIO(base64.b64decode(faces["Noto Serif JP"])))
    assert "GSUB" not in cjk, "the CJK subsets stay small"
    code = re.search(r"pre, code, kbd, samp \{ font-family: ([^;]+);", page)
    assert code and code[1].startswith('"Noto Sans Arabic", monospace, ') and '"Noto Sans Devanagari"' in code[1]


def test_the_html_and_epub_keep_a_dash_off_the_start_of_a_line_too(zh_build):
    """Chromium's line-break: strict still broke before —— on a phone: the
    page and the EPUB get the PDF's word joiners (linebreak.py)."""
    html = zh_build.files["html"].read_text("utf-8")
    with zipfile.ZipFile(zh_build.files["epub"]) as z:
        epub = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xhtml"))
    for text in (html, epub):
        assert "建议\u2060——第一" in text and "建议——" not in text


def test_no_stretched_gaps_in_chinese_lines(zh_build):
    """WeasyPrint justifies by widening spaces: a Chinese line with one
    Latin word in it (用Python 3.12编写) got a gap of a dozen points. In the
    running text (Noto Serif SC; tables and the contents are set in the sans
    serif, in columns) no gap between two characters of a line is wider
    than an em."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    def font(textpage, i):
        buffer = ctypes.create_string_buffer(128)
        pdfium_c.FPDFText_GetFontInfo(textpage.raw, i, buffer, 128, None)
        return buffer.value.decode("latin-1")

    pdf = pdfium.PdfDocument(str(zh_build.files["pdf"]))
    wide, lines = [], 0
    try:
        for n in range(len(pdf)):
            page = pdf[n].get_textpage()
            text = page.get_text_range()
            if len(text) != page.count_chars():
                continue  # a character outside the BMP on the page: no index per character
            prev = None
            for i, ch in enumerate(text):
                if ch.isspace() or ch in "\u2060\ufffe":
                    continue
                if not font(page, i).endswith("Noto-Serif-SC"):
                    prev = None  # code, a table, the contents: measured apart
                    continue
                left, bottom, right, top = page.get_charbox(i)
                if prev and abs(prev[1] - bottom) < 2 and left > prev[2]:
                    lines += text[prev[3]:i].count(" ") > 0
                    if left - prev[2] > max(10.5, 1.2 * (top - bottom)):
                        wide.append(f"page {n + 1}: {round(left - prev[2], 1)} pt before {text[i:i + 12]!r}")
                prev = (left, bottom, right, i)
    finally:
        pdf.close()
    assert lines, "the fixture has running text with a space between Latin words"
    assert not wide, "\n".join(wide)
