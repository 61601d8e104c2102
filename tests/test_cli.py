"""The command line as a user meets it: every call is a real process
(``python -m pipeline ...``) in a scratch folder, and the tests read what it
prints, the exit status and the files it leaves behind."""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from conftest import FIXTURE, ROOT

A4 = 297 / 210


def env(**extra) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH")}
    e["PYTHONPATH"] = str(ROOT)
    e.update(extra)
    return e


def run(*args, cwd: Path, timeout: float = 300, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=cwd, env=env(**extra),
                          capture_output=True, text=True, timeout=timeout)


def subcommands() -> list[tuple[str, ...]]:
    """Every subcommand the parser knows, nested ones included (so a new
    subcommand is tested without touching this file)."""
    from pipeline.cli import parser

    found = []

    def walk(p: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found.append(prefix + (name,))
                    walk(child, prefix + (name,))

    walk(parser(), ())
    return found


# ------------------------------------------------------------------- help

@pytest.mark.parametrize("command", subcommands(), ids=" ".join)
def test_help_of_every_subcommand_shows_an_example(command, tmp_path):
    r = run(*command, "--help", cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: pipeline {' '.join(command)}")
    example = r.stdout.split("example:", 1)
    assert len(example) == 2, f"`pipeline {' '.join(command)} --help` shows no example"
    assert re.search(r"^\s+(python -m )?pipeline " + re.escape(command[0]), example[1], re.M), example[1]


def test_the_authoring_commands_share_the_common_options(tmp_path):
    """--out, --formats, --quiet, --verbose and --debug mean the same wherever they appear."""
    commands = ("build", "check", "watch", "preview", "new")
    helps = {c: run(c, "--help", cwd=tmp_path, timeout=60).stdout for c in commands}
    for command in commands:
        for option in ("--quiet", "--verbose", "--debug"):
            assert option in helps[command], (command, option)
    for command in ("build", "check", "watch", "preview"):
        assert "--out DIR" in helps[command], command
    for command in ("build", "check", "watch"):
        assert "--formats LIST" in helps[command], command


def test_console_script_is_declared_and_callable():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = scripts["pipeline"].partition(":")
    main = getattr(__import__(module, fromlist=[func]), func)
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    installed = ROOT / ".venv" / "bin" / "pipeline"
    if installed.exists():  # made by `make`
        r = subprocess.run([installed, "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "watch" in r.stdout


# ------------------------------------------------------------- exit codes

@pytest.mark.parametrize("args", [
    (),                                        # no command
    ("frobnicate",),                           # unknown command
    ("build",),                                # SOURCE_DIR missing
    ("build", "sources/x", "--formats", "docx"),
    ("build", "sources/x", "--no-such-option"),
    ("new", "Bad_Slug"),
    ("new", "-leading-hyphen"),
    ("preview", "sources/x", "--pages", "0"),
    ("watch", "sources/x", "--port", "70000"),
], ids=lambda a: " ".join(a) or "(nothing)")
def test_usage_errors_exit_2(args, tmp_path):
    r = run(*args, cwd=tmp_path, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "usage: pipeline" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_source_exits_2_with_file_and_line(tmp_path):
    r = run("build", "no-such-folder", cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert "no-such-folder" in r.stderr and "Traceback" not in r.stderr

    src = tmp_path / "sources" / "broken"
    shutil.copytree(FIXTURE, src)
    yaml = src / "publication.yaml"
    yaml.write_text(yaml.read_text().replace("language: en-GB", "langauge: en-GB"))
    r = run("build", src, "--out", tmp_path / "dist", cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert re.search(r"publication\.yaml:11:\d+: error: unknown key 'langauge'", r.stderr), r.stderr
    assert "did you mean 'language'" in r.stderr
    assert not (tmp_path / "dist" / "broken").exists()


# ------------------------------------------------------------------- new

def test_new_build_check_passes_on_the_new_publication(tmp_path):
    r = run("new", "field-notes", cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "sources" / "field-notes"
    assert (folder / "publication.yaml").is_file()
    assert "pipeline build sources/field-notes" in r.stdout  # it says what to do next

    r = run("build", "sources/field-notes", cwd=tmp_path)  # the build reads every output back
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "dist" / "field-notes"
    for fmt in ("pdf", "epub", "html"):
        assert (out / f"field-notes.{fmt}").stat().st_size > 1000
    # plain progress lines (stdout is not a terminal) and a summary
    assert re.search(r"^field-notes: PDF \(\d+\.\d\ds\)$", r.stdout, re.M), r.stdout
    summary = re.search(r"^field-notes: wrote 3 files \(.*\) to .* in [\d.]+s; check (\w+)", r.stdout, re.M)
    assert summary and summary.group(1) == "passed", r.stdout
    pages = re.search(r"^  pdf  .*field-notes\.pdf \([\d.]+ kB, (\d+) pages\)$", r.stdout, re.M)
    assert pages and int(pages.group(1)) >= 4, r.stdout

    if "check" in dict.fromkeys(c[0] for c in subcommands()):
        r = run("check", "sources/field-notes", cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr

    # the sample shows the features the README promises
    html = (out / "field-notes.html").read_text()
    assert "<table" in html and "<figcaption" in html and "footnote" in html
    assert 'href="#writing-text"' in html


def test_new_refuses_an_existing_folder_and_bad_slugs(tmp_path):
    folder = tmp_path / "sources" / "taken"
    folder.mkdir(parents=True)
    (folder / "notes.md").write_text("mine\n")
    r = run("new", "taken", cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert "already exists" in r.stderr and "Traceback" not in r.stderr
    assert [p.name for p in folder.iterdir()] == ["notes.md"]

    r = run("new", "Annual_Report", cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "lower-case letters, digits" in r.stderr
    assert not (tmp_path / "sources" / "Annual_Report").exists()


def test_the_readme_tutorials_mistake_reads_as_documented(tmp_path):
    """Step 2 of the README's tutorial: the message shown is the one printed."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```\n(sources/my-report/1-getting-started\.md:1: error: .*?)```", readme, re.S)
    assert block, "the tutorial's error example is gone from README.md"
    assert run("new", "my-report", "--quiet", cwd=tmp_path, timeout=60).returncode == 0
    part = tmp_path / "sources" / "my-report" / "1-getting-started.md"
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("# Getting going\n" + "".join(lines[1:]))  # "change the first line to `# Getting going`"
    r = run("build", "sources/my-report", cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert block.group(1) in r.stderr


def test_source_dir_left_out_means_the_only_publication(tmp_path):
    r = run("preview", cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "no publication here" in r.stderr
    for slug in ("alpha", "beta"):
        assert run("new", slug, "-q", cwd=tmp_path, timeout=60).returncode == 0
    r = run("watch", "--port", "0", cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert "there are 2 publications (sources/alpha, sources/beta); which one?" in r.stderr
    assert "Traceback" not in r.stderr


def test_quiet_prints_nothing_on_success(tmp_path):
    r = run("new", "quiet-one", "--quiet", cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


# --------------------------------------------------------------- preview

def test_preview_writes_pngs_that_decode_at_a4(fixture_build, tmp_path):
    dist = tmp_path / "dist"
    shutil.copytree(fixture_build.out_dir, dist / fixture_build.publication.slug)
    pdf = dist / "sample-report" / "sample-report.pdf"
    pdf.touch()  # newer than the source: no rebuild needed
    before = pdf.read_bytes()

    r = run("preview", FIXTURE, "--out", dist, "--pages", "3", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    folder = dist / "sample-report" / "preview"
    pages = sorted(folder.glob("page-*.png"))
    assert [p.name for p in pages] == ["page-01.png", "page-02.png", "page-03.png"]
    for p in pages:
        with Image.open(p) as im:
            im.load()
            assert im.format == "PNG" and im.width == 800
            assert abs(im.height / im.width - A4) < 0.005
    with Image.open(folder / "contact-sheet.png") as sheet:
        sheet.load()
        assert sheet.width > sheet.height  # three pages side by side
    assert pdf.read_bytes() == before  # read, never written
    # the HTML page as a phone and a desktop show it, light and dark, from Chromium
    for name, width in (("html-phone", 360), ("html-phone-dark", 360), ("html-desktop", 1280), ("html-desktop-dark", 1280)):
        with Image.open(folder / f"{name}.png") as im:
            im.load()
            assert im.format == "PNG" and im.width == width
            colours = im.convert("RGB").getcolors(1 << 20)
            assert len(colours) > 20  # a page with text on it, not a blank screen
    with Image.open(folder / "html-desktop.png") as light, Image.open(folder / "html-desktop-dark.png") as dark:
        assert light.convert("L").getpixel((5, 5)) > 200 > 60 > dark.convert("L").getpixel((5, 5))

    # a list of pages replaces the earlier preview's pages
    r = run("preview", FIXTURE, "--out", dist, "--pages", "1,3", "--width", "400", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in folder.glob("page-*.png")) == ["page-01.png", "page-03.png"]
    with Image.open(folder / "page-03.png") as im:
        assert im.width == 400


def test_preview_of_a_broken_source_exits_2(tmp_path):
    src = tmp_path / "broken"
    shutil.copytree(FIXTURE, src)
    (src / "method.md").unlink()
    r = run("preview", src, "--out", tmp_path / "dist", cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert "method.md" in r.stderr and "does not exist" in r.stderr


# ----------------------------------------------------------------- watch

class Watch:
    """A `pipeline watch` process, its output read line by line."""

    def __init__(self, *args, cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "watch", *map(str, args)], cwd=cwd,
                                     env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr.append), daemon=True).start()
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy for 127.0.0.1

    @staticmethod
    def _read(stream, put):
        for line in stream:
            put(line)

    def url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.stderr)
                continue
            m = re.search(r"serving .* on (http://127\.0\.0\.1:\d+/)", line)
            if m:
                return m.group(1)
        raise AssertionError("watch never said where it serves")

    def get(self, url: str) -> str:
        with self.opener.open(url, timeout=10) as response:
            return response.read().decode()

    def state(self, base: str) -> dict:
        return json.loads(self.get(base + "__watch/state"))

    def wait(self, base: str, until, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.state(base)
            if until(s):
                return s
            assert self.proc.poll() is None, "".join(self.stderr)
            time.sleep(0.2)
        raise AssertionError(f"state never came: {s}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


def test_watch_rebuilds_serves_and_survives_a_broken_save(tmp_path):
    src = tmp_path / "sample-report"
    shutil.copytree(FIXTURE, src)
    dist = tmp_path / "dist"
    w = Watch(src, "--out", dist, "--port", "0", "--formats", "html", "--no-check", cwd=tmp_path)
    try:
        base = w.url()
        assert base.startswith("http://127.0.0.1:")
        w.wait(base, lambda s: s["good"] == 1)
        page = w.get(base)  # / leads to the publication's page
        assert "Water Points in Three Districts" in page
        assert '<script src="/__watch/reload.js" data-build="1">' in page
        assert "__watch" not in (dist / "sample-report" / "sample-report.html").read_text()  # only served
        assert "location.reload()" in w.get(base + "__watch/reload.js")

        findings = src / "findings.md"
        good_text = findings.read_text()
        findings.write_text(good_text + "\nZebracorn sightings were recorded in every district.\n")
        w.wait(base, lambda s: s["good"] == 2 and s["ok"])
        page = w.get(base + "sample-report/sample-report.html")
        assert "Zebracorn sightings" in page and 'data-build="2"' in page

        findings.write_text(good_text + "\nSee [the annex](#no-such-annex).\n")
        s = w.wait(base, lambda s: s["build"] == 3)
        assert not s["ok"] and s["good"] == 2
        assert "findings.md" in s["error"] and "no-such-annex" in s["error"]
        page = w.get(base + "sample-report/sample-report.html")
        assert "Zebracorn sightings" in page  # the last good output is still served

        findings.write_text(good_text)
        s = w.wait(base, lambda s: s["build"] == 4)
        assert s["ok"] and s["good"] == 4 and s["error"] == ""
        assert "Zebracorn" not in w.get(base + "sample-report/sample-report.html")
    finally:
        status = w.stop()
    assert status == 0, "".join(w.stderr)
    err = "".join(w.stderr)
    assert "build 3 failed" in err and "no-such-annex" in err and "Traceback" not in err


def test_watch_page_reloads_and_shows_errors_in_the_browser(tmp_path):
    """The open page in a real browser (Debian's Chromium via Playwright):
    it reloads itself after a good build, lays a failed build's error over
    the last good output, and comes back after the fix."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    src = tmp_path / "sample-report"
    shutil.copytree(FIXTURE, src)
    findings = src / "findings.md"
    good_text = findings.read_text()
    w = Watch(src, "--out", tmp_path / "dist", "--port", "0", "--formats", "html", "--no-check", cwd=tmp_path)
    try:
        base = w.url()
        w.wait(base, lambda s: s["good"] == 1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.goto(base)
                assert page.url == base + "sample-report/sample-report.html"
                page.wait_for_function("document.querySelector('script[data-build]') !== null")

                findings.write_text(good_text + "\nZebracorn sightings were recorded in every district.\n")
                page.get_by_text("Zebracorn sightings").wait_for(timeout=60_000)  # reloaded by itself

                findings.write_text(good_text + "\nZebracorn sightings.\n\nSee [the annex](#no-such-annex).\n")
                overlay = page.locator("#pipeline-watch-error")
                overlay.wait_for(timeout=60_000)
                assert "no-such-annex" in overlay.inner_text() and "findings.md" in overlay.inner_text()
                assert page.get_by_text("Zebracorn sightings were recorded").count() == 1  # last good output

                findings.write_text(good_text)
                overlay.wait_for(state="detached", timeout=60_000)
                page.wait_for_function("!document.body.innerText.includes('Zebracorn')", timeout=60_000)
            finally:
                browser.close()
    finally:
        assert w.stop() == 0


def test_watch_rebuilds_when_a_template_changes(tmp_path):
    """In-process, watching a copy of templates/: the project's own folder is
    shared and must not be touched by a test."""
    from pipeline.progress import QuietReporter
    from pipeline.watch import watch

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates" / "css", templates / "css")
    src = tmp_path / "sample-report"
    shutil.copytree(FIXTURE, src)
    lines: list[str] = []

    class Lines(QuietReporter):
        def line(self, text):
            lines.append(text)

    stop = threading.Event()
    result: list = []
    thread = threading.Thread(target=lambda: result.append(watch(
        src, tmp_path / "dist", Lines(), formats=("html",), check=False, port=0, stop=stop, templates=templates)))
    thread.start()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def state(base):
        with opener.open(base + "__watch/state", timeout=10) as r:
            return json.loads(r.read())

    def wait(base, until, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = state(base)
            if until(s):
                return s
            time.sleep(0.2)
        raise AssertionError(s)

    try:
        deadline = time.monotonic() + 30
        while not any("serving" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        base = re.search(r"(http://127\.0\.0\.1:\d+/)", next(l for l in lines if "serving" in l)).group(1)
        wait(base, lambda s: s["good"] == 1)
        css = templates / "css" / "html.css"
        css.write_text(css.read_text() + "\n/* changed */\n")
        s = wait(base, lambda s: s["build"] == 2)
        assert s["ok"]
        assert any(line == "changed: css/html.css" for line in lines), lines
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive() and result == [0]
    assert lines[-1] == "stopped watching."


def test_watch_port_in_use_exits_2(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run("watch", FIXTURE, "--out", tmp_path / "dist", "--port", port, cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert f"port {port}" in r.stderr and "--port" in r.stderr


def test_new_in_chinese_builds_and_checks_clean(tmp_path):
    """`pipeline new --language zh-Hans`: the sample is in Chinese, set in
    the Chinese fonts, with Chinese furniture (issue 13)."""
    r = run("new", "diaocha", "--language", "zh-Hans", "-q", cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "sources" / "diaocha"
    assert "language: zh-Hans" in (folder / "publication.yaml").read_text("utf-8")
    assert (folder / "1-getting-started.md").read_text("utf-8").startswith("# 从这里开始")
    r = run("build", "sources/diaocha", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"wrote 3 files .* check passed", r.stdout), r.stdout
    html = (tmp_path / "dist" / "diaocha" / "diaocha.html").read_text("utf-8")
    assert '<html lang="zh-Hans"' in html and "目录" in html and '"Noto Serif SC"' in html
