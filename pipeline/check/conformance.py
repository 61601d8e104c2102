"""Conformance of each format with its standard.

- External validators, declared by the formats they check
  (``Format.validator``, a ``pipeline.formats.Validator``: EPUBCheck for
  the EPUB, the Nu Html Checker for the HTML page): this module runs one
  on a file and reads its verdict (``parse_epubcheck``, ``parse_vnu``),
  and names no format.
- The PDF's in-process checks (``check_pdf``): title, author and language
  set (and equal to the source's), every font embedded, bookmarks present;
  read with pikepdf.

The Java validators are the slow part of a check, so they are started
first (``start``) and run while the Python readers work;
``Running.wait()`` collects their verdicts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pipeline import children
from pipeline.check.extracted import Finding, spaced
from pipeline.errors import BuildError
from pipeline.formats import Validator
from pipeline.model import Metadata

#: JVM options that cut start-up for a short run. Measured on the flagship
#: (OpenJDK 17, 2 shared cores, CPU seconds, 3 runs each):
#:   EPUBCheck: default 8.6-9.7 s; client compiler only 4.4-4.9 s; and serial GC 4.2 s
#:   vnu:       default 2.6-2.8 s; client compiler only 1.3-1.5 s; and --no-langdetect 1.0-1.1 s
#: The validators finish before the C2 compiler would pay off. Class-data
#: sharing is on by default (-Xshare:auto); an application CDS archive would
#: help further but OpenJDK 17 crashes while dumping one for these jars.
#: Skipping bytecode verification gained nothing measurable.
JVM_OPTIONS = (
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Djava.awt.headless=true",
    "-Duser.language=en",
    "-Duser.country=US",
)
TIMEOUT = 600  # seconds; a validator that takes longer is reported, not waited for


def java() -> str:
    path = shutil.which("java")
    if path is None:
        raise BuildError("the checks need Java (EPUBCheck and the Nu Html Checker run on it), but `java` is not on "
                         "PATH; install a Java runtime, 11 or later (Debian: apt-get install default-jre-headless)")
    return path


def jar(validator: Validator) -> Path:
    """The validator's jar, where its Python package installed it."""
    package, name = validator.jar
    try:
        path = Path(str(resources.files(package).joinpath(name)))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise BuildError(f"{name} is not installed (Python package '{package}'); run `make` to install the project")
    return path


def jars() -> list[Path]:
    """The jars of every registered format's validator (``make`` compiles
    the warm service against them)."""
    from pipeline import formats

    seen = {f.validator.key: f.validator for f in formats.REGISTRY.values() if f.validator is not None}
    return [jar(v) for v in seen.values()]


@dataclass
class Result:
    """A conformance verdict for check.json."""

    tool: str
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # reported, not failing (e.g. vnu warnings)
    seconds: float = 0.0
    validator: str = ""  # the installed validator and its options (``validator_id``)
    reused: bool = False  # the verdict of the last good build on the same bytes
    service: str = ""  # which warm service checked the file, or why none did (pipeline.check.service)

    def as_json(self) -> dict:
        return {"tool": self.tool, "ok": not self.findings, "counts": self.counts,
                "findings": [f.message for f in self.findings], "notes": self.notes,
                "seconds": round(self.seconds, 3),
                **({"validator": self.validator} if self.validator else {}),
                **({"reused": True} if self.reused else {}),
                **({"service": self.service} if self.service else {})}


class Running:
    """A validator running in the background."""

    def __init__(self, fmt: str, validator: Validator, args: list[str]):
        self.format, self.tool, self._parse = fmt, validator.tool, validator.parse
        self.validator = validator_id(validator)
        self.service = ""  # why the warm service was not used, if it was not
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.started = time.perf_counter()
        self.finished: float | None = None
        # ends with the build, however it ends (pipeline.children)
        self.proc = children.popen(args, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
                                   env={**os.environ, "LC_ALL": "C.UTF-8"})
        # notes when the validator ends, so that its own time is reported
        # rather than the time until the readers were done
        self._waiter = threading.Thread(target=self._wait_in_background, daemon=True)
        self._waiter.start()

    def _wait_in_background(self) -> None:
        self.proc.wait()
        self.finished = time.perf_counter()

    def wait(self) -> Result:
        self._waiter.join(timeout=max(1.0, TIMEOUT - (time.perf_counter() - self.started)))
        try:
            if self._waiter.is_alive():
                self.kill()
                return Result(self.tool, [Finding(self.format, "conformance", f"{self.tool} did not finish within {TIMEOUT} s")])
            seconds = (self.finished or time.perf_counter()) - self.started
            self._out.seek(0)
            self._err.seek(0)
            out = self._out.read().decode("utf-8", "replace")
            err = self._err.read().decode("utf-8", "replace")
            result = self._parse(self.format, out, err, self.proc.returncode)
            result.seconds = seconds
            result.validator = self.validator
            result.service = self.service
        finally:
            self._out.close()
            self._err.close()
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- verdicts reused

def validator_id(validator: Validator) -> str:
    """What a validator's verdict depends on besides the file: the package
    that bundles it, its version, its jar and the options it runs with."""
    from importlib import metadata

    try:
        version = metadata.version(validator.package)
    except metadata.PackageNotFoundError:
        version = "?"
    path = jar(validator)
    return f"{validator.package} {version}, {path.name} of {path.stat().st_size} bytes, {' '.join(validator.options)}"


class Reused:
    """A validator's verdict taken over from the last good build: its file
    had the same bytes and was passed by the same validator run the same
    way, so running the validator again could only say the same."""

    def __init__(self, fmt: str, previous: dict):
        self.format = fmt
        self.result = Result(previous.get("tool", ""), counts=dict(previous.get("counts") or {}),
                             notes=list(previous.get("notes") or []), validator=previous["validator"], reused=True)

    def wait(self) -> Result:
        return self.result

    def kill(self) -> None:
        pass


def reuse(fmt: str, validator: Validator, path: Path, previous: Path | None) -> Reused | None:
    """The verdict of the build whose outputs are in ``previous`` (its
    ``check.json``), if its file of the format ``fmt`` is byte for byte
    ``path`` and that verdict was a pass by ``validator`` as installed and
    run now; else None."""
    if previous is None:
        return None
    before, report = previous / path.name, previous / "check.json"
    try:
        if not (before.is_file() and report.is_file()) or before.stat().st_size != path.stat().st_size:
            return None
        verdict = (json.loads(report.read_text("utf-8")).get("formats") or {}).get(fmt, {}).get("conformance")
        if not (isinstance(verdict, dict) and verdict.get("ok") is True and not verdict.get("findings")
                and verdict.get("validator") == validator_id(validator)):
            return None
        if before.read_bytes() != path.read_bytes():
            return None
    except (OSError, ValueError, AttributeError):
        return None  # no usable earlier verdict: the validator runs
    return Reused(fmt, verdict)


# ---------------------------------------------------------------- running one

def start(validator: Validator, fmt: str, path: Path):
    """``validator`` on ``path``, the file of the format ``fmt`` (whose name
    its findings carry): by the warm service when there is one to use
    (pipeline.check.service), else one-shot."""
    from pipeline.check import service

    if service.enabled():
        try:
            service.key(validator)  # compiled, and its folder fit for use
            service.folder()
        except service.Unavailable as exc:
            run = once(validator, fmt, path)
            run.service = f"not used: {exc}"
            return run
        return service.ServiceRun(validator, fmt, path)
    return once(validator, fmt, path)


def once(validator: Validator, fmt: str, path: Path) -> Running:
    """``validator`` on ``path`` in a JVM of its own."""
    files = [str(path), *validator.options] if validator.file_first else [*validator.options, str(path)]
    return Running(fmt, validator, [java(), *JVM_OPTIONS, "-jar", str(jar(validator)), *files])


# ---------------------------------------------------------------- EPUBCheck's verdict

def parse_epubcheck(fmt: str, out: str, err: str, code: int) -> Result:
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        return Result("EPUBCheck", [Finding(fmt, "conformance",
                                            f"EPUBCheck did not run (exit status {code}): {_tail(err or out)}")])
    checker = data.get("checker") or {}
    tool = f"EPUBCheck {checker.get('checkerVersion', '')}".strip()
    result = Result(tool, counts={k: checker.get(f"n{k.capitalize()}", 0) for k in ("fatal", "error", "warning", "usage")})
    for m in data.get("messages") or []:
        severity = m.get("severity", "")
        locations = m.get("locations") or [{}]
        where = ", ".join(_location(loc) for loc in locations[:3]) + (f" and {len(locations) - 3} more" if len(locations) > 3 else "")
        text = f"EPUBCheck {severity} {m.get('ID', '')} at {where}: {spaced(m.get('message', ''))}"
        if severity in ("FATAL", "ERROR", "WARNING"):
            result.findings.append(Finding(fmt, "conformance", text))
        else:
            result.notes.append(text)
    if code != 0 and not result.findings:
        result.findings.append(Finding(fmt, "conformance", f"EPUBCheck exited with status {code}: {_tail(err)}"))
    return result


def _location(loc: dict) -> str:
    path = loc.get("path") or "the package"
    if loc.get("line", -1) not in (-1, None):
        path += f":{loc['line']}"
        if loc.get("column", -1) not in (-1, None):
            path += f":{loc['column']}"
    return path


# ---------------------------------------------------------------- the Nu Html Checker's verdict

def parse_vnu(fmt: str, out: str, err: str, code: int) -> Result:
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        return Result("Nu Html Checker", [Finding(fmt, "conformance",
                                                  f"the Nu Html Checker did not run (exit status {code}): {_tail(err or out)}")])
    tool = f"Nu Html Checker {data.get('version', '')}".strip()
    result = Result(tool, counts={"error": 0, "warning": 0, "info": 0})
    for m in data.get("messages") or []:
        kind = m.get("type", "")
        if kind == "info":
            kind = "warning" if m.get("subType") == "warning" else "info"
        line = m.get("lastLine") or m.get("firstLine")
        where = f"line {line}" if line else "the page"
        text = f"Nu Html Checker {kind} at {where}: {spaced(m.get('message', ''))}"
        if kind in ("error", "non-document-error"):
            result.counts["error"] += 1
            extract = spaced(m.get("extract", ""))
            result.findings.append(Finding(fmt, "conformance", text + (f" (near: {extract[:80]})" if extract else "")))
        else:
            result.counts[kind] = result.counts.get(kind, 0) + 1
            result.notes.append(text)
    return result


def _tail(text: str, n: int = 400) -> str:
    text = spaced(text)
    return text[-n:] if text else "no output"


# ---------------------------------------------------------------- PDF

def check_pdf(path: Path, meta: Metadata, fmt: str) -> Result:
    """The checks of a PDF (the report's, the deck's) that need no external
    validator; the findings carry ``fmt``, the name of the format."""
    import pikepdf

    result = Result(f"pikepdf {pikepdf.__version__}")
    found = result.findings

    def add(message: str) -> None:
        found.append(Finding(fmt, "conformance", message))

    try:
        pdf = pikepdf.open(path)
    except pikepdf.PdfError as exc:
        add(f"the file cannot be opened by pikepdf: {exc}")
        return result
    with pdf:
        info = pdf.docinfo if "/Info" in pdf.trailer else {}
        for key, want, what in (("/Title", meta.title, "title"), ("/Author", meta.author_names, "author")):
            value = spaced(str(info.get(key, "")))
            if not value:
                add(f"the document information has no {what}")
            elif value != spaced(want):
                add(f"the {what} in the document information is \"{value}\", not the publication's \"{want}\"")
        lang = str(pdf.Root.get("/Lang", "")).strip()
        if not lang:
            add("no language is set (/Lang in the document catalog)")
        elif lang.lower() != meta.language.lower():
            add(f"the language is set to '{lang}', not the publication's '{meta.language}'")

        fonts = 0
        for font in _fonts(pdf):
            fonts += 1
            name = str(font.get("/BaseFont", "(unnamed)")).lstrip("/")
            if not _embedded(font):
                add(f"the font {name} is not embedded")
        outlines = pdf.Root.get("/Outlines")
        if outlines is None or "/First" not in outlines:
            add("the file has no bookmarks")
        result.counts = {"pages": len(pdf.pages), "fonts": fonts}
    return result


def _fonts(pdf):
    """Every font dictionary in the file (composite fonts' descendants
    included)."""
    import pikepdf

    for obj in pdf.objects:
        if not (isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font"):
            continue
        if obj.get("/Subtype") != "/Type0":
            yield obj
            continue
        for d in obj.get("/DescendantFonts", []):
            if not d.is_indirect:  # indirect ones are among pdf.objects
                yield d


def _embedded(font) -> bool:
    subtype = font.get("/Subtype")
    if subtype == "/Type3":
        return True  # glyphs are drawn by the file's own procedures
    descriptor = font.get("/FontDescriptor")
    return descriptor is not None and any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))


# ---------------------------------------------------------------- back to the source

_ID = re.compile(r"""\bid=["']([^"']+)["']""")


def locate_in_source(validator: Validator, file: Path, result: Result, pub) -> None:
    """Give each of ``result``'s findings the place in the source it comes
    from: the validators name a line of the output, which the user never
    wrote (``validator.at`` finds it: a line, and the member of a zip when
    the file is one); the nearest heading above that line in the output is a heading of
    the source, whose file and line the outline holds. The finding then
    starts with ``file.md:LINE ('heading'):``. Findings that name no line,
    or a line above every heading, stay as they are."""
    if not result.findings:
        return
    headings = {e.id: e for e in pub.outline if e.location is not None and e.location.line}
    if not headings:
        return
    texts: dict[str, list[str]] = {}

    def lines(member: str | None) -> list[str]:
        key = member or ""
        if key not in texts:
            try:
                if member is None:
                    texts[key] = Path(file).read_text("utf-8", errors="replace").splitlines()
                else:
                    with zipfile.ZipFile(file) as z:
                        texts[key] = z.read(member).decode("utf-8", errors="replace").splitlines()
            except (OSError, KeyError, zipfile.BadZipFile):  # an unreadable output: the finding says so already
                texts[key] = []
        return texts[key]

    at = re.compile(validator.at)
    for finding in result.findings:
        m = at.search(finding.message)
        if not m:
            continue
        member, line = m.groupdict().get("member"), int(m.group("line"))
        if not line:
            continue
        entry = _heading_above(lines(member), line, headings)
        if entry is not None:
            from pipeline.errors import shown_path

            title = entry.title if len(entry.title) <= 60 else entry.title[:59] + "…"
            finding.message = f"{shown_path(entry.location.file)}:{entry.location.line} (in '{title}'): {finding.message}"


def _heading_above(lines: list[str], line: int, headings: dict):
    for text in reversed(lines[:line]):
        for found in reversed(_ID.findall(text)):
            if found in headings:
                return headings[found]
    return None
