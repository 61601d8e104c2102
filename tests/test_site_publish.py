"""Issue 15: `pipeline publish` to a folder: the released editions as a
reader's site, served over HTTP on 127.0.0.1 and read back: every file
with its checksum, the landing and index pages (Nu Html Checker, axe-core
in Chromium), the Atom feed (feedparser); immutable, idempotent, and a
killed or starved publish leaves no link to a missing file.

One archive (two editions of the fixture, released once per session) and
one published site per module; tests that change a site work on a copy."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from lxml import html as lxml_html

from conftest import FIXTURE, ROOT, small_tmpfs
from pipeline.cli import main

SLUG = "sample-report"


def tree(folder: Path) -> dict[str, str]:
    """Every file and link under ``folder``: path -> sha256 (or -> target)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file() and p.name != ".publish.lock":
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_config(where: Path, site: Path, extra: str = "") -> Path:
    config = where / "publish.yaml"
    config.write_text(f"title: Field reports\n{extra}destinations:\n  site:\n    type: folder\n    path: {site}\n", "utf-8")
    return config


def publish(archive: Path, config: Path, *more: str) -> int:
    return main(["publish", "--archive", str(archive), "--config", str(config), *more])


@pytest.fixture(scope="module")
def site(released_archive, tmp_path_factory):
    """The archive published to a folder; (site folder, config, output)."""
    root = tmp_path_factory.mktemp("site")
    folder = root / "site"
    config = write_config(root, folder)
    proc = subprocess.run([sys.executable, "-m", "pipeline", "publish", "--archive", str(released_archive),
                           "--config", str(config)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return folder, config, proc.stdout


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    """A real HTTP server on 127.0.0.1 serving the site folder."""
    folder = site[0]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def fetch(url: str) -> tuple[bytes, dict]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read(), dict(r.headers)


def manifests(archive: Path) -> list[dict]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(archive.glob("*/*/manifest.json"))]


def links_resolve(folder: Path) -> list[str]:
    """Every local link of every page and of the feed that leads to no
    file in ``folder``: what a reader would meet as a broken link."""
    broken = []
    for page in [*folder.glob("*.html"), *folder.glob("*/*.html")]:
        doc = lxml_html.fromstring(page.read_bytes())
        for href in doc.xpath("//a/@href | //link/@href | //img/@src"):
            if href.startswith(("data:", "#", "http:", "https:")):
                continue
            target = (page.parent / urllib.parse.unquote(href.split("#")[0]))
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(folder)} -> {href}")
    feed = folder / "feed.xml"
    if feed.is_file():
        for href in re.findall(r'href="([^"]+)"', feed.read_text("utf-8")):
            if not (folder / href.split("#")[0]).is_file():
                broken.append(f"feed.xml -> {href}")
    return broken


def editions_whole(folder: Path) -> list[str]:
    """Each edition folder on the site holds its manifest's files with
    their checksums; what does not."""
    problems = []
    for m_path in folder.glob("*/*/manifest.json"):
        if m_path.parent.name == "latest" or m_path.parent.name.startswith("."):
            continue
        m = json.loads(m_path.read_text("utf-8"))
        for f in m["files"]:
            p = m_path.parent / f["name"]
            if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]:
                problems.append(str(p))
    return problems


# ------------------------------------------------------------ the site, over HTTP

def test_every_released_file_is_served_at_its_version_address(site, server, released_archive, tmp_path):
    for m in manifests(released_archive):
        base = f"{server}{m['slug']}/{m['version']}/"
        for f in m["files"]:
            data, _ = fetch(base + f["name"])
            assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"], f["name"]
            (tmp_path / f["name"]).write_bytes(data)
        sums, _ = fetch(base + "SHA256SUMS")
        (tmp_path / "manifest.json").write_bytes(fetch(base + "manifest.json")[0])
        (tmp_path / "SHA256SUMS").write_bytes(sums)
        # the standard tool checks a download against it
        check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.count(": OK") == len(m["files"]) + 1  # and the manifest
        for p in tmp_path.iterdir():
            p.unlink()


def test_latest_and_the_stable_link_are_the_newest_edition(site, server, released_archive):
    newest = released_archive / SLUG / "1.2.0" / f"{SLUG}-1.2.0.pdf"
    assert fetch(f"{server}{SLUG}/{SLUG}.pdf")[0] == newest.read_bytes()
    assert fetch(f"{server}{SLUG}/latest/{SLUG}-1.2.0.pdf")[0] == newest.read_bytes()
    assert fetch(f"{server}{SLUG}/latest/SHA256SUMS")[0] == fetch(f"{server}{SLUG}/1.2.0/SHA256SUMS")[0]


def test_the_output_names_each_file_and_the_addresses(site):
    _, _, out = site
    assert f"{SLUG}/1.1.0/{SLUG}-1.1.0.pdf: uploaded" in out
    assert f"{SLUG}/1.2.0/SHA256SUMS: uploaded" in out
    assert "published 2 edition(s) to site: 14 file(s) uploaded, 0 already there" in out
    assert f"{site[0] / SLUG / (SLUG + '.pdf')}" in out and f"{site[0] / 'feed.xml'}" in out


def test_landing_page_shows_the_publication_and_its_downloads(site, server, released_archive):
    import pikepdf

    data, headers = fetch(f"{server}{SLUG}/index.html")
    assert headers["Content-type"].startswith("text/html")
    page = lxml_html.fromstring(data)
    assert page.xpath("string(//h1)") == "Water Points in Three Districts"
    assert "Ada Example" in page.xpath("string(//*[@class='authors'])")
    assert "Ben Sample" in page.xpath("string(//*[@class='authors'])")
    assert page.xpath("string(//p[@class='description'])") == "A short survey report used by the pipeline's tests."
    # the cover: a PNG picture of the PDF's first page, inside the page
    src = page.xpath("//img[@class='cover']/@src")[0]
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.xpath("//img[@class='cover']/@alt")[0]
    # the latest PDF is the main download, with size, pages and SHA-256
    pdf = released_archive / SLUG / "1.2.0" / f"{SLUG}-1.2.0.pdf"
    main_link = page.xpath("//a[contains(@class,'button')]")[0]
    assert main_link.get("href") == f"1.2.0/{SLUG}-1.2.0.pdf"
    assert fetch(f"{server}{SLUG}/{main_link.get('href')}")[0] == pdf.read_bytes()
    with pikepdf.open(pdf) as doc:
        pages = len(doc.pages)
    facts = page.xpath("string(//p[@class='download'])")
    assert f"{pages} pages" in facts
    assert page.xpath("//p[@class='download']//data/@value") == [str(pdf.stat().st_size)]
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() in page.xpath("string(//p[@class='hash-line'])")
    others = {a.text_content(): a.get("href") for a in page.xpath("//ul[@class='others']//a")}
    assert others["EPUB"] == f"1.2.0/{SLUG}-1.2.0.epub" and others["HTML page"] == f"1.2.0/{SLUG}-1.2.0.html"
    # every earlier edition with its date and its note from edition.history
    earlier = page.xpath("//li[@id='v1.1.0']")[0]
    assert "2026-10-01" in earlier.text_content() and "Adds the maintenance findings." in earlier.text_content()
    assert f"1.1.0/{SLUG}-1.1.0.pdf" in earlier.xpath(".//a/@href")
    assert "Adds the costs." in page.xpath("string(//section[@id='v1.2.0'])")
    assert links_resolve(site[0]) == []


def test_index_page_lists_every_publication(site, server):
    page = lxml_html.fromstring(fetch(server + "index.html")[0])
    assert page.xpath("string(//h1)") == "Field reports"
    links = page.xpath("//main//h2/a")
    assert [(a.text_content(), a.get("href")) for a in links] == [("Water Points in Three Districts", f"{SLUG}/index.html")]
    assert fetch(server + links[0].get("href"))[0] == (site[0] / SLUG / "index.html").read_bytes()


def test_the_feed_is_valid_atom_with_one_entry_per_edition(site, server):
    import feedparser

    url = server + "feed.xml"
    data, headers = fetch(url)
    feed = feedparser.parse(data, response_headers={"content-location": url, "content-type": "application/atom+xml"})
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Field reports"
    assert [e.title for e in feed.entries] == ["Water Points in Three Districts, edition 1.2.0",
                                               "Water Points in Three Districts, edition 1.1.0"]
    assert len({e.id for e in feed.entries}) == 2
    assert feed.entries[0].summary == "Adds the costs."
    for entry in feed.entries:
        enclosure = entry.enclosures[0]
        assert enclosure.type == "application/pdf"
        pdf = fetch(enclosure.href)[0]  # resolved against the feed's address, fetched over HTTP
        assert len(pdf) == int(enclosure.length) and pdf.startswith(b"%PDF")
        assert fetch(entry.link)[0].startswith(b"<!DOCTYPE html>")
        assert [a.name for a in entry.authors] == ["Ada Example", "Ben Sample"]


def test_pages_are_valid_html(site):
    from pipeline import formats
    from pipeline.check.conformance import JVM_OPTIONS, jar, java

    pages = [site[0] / "index.html", site[0] / SLUG / "index.html"]
    # the checks' own JVM options and --no-langdetect (language guessing only ever warns): a third of the time
    proc = subprocess.run([java(), *JVM_OPTIONS, "-jar", str(jar(formats.get("html").validator)), "--no-langdetect", "--errors-only",
                           "--format", "text", *map(str, pages)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("path", ["index.html", f"{SLUG}/index.html"])
def test_pages_have_no_axe_violations(browser, server, path, width):
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport={"width": width, "height": 800})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(server + path)
        report = Axe().run(page)
        violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in report.response["violations"]]
        assert violations == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # self-contained: the page asks for nothing but itself
        assert [u for u in requests if not u.startswith("data:")] == [server + path]
    finally:
        page.close()


# ------------------------------------------------------------ immutable, idempotent

def test_publishing_again_changes_nothing(site, released_archive, capsys):
    folder, config, _ = site
    before = tree(folder)
    assert publish(released_archive, config) == 0
    out = capsys.readouterr().out
    assert "0 file(s) uploaded, 14 already there, 0 page(s) written, 5 unchanged" in out
    assert tree(folder) == before


def test_dry_run_lists_what_would_change_and_changes_nothing(released_archive, tmp_path, capsys):
    folder = tmp_path / "site"
    config = write_config(tmp_path, folder)
    assert publish(released_archive, config, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"{SLUG}/1.2.0/{SLUG}-1.2.0.pdf: would upload" in out and "feed.xml: would write" in out
    assert not folder.exists()


def test_a_published_file_with_other_bytes_is_never_overwritten(site, released_archive, tmp_path, capsys):
    copy = tmp_path / "site"
    shutil.copytree(site[0], copy, symlinks=True)
    pdf = copy / SLUG / "1.1.0" / f"{SLUG}-1.1.0.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    (copy / "index.html").unlink()  # something to do, which must not be done either
    before = tree(copy)
    assert publish(released_archive, write_config(tmp_path, copy)) == 2
    err = capsys.readouterr().err
    assert f"{pdf}" in err and "never changed" in err and "nothing was published" in err
    assert tree(copy) == before


def test_only_released_editions_are_published(released_archive, tmp_path, capsys):
    """A publication that was built but never released has nothing to
    publish; the site holds exactly the archive's versions."""
    other = tmp_path / "field-notes"
    shutil.copytree(FIXTURE, other)
    folder = tmp_path / "site"
    config = write_config(tmp_path, folder)
    assert publish(released_archive, config, str(other)) == 2
    assert "field-notes has no released edition" in capsys.readouterr().err
    assert not folder.exists()
    assert publish(released_archive, config, str(FIXTURE)) == 0
    assert sorted(p.name for p in (folder / SLUG).iterdir()) == ["1.1.0", "1.2.0", "CITATION.cff", "index.html",
                                                                  "latest", f"{SLUG}.pdf"]


# ------------------------------------------------------------ stopped publishes

def test_a_killed_publish_leaves_no_broken_link_and_the_next_completes_it(site, released_archive, tmp_path):
    folder = tmp_path / "site"
    config = write_config(tmp_path, folder)
    cmd = [sys.executable, "-m", "pipeline", "publish", "--archive", str(released_archive), "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    states = set()
    for delay in (0.4, 0.8, 1.1, 1.4, 1.8):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if folder.is_dir():
            assert links_resolve(folder) == [], delay
            assert editions_whole(folder) == [], delay
            states.add(len(tree(folder)))
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    assert tree(folder) == tree(site[0])  # complete, and nothing left behind
    assert not [p for p in folder.rglob(".publish-*")]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (needs root), and a way to fill it up."""
    yield from small_tmpfs(tmp_path, "1M")


def test_a_full_disk_leaves_the_site_consistent_and_the_next_publish_completes_it(small_disk, site, released_archive,
                                                                                  tmp_path, capsys):
    disk, fill = small_disk
    folder = disk / "site"
    config = write_config(tmp_path, folder)
    fill(leave_kb=200)  # room for one edition, not for two and the pages
    assert publish(released_archive, config) == 2
    err = capsys.readouterr().err
    assert f"the disk that holds {folder}" in err and f"mounted on {disk}" in err and "internal error" not in err
    assert links_resolve(folder) == [] and editions_whole(folder) == []
    (disk / "filler").unlink()
    assert publish(released_archive, config) == 0
    assert tree(folder) == tree(site[0])


# ------------------------------------------------------------ publish.yaml

def test_bad_publish_yaml_is_reported_with_file_and_line(released_archive, tmp_path, capsys):
    config = tmp_path / "publish.yaml"
    config.write_text(
        "title: Reports\n"
        "url: reports.example.org\n"
        "destinations:\n"
        "  site:\n"
        "    type: folder\n"
        "    bucket: reports\n"
        "  store:\n"
        "    type: s3\n"
        "    region: eu-west-1\n"
        "  web:\n"
        "    type: ftp\n", "utf-8")
    assert publish(released_archive, config) == 2
    err = capsys.readouterr().err
    assert re.search(r"publish\.yaml:2:\d+: error: 'url' has the value 'reports.example.org', which is not valid", err)
    assert re.search(r"publish\.yaml:7:\d+: error: required key 'bucket' is missing in destinations.store", err)
    assert re.search(r"publish\.yaml:11:\d+: error: .*'ftp' is not one of \['folder', 's3'\]", err)
    assert "internal error" not in err


@pytest.mark.parametrize("text,message", [
    ("destinations: [site, store]\n", r"publish\.yaml:1:15: error: 'destinations' must be an object"),
    ("- site\n", r"publish\.yaml:1: error: publish\.yaml must be a mapping"),
    ("default: nowhere\n", r"publish\.yaml:1:10: error: 'default' names the destination 'nowhere'"),
])
def test_a_publish_yaml_of_the_wrong_shape_is_one_message(released_archive, tmp_path, capsys, text, message):
    config = tmp_path / "publish.yaml"
    config.write_text(text, "utf-8")
    assert publish(released_archive, config) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "internal error" not in err


def test_a_credential_in_publish_yaml_is_refused_and_never_printed(released_archive, tmp_path, capsys):
    config = tmp_path / "publish.yaml"
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    config.write_text("destinations:\n  store:\n    type: s3\n    bucket: reports\n"
                      f"    aws_secret_access_key: {secret}\n", "utf-8")
    assert publish(released_archive, config) == 2
    out = capsys.readouterr()
    assert re.search(r"publish\.yaml:5:5: error: 'aws_secret_access_key' looks like a credential", out.err)
    assert secret not in out.err + out.out


def test_an_unknown_destination_names_the_known_ones(released_archive, site, capsys):
    assert publish(released_archive, site[1], "--to", "elsewhere") == 2
    err = capsys.readouterr().err
    assert "no destination 'elsewhere'" in err and "destinations: site" in err


def test_the_readme_documents_every_key_of_publish_yaml():
    from pipeline import schemadoc

    readme = (ROOT / "README.md").read_text("utf-8")
    assert schemadoc.generate_publish() in readme


# ------------------------------------------------------------ signatures

def test_the_checksums_are_signed_and_minisign_verifies_them(site, released_archive, tmp_path, capsys):
    """A detached Ed25519 signature of each edition's SHA256SUMS, checked
    by Debian's minisign with the public key the site publishes; a changed
    list fails it."""
    keys = tmp_path / "keys"
    keys.mkdir()
    made = subprocess.run(["minisign", "-G", "-W", "-p", str(keys / "mine.pub"), "-s", str(keys / "mine.key")],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "site"
    config = write_config(tmp_path, folder, extra=f"signing_key: {keys / 'mine.key'}\n")
    assert publish(released_archive, config) == 0
    assert "SHA256SUMS.minisig: uploaded" in capsys.readouterr().out
    published_key = folder / "minisign.pub"
    assert published_key.read_text().splitlines()[1] == (keys / "mine.pub").read_text().splitlines()[1]
    for version in ("1.1.0", "1.2.0"):
        edition = folder / SLUG / version
        ok = subprocess.run(["minisign", "-V", "-p", str(published_key), "-m", str(edition / "SHA256SUMS")],
                            capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"edition:{SLUG} {version}" in ok.stdout
        changed = tmp_path / "SHA256SUMS"
        text = (edition / "SHA256SUMS").read_text()
        changed.write_text(text.replace(text[0], "0" if text[0] != "0" else "1", 1))
        shutil.copyfile(edition / "SHA256SUMS.minisig", tmp_path / "SHA256SUMS.minisig")
        bad = subprocess.run(["minisign", "-V", "-p", str(published_key), "-m", str(changed)],
                             capture_output=True, text=True)
        assert bad.returncode != 0 and "verification failed" in (bad.stdout + bad.stderr)
    page = lxml_html.fromstring((folder / SLUG / "index.html").read_bytes())
    assert "1.2.0/SHA256SUMS.minisig" in page.xpath("//a/@href")
    assert links_resolve(folder) == []
    # the same key signs the same edition the same way: publishing again changes nothing
    before = tree(folder)
    assert publish(released_archive, config) == 0
    assert tree(folder) == before
    # the secret key is nowhere on the site
    secret = (keys / "mine.key").read_text().splitlines()[1].encode()
    assert not [p for p in folder.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_a_signing_key_with_a_password_is_refused_with_a_hint(released_archive, tmp_path, capsys):
    """minisign's password-protected key differs from a key without one
    in its key derivation algorithm ("Sc", scrypt, instead of none) and in
    the secret half being encrypted; made here from one without, as
    `minisign -G` with a password spends seconds in scrypt on purpose."""
    made = subprocess.run(["minisign", "-G", "-W", "-p", str(tmp_path / "open.pub"), "-s", str(tmp_path / "open.key")],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    comment, blob = (tmp_path / "open.key").read_text().splitlines()[:2]
    raw = bytearray(base64.b64decode(blob))
    assert raw[2:4] == b"\0\0"
    raw[2:4] = b"Sc"
    key = tmp_path / "locked.key"
    key.write_text(f"untrusted comment: minisign encrypted secret key\n{base64.b64encode(bytes(raw)).decode()}\n")
    config = write_config(tmp_path, tmp_path / "site", extra=f"signing_key: {key}\n")
    assert publish(released_archive, config) == 2
    err = capsys.readouterr().err
    assert "protected by a password" in err and "minisign -G -W" in err
    assert not (tmp_path / "site").exists()


# ------------------------------------------------------------ verify --remote

def test_verify_remote_names_a_flipped_byte_a_deleted_and_an_extra_file(site, released_archive, tmp_path, capsys):
    folder, config, _ = site
    assert main(["editions", "verify", "--archive", str(released_archive), "--config", str(config),
                 "--remote", "site"]) == 0
    assert "2 published edition(s), 14 file(s) read back from site: every file matches" in capsys.readouterr().out
    copy = tmp_path / "site"
    shutil.copytree(folder, copy, symlinks=True)
    pdf = copy / SLUG / "1.1.0" / f"{SLUG}-1.1.0.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    pdf.write_bytes(bytes(data))
    epub = copy / SLUG / "1.2.0" / f"{SLUG}-1.2.0.epub"
    epub.unlink()
    extra = copy / SLUG / "1.2.0" / "notes.txt"
    extra.write_text("not part of the edition\n")
    assert main(["editions", "verify", "--archive", str(released_archive), "--config",
                 str(write_config(tmp_path, copy)), "--remote", "site"]) == 1
    out = capsys.readouterr().out
    assert f"{pdf}: altered" in out and f"{epub}: missing" in out and f"{extra}: extra" in out
    assert "3 problems" in out


# ------------------------------------------------------------ citation data

def _citation(page_bytes: bytes) -> tuple[list[tuple[str, str]], dict]:
    page = lxml_html.fromstring(page_bytes)
    meta = [(m.get("name"), m.get("content")) for m in page.xpath("//meta[starts-with(@name, 'citation_')]")]
    ld = json.loads(page.xpath("string(//script[@type='application/ld+json'])"))
    return meta, ld


def test_landing_page_carries_citation_meta_tags_and_schema_org_json_ld(site, server, released_archive):
    meta, ld = _citation(fetch(f"{server}{SLUG}/index.html")[0])
    assert ("citation_title", "Water Points in Three Districts") in meta
    assert [v for k, v in meta if k == "citation_author"] == ["Ada Example", "Ben Sample"]
    assert ("citation_publication_date", "2026/11/15") in meta and ("citation_language", "en-GB") in meta
    assert ("citation_author_institution", "Example Institute") in meta
    assert not [k for k, _ in meta if k == "citation_pdf_url"]  # no url in publish.yaml: no absolute address to give
    assert ld["@context"] == "https://schema.org" and ld["@type"] == "Report"
    assert ld["name"] == "Water Points in Three Districts" and ld["version"] == "1.2.0"
    assert ld["datePublished"] == "2026-11-15" and ld["inLanguage"] == "en-GB"
    assert [a["name"] for a in ld["author"]] == ["Ada Example", "Ben Sample"]
    manifest = json.loads((released_archive / SLUG / "1.2.0" / "manifest.json").read_text("utf-8"))
    assert ld["identifier"] == manifest["identifier"]
    sums = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert {e["encodingFormat"] for e in ld["encoding"]} == {"application/pdf", "application/epub+zip", "text/html"}
    for e in ld["encoding"]:
        data = fetch(urllib.parse.urljoin(f"{server}{SLUG}/index.html", e["contentUrl"]))[0]
        assert hashlib.sha256(data).hexdigest() == e["sha256"] == sums[e["name"]]
        assert int(e["contentSize"]) == len(data)


def test_with_the_site_url_the_citation_addresses_are_absolute(released_archive, tmp_path):
    folder = tmp_path / "site"
    config = write_config(tmp_path, folder, extra="url: https://reports.example.org/field\n")
    assert publish(released_archive, config) == 0
    meta, ld = _citation((folder / SLUG / "index.html").read_bytes())
    base = "https://reports.example.org/field/sample-report/"
    assert ("citation_pdf_url", f"{base}1.2.0/{SLUG}-1.2.0.pdf") in meta
    assert ld["url"] == f"{base}index.html"
    assert ld["encoding"][0]["contentUrl"] == f"{base}1.2.0/{SLUG}-1.2.0.pdf"
    feed = (folder / "feed.xml").read_text("utf-8")
    assert f'href="{base}1.2.0/{SLUG}-1.2.0.pdf"' in feed


# ------------------------------------------------------------ CITATION.cff

CFF_SCHEMA = ROOT / "tests" / "fixtures" / "cff" / "schema-1.2.0.json"


def cff_problems(text: str) -> list[str]:
    """What the official Citation File Format 1.2.0 schema (tests/fixtures/cff/)
    finds wrong with a CITATION.cff, read as YAML 1.2 would read it: every
    scalar a string unless it is a plain int (the schema's note to
    implementers: dates are strings)."""
    import jsonschema
    import yaml

    data = yaml.safe_load(text)
    validator = jsonschema.Draft7Validator(json.loads(CFF_SCHEMA.read_text("utf-8")),
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(data)]


def test_every_citation_cff_on_the_site_is_valid_citation_file_format(site, server, released_archive, tmp_path):
    import yaml

    folder = site[0]
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("CITATION.cff"))
    assert found == [f"{SLUG}/CITATION.cff"]
    data, headers = fetch(f"{server}{SLUG}/CITATION.cff")
    assert cff_problems(data.decode("utf-8")) == []
    cff = yaml.safe_load(data)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "dataset"
    assert cff["title"] == "Water Points in Three Districts: A survey of rural water supply"
    assert cff["authors"] == [{"name": "Ada Example"}, {"name": "Ben Sample"}]
    assert cff["version"] == "1.2.0" and cff["date-released"] == "2026-11-15"  # the latest edition, as a string
    assert cff["abstract"] == "A short survey report used by the pipeline's tests."
    assert cff["license"] == "CC-BY-4.0"  # rights: CC BY 4.0
    assert "url" not in cff  # no url in publish.yaml: no address to give
    manifest = json.loads((released_archive / SLUG / "1.2.0" / "manifest.json").read_text("utf-8"))
    assert {"type": "other", "value": manifest["identifier"], "description": "The publication's identifier"} \
        in cff["identifiers"]
    ref = cff["preferred-citation"]
    assert ref["type"] == "report" and ref["institution"] == {"name": "Example Institute"}
    assert ref["date-published"] == "2026-11-15" and ref["year"] == 2026 and ref["languages"] == ["en"]
    # linked from the landing page, where the link leads
    page = lxml_html.fromstring(fetch(f"{server}{SLUG}/index.html")[0])
    assert page.xpath("//a[@href='CITATION.cff']/text()") == ["How to cite it (CITATION.cff)"]

    # with the site's url: absolute addresses, still valid, and the PDF's address is one that serves it
    other = tmp_path / "site"
    config = write_config(tmp_path, other, extra="url: https://reports.example.org/field\n")
    assert publish(released_archive, config) == 0
    text = (other / SLUG / "CITATION.cff").read_text("utf-8")
    assert cff_problems(text) == []
    cff = yaml.safe_load(text)
    base = "https://reports.example.org/field/sample-report/"
    assert cff["url"] == base and cff["preferred-citation"]["url"] == base
    pdf = next(i["value"] for i in cff["identifiers"] if i["type"] == "url")
    assert pdf == f"{base}1.2.0/{SLUG}-1.2.0.pdf"
    assert fetch(server + pdf.removeprefix("https://reports.example.org/field/"))[0] == \
        (released_archive / SLUG / "1.2.0" / f"{SLUG}-1.2.0.pdf").read_bytes()
    # the same bytes on every publish: test_publishing_again_changes_nothing counts it among the unchanged


def test_the_cff_check_fails_on_a_citation_cff_missing_a_required_key(site):
    text = (site[0] / SLUG / "CITATION.cff").read_text("utf-8")
    assert cff_problems(text) == []
    without = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("message:"))
    assert without != text
    assert cff_problems(without) == ["(root): 'message' is a required property"]
    wrong_type = text.replace("type: dataset\n", "type: report\n")  # the root's type is software or dataset only
    assert any(p.startswith("type:") for p in cff_problems(wrong_type))


def test_an_author_with_family_names_is_cited_as_a_person():
    import yaml

    from pipeline.publish import cff_text

    page = {"title": "Aid and Trade", "subtitle": "", "description": "", "keywords": [], "rights": "© 2026 X",
            "language": "zh-Hans", "identifier": "",
            "authors": [{"name": "Kang Bingjian", "family_names": "Kang", "given_names": "Bingjian",
                         "affiliation": "International Economic & Trade Relationship Dept",
                         "organisation": "Ministry of Commerce"},
                        {"name": "Field Research Unit", "family_names": "", "given_names": "", "affiliation": "",
                         "organisation": ""}],
            "latest": {"version": "2", "date": "2026-12-01", "pdf": {"href": "2/aid-2.pdf"}}}
    text = cff_text(page, "")
    assert cff_problems(text) == []
    cff = yaml.safe_load(text)
    assert cff["authors"] == [{"family-names": "Kang", "given-names": "Bingjian",
                               "affiliation": "International Economic & Trade Relationship Dept, Ministry of Commerce"},
                              {"name": "Field Research Unit"}]
    assert cff["version"] == "2" and "license" not in cff  # a version that looks like a number stays text
    assert cff["preferred-citation"]["languages"] == ["zh"]
    assert cff_text(page, "") == text
