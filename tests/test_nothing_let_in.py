"""Issue 5, part 3: a build reads nothing it should not.

A build may read the publication's folder, templates/ and the installed
fonts, nothing else, and never the network: WeasyPrint's fetcher refuses
everything else (tested directly, and through a stylesheet and a template
that try); pandoc's reader is sandboxed; metadata is escaped in every
format, so a title with ``<script>`` in it is text, not a script.
(Images, links and raw HTML that escape or run are source errors: see
tests/bad/ and tests/test_errors.py.)
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import zipfile
from pathlib import Path

import pikepdf
import pytest
import yaml
from lxml import etree, html as lxml_html

from conftest import FIXTURE, ROOT
from readback import pdf_pages

SECRET = "SECRET-7f3a9c-not-for-the-outputs"


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Every attempt to open a connection, recorded and refused."""
    attempts: list = []

    def connect(self, address, *a, **k):
        attempts.append(address)
        raise OSError("the tests forbid the network")

    def create_connection(address, *a, **k):
        attempts.append(address)
        raise OSError("the tests forbid the network")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return attempts


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


# ------------------------------------------------------- WeasyPrint's fetcher

@pytest.fixture
def pub_root(tmp_path, secret) -> Path:
    root = tmp_path / "pub"
    (root / "figures").mkdir(parents=True)
    (root / "figures" / "chart.png").write_bytes(b"\x89PNG\r\n\x1a\n a chart")
    (root / "figures" / "link.png").symlink_to(secret)
    return root


@pytest.fixture
def fetcher(pub_root):
    from pipeline.render.common import DEFAULT_TEMPLATES, font_dirs
    from pipeline.render.pdf import Fetcher

    return Fetcher([pub_root, DEFAULT_TEMPLATES, *font_dirs()])


def test_the_fetcher_reads_the_publication_templates_and_fonts(fetcher, pub_root):
    from pipeline.render.common import DEFAULT_TEMPLATES, font_dirs

    font = next(p for p in font_dirs()[0].iterdir() if p.suffix in (".ttf", ".otf"))
    for path in (pub_root / "figures" / "chart.png", DEFAULT_TEMPLATES / "css" / "tokens.css", font):
        assert fetcher(path.as_uri()).read() == path.read_bytes()
    assert fetcher("data:text/plain;base64,aGk=").read() == b"hi"
    assert fetcher.refused == []


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "{secret}",
    "{pub}/../secret.txt",
    "{pub}/%2e%2e/secret.txt",
    "{pub}/figures/link.png",  # a symlink inside the folder to a file outside
    "file://example.org/etc/passwd",
    "file://example.org{pub}/figures/chart.png",
    "http://127.0.0.1:9/chart.png",
    "https://example.org/chart.png",
    "HTTPS://EXAMPLE.ORG/chart.png",
    "ftp://example.org/chart.png",
])
def test_the_fetcher_refuses_everything_else(url, fetcher, pub_root, secret, no_network):
    from pipeline.render.common import RefusedFetch

    url = url.format(secret=secret.as_uri(), pub=pub_root.as_uri())
    with pytest.raises(RefusedFetch):
        fetcher(url)
    assert fetcher.refused and fetcher.refused[-1].startswith("refused")
    assert no_network == []


def _hostile_design(tmp_path: Path, secret: Path):
    """A copy of templates/ whose stylesheets and PDF template try to load
    a local file and things from the network."""
    from pipeline.render.common import Design

    root = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", root)
    for css in (root / "css").glob("*.css"):
        css.write_text(css.read_text("utf-8") + f"""
@import url("https://example.org/evil.css");
body {{ background-image: url("{secret.as_uri()}"); }}
h1 {{ background-image: url("http://127.0.0.1:9/tracker.png"); }}
""", "utf-8")
    page = root / "pdf" / "report.html.j2"
    text, n = re.subn(r"(<body[^>]*>)", r'\1<link rel="stylesheet" href="https://example.org/x.css">'
                      rf'<img src="{secret.as_uri()}" alt=""><img src="../../../../../../../../etc/passwd" alt="">',
                      page.read_text("utf-8"), count=1)
    assert n == 1
    page.write_text(text, "utf-8")
    return Design(root=root)


def test_a_stylesheet_or_template_cannot_fetch_anything(tmp_path, secret, no_network):
    from pipeline.build import build
    from pipeline.errors import BuildError

    out = tmp_path / "dist"
    with pytest.raises(BuildError) as caught:
        build(FIXTURE, out, formats=("pdf",), design=_hostile_design(tmp_path, secret), check=False)
    message = str(caught.value)
    for what in ("https://example.org/evil.css", "http://127.0.0.1:9/tracker.png", "https://example.org/x.css",
                 str(secret), "/etc/passwd"):
        assert what in message
    assert no_network == []
    assert not out.exists()


# ----------------------------------------------------------------- pandoc

def test_markdown_cannot_make_pandoc_read_a_file(secret):
    """Whatever a text says, the parse step returns strings, not the
    contents of files, and the HTML writer embeds nothing."""
    from pipeline import pandoc

    texts = [
        f"![a picture]({secret})",
        f"![a picture]({secret.as_uri()})",
        f"\\input{{{secret}}}\n\n\\include{{{secret}}}",
        f"<!--#include file=\"{secret}\" -->",
        f"::: {{include=\"{secret}\"}}\n:::",
        f"```{{.include}}\n{secret}\n```",
        f"---\nbibliography: {secret}\ncsl: {secret}\n---\n\nAs [@someone] says.",
        f"{{{{< include {secret} >}}}}",
        f"[link]({secret}){{.include}}",
    ]
    api, parsed = pandoc.parse_markdown(texts)
    assert len(parsed) == len(texts)
    dump = json.dumps(parsed)
    assert str(secret) in dump  # the names are there, as text
    assert SECRET not in dump
    html = pandoc.write_html(api, [b for blocks in parsed for b in blocks])
    assert SECRET not in html and base64.b64encode(SECRET.encode()).decode() not in html


def test_the_parse_step_runs_the_reader_in_pandocs_sandbox(secret):
    """parse.lua hands pandoc.read an empty list of files, and with that
    argument pandoc's readers read no file (shown here with the LaTeX
    reader, which does follow \\input when it is not sandboxed)."""
    from pipeline import pandoc

    script = (ROOT / "pipeline" / "lua" / "parse.lua").read_text("utf-8")
    call = re.search(r"pandoc\.read\((.*)\)", script)
    assert call and re.search(r",\s*nil,\s*\{\}$", call.group(1)), call
    probe = (f"local text = '\\\\input{{{secret}}}'\n"
             "io.write(pandoc.write(pandoc.read(text, 'latex'), 'plain'), '|')\n"
             "io.write(pandoc.write(pandoc.read(text, 'latex', nil, {}), 'plain'))\n")
    proc = subprocess.run([pandoc.pandoc_path(), "lua", "-"], input=probe, capture_output=True, text=True,
                          timeout=60)
    unsandboxed, sandboxed = proc.stdout.split("|")
    assert SECRET in unsandboxed  # the control: pandoc would read it
    assert SECRET not in sandboxed


def test_a_remote_image_is_never_fetched(no_network):
    from pipeline import pandoc, source

    pub = source.load(ROOT / "tests" / "fixtures" / "as-written")  # remote images, shown as links to them
    assert any("remote image" in str(w) for w in pub.warnings)
    images = []
    pandoc.walk(pub.blocks(), lambda el: images.append(el["c"][2][0]) if el["t"] == "Image" else None)
    assert images == ["figures/working-share.png"]  # the only image left is the local one
    assert no_network == []


@pytest.mark.parametrize("raw, bad", [
    ('<b>bold</b> and <a href="https://example.org/">a link</a>', False),
    ('<span class="note" title="javascript: is just a word here">x</span>', False),
    ("<abbr title='Ministry of Commerce'>MOFCOM</abbr>", False),
    ("<script src='x.js'></script>", True),
    ("<SCRIPT>alert(1)</SCRIPT>", True),
    ('<a href="java&#x09;script:alert(1)">x</a>', True),
    ('<a href=" JAVASCRIPT:alert(1)">x</a>', True),
    ('<a href="data:text/html,<script>alert(1)</script>">x</a>', True),
    ('<div style="background: URL(file:///etc/passwd)">x</div>', True),
    ('<p oNcLiCk="alert(1)">x</p>', True),
    ('<img src="figure.png">', True),
    ('<video poster="x.png"></video>', True),
    ('<object data="x.swf"></object>', True),
    ('<svg><image href="x.png"/></svg>', True),
    ('<form action="https://example.org/"><input></form>', True),
    ('<base href="https://example.org/">', True),
    ('<meta http-equiv="refresh" content="0;url=https://example.org/">', True),
    ('<link rel="stylesheet" href="https://example.org/x.css">', True),
    ("<style>@import 'https://example.org/x.css';</style>", True),
])
def test_raw_html_that_runs_or_loads_is_told_from_harmless_html(raw, bad):
    from pipeline.source import unsafe_html

    assert bool(unsafe_html(raw)) == bad, unsafe_html(raw)


# ---------------------------------------------------------- escaping

HOSTILE = {
    "title": 'Water <script>alert(1)</script> & "Co"',
    "subtitle": "<img src=x onerror=alert(2)>",
    "author": "Ada </title><script>alert(3)</script>",
    "description": '"><script>alert(4)</script><meta http-equiv="refresh" content="0">',
    "keyword": "<b onmouseover=alert(5)>bold</b>",
    "rights": '<iframe src="https://example.org/"></iframe>',
    "label": "<svg onload=alert(6)>",
    "contents": "</style><script>alert(7)</script>",
}


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    """The fixture with markup in every metadata field, built into every
    format (unchecked: this test reads the outputs back itself)."""
    from pipeline.build import build

    base = tmp_path_factory.mktemp("hostile")
    src = base / "src" / "hostile-metadata"
    shutil.copytree(FIXTURE, src)
    data = yaml.safe_load((FIXTURE / "publication.yaml").read_text("utf-8"))
    data.update(title=HOSTILE["title"], subtitle=HOSTILE["subtitle"], description=HOSTILE["description"],
                keywords=[HOSTILE["keyword"]], rights=HOSTILE["rights"])
    data["authors"][0]["name"] = HOSTILE["author"]
    data["outline"]["title"] = HOSTILE["contents"]
    data["outline"]["parts"][0]["label"] = HOSTILE["label"]
    for h in data["edition"].get("history", []):
        h["date"] = str(h["date"])
    data["edition"]["date"] = str(data["edition"]["date"])
    (src / "publication.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return build(src, base / "dist", check=False)


def _no_active_content(root) -> None:
    names = {etree.QName(el).localname.lower() for el in root.iter() if isinstance(el.tag, str)}
    assert not names & {"script", "iframe", "object", "embed"}
    handlers = [(el.tag, a) for el in root.iter() if isinstance(el.tag, str) for a in el.attrib
                if etree.QName(a).localname.lower().startswith("on")]
    assert handlers == []
    refresh = [el for el in root.iter() if isinstance(el.tag, str) and el.get("http-equiv")]
    assert refresh == []


def test_metadata_is_text_in_the_html(hostile_build):
    page = lxml_html.fromstring(hostile_build.files["html"].read_bytes())
    _no_active_content(page)
    assert page.findtext(".//title") == HOSTILE["title"]
    text = " ".join(page.text_content().split())
    for value in (HOSTILE["title"], HOSTILE["subtitle"], HOSTILE["author"], HOSTILE["label"]):
        assert value in text
    assert page.xpath("string(//meta[@name='description']/@content)") == HOSTILE["description"]


def test_metadata_is_text_in_the_epub(hostile_build):
    with zipfile.ZipFile(hostile_build.files["epub"]) as z:
        docs = {n: z.read(n) for n in z.namelist() if n.endswith((".xhtml", ".opf", ".svg", ".ncx", ".xml"))}
    assert any(n.endswith(".opf") for n in docs)
    all_text = ""
    for name, data in docs.items():
        root = etree.fromstring(data)  # well-formed: nothing broke out of its element
        _no_active_content(root)
        all_text += " ".join("".join(root.itertext()).split()) + "\n"
    opf = etree.fromstring(next(d for n, d in docs.items() if n.endswith(".opf")))
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert opf.findtext(f".//{dc}title") == HOSTILE["title"]
    assert opf.findtext(f".//{dc}creator") == HOSTILE["author"]
    for value in (HOSTILE["title"], HOSTILE["subtitle"], HOSTILE["author"], HOSTILE["label"], HOSTILE["rights"]):
        assert value in all_text


def test_metadata_is_text_in_the_pdf(hostile_build):
    path = hostile_build.files["pdf"]
    text = " ".join(" ".join(pdf_pages(path)).split())
    for value in (HOSTILE["title"].replace('"', ""), "<script>alert(1)</script>", HOSTILE["author"],
                  HOSTILE["subtitle"]):
        assert value in text.replace("\u201c", "").replace("\u201d", "").replace('"', "")
    with pikepdf.open(path) as pdf:
        assert str(pdf.docinfo.get("/Title")) == HOSTILE["title"]
        assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
        assert "/JavaScript" not in pdf.Root.get("/Names", {})
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary):
                assert obj.get("/S") not in ("/JavaScript", "/Launch", "/SubmitForm", "/ImportData")
                assert "/JS" not in obj
