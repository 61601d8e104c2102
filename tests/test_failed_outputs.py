"""Issue 12, messages: a build whose check fails keeps what it made in
``<out>/<slug>/.failed/`` for inspection and says where; the previous good
outputs stay as they were; the next failed build replaces that folder and
the next good build removes it. ``pipeline release`` keeps nothing of a
failed build (test_editions), and ``pipeline watch`` never serves a hidden
folder.

The failing build is a real one: the build's templates are swapped for a
copy whose HTML page drops the last chapter, so the page disagrees with its
source and the check says so (HTML only: the quickest format to build)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from conftest import FIXTURE

SLUG = FIXTURE.name
FAST = ["--formats", "html", "-q"]


def _dropping_last_chapter(tmp_path: Path):
    from pipeline.render.common import DEFAULT_TEMPLATES, Design

    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES, templates)
    page = templates / "html" / "page.html.j2"
    text = page.read_text("utf-8")
    assert text.count("{{ fragment | safe }}") == 1
    page.write_text(text.replace("{{ fragment | safe }}", "{% if not loop.last %}{{ fragment | safe }}{% endif %}"),
                    "utf-8")
    return Design(templates)


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_check_keeps_its_outputs_beside_the_good_ones(tmp_path, monkeypatch, capsys):
    import pipeline.build as build_module
    from pipeline.cli import main

    dist = tmp_path / "dist"
    final, failed = dist / SLUG, dist / SLUG / ".failed"
    broken = _dropping_last_chapter(tmp_path)
    good_design = build_module.Design

    def build(fails: bool) -> tuple[int, str]:
        monkeypatch.setattr(build_module, "Design", (lambda: broken) if fails else good_design)
        code = main(["build", str(FIXTURE), "--out", str(dist), *FAST])
        return code, capsys.readouterr().err

    # a first build that fails: nothing is published, what it made is kept
    code, err = build(fails=True)
    assert code == 1
    assert err.splitlines()[-1] == f"check failed; nothing was published; the failed outputs are in {failed}/ for inspection."
    assert sorted(os.listdir(final)) == [".failed"]
    assert sorted(os.listdir(failed)) == ["check.json", f"{SLUG}.html"]
    assert json.loads((failed / "check.json").read_text("utf-8"))["ok"] is False

    # the next failed build replaces it
    (failed / "check.json").write_text("{}", "utf-8")
    assert build(fails=True)[0] == 1
    assert json.loads((failed / "check.json").read_text("utf-8"))["ok"] is False

    # a good build removes it
    code, err = build(fails=False)
    assert code == 0, err
    assert sorted(os.listdir(final)) == ["check.json", f"{SLUG}.html"]
    good = _tree(final)

    # a failed build after it: the good outputs stay, byte for byte, the failed ones beside them
    code, err = build(fails=True)
    assert code == 1
    findings, outcome = err.splitlines()[:-1], err.splitlines()[-1]
    assert findings and all(f.startswith("html: ") for f in findings)
    assert outcome == f"check failed; the previous outputs were kept; the failed outputs are in {failed}/ for inspection."
    assert {k: v for k, v in _tree(final).items() if not k.startswith(".failed/")} == good
    assert sorted(os.listdir(failed)) == ["check.json", f"{SLUG}.html"]
    assert (failed / f"{SLUG}.html").read_bytes() != (final / f"{SLUG}.html").read_bytes()

    # watch serves the good page, never the failed one
    from pipeline.watch import BuildState, Server
    import http.client

    with Server(dist, SLUG, BuildState(), port=0) as srv:
        for path, status in ((f"/{SLUG}/{SLUG}.html", 200), (f"/{SLUG}/.failed/{SLUG}.html", 404),
                             (f"/{SLUG}/.failed/check.json", 404), (f"/{SLUG}/%2efailed/check.json", 404)):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            conn.request("GET", path, headers={"Host": f"127.0.0.1:{srv.port}"})
            response = conn.getresponse()
            response.read()
            conn.close()
            assert response.status == status, path


def test_a_failed_folder_holding_other_files_stops_the_build(tmp_path):
    """.failed/ is the build's own: anything else in it is not replaced."""
    from pipeline import outputs

    final = tmp_path / SLUG
    (final / ".failed").mkdir(parents=True)
    (final / ".failed" / f"{SLUG}.pdf").write_bytes(b"%PDF")
    assert outputs.refusal(final, SLUG) is None
    (final / ".failed" / "notes.txt").write_text("mine\n")
    assert "holds files a build did not make (.failed/notes.txt)" in outputs.refusal(final, SLUG)
