"""``pipeline watch``: rebuild on every save, serve the outputs on
127.0.0.1 and reload the open page.

One thread serves ``<out>/`` over HTTP (the standard library's
``http.server``); the main thread builds, then waits for changes to the
publication folder or ``templates/`` (``watchfiles``) and builds again.

The server adds one ``<script>`` to every HTML page it sends (the file on
disk is never touched). That script polls ``/__watch/state``: when a newer
good build exists it reloads the page; when the last build failed it lays
the error over the page. A failed build leaves the previous outputs in
place (``build()`` swaps folders only on success), so the page keeps
showing the last good output, and the next good build replaces it.
"""

from __future__ import annotations

import errno
import functools
import http.server
import json
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import BuildError, CheckFailed, SourceError, shown_path

STATE_PATH = "/__watch/state"
SCRIPT_PATH = "/__watch/reload.js"


# ------------------------------------------------------------------ state

@dataclass
class BuildState:
    """What the page asks about: shared between the builder and the server."""

    build: int = 0  # builds finished so far, good or failed
    good: int = 0  # number of the last good build (0: none yet)
    ok: bool = True  # did the last build succeed?
    building: bool = False
    error: str = ""  # the last build's error, as the terminal shows it
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict:
        with self.lock:
            return {"build": self.build, "good": self.good, "ok": self.ok, "building": self.building,
                    "error": self.error}

    def started(self) -> None:
        with self.lock:
            self.building = True

    def finished(self, error: str | None) -> int:
        with self.lock:
            self.build += 1
            self.building = False
            self.ok = error is None
            self.error = error or ""
            if error is None:
                self.good = self.build
            return self.build


def failure_text(exc: BaseException) -> str:
    """A failed build as the person at the terminal should read it."""
    if isinstance(exc, SourceError):
        n = len(exc.problems)
        return "\n".join([*(str(p) for p in exc.problems),
                          f"{n} problem{'s' if n != 1 else ''} in the source; the last good output is still served."])
    if isinstance(exc, CheckFailed):
        kept = f"; the failed outputs are in {shown_path(exc.kept)}/ (not served)" if exc.kept else ""
        return "\n".join([*exc.findings, f"check failed; the last good output is still served{kept}."])
    if isinstance(exc, BuildError):
        return f"error: {exc}"
    return "".join(traceback.format_exception(exc)).rstrip() + "\n(this is a bug in the pipeline; please report it)"


# ----------------------------------------------------------------- server

def _static(name: str) -> bytes:
    return resources.files("pipeline").joinpath("static", name).read_bytes()


def inject(page: bytes, build: int) -> bytes:
    """``page`` with the reload script before its closing body tag."""
    tag = f'<script src="{SCRIPT_PATH}" data-build="{build}"></script>\n'.encode()
    at = page.lower().rfind(b"</body>")
    return page + tag if at < 0 else page[:at] + tag + page[at:]


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ``<out>/`` as files, HTML pages with the reload script added,
    to this user only: a request must name the address served in its
    ``Host`` header (a page elsewhere that rebinds its DNS name to
    127.0.0.1 sends its own name, and is refused), no path leads out of
    ``<out>/`` (symbolic links are followed only to files inside it), and
    folders are not listed."""

    state: BuildState
    start_page: str  # URL path of the publication's HTML, relative to <out>
    verbose: bool = False
    hosts: frozenset = frozenset()  # the Host headers accepted: 127.0.0.1:PORT, localhost:PORT
    root: Path  # <out>/, resolved
    timeout = 30  # seconds an idle connection may hold its thread

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.hosts:
            self.send_error(403, "Forbidden", f"this preview server answers requests for "
                                              f"{sorted(self.hosts)[0]} only")
            return False
        return True

    def translate_path(self, path: str) -> str:
        """The file a URL path names, or a name that does not exist when
        the file (through symbolic links) lies outside ``<out>/`` or in a
        hidden folder (the build's lock, staging and set-aside folders,
        ``<slug>/.failed/``): those are not outputs, and never served."""
        file = Path(super().translate_path(path))
        try:
            hidden = any(part.startswith(".") for part in file.relative_to(self.directory).parts)
        except ValueError:
            hidden = False
        if hidden:
            return str(self.root / "__watch" / "hidden")  # answered 404
        try:
            real = file.resolve()
        except (OSError, RuntimeError):
            return str(self.root / "__watch" / "outside")  # answered 404
        if real != self.root and not real.is_relative_to(self.root):
            return str(self.root / "__watch" / "outside")  # answered 404
        return str(file)

    def list_directory(self, path):
        self.send_error(404, "Not Found", "folders are not listed")
        return None

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the stdlib's name)
        if self.verbose:
            sys.stderr.write(f"watch: {self.address_string()} {format % args}\n")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == STATE_PATH:
            return self._send(200, json.dumps(self.state.snapshot()).encode(), "application/json")
        if path == SCRIPT_PATH:
            return self._send(200, _static("reload.js"), "text/javascript; charset=utf-8")
        good = self.state.snapshot()["good"]
        if path == "/":
            if Path(self.translate_path(self.start_page)).is_file():
                self.send_response(302)
                self.send_header("Location", self.start_page)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._send(200, inject(_static("waiting.html"), good), "text/html; charset=utf-8")
        file = Path(self.translate_path(self.path))
        if file.suffix.lower() in (".html", ".htm") and file.is_file():
            return self._send(200, inject(file.read_bytes(), good), "text/html; charset=utf-8")
        if self.command == "HEAD":
            return super().do_HEAD()
        return super().do_GET()


class _BoundedServer(http.server.ThreadingHTTPServer):
    """A thread per connection, at most ``MAX_CONNECTIONS`` at once: one
    more is closed at once rather than given a thread."""

    MAX_CONNECTIONS = 32
    request_queue_size = 128  # connections waiting to be accepted (then closed when over the cap)

    def __init__(self, *args, **kwargs):
        self.slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _web_page(slug: str) -> str:
    """The file a browser opens first: the first registered format that is
    a web page (``Format.media_type`` text/html)."""
    from pipeline import formats

    pages = [f for f in formats.REGISTRY.values() if f.media_type.split(";")[0].strip() == "text/html"]
    return pages[0].output_name(slug) if pages else ""


class Server:
    """``<out>/`` on http://127.0.0.1:PORT/, served from a thread."""

    HOST = "127.0.0.1"

    def __init__(self, out: Path, slug: str, state: BuildState, port: int = 8000, verbose: bool = False):
        handler = type("WatchHandler", (Handler,), {
            "state": state, "start_page": f"/{slug}/{_web_page(slug)}", "verbose": verbose,
            "root": Path(out).resolve()})
        try:
            self.httpd = _BoundedServer(
                (self.HOST, port), functools.partial(handler, directory=str(out)))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BuildError(f"port {port} on {self.HOST} is already in use; choose another with --port N, "
                                 f"or --port 0 for any free port") from None
            raise BuildError(f"cannot serve on {self.HOST}:{port}: {exc.strerror or exc}") from None
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        handler.hosts = frozenset({f"{self.HOST}:{self.port}", f"localhost:{self.port}"}
                                  | ({self.HOST, "localhost"} if self.port == 80 else set()))
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="pipeline-watch-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.HOST}:{self.port}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# ------------------------------------------------------------------ watch

def watch(source_dir: Path, out: Path, report, formats=None, check: bool = True, port: int = 8000,
          verbose: bool = False, open_browser: bool = False, stop: threading.Event | None = None,
          templates: Path | None = None) -> int:
    """Build, serve, and rebuild on every change until Ctrl-C (or ``stop``)."""
    import watchfiles

    from pipeline.progress import run_build
    from pipeline.render.common import DEFAULT_TEMPLATES

    source_dir = Path(source_dir)
    out = Path(out)
    templates = Path(templates or DEFAULT_TEMPLATES)
    formats = tuple(formats) if formats else None  # None: publication.yaml's formats, else the default ones
    slug = source_dir.resolve().name
    if not (source_dir / "publication.yaml").is_file():
        raise SourceError(_no_publication(source_dir))
    out.mkdir(parents=True, exist_ok=True)
    state = BuildState()

    def rebuild() -> None:
        state.started()
        try:
            run_build(report, source_dir, out=out, formats=formats, check=check)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # every failure is shown, and watching goes on
            text = failure_text(exc)
            n = state.finished(text)
            print(f"\nbuild {n} failed:\n{text}", file=sys.stderr, flush=True)
        else:
            n = state.finished(None)
            report.line(f"build {n} ok: {server.url}")

    with Server(out, slug, state, port, verbose) as server:
        report.line(f"serving {out}/ on {server.url} (the page reloads after each build; Ctrl-C stops)")
        try:
            rebuild()
            if open_browser:
                import webbrowser

                webbrowser.open(server.url)
            report.line(f"watching {source_dir}/ and {templates}/ for changes")
            paths = [source_dir, templates]
            ignore = watchfiles.DefaultFilter(ignore_paths=[str(out.resolve())])
            for changes in watchfiles.watch(*paths, watch_filter=ignore, stop_event=stop, debounce=1000, step=100):
                names = sorted({_short(Path(p), paths) for _, p in changes})
                report.line(f"changed: {', '.join(names)}")
                time.sleep(0.05)  # let an editor finish writing its files
                rebuild()
        except KeyboardInterrupt:
            pass
        report.line("stopped watching.")
    return 0


def _short(path: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            return str(path.relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def _no_publication(folder: Path):
    from pipeline.errors import Problem

    return Problem(folder / "publication.yaml", "publication.yaml is missing",
                   "give the folder of a publication, e.g. sources/my-report (`pipeline new my-report` makes one)")
