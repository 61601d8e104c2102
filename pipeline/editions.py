"""Released editions: an immutable, checksummed archive.

``release(source_dir, archive)`` snapshots a publication folder, builds and
checks it from that snapshot, and files the result as
``<archive>/<slug>/<version>/``::

    <slug>-<version>.pdf          PDF/A-3u, the source files attached
    <slug>-<version>.epub
    <slug>-<version>.html
    <slug>-<version>-source.tar.gz  the folder that was built, as it was
    check.json                    the check's report on these very files
    manifest.json                 what is here, with SHA-256 and size

The edition is assembled in a temporary folder inside the archive and
renamed into place only when complete, so an edition folder is either whole
or absent. A version that is already archived is never overwritten: a
release that would give the same files says so and changes nothing, one
that would give other files fails (``EditionExists``).

``verify`` recomputes every checksum against the manifests; ``diff``
compares the archived sources of two editions (outline and text);
``catalogue`` writes ``<archive>/index.html``.

Builds are byte-identical for the same source and toolchain, so the
checksums of the PDF, EPUB, HTML and source are the edition's identity.
Two files describe the release run instead, and are left out when a
re-release is compared with the archive: ``manifest.json`` (release time,
git commit, tool versions) and ``check.json`` (the check's findings, with
the seconds each validator took). Both are still covered by ``verify``:
check.json has its checksum in the manifest like every other file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import __version__
from pipeline.errors import BuildError, SourceError

DEFAULT_ARCHIVE = Path("dist") / "editions"
MANIFEST = "manifest.json"
CATALOGUE = "index.html"
MANIFEST_FORMAT = 1
#: The archived PDF: PDF/A-3 (archival, may carry attachments), level U
#: (every glyph maps to Unicode, so the text can be searched and copied).
PDF_VARIANT = "pdf/a-3u"
#: Names in a publication folder that are not part of its source.
IGNORED = re.compile(r"^\.|~$|^__pycache__$")
_TEMP_PREFIX = ".release-"
ROLES = ("pdf", "epub", "html", "source", "check")
#: Files that describe a release run, not the edition: not compared when
#: the same version is released again.
RUN_ROLES = ("check",)


class EditionExists(BuildError):
    """The version is archived already and this release would differ."""


@dataclass
class ArchivedFile:
    name: str
    sha256: str
    size: int
    role: str  # pdf | epub | html | source | check

    def as_json(self) -> dict:
        return {"name": self.name, "role": self.role, "sha256": self.sha256, "size": self.size}


@dataclass
class Edition:
    """One archived edition, as its manifest describes it."""

    folder: Path
    manifest: dict

    @property
    def slug(self) -> str:
        return self.manifest["slug"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def files(self) -> list[ArchivedFile]:
        """The edition's files, the publication's formats first."""
        files = [ArchivedFile(f["name"], f["sha256"], f["size"], f["role"]) for f in self.manifest["files"]]
        return sorted(files, key=lambda f: (ROLES.index(f.role) if f.role in ROLES else len(ROLES), f.name))

    def file(self, role: str) -> ArchivedFile | None:
        return next((f for f in self.files if f.role == role), None)


@dataclass
class Release:
    edition: Edition
    created: bool  # False: the same edition was archived already
    timings: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------ helpers

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def version_key(version: str) -> tuple:
    """MAJOR.MINOR.PATCH in numeric order (1.10.0 after 1.9.0)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.split("."))


def source_files(folder: Path, exclude: Path | None = None) -> list[tuple[str, Path]]:
    """Every file of a publication folder as (relative POSIX path, file),
    sorted by path: hidden files, editor backups, symlinks that lead out of
    the folder and the folder ``exclude`` (an archive kept inside the
    publication) are left out."""
    folder = folder.resolve()
    exclude = exclude.resolve() if exclude is not None else None
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames
                             if not IGNORED.search(d) and (Path(dirpath) / d).resolve() != exclude)
        for name in filenames:
            if IGNORED.search(name):
                continue
            path = Path(dirpath) / name
            real = path.resolve()
            if not real.is_file() or not real.is_relative_to(folder):
                continue
            out.append((path.relative_to(folder).as_posix(), real))
    return sorted(out)


def source_digest(files: list[tuple[str, bytes]]) -> str:
    """The source's identity, independent of how it is packed: SHA-256 of
    the lines ``<sha256 of file>  <path>`` (sha256sum's format), sorted by
    path."""
    lines = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files))
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def source_tarball(slug: str, files: list[tuple[str, bytes]], mtime: int) -> bytes:
    """A gzipped tar of the source under ``<slug>/``, byte-identical for the
    same files: sorted entries, one mtime, no owner, fixed modes, and a gzip
    header without name or time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files):
            info = tarfile.TarInfo(f"{slug}/{name}")
            info.size = len(data)
            info.mtime = mtime
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def unpack_source(tarball: Path, into: Path) -> Path:
    """Unpack an archived source; returns the publication folder."""
    with tarfile.open(tarball, "r:gz") as tar:
        tops = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        if len(tops) != 1:
            raise BuildError(f"{tarball} does not hold one publication folder (it has {sorted(tops)})")
        tar.extractall(into, filter="data")
    return into / tops.pop()


def git_commit(folder: Path) -> tuple[str | None, bool | None]:
    """(HEAD's commit, whether the folder has changes git has not
    committed) when ``folder`` is inside a git work tree, else (None, None)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)

    try:
        inside = git("rev-parse", "--is-inside-work-tree")
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None, None
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:  # a repository without commits
            return None, None
        status = git("status", "--porcelain", "--untracked-files=all", "--", ".")
        return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def toolchain() -> dict[str, str | None]:
    """Versions of everything that shapes the bytes of an edition."""
    from importlib.metadata import PackageNotFoundError, version

    from pipeline import pandoc

    tools = {"python": platform.python_version(), "pandoc": pandoc.pandoc_version(), "pipeline": __version__}
    for dist in ("weasyprint", "pydyf", "fonttools"):
        try:
            tools[dist] = version(dist)
        except PackageNotFoundError:
            tools[dist] = None
    return tools


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")


# ------------------------------------------------------------------ release

def archived_name(slug: str, version: str, fmt: str) -> str:
    return f"{slug}-{version}.{fmt}" if fmt != "source" else f"{slug}-{version}-source.tar.gz"


def release(source_dir: Path | str, archive: Path | str = DEFAULT_ARCHIVE, design=None,
            now: dt.datetime | None = None) -> Release:
    """Build, check and archive the edition the source folder describes.

    Raises ``SourceError`` (bad source), ``CheckFailed`` (an output
    disagrees with its source) or ``EditionExists``; in each case nothing
    is added to the archive.
    """
    from pipeline import source
    from pipeline.build import build
    from pipeline.render.common import Design, build_epoch

    design = design or Design()
    source_dir = Path(source_dir).resolve()
    archive = Path(archive)
    archive.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=archive))
    try:
        # 1. snapshot: what is archived is exactly what was built
        files = [(name, path.read_bytes()) for name, path in source_files(source_dir, exclude=archive)]
        snapshot = work / "source" / source_dir.name
        for name, data in files:
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / name).write_bytes(data)
        with _problems_named_in(snapshot, source_dir):
            pub = source.load(snapshot)
        slug, version = pub.slug, pub.meta.edition.version

        final = archive / slug / version
        # a version archived already is only compared with this build, never
        # replaced: the check it passed when it was released stands
        archived = final.exists()

        # 2. build and check, the PDF as PDF/A with the source attached
        with _problems_named_in(snapshot, source_dir):
            result = build(snapshot, work / "build", design=design, check=not archived,
                           render_options={"pdf": {"variant": PDF_VARIANT, "attachments": files}})

        # 3. assemble the edition
        staged = work / "edition"
        staged.mkdir()
        entries: list[ArchivedFile] = []

        def put(name: str, role: str, data: bytes | None = None, src: Path | None = None) -> None:
            if src is not None:
                shutil.copyfile(src, staged / name)
            else:
                (staged / name).write_bytes(data)
            entries.append(ArchivedFile(name, sha256_file(staged / name), (staged / name).stat().st_size, role))

        for fmt, path in result.files.items():
            put(archived_name(slug, version, fmt), fmt, src=path)
        put(archived_name(slug, version, "source"), "source", source_tarball(slug, files, build_epoch(pub)))
        check_report = result.out_dir / "check.json"
        if check_report.is_file():
            put("check.json", "check", src=check_report)
        commit, modified = git_commit(source_dir)
        released = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
        manifest = {
            "format": MANIFEST_FORMAT,
            "slug": slug,
            "version": version,
            "title": pub.meta.title,
            "identifier": pub.meta.identifier,
            "edition_date": pub.meta.edition.date.isoformat(),
            "released": released.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "pdf_variant": PDF_VARIANT,
            "files": [e.as_json() for e in sorted(entries, key=lambda e: e.name)],
            "source": {
                "archive": archived_name(slug, version, "source"),
                "digest": source_digest(files),
                "files": [{"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in files],
            },
            "git": {"commit": commit, "source_modified": modified},
            "tools": toolchain(),
        }
        _write_json(staged / MANIFEST, manifest)

        # 4. into place, never over an existing edition
        if archived:
            existing = load_edition(final)
            differences = _differences(existing, staged, entries)
            if differences:
                raise EditionExists(
                    f"{slug} {version} is already archived in {final}, and this release would differ from it "
                    f"({'; '.join(differences)}). An archived edition is never changed: give the new edition "
                    f"its own version (edition.version in {source_dir / 'publication.yaml'}).")
            return Release(existing, created=False, timings=result.timings)
        final.parent.mkdir(exist_ok=True)
        os.chmod(staged, 0o755)
        try:
            os.rename(staged, final)  # atomic; fails if another release got there first
        except OSError as exc:
            if final.exists():
                raise EditionExists(f"{slug} {version} was archived by another release meanwhile; nothing was changed") from exc
            raise
        write_catalogue(archive, design)
        return Release(load_edition(final), created=True, timings=result.timings)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _problems_named_in(snapshot: Path, source_dir: Path):
    """Source problems found in the snapshot, named by the user's files."""
    try:
        yield
    except SourceError as exc:
        def moved(problem):
            try:
                return dataclasses.replace(problem, file=source_dir / Path(problem.file).relative_to(snapshot))
            except (TypeError, ValueError):
                return problem
        raise SourceError([moved(p) for p in exc.problems]) from None


def _differences(existing: Edition, staged: Path, entries: list[ArchivedFile]) -> list[str]:
    """How a freshly built edition differs from the archived one, comparing
    the files themselves. What describes the release run rather than the
    edition does not count: the manifest (release time, commit, tools) and
    the check's report (it records how long each validator took)."""
    out = []
    new = {e.name: e for e in entries if e.role not in RUN_ROLES}
    old = {f.name: f for f in existing.files if f.role not in RUN_ROLES}
    for name in sorted(set(old) | set(new)):
        if name not in new:
            out.append(f"{name} would be missing")
        elif name not in old:
            out.append(f"{name} would be new")
        else:
            on_disk = existing.folder / name
            found = sha256_file(on_disk) if on_disk.is_file() else None
            if found != old[name].sha256:
                out.append(f"the archived {name} no longer matches its manifest (see `editions verify`)")
            elif found != new[name].sha256:
                out.append(f"{name} differs")
    return out


# ------------------------------------------------------------------ reading

def load_edition(folder: Path) -> Edition:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{folder} is not an archived edition: it has no {MANIFEST}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path} is not readable JSON: {exc}") from None
    return Edition(folder, manifest)


def editions(archive: Path | str) -> list[Edition]:
    """Every edition in the archive, by slug then version."""
    archive = Path(archive)
    out = []
    if not archive.is_dir():
        return out
    for pub_dir in sorted(p for p in archive.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for ed_dir in sorted((p for p in pub_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                             key=lambda p: version_key(p.name)):
            if (ed_dir / MANIFEST).is_file():
                out.append(load_edition(ed_dir))
    return out


def find_edition(archive: Path | str, slug: str, version: str) -> Edition:
    folder = Path(archive) / slug / version
    if not (folder / MANIFEST).is_file():
        known = [e.version for e in editions(archive) if e.slug == slug]
        if known:
            hint = f"archived versions of {slug}: {', '.join(known)}"
        else:
            slugs = sorted({e.slug for e in editions(archive)})
            hint = f"archived publications: {', '.join(slugs)}" if slugs else f"{archive} holds no editions yet"
        raise BuildError(f"no edition {slug} {version} in {archive} ({hint})")
    return load_edition(folder)


# ------------------------------------------------------------------ verify

@dataclass
class Finding:
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class Verification:
    editions: int = 0
    files: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(archive: Path | str) -> Verification:
    """Recompute every checksum against the manifests. Names every file
    that is missing, altered or extra, and every folder that is not a
    whole edition."""
    archive = Path(archive)
    report = Verification()
    if not archive.is_dir():
        report.findings.append(Finding(archive, "the archive does not exist"))
        return report
    for entry in sorted(archive.iterdir()):
        if entry.name == CATALOGUE or entry.name.startswith(_TEMP_PREFIX):
            continue  # the catalogue is regenerated; .release-* is a release in progress
        if not entry.is_dir():
            report.findings.append(Finding(entry, "extra file (not part of any edition)"))
            continue
        for ed_dir in sorted(entry.iterdir(), key=lambda p: version_key(p.name)):
            if not ed_dir.is_dir():
                report.findings.append(Finding(ed_dir, "extra file (not part of any edition)"))
                continue
            _verify_edition(ed_dir, report)
    return report


def _verify_edition(folder: Path, report: Verification) -> None:
    try:
        ed = load_edition(folder)
    except BuildError as exc:
        report.findings.append(Finding(folder / MANIFEST, f"missing or unreadable manifest ({exc})"))
        return
    report.editions += 1
    if (ed.slug, ed.version) != (folder.parent.name, folder.name):
        report.findings.append(Finding(folder / MANIFEST, f"names {ed.slug} {ed.version}, but lies in {folder.parent.name}/{folder.name}"))
    listed = {f.name: f for f in ed.files}
    for f in ed.files:
        path = folder / f.name
        report.files += 1
        if not path.is_file():
            report.findings.append(Finding(path, "missing"))
            continue
        size, digest = path.stat().st_size, sha256_file(path)
        if digest != f.sha256 or size != f.size:
            report.findings.append(Finding(path, f"altered: sha256 {digest} ({size:,} bytes), "
                                                 f"the manifest says {f.sha256} ({f.size:,} bytes)"))
        elif f.role == "source":
            _verify_source(path, ed, report)
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel != MANIFEST and rel not in listed and not path.is_dir():
            report.findings.append(Finding(path, "extra file (not in the manifest)"))


def _verify_source(tarball: Path, ed: Edition, report: Verification) -> None:
    """The source archive must unpack to the files whose digest the
    manifest records."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            files = []
            for m in tar.getmembers():
                if m.isfile():
                    name = m.name.split("/", 1)[1] if "/" in m.name else m.name
                    files.append((name, tar.extractfile(m).read()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        report.findings.append(Finding(tarball, f"unreadable source archive: {exc}"))
        return
    if source_digest(files) != ed.manifest["source"]["digest"]:
        report.findings.append(Finding(tarball, "the source it holds does not match the manifest's source digest"))


# ------------------------------------------------------------------ diff

@dataclass
class TextUnit:
    section: str  # the heading it stands under, as printed
    text: str


@dataclass
class EditionDiff:
    slug: str
    old: dict  # manifest
    new: dict
    metadata: list[tuple[str, str, str]]  # field, old, new
    outline: list[str]  # unified-diff lines (+/-/space) of the outline
    text: list[tuple[str, list[str]]]  # section -> lines "- …" / "+ …"
    note: str = ""  # the newer edition's line in its edition history

    @property
    def same(self) -> bool:
        return not (self.metadata or self.outline or self.text)


def diff(archive: Path | str, slug: str, v1: str, v2: str) -> EditionDiff:
    """Outline and text changes between two archived editions, read from
    their archived sources."""
    from pipeline import source

    a, b = find_edition(archive, slug, v1), find_edition(archive, slug, v2)
    with tempfile.TemporaryDirectory(prefix="pipeline-diff-") as tmp:
        pubs = []
        for ed, side in ((a, "a"), (b, "b")):
            src = ed.file("source")
            if src is None or not (ed.folder / src.name).is_file():
                raise BuildError(f"{ed.folder} has no source archive to compare")
            pubs.append(source.load(unpack_source(ed.folder / src.name, Path(tmp) / side)))
    old, new = pubs
    note = next((h.note for h in new.meta.edition.history if h.version == v2), "")
    return EditionDiff(slug, a.manifest, b.manifest, _metadata_changes(old, new),
                       _outline_diff(old, new), _text_diff(old, new), note)


def _metadata_changes(old, new) -> list[tuple[str, str, str]]:
    def fields(p):
        m = p.meta
        return {"title": m.title, "subtitle": m.subtitle, "authors": m.author_names, "language": m.language,
                "identifier": m.identifier, "description": m.description, "rights": m.rights,
                "keywords": ", ".join(m.keywords)}

    a, b = fields(old), fields(new)
    return [(k, a[k], b[k]) for k in a if a[k] != b[k]]


def _outline_lines(pub) -> list[str]:
    return [f"{'  ' * (e.level - 1)}{e.display}" for e in pub.outline]


def _outline_diff(old, new) -> list[str]:
    a, b = _outline_lines(old), _outline_lines(new)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        out += [f"- {line}" for line in a[i1:i2]]
        out += [f"+ {line}" for line in b[j1:j2]]
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9\u4e00-\u9fff])|(?<=[。！？])")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s and s.strip()]


def text_units(pub) -> list[TextUnit]:
    """The running text, sentence by sentence, each under the heading it
    follows (footnotes follow the block that calls them)."""
    from pipeline import pandoc

    units: list[TextUnit] = []
    for chapter in pub.chapters:
        headings = iter(chapter.headings)
        section = chapter.title or chapter.source.name
        for block in chapter.blocks:
            if block["t"] == "Header":
                entry = next(headings, None)
                section = entry.display if entry else section
                continue
            for text in pandoc.text_blocks([block]):
                units += [TextUnit(section, s) for s in sentences(text)]
            for note in pandoc.note_blocks([block]):
                units += [TextUnit(section, f"[note] {s}") for s in sentences(note)]
    return units


def _text_diff(old, new) -> list[tuple[str, list[str]]]:
    a, b = text_units(old), text_units(new)
    groups: list[tuple[str, list[str]]] = []

    def add(section: str, line: str) -> None:
        if groups and groups[-1][0] == section:
            groups[-1][1].append(line)
        else:
            groups.append((section, [line]))

    matcher = difflib.SequenceMatcher(None, [u.text for u in a], [u.text for u in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for u in a[i1:i2]:
            add(b[j1].section if j1 < j2 else u.section, f"- {u.text}")
        for u in b[j1:j2]:
            add(u.section, f"+ {u.text}")
    return groups


def format_diff(d: EditionDiff) -> str:
    """The diff as a terminal reads it."""
    old, new = d.old, d.new
    lines = [f"{d.slug}: {old['version']} ({old['edition_date']}) -> {new['version']} ({new['edition_date']})"]
    if d.note:
        lines.append(f"edition note: {d.note}")
    if d.same:
        lines.append("no changes in metadata, outline or text")
        return "\n".join(lines) + "\n"
    if d.metadata:
        lines += ["", "Metadata"]
        for name, a, b in d.metadata:
            lines += [f"  {name}:", f"  - {a}", f"  + {b}"]
    lines += ["", "Outline" + ("" if d.outline else ": unchanged")]
    lines += [f"  {line}" for line in d.outline]
    lines += ["", "Text" + ("" if d.text else ": unchanged")]
    for section, changes in d.text:
        lines.append(f"  in {section}:")
        lines += [f"    {line}" for line in changes]
    added = sum(1 for _, ch in d.text for c in ch if c.startswith("+"))
    removed = sum(1 for _, ch in d.text for c in ch if c.startswith("-"))
    lines += ["", f"{sum(1 for l in d.outline if l.startswith('+'))} heading(s) added, "
                  f"{sum(1 for l in d.outline if l.startswith('-'))} removed; "
                  f"{added} sentence(s) added, {removed} removed"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ catalogue

def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def write_catalogue(archive: Path | str, design=None) -> Path:
    """``<archive>/index.html``: every publication and edition, newest
    first, with links to its files, their sizes and checksums. Written to a
    temporary file and renamed, so a reader never sees half a page."""
    from pipeline.render.common import Design

    design = design or Design()
    archive = Path(archive)
    publications: dict[str, list[Edition]] = {}
    for ed in editions(archive):
        publications.setdefault(ed.slug, []).append(ed)
    pubs = []
    for slug, eds in sorted(publications.items()):
        eds.sort(key=lambda e: version_key(e.version), reverse=True)
        pubs.append({"slug": slug, "title": eds[0].manifest.get("title", slug), "editions": [
            {"version": e.version, "date": e.manifest["edition_date"], "released": e.manifest.get("released", ""),
             "manifest": f"{slug}/{e.version}/{MANIFEST}", "source_digest": e.manifest["source"]["digest"],
             "files": [{"name": f.name, "role": f.role, "href": f"{slug}/{e.version}/{f.name}",
                        "size": f.size, "size_text": human_size(f.size), "sha256": f.sha256} for f in e.files]}
            for e in eds]})
    page = design.render("editions/catalogue.html.j2", publications=pubs,
                         css=design.css("tokens.css", "catalogue.css"))
    path = archive / CATALOGUE
    fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".html", dir=archive)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
