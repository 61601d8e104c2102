"""EPUBCheck and the Nu Html Checker kept warm between builds.

A one-shot validator pays the JVM's start and the compilation of its
schemas on every check (EPUBCheck 3.4-5 s of wall for a 15-page EPUB). The
first build that needs a validator starts a service for it instead
(``java/ValidatorService.java``, compiled by ``make`` into ``build/java/``):
one JVM per validator, detached from the build so that it outlives it,
serving checks over a Unix socket and ending after ``IDLE`` seconds without
one. Later builds, ``pipeline watch`` and ``make`` of several publications
connect to it. The reply is what the one-shot run prints, read by the same
parser, so a verdict is the same with or without the service.

Never shared, never stale:

* the socket lives in a per-user folder (``$XDG_RUNTIME_DIR/pipeline-
  validators``, else ``<temp>/pipeline-validators-<uid>``) that must be a
  real folder owned by this user with mode 0700, or no service is used;
  the service also refuses connections from other users (SO_PEERCRED);
* the socket's name carries a key: a hash of the validator's package,
  version, jar (path and size), options, the JVM's options, the java
  executable and the service's compiled classes; a service answers only
  requests that carry its key, so a service of other validators is never
  asked;
* one lock per key, so two builds never start two services at once.

Whenever the service cannot be used (turned off with
``PIPELINE_VALIDATOR_SERVICE=0``, not compiled, the folder refused, the
service dead, unreachable, or failing mid-request) the build validates
one-shot as before, and a failed service is replaced for the next build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from pipeline.check import conformance
from pipeline.formats import Validator

ENV_SWITCH = "PIPELINE_VALIDATOR_SERVICE"  # 0/no/off/false: validate one-shot only
ENV_FOLDER = "PIPELINE_VALIDATOR_RUNTIME_DIR"  # another per-user folder (the tests use their own)
ENV_IDLE = "PIPELINE_VALIDATOR_IDLE"  # seconds without a check before a service ends
IDLE = 600
START_TIMEOUT = 60  # seconds for a new service to open its socket
PING_TIMEOUT = 10
PROTOCOL = "1"

#: The classes ``make`` compiles from java/ValidatorService.java.
ROOT = Path(__file__).resolve().parents[2]
CLASSES = ROOT / "build" / "java"

#: The one-shot runs' JVM options. Without -XX:TieredStopAtLevel=1 (C2 on)
#: the first check took twice as long (EPUBCheck 26 s against 13 s on the
#: flagship, on a loaded machine) and later ones were no faster.
JVM_OPTIONS = conformance.JVM_OPTIONS


class Unavailable(Exception):
    """The service cannot be used for this check; the reason is the message."""


# ---------------------------------------------------------------- where and which

def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "no", "off", "false")


def folder() -> Path:
    """The per-user folder of the sockets, created 0700 when missing;
    ``Unavailable`` when it is not a folder of ours that only we can enter."""
    chosen = os.environ.get(ENV_FOLDER)
    if chosen:
        path = Path(chosen)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "pipeline-validators"
    else:
        path = Path(tempfile.gettempdir()) / f"pipeline-validators-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise Unavailable(f"cannot create {path}: {exc.strerror}") from None
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise Unavailable(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise Unavailable(f"{path} is not a folder")
    if st.st_uid != os.getuid():
        raise Unavailable(f"{path} belongs to user {st.st_uid}, not to this user ({os.getuid()})")
    if st.st_mode & 0o077:
        raise Unavailable(f"{path} can be entered by other users (mode {stat.S_IMODE(st.st_mode):o}, not 700)")
    return path


def _classes_digest() -> str:
    files = sorted(CLASSES.glob("ValidatorService*.class")) if CLASSES.is_dir() else []
    if not any(f.name == "ValidatorService.class" for f in files):
        raise Unavailable(f"the validator service is not compiled (no {CLASSES}/ValidatorService.class; run `make`)")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _java() -> str:
    path = shutil.which("java")
    if path is None:
        raise Unavailable("java is not on PATH")
    return os.path.realpath(path)


def key(validator: Validator) -> str:
    """What a service's verdicts depend on besides the file; services of
    another key are never used."""
    path = conformance.jar(validator).resolve()
    java = _java()
    parts = [PROTOCOL, validator.key, conformance.validator_id(validator), f"{path} {path.stat().st_size}",
             " ".join(JVM_OPTIONS),
             f"{java} {os.stat(java).st_size}", _classes_digest()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def paths(validator: Validator, k: str | None = None) -> tuple[Path, Path, Path]:
    """The socket, lock and log of the service of ``validator``."""
    base = folder() / f"{validator.key}-{k or key(validator)}"
    return base.with_suffix(".sock"), base.with_suffix(".lock"), base.with_suffix(".log")


# ---------------------------------------------------------------- talking to it

def _request(sock: Path, line: str, timeout: float) -> tuple[list[str], bytes]:
    """Send one request; its reply's header fields and the bytes after it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(str(sock))
        except OSError as exc:
            raise Unavailable(f"no service answers on {sock.name} ({exc.strerror or exc})") from None
        # the process behind the socket must be one of ours
        pid, uid, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid != os.getuid():
            raise Unavailable(f"the service on {sock.name} runs as user {uid}, not as this user")
        s.sendall(line.encode("utf-8") + b"\n")
        data = bytearray()
        while True:
            try:
                chunk = s.recv(1 << 16)
            except OSError as exc:
                raise Unavailable(f"the service (process {pid}) failed: {exc}") from None
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, sep, rest = bytes(data).partition(b"\n")
    if not sep:
        raise Unavailable("the service ended the connection without an answer")
    return head.decode("utf-8", "replace").split("\t"), rest


def ping(validator: Validator, k: str | None = None) -> tuple[int, int, int]:
    """The pid of the service of ``validator``, how many checks it has
    served and how many it has under way or waiting."""
    k = k or key(validator)
    sock, _, _ = paths(validator, k)
    fields, _ = _request(sock, f"ping\t{k}", PING_TIMEOUT)
    if len(fields) != 5 or fields[0] != "pong" or fields[1] != k:
        raise Unavailable(f"the service on {sock.name} answered for other validators")
    return int(fields[2]), int(fields[3]), int(fields[4])


def check(validator: Validator, path: Path, k: str) -> tuple[str, str, int, int, int]:
    """``path`` checked by the running service: the one-shot run's stdout,
    stderr and exit status, the service's pid and the check's number."""
    sock, _, _ = paths(validator, k)
    absolute = str(Path(path).resolve())
    if "\n" in absolute or "\t" in absolute:
        raise Unavailable("the file's path holds a tab or a line break")
    fields, rest = _request(sock, f"check\t{k}\t{absolute}", conformance.TIMEOUT)
    if fields[0] == "wrong-key" or (len(fields) > 1 and fields[1] != k):
        raise Unavailable(f"the service on {sock.name} answered for other validators")
    if len(fields) != 7 or fields[0] != "done":
        raise Unavailable(f"the service answered {' '.join(fields)[:80]!r}")
    pid, number, status, n_out, n_err = (int(x) for x in fields[2:])
    if len(rest) != n_out + n_err:
        raise Unavailable(f"the service (process {pid}) sent {len(rest)} bytes of {n_out + n_err}")
    return rest[:n_out].decode("utf-8", "replace"), rest[n_out:].decode("utf-8", "replace"), status, pid, number


# ---------------------------------------------------------------- starting it

@contextlib.contextmanager
def _locked(lock: Path):
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _spawn(validator: Validator, k: str) -> subprocess.Popen:
    """Start the service of ``validator``, detached from this build: its own
    session, no tie to the build's life (pipeline.children is not used on
    purpose), its output logged beside its socket."""
    sock, _, log = paths(validator, k)
    idle = os.environ.get(ENV_IDLE, str(IDLE))
    args = [_java(), *JVM_OPTIONS, "-cp", f"{CLASSES}{os.pathsep}{conformance.jar(validator)}", "ValidatorService",
            validator.key, str(sock), k, idle, *validator.options]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=str(sock.parent),
                                start_new_session=True, close_fds=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    finally:
        os.close(fd)


def ensure(validator: Validator) -> str:
    """The key of a running service of ``validator``, started if there is
    none (under the key's lock: one build starts it, the others wait for it)."""
    k = key(validator)
    sock, lock, log = paths(validator, k)
    with contextlib.suppress(Unavailable):
        ping(validator, k)
        return k
    with _locked(lock):
        with contextlib.suppress(Unavailable):
            ping(validator, k)  # another build started it while this one waited for the lock
            return k
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()  # a dead service's socket
        proc = _spawn(validator, k)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if sock.exists():
                with contextlib.suppress(Unavailable):
                    ping(validator, k)
                    return k
            if proc.poll() is not None:
                with contextlib.suppress(Unavailable):
                    ping(validator, k)  # it lost the socket to one started by a build that died holding the lock
                    return k
                raise Unavailable(f"the service ended at start with status {proc.returncode} (see {log})")
            time.sleep(0.02)
        proc.kill()
        raise Unavailable(f"the service did not open its socket within {START_TIMEOUT} s (see {log})")


def stop(validator: Validator, k: str) -> int | None:
    """Ask the service of key ``k`` to end; its pid, or None if none ran."""
    sock, _, _ = paths(validator, k)
    try:
        fields, _ = _request(sock, f"stop\t{k}", PING_TIMEOUT)
    except Unavailable:
        return None
    return int(fields[2]) if len(fields) == 3 and fields[0] == "stopping" else None


# ---------------------------------------------------------------- one check

def _replace(validator: Validator) -> None:
    with contextlib.suppress(Exception):
        ensure(validator)


class ServiceRun:
    """A check sent to the warm service, in the background like
    ``conformance.Running`` and read by the same parser. If the service
    cannot be reached or fails mid-request, ``wait()`` validates one-shot
    (``conformance.once``, started from the build's own thread so that it
    ends with the build) and a new service is started for the next build.
    ``fmt``: the name of the file's format, which the findings carry."""

    def __init__(self, validator: Validator, fmt: str, path: Path):
        self.format, self.tool, self.path = fmt, validator.tool, Path(path)
        self._validator = validator
        self._parse = validator.parse
        self.validator = conformance.validator_id(validator)
        self.started = time.perf_counter()
        self.result: conformance.Result | None = None
        self.failure: str | None = None
        self._fallback: conformance.Running | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            k = ensure(self._validator)
            out, err, status, pid, number = check(self._validator, self.path, k)
            result = self._parse(self.format, out, err, status)
            result.seconds = time.perf_counter() - self.started
            result.validator = self.validator
            result.service = f"process {pid}, check {number}"
            self.result = result
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the one-shot run gives the verdict
            self.failure = str(exc) or type(exc).__name__
            # a new service for the next build, started while wait() validates one-shot
            threading.Thread(target=_replace, args=(self._validator,), daemon=True).start()

    def wait(self) -> conformance.Result:
        self._thread.join(timeout=max(1.0, conformance.TIMEOUT - (time.perf_counter() - self.started)))
        if self._thread.is_alive():
            return conformance.Result(self.tool, [conformance.Finding(
                self.format, "conformance", f"{self.tool} did not finish within {conformance.TIMEOUT} s")])
        if self.result is not None:
            return self.result
        self._fallback = conformance.once(self._validator, self.format, self.path)
        result = self._fallback.wait()
        result.service = f"not used: {self.failure}"
        return result

    def kill(self) -> None:
        if self._fallback is not None:
            self._fallback.kill()
