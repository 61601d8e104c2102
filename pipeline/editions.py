"""Released editions: an immutable, checksummed archive.

``release(source_dir, archive)`` snapshots a publication folder, builds and
checks it from that snapshot, and files the result as
``<archive>/<slug>/<version>/``::

    <slug>-<version>.<format>     one per format built (pipeline.formats), each
                                  rendered for the archive (Format.archive_options:
                                  the PDF as PDF/A-3u with the source files attached)
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
checksums of the formats' files and the source are the edition's identity.
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
import fcntl
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
import zlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import __version__, formats, lock
from pipeline.errors import DISK_FULL_ERRNOS, BuildError, DiskFull, SourceError, mount_point

DEFAULT_ARCHIVE = Path("dist") / "editions"
MANIFEST = "manifest.json"
CATALOGUE = "index.html"
MANIFEST_FORMAT = 1
_TEMP_PREFIX = ".release-"
#: What a file of an edition is besides a format's file (whose role is the
#: format's name, pipeline.formats).
OTHER_ROLES = ("source", "check")
#: Files that describe a release run, not the edition: not compared when
#: the same version is released again.
RUN_ROLES = ("check",)


def roles_in_order() -> list[str]:
    """The roles of an edition's files in the order they are listed: the
    formats in the registry's order, then the others."""
    return [*formats.names(), *OTHER_ROLES]


def _role(role) -> bool:
    """A role a manifest may give a file: a format's name (one registered
    now, or, for an edition released with a format since removed, a name
    like one) or one of the other roles."""
    return isinstance(role, str) and (role in OTHER_ROLES or re.fullmatch(r"[a-z][a-z0-9_]*", role) is not None)


class EditionExists(BuildError):
    """The version is archived already and this release would differ."""


@dataclass
class ArchivedFile:
    name: str
    sha256: str
    size: int
    role: str  # a format's name | source | check

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
        roles = roles_in_order()
        return sorted(files, key=lambda f: (roles.index(f.role) if f.role in roles else len(roles), f.name))

    def file(self, role: str) -> ArchivedFile | None:
        return next((f for f in self.files if f.role == role), None)


@dataclass
class Release:
    edition: Edition
    created: bool  # False: the same edition was archived already
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the release did besides (files left out, leftovers removed)


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


def unreferenced(folder: Path, names: set[str], exclude: Path | None = None) -> list[str]:
    """The files of a publication folder that the publication does not
    read (``source.source_files``), by relative POSIX path, sorted: what a
    release leaves out. Hidden folders (``.git``) and the folder
    ``exclude`` (an archive kept inside the publication) are not looked
    into; symlinks are not followed."""
    folder = folder.resolve()
    exclude = exclude.resolve() if exclude is not None else None
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__"
                             and (Path(dirpath) / d).resolve() != exclude)
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(folder).as_posix()
            if rel not in names:
                out.append(rel)
    return sorted(out)


def source_digest(hashes: list[tuple[str, str]]) -> str:
    """The source's identity, independent of how it is packed: SHA-256 of
    the lines ``<sha256 of file>  <path>`` (sha256sum's format), sorted by
    path. ``hashes`` is (path, sha256 in hex) per file."""
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(hashes))
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def source_tarball(slug: str, files: list[tuple[str, Path]], mtime: int, dest: Path) -> None:
    """Write a gzipped tar of the source under ``<slug>/`` to ``dest``,
    byte-identical for the same files: sorted entries, one mtime, no owner,
    fixed modes, and a gzip header without name or time. Each file is
    streamed, never read whole."""
    with open(dest, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in sorted(files):
            info = tarfile.TarInfo(f"{slug}/{name}")
            info.size = path.stat().st_size
            info.mtime = mtime
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as f:
                tar.addfile(info, f)


def _copy_hashed(src: Path, dest: Path) -> tuple[str, int]:
    """Copy ``src`` to ``dest`` in chunks; returns (sha256 in hex, size)."""
    h = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def unpack_source(tarball: Path, into: Path, sizes: dict[str, int] | None = None) -> Path:
    """Unpack an archived source; returns the publication folder. With
    ``sizes`` (path -> size, from the manifest), nothing beyond those
    files' size is unpacked."""
    limit = _tar_limit(sizes) if sizes is not None else None
    try:
        with gzip.open(tarball, "rb") as gz:
            raw = io.BufferedReader(_Limited(gz, limit)) if limit is not None else gz
            with tarfile.open(fileobj=raw, mode="r|") as tar:
                tops = set()
                for m in tar:
                    tops.add(m.name.split("/", 1)[0])
                    if len(tops) > 1:
                        raise BuildError(f"{tarball} does not hold one publication folder (it has {sorted(tops)})")
                    tar.extract(m, into, filter="data")
    except _TooBig:
        raise BuildError(f"{tarball} unpacks to more than the source its manifest lists; "
                         f"run `pipeline editions verify`") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BuildError(f"{tarball} cannot be unpacked: {exc}") from None
    if not tops:
        raise BuildError(f"{tarball} is empty")
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
    """The name of a format's file (its ``Format.suffix``), or of the source's archive, in an edition."""
    if fmt == "source":
        return f"{slug}-{version}-source.tar.gz"
    return f"{slug}-{version}{formats.get(fmt).suffix}" if fmt in formats.REGISTRY else f"{slug}-{version}.{fmt}"


def release(source_dir: Path | str, archive: Path | str = DEFAULT_ARCHIVE, design=None,
            now: dt.datetime | None = None) -> Release:
    """Build, check and archive the edition the source folder describes.

    Raises ``SourceError`` (bad source), ``CheckFailed`` (an output
    disagrees with its source), ``EditionExists`` or ``DiskFull``; in each
    case nothing is added to the archive (``DiskFull`` after the edition
    was renamed into place says so: only the catalogue is behind).
    """
    from pipeline import outputs, source
    from pipeline.build import build
    from pipeline.render.common import Design, build_epoch

    design = design or Design()
    source_dir = Path(source_dir).resolve()
    archive = Path(archive)
    notes: list[str] = []
    # 0. what the publication reads: exactly what the build reads, and all that is archived
    pub = source.load(source_dir)
    why = outputs.reserved(pub.slug)
    if why:
        raise BuildError(f"the publication's folder name '{pub.slug}' cannot name an edition: {why}\n"
                         f"  hint: rename the folder {source_dir}")
    referenced = source.source_files(pub)
    left_out = unreferenced(source_dir, {n for n, _ in referenced}, exclude=archive)
    if left_out:
        shown = ", ".join(left_out[:5]) + (f" and {len(left_out) - 5} more" if len(left_out) > 5 else "")
        notes.append(f"left out {len(left_out)} file{'s' if len(left_out) != 1 else ''} the publication does not "
                     f"use (not listed in publication.yaml, no image shown): {shown}")
    with _disk_full_is_an_error(archive, "nothing was added to the archive"):
        archive.mkdir(parents=True, exist_ok=True)
        notes += clear_stopped_releases(archive)
        work = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=archive))
    held = _hold_release_lock(work)
    try:
        with _disk_full_is_an_error(archive, "nothing was added to the archive"):
            return _release_in(work, source_dir, archive, pub, referenced, design, now, notes, build, build_epoch)
    finally:
        lock.release(held)
        os.close(held)
        shutil.rmtree(work, ignore_errors=True)


def _release_in(work, source_dir, archive, pub0, referenced, design, now, notes, build, build_epoch) -> Release:
    from pipeline import source

    # 1. snapshot: what is archived is exactly what was built (streamed, hashed on the way)
    snapshot = work / "source" / source_dir.name
    hashes = [(name, *_copy_hashed(path, snapshot / name)) for name, path in referenced]
    with _problems_named_in(snapshot, source_dir):
        pub = source.load(snapshot)
    files = source.source_files(pub)
    if [n for n, _ in files] != [n for n, _ in referenced]:
        raise BuildError(f"{source_dir} changed while it was being released (the files it uses are not the same "
                         f"any more); run the release again")
    slug, version = pub.slug, pub.meta.edition.version

    final = archive / slug / version
    # a version archived already is only compared with this build, never
    # replaced: the check it passed when it was released stands
    archived = final.exists() or final.is_symlink()

    # 2. build and check, each format rendered for the archive (the PDF as
    # PDF/A with the source attached)
    attachments = [(name, path.read_bytes()) for name, path in files]
    with _problems_named_in(snapshot, source_dir):
        result = build(snapshot, work / "build", design=design, check=not archived, keep_failed=False,
                       render_options={name: f.archive_options(attachments) for name, f in formats.REGISTRY.items()})
    del attachments

    # 3. assemble the edition
    staged = work / "edition"
    staged.mkdir()
    entries: list[ArchivedFile] = []

    def put(name: str, role: str, src: Path | None = None) -> None:
        if src is not None:
            shutil.copyfile(src, staged / name)
        entries.append(ArchivedFile(name, sha256_file(staged / name), (staged / name).stat().st_size, role))

    for fmt, path in result.files.items():
        put(archived_name(slug, version, fmt), fmt, src=path)
    source_tarball(slug, files, build_epoch(pub), staged / archived_name(slug, version, "source"))
    put(archived_name(slug, version, "source"), "source")
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
        **{k: v for fmt in result.files for k, v in formats.get(fmt).archive_facts().items()},
        "files": [e.as_json() for e in sorted(entries, key=lambda e: e.name)],
        "source": {
            "archive": archived_name(slug, version, "source"),
            "digest": source_digest([(n, h) for n, h, _ in hashes]),
            "files": [{"path": n, "sha256": h, "size": size} for n, h, size in hashes],
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
        # what a release stopped by a full disk left undone: the catalogue
        _complete_catalogue(archive, design, notes)
        return Release(existing, created=False, timings=result.timings, notes=notes)
    final.parent.mkdir(exist_ok=True)
    os.chmod(staged, 0o755)
    # the ledger first (written whole, then renamed): an edition in place is always in it
    record_in_ledger(archive, slug, version, sha256_file(staged / MANIFEST))
    try:
        os.rename(staged, final)  # atomic; fails if another release got there first
    except OSError as exc:
        if final.exists():
            raise EditionExists(f"{slug} {version} was archived by another release meanwhile; nothing was changed") from exc
        raise
    try:
        write_catalogue(archive, design)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        full = DiskFull(f"{slug} {version} was archived in {final}, but the disk that holds {archive} "
                       f"(mounted on {mount_point(archive)}) is full "
                       f"({exc.strerror}): the catalogue {archive / CATALOGUE} does not list it yet\n"
                       f"  hint: free some space on that disk and run the same release again; it completes "
                       f"the catalogue and changes nothing else")
        full.archived = True  # the edition is in place: only the catalogue is behind
        raise full from None
    return Release(load_edition(final), created=True, timings=result.timings, notes=notes)


DISK_FULL = DISK_FULL_ERRNOS


@contextlib.contextmanager
def _disk_full_is_an_error(folder: Path, kept: str):
    """A full disk (an OSError, or the build's DiskFull) becomes a message
    naming the disk and what was kept."""
    try:
        yield
    except (OSError, DiskFull) as exc:
        if isinstance(exc, OSError) and exc.errno not in DISK_FULL or getattr(exc, "archived", False):
            raise
        why = exc.strerror if isinstance(exc, OSError) else "No space left on device"
        raise DiskFull(f"the disk that holds {folder} (mounted on {mount_point(folder)}) is full ({why}); {kept}\n"
                       f"  hint: free some space on that disk and run the release again") from None


def _complete_catalogue(archive: Path, design, notes: list[str]) -> None:
    """Write the catalogue again if it does not list every edition (a
    release stopped by a full disk, or killed, after its rename)."""
    page = archive / CATALOGUE
    try:
        text = page.read_text("utf-8")
    except OSError:
        text = ""
    missing = [f"{e.slug} {e.version}" for e in editions(archive) if f'id="{e.slug}-{e.version}"' not in text]
    if missing:
        write_catalogue(archive, design)
        notes.append(f"the catalogue {page} now lists {', '.join(missing)}, which it had missed")


# ------------------------------------------------------------------ stopped releases

_RELEASE_LOCK = ".lock"
#: A .release-* folder without its lock is a release that was killed
#: between making the folder and locking it, once it is this old.
_UNLOCKED_GRACE = 30.0


def _hold_release_lock(work: Path) -> int:
    """Lock ``work/.lock`` for as long as this release runs: a folder
    whose lock nobody holds belongs to a release that was stopped."""
    fd = os.open(work / _RELEASE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    lock.hold(fd)  # a forked child closes its copy (pipeline.lock.close_inherited)
    return fd


def _running(folder: Path) -> bool:
    """Is the release that made ``folder`` (a .release-* folder) running?"""
    try:
        fd = os.open(folder / _RELEASE_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        try:
            return time.time() - folder.lstat().st_mtime < _UNLOCKED_GRACE
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def stopped_releases(archive: Path) -> list[Path]:
    """The temporary folders and files of releases that were stopped
    outright (SIGKILL, power cut), which no ``finally`` could remove."""
    out = []
    for entry in sorted(Path(archive).iterdir()):
        if not entry.name.startswith(_TEMP_PREFIX) or entry.is_symlink():
            continue
        if entry.is_dir() and not _running(entry):
            out.append(entry)
        elif entry.is_file() and entry.suffix == ".html":  # a catalogue half written
            with contextlib.suppress(OSError):
                if time.time() - entry.stat().st_mtime > _UNLOCKED_GRACE:
                    out.append(entry)
    return out


def clear_stopped_releases(archive: Path) -> list[str]:
    """Remove what stopped releases left in the archive; a note for each."""
    notes = []
    for entry in stopped_releases(archive):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        notes.append(f"removed {entry}, left by a release that was stopped before it had finished")
    return notes


# ------------------------------------------------------------------ ledger

LEDGER = "ledger.sha256"


def read_ledger(archive: Path) -> dict[str, str]:
    """``<slug>/<version>/manifest.json`` -> the manifest's SHA-256, as each
    release recorded it (``sha256sum -c ledger.sha256`` checks it too)."""
    try:
        text = (Path(archive) / LEDGER).read_text("utf-8")
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        if sep and re.fullmatch(r"[0-9a-f]{64}", digest):
            out[name] = digest
    return out


def record_in_ledger(archive: Path, slug: str, version: str, digest: str) -> None:
    """Add an edition's manifest digest to the archive's ledger, written
    whole to a temporary file and renamed. An entry is only ever added, or
    replaced while its edition is not in place (a release stopped between
    the two renames)."""
    entries = read_ledger(archive)
    entries[f"{slug}/{version}/{MANIFEST}"] = digest
    text = "".join(f"{d}  {n}\n" for n, d in sorted(entries.items()))
    fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".ledger", dir=archive)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, Path(archive) / LEDGER)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            if (ed_dir / MANIFEST).is_file() and not ed_dir.is_symlink():
                try:
                    ed = load_edition(ed_dir)
                except BuildError:
                    continue  # `editions verify` names it
                if not manifest_problems(ed.manifest):
                    out.append(ed)
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
    notes: list[str] = field(default_factory=list)  # what was not verified and why (a release in progress)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(archive: Path | str) -> Verification:
    """Check the archive against itself without trusting any one part of
    it: every manifest against the digest the ledger recorded when it was
    released, every file against its manifest (missing, altered, extra, a
    symbolic link), the source archive against the manifest's list of
    source files (read with the sizes it lists as limits). A malformed
    manifest is a finding like any other, and the next edition is checked
    all the same; nothing in the archive is skipped without a word."""
    archive = Path(archive)
    report = Verification()
    if not archive.is_dir():
        report.findings.append(Finding(archive, "the archive does not exist"))
        return report
    ledger = read_ledger(archive)
    seen: set[str] = set()
    for entry in sorted(archive.iterdir()):
        if entry.name in (CATALOGUE, LEDGER) and entry.is_file() and not entry.is_symlink():
            continue  # the catalogue is regenerated from the manifests; the ledger is read above
        if entry.name.startswith(_TEMP_PREFIX):
            if entry.is_dir() and not entry.is_symlink() and _running(entry):
                report.notes.append(f"{entry}: a release in progress, not verified")
            else:
                report.findings.append(Finding(entry, "left by a release that was stopped before it had finished "
                                                      "(not part of any edition); the next release removes it"))
            continue
        if entry.is_symlink():
            report.findings.append(Finding(entry, "a symbolic link (an archive holds its own folders and files only)"))
            continue
        if not entry.is_dir():
            report.findings.append(Finding(entry, "extra file (not part of any edition)"))
            continue
        if entry.name.startswith("."):
            report.findings.append(Finding(entry, "a hidden folder, not part of any edition (no release makes one, "
                                                  "and `editions list` and the catalogue do not show it)"))
            continue
        for ed_dir in sorted(entry.iterdir(), key=lambda p: version_key(p.name)):
            if ed_dir.is_symlink():
                report.findings.append(Finding(ed_dir, "a symbolic link, not an archived edition"))
            elif not ed_dir.is_dir():
                report.findings.append(Finding(ed_dir, "extra file (not part of any edition)"))
            else:
                _verify_edition(ed_dir, report, ledger, seen)
    for name in sorted(set(ledger) - seen):
        report.findings.append(Finding(archive / name, "missing: the ledger records this edition's manifest, "
                                                       "but it is not in the archive"))
    return report


#: A manifest is a few kB; one far larger is not a manifest.
MAX_MANIFEST = 16 << 20


def manifest_problems(manifest) -> list[str]:
    """What is wrong with a manifest's shape (what verify relies on)."""
    if not isinstance(manifest, dict):
        return [f"it is a JSON {type(manifest).__name__}, not an object"]
    out = []
    for key in ("slug", "version", "edition_date"):
        if not isinstance(manifest.get(key), str):
            out.append(f"'{key}' is missing or not text")
    files = manifest.get("files")
    if not isinstance(files, list):
        out.append("'files' is missing or not a list")
    else:
        for i, f in enumerate(files):
            if not (isinstance(f, dict) and isinstance(f.get("name"), str) and _plain_name(f["name"])
                    and isinstance(f.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
                    and type(f.get("size")) is int and f["size"] >= 0 and _role(f.get("role"))):
                out.append(f"files[{i}] is not a file entry (name, role, sha256, size)")
    src = manifest.get("source")
    if not (isinstance(src, dict) and isinstance(src.get("digest"), str) and isinstance(src.get("files"), list)
            and all(isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
                    and type(f.get("size")) is int and f["size"] >= 0 for f in src["files"])):
        out.append("'source' is missing or has no digest and list of files")
    return out


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..", MANIFEST)


def _verify_edition(folder: Path, report: Verification, ledger: dict[str, str], seen: set[str]) -> None:
    path = folder / MANIFEST
    rel = f"{folder.parent.name}/{folder.name}/{MANIFEST}"
    seen.add(rel)
    if path.is_symlink() or not path.is_file():
        what = "a symbolic link" if path.is_symlink() else "not a file" if path.exists() else "missing"
        report.findings.append(Finding(path, f"the edition's manifest is {what}"))
        return
    if path.stat().st_size > MAX_MANIFEST:
        report.findings.append(Finding(path, f"malformed manifest: {path.stat().st_size:,} bytes, not a manifest"))
        return
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    recorded = ledger.get(rel)
    if recorded is None:
        report.findings.append(Finding(path, f"not in the archive's ledger ({LEDGER}): no release recorded this "
                                             f"manifest"))
    elif recorded != digest:
        report.findings.append(Finding(path, f"altered: the manifest's sha256 is {digest}, the ledger ({LEDGER}) "
                                             f"recorded {recorded} when it was released"))
    try:
        manifest = json.loads(data.decode("utf-8"))
        problems = manifest_problems(manifest)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        problems = [f"not readable JSON ({exc})"]
    if problems:
        report.findings.append(Finding(path, f"malformed manifest: {'; '.join(problems)}; its files were not checked"))
        return
    ed = Edition(folder, manifest)
    report.editions += 1
    if (ed.slug, ed.version) != (folder.parent.name, folder.name):
        report.findings.append(Finding(path, f"names {ed.slug} {ed.version}, but lies in {folder.parent.name}/{folder.name}"))
    listed = {f.name: f for f in ed.files}
    for f in ed.files:
        file = folder / f.name
        report.files += 1
        if file.is_symlink():
            report.findings.append(Finding(file, f"a symbolic link (to {os.readlink(file)}), not the archived file"))
            continue
        if not file.is_file():
            report.findings.append(Finding(file, "missing"))
            continue
        size, digest = file.stat().st_size, sha256_file(file)
        if digest != f.sha256 or size != f.size:
            report.findings.append(Finding(file, f"altered: sha256 {digest} ({size:,} bytes), "
                                                 f"the manifest says {f.sha256} ({f.size:,} bytes)"))
        elif f.role == "source":
            _verify_source(file, ed, report)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel_name = p.relative_to(folder).as_posix()
            if rel_name in listed or rel_name == MANIFEST:
                continue
            kind = "symbolic link" if p.is_symlink() else "folder" if p.is_dir() else "file"
            report.findings.append(Finding(p, f"extra {kind} (not in the manifest)"))
        dirnames[:] = []  # an edition is flat; what is in an extra folder was named with it


class _Limited(io.RawIOBase):
    """A reader that refuses to give more than ``limit`` bytes."""

    def __init__(self, raw, limit: int):
        self.raw, self.left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(min(len(b), self.left + 1))
        if len(data) > self.left:
            raise _TooBig()
        self.left -= len(data)
        b[:len(data)] = data
        return len(data)


class _TooBig(Exception):
    pass


def _tar_limit(expected: dict[str, int]) -> int:
    """Bytes a tarball of these files may hold: their sizes, rounded up to
    tar's blocks, a header (and a pax header) each, the end blocks."""
    return sum(-(-size // 512) * 512 + 4096 for size in expected.values()) + 20480 + 4096


def _verify_source(tarball: Path, ed: Edition, report: Verification) -> None:
    """The source archive must unpack to exactly the files the manifest
    lists, with their sizes and digests; it is read as a stream, and no
    more than those files' size is ever unpacked (no tar bomb)."""
    listed = {f["path"]: f for f in ed.manifest["source"]["files"]}
    expected = {name: f["size"] for name, f in listed.items()}
    found: dict[str, str] = {}
    problems: list[str] = []
    try:
        with gzip.open(tarball, "rb") as gz, \
                tarfile.open(fileobj=io.BufferedReader(_Limited(gz, _tar_limit(expected))), mode="r|") as tar:
            for m in tar:
                top, _, name = m.name.partition("/")
                if m.isdir():
                    continue
                if not m.isfile() or top != ed.slug or name not in listed or name in found:
                    problems.append(f"it holds {m.name!r}, which the manifest does not list")
                    if len(problems) > 20:
                        break
                    continue
                if m.size != expected[name]:
                    problems.append(f"{m.name} is {m.size:,} bytes, the manifest says {expected[name]:,}")
                    continue
                h = hashlib.sha256()
                f = tar.extractfile(m)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                found[name] = h.hexdigest()
    except _TooBig:
        report.findings.append(Finding(tarball, f"the source archive unpacks to more than the {sum(expected.values()):,} "
                                                f"bytes of source the manifest lists; it was not read further"))
        return
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        report.findings.append(Finding(tarball, f"unreadable source archive: {exc}"))
        return
    problems += [f"{ed.slug}/{name} is missing from it" for name in sorted(set(listed) - set(found))]
    problems += [f"{ed.slug}/{name} does not match the manifest's sha256" for name, d in sorted(found.items())
                 if name in listed and listed[name]["sha256"] != d]
    if source_digest([(n, f["sha256"]) for n, f in listed.items()]) != ed.manifest["source"]["digest"]:
        problems.append("the manifest's source digest does not match its own list of source files")
    if problems:
        report.findings.append(Finding(tarball, "the source it holds does not match the manifest: " + "; ".join(problems[:10])))


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
            sizes = {f["path"]: f["size"] for f in ed.manifest.get("source", {}).get("files", [])}
            pubs.append(source.load(unpack_source(ed.folder / src.name, Path(tmp) / side, sizes)))
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
    ledger = read_ledger(archive)
    for ed in editions(archive):
        publications.setdefault(ed.slug, []).append(ed)
    pubs = []
    for slug, eds in sorted(publications.items()):
        eds.sort(key=lambda e: version_key(e.version), reverse=True)
        pubs.append({"slug": slug, "title": eds[0].manifest.get("title", slug), "editions": [
            {"version": e.version, "date": e.manifest["edition_date"], "released": e.manifest.get("released", ""),
             "manifest": f"{slug}/{e.version}/{MANIFEST}", "source_digest": e.manifest["source"]["digest"],
             "manifest_sha256": ledger.get(f"{slug}/{e.version}/{MANIFEST}", ""),
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
