"""The furniture of a publication in a language other than English and the
CJK ones (templates/words.yaml). Seen importing the Russian and Greek
translations of jlevy/the-art-of-command-line: their PDFs said "Contents",
"About this edition" and "7 December 2026" around Russian and Greek text."""

from __future__ import annotations

import pytest

from readback import pdf_pages


@pytest.fixture(scope="module")
def ru_build(tmp_path_factory):
    from pipeline.build import build

    tmp = tmp_path_factory.mktemp("ru")
    folder = tmp / "ru"
    folder.mkdir()
    (folder / "publication.yaml").write_text(
        "title: Проба\nauthors:\n  - name: Иван Петров\nlanguage: ru\nedition:\n  version: 1.0.0\n"
        "  date: 2026-12-01\noutline:\n  parts:\n    - title: Основы\n      file: one.md\n"
        "key_figures:\n  items:\n    - {value: 70, unit: '%', label: команд знакомы}\n", "utf-8")
    (folder / "one.md").write_text("# Основы\n\nИзучите основы Bash.\n\n> [!NOTE]\n> Коротко.\n\n"
                                   "| Команда | Смысл |\n|---|---|\n| ls | список |\n\n: Команды\n\n"
                                   "```\nls -l\n```\n\n![](https://example.org/a.png)\n", "utf-8")
    return build(folder, tmp / "dist")


def test_a_russian_publication_has_its_furniture_in_russian(ru_build):
    assert ru_build.check.ok
    pdf = " ".join("".join(pdf_pages(ru_build.files["pdf"])).split())
    assert "Содержание" in pdf and "1 декабря 2026 г." in pdf and "Об этом издании" in pdf
    assert "Contents" not in pdf and "December" not in pdf
    page = ru_build.files["html"].read_text("utf-8")
    assert "Примечание" in page and ">Note<" not in page


def test_the_words_the_build_writes_into_the_text_are_russian_too(ru_build):
    """The names a screen reader hears for a table's and a code block's
    scrolling box, the chart's description, a remote image's link text and
    the EPUB's accessibility summary come from the words table as well, not
    from English in the code or a template."""
    from lxml import html

    page = html.fromstring(ru_build.files["html"].read_bytes())
    assert sorted(page.xpath("//main//div[@class='scroll']/@aria-label")) == ["Код", "Таблица: Команды"]
    assert [a.text_content() for a in page.xpath("//main//a[@href='https://example.org/a.png']")] == [
        "изображение на сайте example.org"]
    alts = page.xpath("//main//img/@alt")
    assert len(alts) == 1 and alts[0].startswith("Столбчатая диаграмма, шкала до 100 %: 70% команд знакомы")
    # and so does the EPUB's accessibility summary, which reading systems read out
    import zipfile

    with zipfile.ZipFile(ru_build.files["epub"]) as z:
        opf = z.read("EPUB/package.opf").decode("utf-8")
    assert '<meta property="schema:accessibilitySummary">Текст полон и идёт в порядке чтения;' in opf


@pytest.mark.parametrize("language, contents", [("el", "Περιεχόμενα"), ("uk", "Зміст"), ("de", "Inhalt"),
                                                ("fr", "Table des matières"), ("es", "Índice")])
def test_each_language_in_the_table_has_every_word(language, contents):
    """No word of such an entry falls back to English (only the list
    separator and the form of a heading's number, which are the same)."""
    from pipeline.render.common import Design

    table = Design()._words
    assert Design().words(language)["contents"] == contents
    assert set(table["en"]) - set(table[language]) == {"list_separator", "heading_number"}
    assert len(table[language]["months"]) == 12
