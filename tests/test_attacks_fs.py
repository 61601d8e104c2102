"""Issue 17, the file-system and process attacks (../shared/redteam/ 02, 05,
06, 07, 08, 09, 10, 13 and the large file of 15), each as a test on real
builds and releases of the fixture: nothing the build did not make is
deleted, no child process outlives a build, no lock or temporary folder is
left, the archive's verification trusts nothing it verifies, the preview
server answers this user only, and a full disk loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURE, ROOT, small_tmpfs
from pipeline.cli import main

SLUG = FIXTURE.name
FAST = ["--formats", "html", "--no-check", "-q"]


def tree(folder: Path) -> dict[str, str]:
    """Every file (and link) under ``folder`` with its content's digest."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[p.relative_to(folder).as_posix()] = "-> " + os.readlink(p)
        elif p.is_file():
            out[p.relative_to(folder).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def copy_fixture(where: Path, name: str = SLUG) -> Path:
    folder = where / name
    shutil.copytree(FIXTURE, folder)
    return folder


# ------------------------------------------- 02, 06: nothing the build did not make

def fake_archive(archive: Path) -> None:
    """An editions archive as a release leaves it (the files' contents do
    not matter here: the build must not touch any of them)."""
    edition = archive / "water-report" / "1.1.0"
    edition.mkdir(parents=True)
    (edition / "manifest.json").write_text('{"slug": "water-report"}\n')
    (edition / "water-report-1.1.0.pdf").write_bytes(b"%PDF-1.7 archived")
    (archive / "index.html").write_text("<!doctype html><title>Editions</title>\n")


def test_new_refuses_a_reserved_slug(tmp_path, capsys):
    for slug in ("editions", "site"):
        with pytest.raises(SystemExit) as exited:
            main(["new", slug, "--sources", str(tmp_path / "sources")])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert f"'{slug}' cannot be a slug" in err and "reserved" in err
    assert not (tmp_path / "sources").exists()


@pytest.mark.parametrize("name", ["editions", ".release-notes", ".hidden", "site"])
def test_build_refuses_a_reserved_slug_and_the_archive_survives(tmp_path, capsys, name, monkeypatch):
    """02: a publication named `editions` built into dist/ would replace
    the archive; one named with a dot would collide with the build's own
    temporary names."""
    monkeypatch.chdir(tmp_path)
    fake_archive(tmp_path / "dist" / "editions")
    before = tree(tmp_path / "dist")
    src = copy_fixture(tmp_path / "sources", name)
    assert main(["build", str(src), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"folder name '{name}' cannot name its outputs" in err and "hint: rename the folder" in err
    assert "internal error" not in err
    assert tree(tmp_path / "dist") == before


def test_build_never_replaces_a_folder_it_did_not_make(tmp_path, capsys):
    """02's variant: `--out .` beside a folder of notes with the slug's name."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("my precious notes\n")
    src = copy_fixture(tmp_path / "pubs", "notes")
    assert main(["build", str(src), "--out", str(tmp_path), *FAST]) == 2
    err = capsys.readouterr().err
    assert "holds files a build did not make (todo.txt)" in err and "nothing was written" in err
    assert (tmp_path / "notes" / "todo.txt").read_text() == "my precious notes\n"
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["todo.txt"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_archive_under_another_name_is_refused_too(tmp_path, capsys):
    """An archive kept in dist/ under its own name (--archive dist/shelf)
    and a publication called `shelf`: the folder is not a build's."""
    fake_archive(tmp_path / "dist" / "shelf")
    before = tree(tmp_path / "dist")
    src = copy_fixture(tmp_path / "sources", "shelf")
    assert main(["build", str(src), "--out", str(tmp_path / "dist"), *FAST]) == 2
    assert "holds files a build did not make (index.html, water-report)" in capsys.readouterr().err
    assert tree(tmp_path / "dist") == before


def test_a_build_output_folder_is_replaced_and_a_user_file_in_it_stops_the_next_build(tmp_path, capsys):
    src = copy_fixture(tmp_path)
    out = tmp_path / "dist"
    assert main(["build", str(src), "--out", str(out), *FAST]) == 0
    assert main(["build", str(src), "--out", str(out), *FAST]) == 0  # its own output: replaced
    (out / SLUG / "preview").mkdir()
    (out / SLUG / "preview" / "page-01.png").write_bytes(b"\x89PNG")
    assert main(["build", str(src), "--out", str(out), *FAST]) == 0  # preview pictures are a build's too
    (out / SLUG / "my-notes.txt").write_text("keep me\n")
    before = tree(out)
    assert main(["build", str(src), "--out", str(out), *FAST]) == 2
    assert "holds files a build did not make (my-notes.txt)" in capsys.readouterr().err
    assert tree(out) == before


def test_a_symlinked_output_folder_is_refused_with_a_message_every_time(tmp_path, capsys):
    """06: <out>/<slug> links to a web root. The link and the folder it
    leads to stay as they were; each build says why (never an internal
    error), and building into the link's folder works."""
    src = copy_fixture(tmp_path)
    www = tmp_path / "www"
    (www / SLUG).mkdir(parents=True)
    (www / SLUG / "index.txt").write_text("the web root's own file\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / SLUG).symlink_to(www / SLUG)
    for _ in range(2):
        assert main(["build", str(src), "--out", str(out), *FAST]) == 2
        err = capsys.readouterr().err
        assert "is a symbolic link" in err and "internal error" not in err and "hint:" in err
        assert (out / SLUG).is_symlink() and sorted(p.name for p in out.iterdir()) == [SLUG]
        assert sorted(p.name for p in (www / SLUG).iterdir()) == ["index.txt"]
    (www / SLUG / "index.txt").unlink()
    (out / SLUG).unlink()
    assert main(["build", str(src), "--out", str(www), *FAST]) == 0
    assert (www / SLUG / f"{SLUG}.html").is_file()


def test_a_foreign_set_aside_folder_is_not_deleted(tmp_path, capsys):
    """`.<slug>.old` is where the swap puts the previous outputs; a link or
    a folder of someone else's files under that name is left alone."""
    src = copy_fixture(tmp_path)
    out = tmp_path / "dist"
    assert main(["build", str(src), "--out", str(out), *FAST]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep\n")
    (out / f".{SLUG}.old").symlink_to(elsewhere)
    assert main(["build", str(src), "--out", str(out), *FAST]) == 2
    assert "is in the way" in capsys.readouterr().err
    assert (elsewhere / "keep.txt").read_text() == "keep\n" and (out / SLUG / f"{SLUG}.html").is_file()


def test_make_clean_still_deletes_the_outputs_and_keeps_the_archive(tmp_path):
    src = copy_fixture(tmp_path)
    dist = tmp_path / "dist"
    assert main(["build", str(src), "--out", str(dist), *FAST]) == 0
    fake_archive(dist / "editions")
    archived = tree(dist / "editions")
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), "clean", f"DIST={dist}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in dist.iterdir()] == ["editions"] and tree(dist / "editions") == archived


# ------------------------------------------------------------------ 13: watch

@pytest.fixture
def server(tmp_path):
    from pipeline.watch import BuildState, Server

    out = tmp_path / "dist"
    (out / SLUG).mkdir(parents=True)
    (out / SLUG / f"{SLUG}.html").write_text("<!doctype html><title>x</title><body><p>the page</p></body>\n")
    with Server(out, SLUG, BuildState(), port=0) as running:
        yield running, out


def request(port: int, path: str, host: str | None = None) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def test_watch_answers_only_requests_for_its_own_address(server):
    """13: DNS rebinding: a page on evil.example whose name now leads to
    127.0.0.1 sends `Host: evil.example`, and is refused."""
    srv, _ = server
    page = f"/{SLUG}/{SLUG}.html"
    for host in (f"127.0.0.1:{srv.port}", f"localhost:{srv.port}", f"LOCALHOST:{srv.port}"):
        status, body = request(srv.port, page, host)
        assert status == 200 and b"the page" in body
    for host in ("evil.example", f"evil.example:{srv.port}", "127.0.0.1", f"127.0.0.1:{srv.port + 1}", "", None):
        status, body = request(srv.port, page, host)
        assert status == 403 and b"the page" not in body, host
        status, body = request(srv.port, "/__watch/state", host)
        assert status == 403 and b'"good"' not in body, host


def test_watch_never_follows_a_link_out_of_dist_and_lists_no_folder(server, tmp_path):
    srv, out = server
    host = f"127.0.0.1:{srv.port}"
    (tmp_path / "secret.txt").write_text("secret\n")
    (out / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (out / "leak-dir").symlink_to(tmp_path)
    (out / SLUG / "inside.html").symlink_to(out / SLUG / f"{SLUG}.html")  # a link inside dist/ is fine
    for path in ("/leak.txt", "/leak-dir/secret.txt", "/leak-dir/", "/../secret.txt", "/%2e%2e/secret.txt"):
        status, body = request(srv.port, path, host)
        assert status == 404 and b"secret" not in body, path
    assert request(srv.port, f"/{SLUG}/inside.html", host)[0] == 200
    for path in (f"/{SLUG}/", "/"):
        status, body = request(srv.port, path, host)
        assert b"Directory listing" not in body and f"{SLUG}.html\"".encode() not in body or status == 302, path
    assert request(srv.port, f"/{SLUG}/", host)[0] == 404


def test_watch_caps_its_connections(server):
    """300 idle sockets do not get 300 threads; the server still answers
    once they are gone."""
    import socket
    import threading

    srv, _ = server
    before = threading.active_count()
    socks = []
    try:
        for _ in range(300):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        import time

        time.sleep(1.0)
        assert threading.active_count() - before <= srv.httpd.MAX_CONNECTIONS + 2
    finally:
        for s in socks:
            s.close()
    import time

    deadline = time.monotonic() + 20
    while True:
        try:
            status, _ = request(srv.port, f"/{SLUG}/{SLUG}.html", f"127.0.0.1:{srv.port}")
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert status == 200


# ------------------------------------------------- 05, 08: no orphans, no stale locks

def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, their children …)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its exit status is left


def wait_until(predicate, timeout: float, what: str):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def java_below(pid: int) -> set[int]:
    out = set()
    for p in descendants(pid):
        try:
            if b"java" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]:
                out.add(p)
        except OSError:
            pass
    return out


PDF_FAILS_WHEN_THE_VALIDATORS_RUN = """
import os, sys, time
from pathlib import Path
from pipeline import build, formats
from pipeline.cli import main

def java_running():
    me = str(os.getppid())  # the PDF branch runs in a forked child of the build
    for p in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[1] == me and b"java" in Path(f"/proc/{p}/cmdline").read_bytes():
                return True
        except (OSError, IndexError):
            pass
    return False

def pdf_fails(pub, body, design, **options):
    deadline = time.monotonic() + 60
    while not java_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("validators running", flush=True)
    raise RuntimeError("the PDF renderer failed on purpose")

formats.get("pdf").render = pdf_fails
sys.exit(main(sys.argv[1:]))
"""


def test_a_failed_build_ends_its_validators(tmp_path):
    """05: the PDF fails while EPUBCheck and vnu run: both JVMs end with
    the build, not minutes later."""
    src = copy_fixture(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", PDF_FAILS_WHEN_THE_VALIDATORS_RUN, "build", str(src),
                             "--out", str(tmp_path / "dist")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    import time

    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= java_below(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    assert "validators running" in out, err
    assert proc.returncode == 2 and "the PDF renderer failed on purpose" in err
    assert seen, "no validator was seen running"
    wait_until(lambda: not any(running(p) for p in seen), 3, f"validators left running: {seen}")
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def start_build(src: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "build", str(src), "--out", str(out), *extra],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_killed_build_leaves_no_process_and_no_lock(tmp_path):
    """08 (b): a build is killed while its PDF process and both validators
    run, by SIGKILL, then SIGTERM, then SIGINT: all of them end each time,
    and the lock is free at once: the next build gets as far as its
    validators (a build refused by the lock never starts them), and the
    last one succeeds with no word about another build. The three kills
    share their builds: each next build is the check on the one before."""
    import signal as sig

    src = copy_fixture(tmp_path)
    out = tmp_path / "dist"
    for signum in (sig.SIGKILL, sig.SIGTERM, sig.SIGINT):
        proc = start_build(src, out)
        wait_until(lambda: len(java_below(proc.pid)) >= 2 or proc.poll() is not None, 120,
                   f"validators never started before {signum.name}")
        below = descendants(proc.pid)
        assert proc.poll() is None and len(below) >= 3, below  # the PDF process and two JVMs (at least)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert "another build" not in err
        assert proc.returncode == (-9 if signum == sig.SIGKILL else 128 + signum), (signum.name, err)
        wait_until(lambda: not any(running(p) for p in below), 3,
                   f"left running after {signum.name}: {[p for p in below if running(p)]}")
    last = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src), "--out", str(out), *FAST],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert last.returncode == 0, last.stderr
    assert "another build" not in last.stderr
    assert sorted(p.name for p in out.iterdir()) == [SLUG]


def test_a_lock_held_for_a_dead_build_is_taken_over(tmp_path):
    """Should a process of a dead build still hold the lock (here: a child
    that kept the file open), the next build takes it over and says so."""
    import signal as sig

    out = tmp_path / "dist"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time\nfrom pipeline.lock import output_lock\n"
         f"with output_lock({str(out)!r}, {SLUG!r}):\n"
         "    if os.fork() == 0:\n        time.sleep(120)\n        os._exit(0)\n"
         "    print('locked', flush=True)\n    time.sleep(120)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    orphans = descendants(holder.pid)
    holder.send_signal(sig.SIGKILL)
    holder.wait(timeout=30)
    try:
        src = copy_fixture(tmp_path)
        proc = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src), "--out", str(out), *FAST],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"was held for process {holder.pid}, which has ended; this build takes it over" in proc.stderr
        assert sorted(p.name for p in out.iterdir()) == [SLUG]
    finally:
        for p in orphans:
            with __import__("contextlib").suppress(ProcessLookupError):
                os.kill(p, sig.SIGKILL)


# ------------------------------------- 09, 10, 15: release and verify, one real release

@pytest.fixture(scope="module")
def quirky(tmp_path_factory):
    """10 and 15: a publication whose chapter file is hidden, whose figures
    folder is a symlink, with a symlink loop, an editor backup and a 1 GB
    (sparse) file it does not use: it builds, so it releases."""
    where = tmp_path_factory.mktemp("quirky")
    src = copy_fixture(where)
    (src / "method.md").rename(src / ".method.md")
    yaml = src / "publication.yaml"
    yaml.write_text(yaml.read_text("utf-8").replace("file: method.md", "file: .method.md"), "utf-8")
    (src / "figures").rename(src / "img")
    (src / "figures").symlink_to("img")
    (src / "x").symlink_to("y")
    (src / "y").symlink_to("x")
    (src / "notes.md~").write_text("a backup\n")
    with open(src / "raw-data.bin", "wb") as f:
        f.truncate(1 << 30)
    archive = where / "archive"
    proc = subprocess.run([sys.executable, "-m", "pipeline", "release", str(src), "--archive", str(archive)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    return src, archive, proc


def test_what_builds_releases_and_only_what_it_reads_is_archived(quirky):
    import tarfile

    src, archive, proc = quirky
    assert proc.returncode == 0, proc.stderr
    assert "left out" in proc.stderr and "raw-data.bin" in proc.stderr and "notes.md~" in proc.stderr
    tarball = archive / SLUG / "1.1.0" / f"{SLUG}-1.1.0-source.tar.gz"
    with tarfile.open(tarball) as tar:
        names = sorted(m.name.removeprefix(f"{SLUG}/") for m in tar.getmembers())
    assert names == [".method.md", "figures/working-share.png", "findings.md", "foreword.md", "publication.yaml"]
    assert tarball.stat().st_size < 100_000
    assert main(["editions", "verify", "--archive", str(archive)]) == 0


def tamper(archive: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "a"
    shutil.copytree(archive, copy, symlinks=True)
    return copy


def verify_out(archive: Path, capsys) -> tuple[int, str]:
    code = main(["editions", "verify", "--archive", str(archive)])
    return code, capsys.readouterr().out


def test_verify_trusts_no_manifest(quirky, tmp_path, capsys):
    """09: a manifest edited to match a changed archive is caught by the
    ledger; malformed manifests are findings and the others are checked."""
    _, archive, _ = quirky
    ed = f"{SLUG}/1.1.0"
    # drop the PDF and its manifest entry
    a = tamper(archive, tmp_path / "1")
    m = json.loads((a / ed / "manifest.json").read_text())
    m["files"] = [f for f in m["files"] if f["role"] != "pdf"]
    (a / ed / "manifest.json").write_text(json.dumps(m))
    (a / ed / f"{SLUG}-1.1.0.pdf").unlink()
    code, out = verify_out(a, capsys)
    assert code == 1 and "altered: the manifest's sha256" in out
    # edit the title
    a = tamper(archive, tmp_path / "2")
    p = a / ed / "manifest.json"
    p.write_text(p.read_text().replace('"title": "', '"title": "Fake '))
    code, out = verify_out(a, capsys)
    assert code == 1 and "ledger" in out
    # the PDF replaced by a symlink to an identical copy
    a = tamper(archive, tmp_path / "3")
    pdf = a / ed / f"{SLUG}-1.1.0.pdf"
    shutil.copy(pdf, tmp_path / "x.pdf")
    pdf.unlink()
    pdf.symlink_to(tmp_path / "x.pdf")
    code, out = verify_out(a, capsys)
    assert code == 1 and "symbolic link" in out
    # malformed manifests: no 'files', a list, a folder; a second edition is still verified
    for i, breakit in enumerate([lambda p: p.write_text(p.read_text().replace('"files":', '"filez":')),
                                 lambda p: p.write_text("[1, 2]"),
                                 lambda p: (p.unlink(), p.mkdir())]):
        a = tamper(archive, tmp_path / f"m{i}")
        shutil.copytree(a / ed, a / f"{SLUG}/1.1.1")  # a copy under another name: its own findings
        breakit(a / ed / "manifest.json")
        code, out = verify_out(a, capsys)
        assert code == 1 and "internal error" not in out
        assert "manifest" in out and "1.1.1" in out
    # a leftover .release-* folder and a hidden folder are findings, not skipped
    a = tamper(archive, tmp_path / "h")
    (a / ".release-abcd1234").mkdir()
    os.utime(a / ".release-abcd1234", (0, 0))
    shutil.copytree(a / SLUG, a / ".hidden")
    code, out = verify_out(a, capsys)
    assert code == 1 and ".release-abcd1234" in out and ".hidden" in out


def test_verify_reads_a_source_tarball_with_limits(quirky, tmp_path, capsys):
    """09: a small tarball that unpacks to far more than the source it
    should hold is not read whole."""
    import gzip
    import resource
    import tarfile

    _, archive, _ = quirky
    a = tamper(archive, tmp_path)
    ed = a / SLUG / "1.1.0"
    tarball = ed / f"{SLUG}-1.1.0-source.tar.gz"
    with gzip.open(tarball, "wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo(f"{SLUG}/publication.yaml")
        info.size = 1 << 26

        class Zeros:
            def read(self, n):
                return b"\0" * n
        tar.addfile(info, Zeros())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, out = verify_out(a, capsys)
    assert code == 1 and "source" in out
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB


# ------------------------------------------------------------------ 07: a full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (needs root), and a way to fill it up."""
    yield from small_tmpfs(tmp_path, "4M")


def test_a_full_disk_during_a_build_keeps_the_previous_outputs(small_disk, tmp_path, capsys):
    disk, fill = small_disk
    src = copy_fixture(tmp_path)
    out = disk / "dist"
    assert main(["build", str(src), "--out", str(out), *FAST]) == 0
    before = tree(out)
    (src / "method.md").write_text((src / "method.md").read_text("utf-8") + "\nOne more sentence.\n", "utf-8")
    fill(leave_kb=8)
    assert main(["build", str(src), "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"the disk that holds {out}" in err and f"mounted on {disk}" in err and "previous outputs were kept" in err
    assert "internal error" not in err
    assert tree(out) == before
    (disk / "filler").unlink()
    assert main(["build", str(src), "--out", str(out), *FAST]) == 0


def test_a_full_disk_after_the_edition_is_in_place_is_completed_by_the_next_release(small_disk, quirky, monkeypatch, capsys):
    """07: the disk fills up just after the edition was renamed into
    place: the message says the edition is archived and the catalogue is
    behind; the next release completes the catalogue; verify passes."""
    import pipeline.editions as editions

    disk, fill = small_disk
    _, good, _ = quirky
    archive = disk / "arch"
    shutil.copytree(good, archive)
    shutil.rmtree(archive / SLUG)  # an archive of other editions: the catalogue and the ledger stay
    (archive / "ledger.sha256").write_text("")
    editions.write_catalogue(archive)
    original = editions.write_catalogue

    def disk_fills_first(*args, **kwargs):
        fill()
        return original(*args, **kwargs)

    monkeypatch.setattr(editions, "write_catalogue", disk_fills_first)
    assert main(["release", str(FIXTURE), "--archive", str(archive)]) == 2
    err = capsys.readouterr().err
    assert f"{SLUG} 1.1.0 was archived in" in err and f"mounted on {disk}" in err and "catalogue" in err
    assert "internal error" not in err
    assert (archive / SLUG / "1.1.0" / "manifest.json").is_file()
    assert f'id="{SLUG}-1.1.0"' not in (archive / "index.html").read_text()
    monkeypatch.setattr(editions, "write_catalogue", original)
    (disk / "filler").unlink()
    assert main(["release", str(FIXTURE), "--archive", str(archive)]) == 0
    out = capsys.readouterr()
    assert "already archived" in out.out and "now lists" in out.err
    assert f'id="{SLUG}-1.1.0"' in (archive / "index.html").read_text()
    assert main(["editions", "verify", "--archive", str(archive)]) == 0
    assert not [p for p in archive.iterdir() if p.name.startswith(".")]


def test_a_full_disk_before_the_edition_is_in_place_changes_nothing(small_disk, quirky, capsys):
    disk, fill = small_disk
    _, good, _ = quirky
    archive = disk / "arch"
    shutil.copytree(good, archive)
    before = tree(archive)
    src = copy_fixture(disk.parent / "next")
    yaml = src / "publication.yaml"
    yaml.write_text(yaml.read_text("utf-8").replace("  version: 1.1.0\n", "  version: 1.2.0\n", 1), "utf-8")
    fill(leave_kb=64)
    assert main(["release", str(src), "--archive", str(archive)]) == 2
    err = capsys.readouterr().err
    assert f"mounted on {disk}" in err and "nothing was added to the archive" in err and "internal error" not in err
    (disk / "filler").unlink()
    assert tree(archive) == before
    assert main(["editions", "verify", "--archive", str(archive)]) == 0


# ------------------------------------------------------- 20 kills at random moments

def test_twenty_builds_and_releases_killed_at_random_moments_leave_nothing_behind(quirky, tmp_path):
    """Builds (mostly of the HTML page, some of all three formats with the
    check) and releases, each killed at a random moment by SIGKILL, SIGTERM
    or SIGINT: afterwards no process of theirs runs, no lock is held, no
    temporary folder is left once the next build and release have run, and
    the archive verifies."""
    import random
    import signal as sig
    import time

    src, good, _ = quirky
    archive = tmp_path / "archive"
    shutil.copytree(good, archive)
    out = tmp_path / "dist"
    rng = random.Random(17)
    seen: set[int] = set()
    started = time.monotonic()
    for i in range(20):
        if i % 2:
            args = ["release", str(src), "--archive", str(archive)]
        else:
            args = ["build", str(src), "--out", str(out)] + ([] if i % 6 == 0 else ["--formats", "html"])
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + rng.uniform(0.3, 3.0)
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= descendants(proc.pid)
            time.sleep(0.03)
        proc.send_signal(rng.choice([sig.SIGKILL, sig.SIGKILL, sig.SIGTERM, sig.SIGINT]))
        proc.wait(timeout=60)
    wait_until(lambda: not any(running(p) for p in seen), 5, f"left running: {[p for p in seen if running(p)]}")
    assert time.monotonic() - started < 120
    build = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src), "--out", str(out), *FAST],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0 and "another build" not in build.stderr, build.stderr
    assert sorted(p.name for p in out.iterdir()) == [SLUG]
    release = subprocess.run([sys.executable, "-m", "pipeline", "release", str(src), "--archive", str(archive)],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert release.returncode == 0, release.stderr
    assert not [p.name for p in archive.iterdir() if p.name.startswith(".")]
    assert main(["editions", "verify", "--archive", str(archive)]) == 0
