"""A format is one object (pipeline.formats): a throwaway plain-text format,
defined and registered here and nowhere else, is built, checked, reported,
released and chosen in publication.yaml without any other change to the
pipeline; and the registry is what build, check, the command line and
publication.yaml go by."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pipeline import formats
from pipeline.check.extracted import Entry, Extracted, Finding
from pipeline.check.html import text_of
from pipeline.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "sample-report"


class PlainText(formats.Format):
    """The outline, one heading a line, then each chapter's text."""

    name = "txt"
    label = "Plain text"
    media_type = "text/plain; charset=utf-8"
    default = False  # built only when asked for: the other tests' builds do not change

    def render(self, pub, body, design, **options) -> bytes:
        lines = ["== outline"]
        lines += [f"{e.level}\t{e.number}\t{e.title}" for e in pub.outline]
        lines.append("== text")
        lines += [" ".join(text_of(body.chapter(c.id)).split()) for c in pub.chapters]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def read(self, path: Path) -> Extracted:
        out = Extracted(self.name)
        lines = path.read_text("utf-8").splitlines()
        if not lines or lines[0] != "== outline" or "== text" not in lines:
            out.problems.append(Finding(self.name, "structure", "the file has no outline and text sections"))
            return out
        split = lines.index("== text")
        for line in lines[1:split]:
            level, number, title = line.split("\t")
            out.outline.append(Entry(int(level), number, title))
        out.text = lines[split + 1:]
        return out


@pytest.fixture()
def txt():
    fmt = formats.register(PlainText())
    try:
        yield fmt
    finally:
        formats.unregister("txt")


def copy_fixture(where: Path, formats_key: str | None = None) -> Path:
    src = where / "sample-report"
    shutil.copytree(FIXTURE, src)
    if formats_key is not None:
        yaml = src / "publication.yaml"
        yaml.write_text(yaml.read_text("utf-8") + f"formats: {formats_key}\n", encoding="utf-8")
    return src


def test_the_registry_holds_the_shipped_formats_in_order():
    assert formats.names()[:3] == ("pdf", "epub", "html")
    assert formats.default() == ("pdf", "epub", "html")
    assert [f.heavy for f in formats.REGISTRY.values()][:3] == [True, False, False]
    with pytest.raises(KeyError, match="unknown format 'docx'; the formats are pdf, epub, html"):
        formats.get("docx")
    with pytest.raises(ValueError):
        formats.register(PlainText.__new__(type("Bad", (PlainText,), {"name": "Bad name"})))
    assert formats.lead() is formats.get("pdf")  # distributed: the published site leads with it
    assert [f.validator.key for f in formats.REGISTRY.values() if f.validator] == ["epubcheck", "vnu"]


@pytest.mark.parametrize("heavy", [False, True], ids=["light", "heavy"])
def test_a_new_format_is_built_checked_and_summarised(tmp_path, txt, monkeypatch, heavy):
    """Beside the HTML page; heavy, it is rendered and checked in a process
    of its own (on a machine that can fork), as the PDF is."""
    from pipeline.build import build
    from pipeline.check import check_outputs
    from pipeline.progress import PlainReporter, summarise
    from pipeline.schedule import can_fork

    monkeypatch.setattr(txt, "heavy", heavy)
    src = copy_fixture(tmp_path)
    steps = []
    result = build(src, tmp_path / "dist", formats=("txt", "html"), progress=lambda s, t: steps.append((s, t)))
    assert set(result.files) == {"txt", "html"}
    assert result.files["txt"].name == "sample-report.txt"
    assert result.check.ok, result.check.findings()
    report = json.loads((result.out_dir / "check.json").read_text("utf-8"))
    assert list(report["formats"]) == ["txt", "html"]
    assert report["formats"]["txt"]["outline"][0]["title"] == result.publication.outline[0].title
    assert ("txt", None) in steps and any(s == "txt" and t is not None for s, t in steps)
    pids = {e.step: e.pid for e in result.events}
    assert (pids["txt"] != pids["html"]) == (heavy and can_fork())

    summary = summarise(result, 1.0)
    assert [f.format for f in summary.files] == ["txt", "html"]
    lines = []
    reporter = PlainReporter()
    monkeypatch.setattr(reporter, "line", lines.append)
    reporter.summary(summary)
    assert any("sample-report.txt" in line for line in lines), lines
    with reporter.building("sample-report") as on_step:
        on_step("txt", 0.5)
    assert "sample-report: Plain text (0.50s)" in lines

    # the check reads it back and fails when it disagrees with the source
    txt_file = result.files["txt"]
    lines = txt_file.read_text("utf-8").splitlines()
    second = result.publication.outline[1]
    txt_file.write_text("\n".join(line for line in lines if line != f"{second.level}\t{second.number}\t{second.title}"),
                        encoding="utf-8")
    findings = check_outputs(result.publication, result.out_dir, formats=("txt",)).findings()
    assert findings and all(f.startswith("txt: ") for f in findings), findings
    assert any(second.title in f for f in findings), findings


def test_publication_yaml_chooses_the_formats_and_release_archives_them(tmp_path, txt, capsys):
    """``formats: [txt]`` in publication.yaml: `pipeline build` without
    --formats builds that, and `pipeline release` archives it."""
    from pipeline.editions import Edition, verify

    src = copy_fixture(tmp_path, "[txt]")
    assert main(["build", str(src), "--out", str(tmp_path / "dist"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "dist" / "sample-report").iterdir()) == [
        "check.json", "sample-report.txt"]
    assert main(["check", str(src), "--out", str(tmp_path / "dist"), "--quiet"]) == 0  # checks what was asked for

    archive = tmp_path / "editions"
    assert main(["release", str(src), "--archive", str(archive)]) == 0
    folder = next((archive / "sample-report").glob("[0-9]*"))
    edition = Edition(folder, json.loads((folder / "manifest.json").read_text("utf-8")))
    assert [f.role for f in edition.files] == ["txt", "source", "check"]
    assert edition.file("txt").name == f"sample-report-{edition.version}.txt"
    assert "pdf_variant" not in edition.manifest  # a fact of the PDF's, which was not built
    assert verify(archive).ok

    # the site's page leads with the PDF: an edition without one is refused, with the way out
    config = tmp_path / "publish.yaml"
    config.write_text(f"title: Reports\ndestinations:\n  site:\n    type: folder\n    path: {tmp_path / 'site'}\n",
                      encoding="utf-8")
    capsys.readouterr()
    assert main(["publish", "--archive", str(archive), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "holds no PDF, which the site's page of sample-report leads with" in err
    assert "hint: add pdf to 'formats:'" in err and "Traceback" not in err
    assert not (tmp_path / "site" / "sample-report").exists()


def test_an_unknown_format_in_publication_yaml_is_one_message_with_its_line(tmp_path, capsys):
    src = copy_fixture(tmp_path, "[pdf, ePub, slidez]")
    line = len((src / "publication.yaml").read_text("utf-8").splitlines())
    assert main(["build", str(src), "--out", str(tmp_path / "dist")]) == 2
    err = capsys.readouterr().err
    assert f"publication.yaml:{line}" in err
    assert "'formats' names 'slidez', which is not a format" in err
    assert "did you mean 'slides'? the formats are: pdf, epub, html, slides" in err
    assert "'ePub'" in err  # not a lower-case name: the schema says so
    assert "Traceback" not in err


def test_the_command_line_lists_the_registry_and_refuses_other_names(txt, capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "of pdf,epub,html,slides,txt" in help_text
    assert "else pdf,epub,html)" in help_text
    with pytest.raises(SystemExit) as exit:
        main(["build", str(FIXTURE), "--formats", "pdf,docx"])
    assert exit.value.code == 2
    assert "unknown format docx; choose from pdf,epub,html,slides,txt" in capsys.readouterr().err


# ---------------------------------------------------------------- nothing else names a format

#: The formats' own modules: the registry and each format's module
#: (pipeline/formats/), and the implementation those wrap, which is the
#: format's by definition (its renderer and its reader).
OWN_MODULES = ("pipeline/formats/", "pipeline/render/pdf.py", "pipeline/render/epub.py", "pipeline/render/html.py",
               "pipeline/render/slides.py", "pipeline/check/pdf.py", "pipeline/check/epub.py",
               "pipeline/check/html.py", "pipeline/check/slides.py")

#: Quoted format names elsewhere that do not name an output format: file ->
#: how many times (a line may hold two), and what they are (docs/formats.md, "What names a format").
NOT_AN_OUTPUT_FORMAT = {
    "pipeline/source/safety.py": 4,  # pandoc's raw formats that are HTML ("html", "epub", ...) in the source
    "pipeline/source/targets.py": 2,  # the same: raw HTML in the source
    "pipeline/check/compare.py": 1,  # the same: raw HTML in the source, for the text the check expects
    "pipeline/render/figures.py": 1,  # a pandoc RawBlock of HTML written into the body
    "pipeline/render/common.py": 1,  # lxml's serialisation method
    "pipeline/render/speedups.py": 2,  # an attribute of WeasyPrint's that is called ``pdf``
    "pipeline/importer.py": 3,  # the kind of an edit the importer made: HTML in the imported Markdown
}

FORMAT_NAME = re.compile(r"""["'](?:pdf|epub|html)["']""")


def _format_names(root: Path) -> dict[str, list[str]]:
    """Every quoted "pdf", "epub" or "html" in the pipeline's Python
    outside the formats' own modules: file -> the lines (as `grep -rn
    '"pdf"\\|"epub"\\|"html"' pipeline/`, and single quotes too)."""
    found: dict[str, list[str]] = {}
    for path in sorted((root / "pipeline").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(OWN_MODULES):
            continue
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            for _ in FORMAT_NAME.finditer(line):
                found.setdefault(rel, []).append(f"{rel}:{n}: {line.strip()}")
    return found


def test_no_module_but_the_formats_own_names_a_format(tmp_path):
    """Issue 16's done-when: outside the registry and the formats' own
    modules, no Python module names an output format; the few quoted
    "html"s left are pandoc's or lxml's, counted and explained above. And
    the test is not blind: a format named in build.py is caught."""
    found = _format_names(ROOT)
    unexpected = {f: lines for f, lines in found.items() if len(lines) != NOT_AN_OUTPUT_FORMAT.get(f, 0)}
    assert not unexpected, "a module names a format; ask the registry (pipeline.formats) instead:\n" + \
        "\n".join(dict.fromkeys(line for lines in unexpected.values() for line in lines))
    assert set(found) == set(NOT_AN_OUTPUT_FORMAT)  # the allow-list holds nothing stale

    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "pipeline", copy / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    build = copy / "pipeline" / "build.py"
    build.write_text(build.read_text("utf-8") + '\nWANTED = ("epub",)\n', "utf-8")
    caught = _format_names(copy)
    assert [line.split(": ", 1)[1] for line in caught["pipeline/build.py"]] == ['WANTED = ("epub",)']
