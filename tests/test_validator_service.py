"""EPUBCheck and the Nu Html Checker kept warm (issue 14, part 2).

The service (java/ValidatorService.java, pipeline/check/service.py) must
give the verdicts the one-shot runs give, on good outputs and on the
tampered ones of tests/test_check.py; it must not be used from a folder
other users can enter or own, nor for other validators (another key); a
service killed mid-check leaves a correct verdict (the one-shot fallback)
and is replaced for the next build; and a second build really uses the
service the first one started. Every service these tests start runs in a
folder of their own and is ended by the fixture that made the folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURE, ROOT
from pipeline import formats, source
from pipeline.check import check_outputs, conformance, service
from test_check import _once, copy_outputs, edit_text, rezip

SLUG = "sample-report"
EPUBCHECK = formats.get("epub").validator
VNU = formats.get("html").validator

pytestmark = pytest.mark.skipif(not (service.CLASSES / "ValidatorService.class").is_file(),
                                reason="the validator service is not compiled: run `make`")


def _services_in(folder: Path) -> list[int]:
    """The pids of the processes whose command line names ``folder``:
    the services started there."""
    found = []
    needle = str(folder).encode()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if needle in Path(f"/proc/{p}/cmdline").read_bytes():
                    found.append(int(p))
            except OSError:
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _answers(validator, k: str) -> bool:
    try:
        service.ping(validator, k)
    except service.Unavailable:
        return False
    return True


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """A private runtime folder with the service turned on; every service
    started in it is ended afterwards."""
    folder = tmp_path_factory.mktemp("validators") / "run"
    yield folder
    for pid in _services_in(folder):
        if pid != os.getpid():
            os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: not any(_alive(p) for p in _services_in(folder) if p != os.getpid()), 10,
                "services left running")


@pytest.fixture
def on(runtime, monkeypatch):
    monkeypatch.setenv(service.ENV_SWITCH, "1")
    monkeypatch.setenv(service.ENV_FOLDER, str(runtime))
    return runtime


def verdicts(report) -> dict:
    """What a check says about the EPUB and the HTML page, and nothing of
    how long it took or who said it."""
    out = {}
    for fmt in ("epub", "html"):
        r = report.formats[fmt]
        c = r.conformance
        out[fmt] = ([str(f) for f in r.differences], c.tool, c.counts, [f.message for f in c.findings], c.notes)
    return out


@pytest.fixture(scope="module")
def tampered(fixture_build, tmp_path_factory) -> dict[str, Path]:
    """The real outputs, and copies damaged the ways tests/test_check.py damages them."""
    folders = {"good": fixture_build.out_dir}

    def copy(name: str) -> Path:
        return copy_outputs(fixture_build, tmp_path_factory.mktemp(name))

    # test_epubcheck_and_vnu_findings_are_reported, test_a_nav_entry_reordered_in_the_epub,
    # test_a_heading_removed_from_the_html
    f = folders["damaged"] = copy("damaged")
    edit_text(f / f"{SLUG}.html", "<p>Each district was", '<p frobnicate="yes">Each district was')
    edit_text(f / f"{SLUG}.html", '<h3><span class="number">1.1</span> Sampling</h3>\n', "")
    rezip(f / f"{SLUG}.epub", "EPUB/text/02-part-1.xhtml",
          lambda t: _once(t, "<p>Each district was", "<p><frobnicate/>Each district was"))
    overview = '  <li><a href="text/03-part-2.xhtml#findings-overview">2.1 Overview</a></li>\n'
    maintenance = '  <li><a href="text/03-part-2.xhtml#maintenance">2.2 Maintenance</a></li>\n'
    rezip(f / f"{SLUG}.epub", "EPUB/nav.xhtml", lambda t: _once(t, overview + maintenance, maintenance + overview))
    f = folders["truncated"] = copy("truncated")  # not a zip any more; the page cut off in its head
    data = (f / f"{SLUG}.epub").read_bytes()
    (f / f"{SLUG}.epub").write_bytes(data[: len(data) // 2])
    text = (f / f"{SLUG}.html").read_text("utf-8")
    (f / f"{SLUG}.html").write_text(text[: len(text) // 2], "utf-8")
    return folders


@pytest.fixture(scope="module")
def one_shot(fixture_build, tampered) -> dict:
    """The one-shot verdicts on each folder: the session's build checked
    the good outputs one-shot already (the suite runs without the service)."""
    pub = source.load(FIXTURE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(service.ENV_SWITCH, "0")
        return {name: fixture_build.check if name == "good" else check_outputs(pub, folder, formats=("epub", "html"))
                for name, folder in tampered.items()}


def test_the_warm_service_gives_the_one_shot_verdicts(tampered, one_shot, on):
    """Good outputs and tampered ones: the same differences, findings,
    counts and notes from the service as from the one-shot JVMs; and the
    service was used."""
    pub = source.load(FIXTURE)
    # twice over: a service that checked a broken file before checks the next one as a new JVM would
    for name, folder in [*tampered.items(), *tampered.items()]:
        once = one_shot[name]
        warm = check_outputs(pub, folder, formats=("epub", "html"))
        for fmt in ("epub", "html"):
            assert "service" not in once.formats[fmt].conformance.as_json(), name
            assert warm.formats[fmt].conformance.service.startswith("process "), (name, fmt, warm.formats[fmt].conformance.service)
        assert verdicts(warm) == verdicts(once), name
        assert warm.ok == (name == "good")
    # and the damage is what the validators name
    findings = lambda fmt, name: [f.message for f in one_shot[name].formats[fmt].conformance.findings]  # noqa: E731
    assert findings("epub", "good") == [] and findings("html", "good") == []
    assert any("RSC-005" in f and "frobnicate" in f for f in findings("epub", "damaged"))
    assert any("NAV-011" in f for f in findings("epub", "damaged"))
    assert any("frobnicate" in f for f in findings("html", "damaged"))
    assert any("FATAL" in f or "PKG-" in f for f in findings("epub", "truncated"))
    assert findings("html", "truncated")


# ---------------------------------------------------------------- not shared

def test_a_folder_other_users_can_enter_or_own_is_not_used(fixture_build, tmp_path, monkeypatch):
    monkeypatch.setenv(service.ENV_SWITCH, "1")
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    monkeypatch.setenv(service.ENV_FOLDER, str(open_folder))
    with pytest.raises(service.Unavailable, match="other users"):
        service.folder()
    # the build still gets its verdict, one-shot, and says why no service was used
    report = check_outputs(source.load(FIXTURE), fixture_build.out_dir, formats=("html",))
    assert report.ok
    assert report.formats["html"].conformance.service.startswith("not used: ") and "mode 777" in \
        report.formats["html"].conformance.service
    assert not list(open_folder.iterdir()), "nothing may be started in a folder others can enter"

    link = tmp_path / "link"
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link.symlink_to(private)
    monkeypatch.setenv(service.ENV_FOLDER, str(link))
    with pytest.raises(service.Unavailable, match="not a folder"):
        service.folder()

    if os.getuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        monkeypatch.setenv(service.ENV_FOLDER, str(theirs))
        with pytest.raises(service.Unavailable, match="belongs to user 65534"):
            service.folder()

    fresh = tmp_path / "fresh"
    monkeypatch.setenv(service.ENV_FOLDER, str(fresh))
    assert service.folder() == fresh and (fresh.stat().st_mode & 0o777) == 0o700


def test_the_socket_is_private_and_a_service_of_other_validators_is_not_asked(fixture_build, on, monkeypatch):
    html = fixture_build.out_dir / f"{SLUG}.html"
    k = service.ensure(VNU)
    sock, _, _ = service.paths(VNU, k)
    assert (on.stat().st_mode & 0o777) == 0o700 and (sock.stat().st_mode & 0o777) == 0o600
    pid, served, _ = service.ping(VNU, k)

    # other validators (another version, jar or options): another key, another service
    real = conformance.validator_id
    monkeypatch.setattr(conformance, "validator_id", lambda v: real(v) + " (another version)")
    other = service.key(VNU)
    assert other != k
    run = conformance.start(VNU, "html", html)
    result = run.wait()
    assert result.findings == [] and result.service.startswith("process ")
    assert not result.service.startswith(f"process {pid},")
    assert service.ping(VNU, k)[:2] == (pid, served), "the service of the other key was asked"

    # a socket of another key under this key's name: the service refuses to answer for a key not its own
    sock_other, _, _ = service.paths(VNU, other)
    service.stop(VNU, other)
    _wait_until(lambda: not sock_other.exists(), 10, "the other service did not end")
    os.link(sock, sock_other)
    with pytest.raises(service.Unavailable, match="other validators"):
        service.check(VNU, html, other)
    assert service.ping(VNU, k)[:2] == (pid, served)
    sock_other.unlink()


# ---------------------------------------------------------------- killed, replaced, reused

def test_a_service_killed_mid_check_gives_the_right_verdict_and_is_replaced(tampered, one_shot, on, monkeypatch):
    epub = tampered["damaged"] / f"{SLUG}.epub"
    monkeypatch.setattr(service, "PROTOCOL", "kill-test")  # a new service: its first check takes seconds
    k = service.ensure(EPUBCHECK)
    pid, served, _ = service.ping(EPUBCHECK, k)
    run = conformance.start(EPUBCHECK, "epub", epub)
    assert isinstance(run, service.ServiceRun)
    # killed while it checks
    _wait_until(lambda: service.ping(EPUBCHECK, k)[2] == 1, 60, "the check never reached the service")
    os.kill(pid, signal.SIGKILL)
    result = run.wait()
    run.kill()
    pub = source.load(FIXTURE)
    conformance.locate_in_source(EPUBCHECK, epub, result, pub)  # as check_outputs does
    assert result.service.startswith("not used: "), result.service
    once = one_shot["damaged"].formats["epub"].conformance
    assert [f.message for f in result.findings] == [f.message for f in once.findings] != []
    assert result.counts == once.counts and result.notes == once.notes
    # the next check finds a new service, started while the one-shot ran
    _wait_until(lambda: _answers(EPUBCHECK, k), 60, "no new service was started")
    new_pid, new_served, _ = service.ping(EPUBCHECK, k)
    assert new_pid != pid and _alive(new_pid) and not _alive(pid)
    again = conformance.start(EPUBCHECK, "epub", epub).wait()
    conformance.locate_in_source(EPUBCHECK, epub, again, pub)
    assert again.service == f"process {new_pid}, check {new_served + 1}"
    assert [f.message for f in again.findings] == [f.message for f in once.findings]


def test_a_second_build_uses_the_service_the_first_one_started(tmp_path, on):
    """Two builds in two processes (as `make` or a second save runs them):
    the first starts the services, the second is served by the same
    processes, one check further on; the services outlive both builds."""
    src = tmp_path / SLUG
    shutil.copytree(FIXTURE, src)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "dist"

    def build() -> dict:
        proc = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src), "--out", str(out)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        report = json.loads((out / SLUG / "check.json").read_text("utf-8"))
        return {fmt: report["formats"][fmt]["conformance"].get("service", "") for fmt in ("epub", "html")}

    first = build()
    edit_text(src / "method.md", "Each district was", "Every district was")  # one sentence edited
    second = build()
    for fmt in ("epub", "html"):
        pid, number = first[fmt].removeprefix("process ").split(", check ")
        assert second[fmt] == f"process {pid}, check {int(number) + 1}", (first, second)
        assert _alive(int(pid))


def test_an_idle_service_ends_and_removes_its_socket(on, monkeypatch):
    monkeypatch.setenv(service.ENV_IDLE, "1")
    monkeypatch.setattr(service, "PROTOCOL", "idle-test")  # a service of its own, not the other tests'
    k = service.ensure(VNU)
    sock, _, log = service.paths(VNU, k)
    pid, _, _ = service.ping(VNU, k)
    _wait_until(lambda: not _alive(pid), 30, "the idle service did not end")
    assert not sock.exists()
    assert "idle for 1 s after 0 check(s): ending" in log.read_text()


CLIENT = """import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(sys.argv[2].encode() + b"\\n")
    print(repr(s.recv(100)))
except OSError as exc:  # closed before the request was read
    print(type(exc).__name__)
"""


@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/python3").is_file(),
                    reason="acting as another user needs root")
def test_another_user_can_neither_reach_nor_use_the_service(monkeypatch):
    """The folder (0700) and the socket (0600) keep other users out; opened
    up by hand, the service still answers nobody but its own user."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="validators-", dir="/tmp"))  # every folder above it open to all
    monkeypatch.setenv(service.ENV_SWITCH, "1")
    monkeypatch.setenv(service.ENV_FOLDER, str(folder))
    monkeypatch.setattr(service, "PROTOCOL", "other-user-test")
    try:
        k = service.ensure(VNU)
        sock, _, log = service.paths(VNU, k)
        pid, _, _ = service.ping(VNU, k)

        def as_nobody():
            return subprocess.run(["/usr/bin/python3", "-c", CLIENT, str(sock), f"ping\t{k}"], user=65534,
                                  group=65534, extra_groups=[], capture_output=True, text=True, timeout=30)

        other = as_nobody()
        assert other.returncode != 0 and "PermissionError" in other.stderr, other
        folder.chmod(0o711)
        sock.chmod(0o666)
        other = as_nobody()
        assert other.returncode == 0 and other.stdout.strip() in ("b''", "BrokenPipeError", "ConnectionResetError"), \
            other  # closed unanswered
        assert "refused a connection from user" in log.read_text()
        # and a folder opened like that is not used by a build either
        with pytest.raises(service.Unavailable, match="other users"):
            service.folder()
    finally:
        for p in _services_in(folder):
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def test_builds_starting_at_once_start_one_service(on, monkeypatch):
    """Three processes that need the service at the same moment (`make -j`
    of several publications): one starts it, under the lock, and all three
    are answered by that one process, the only one of its key."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("from pipeline.check import service\nservice.PROTOCOL = 'race-test'\n"
            "from pipeline import formats\nv = formats.get('html').validator\nk = service.ensure(v)\nprint(service.ping(v, k)[0])")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(pids) == 1, pids
    monkeypatch.setattr(service, "PROTOCOL", "race-test")
    k = service.key(VNU)
    pid = int(pids.pop())
    started = [p for p in _services_in(on) if k.encode() in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert started == [pid]
    # and only one JVM was ever started: the others did not start one that lost the race for the socket
    _, _, log = service.paths(VNU, k)
    assert log.read_text().splitlines() == [f"serving vnu as process {pid} on {service.paths(VNU, k)[0]}"]
