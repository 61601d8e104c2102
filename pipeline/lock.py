"""One build of a publication at a time per output folder.

``output_lock(out, slug)`` holds an exclusive ``flock`` on
``<out>/.<slug>.lock`` for the length of a build. A second build of the
same publication into the same folder fails at once with a message that
names the lock; the kernel releases the lock when the holder exits, however
it exits, so a crashed build never leaves a stale lock behind. A forked
child closes its copy of the lock (``close_inherited``) and dies with its
parent (``pipeline.children``); should a process the dead holder started
still hold the lock all the same, the next build takes it over, with a
note.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import sys
from pathlib import Path

from pipeline.errors import BuildError, shown_path


def lock_path(out: Path, slug: str) -> Path:
    return Path(out) / f".{slug}.lock"


@contextlib.contextmanager
def output_lock(out: Path, slug: str):
    out = Path(out)
    created = not out.exists()
    path = lock_path(out, slug)
    while True:
        try:
            out.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BuildError(f"cannot write into the output folder {shown_path(out)}: {exc.strerror}\n"
                             "  hint: choose another folder with --out, or make this one writable") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip()
            if holder.isdigit() and not _alive(int(holder)) and _same_file(path, fd):
                # the build that took the lock has ended, yet a process it
                # started still holds it: that process works for no one, so
                # the lock is taken over (under a new file, which it cannot hold)
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                sys.stderr.write(f"note: the lock {shown_path(path)} was held for process {holder}, which has "
                                 f"ended; this build takes it over\n")
                continue
            os.close(fd)
            raise BuildError(
                f"another build of '{slug}' into {shown_path(out)} is running"
                + (f" (process {holder})" if holder.isdigit() else "")
                + f"; it holds the lock {shown_path(path)}\n"
                "  hint: wait for that build to finish, then run this one again; the lock is released "
                "when that process ends (there is no need to delete the file)") from None
        # the holder before us removes the file when it is done: if that
        # happened between our open() and flock(), we locked a file nobody
        # else will see, so start again with the file that is there now
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    _held.add(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        remove_leftovers(out, slug)
        yield path
    finally:
        if _same_file(path, fd):  # not when another build took it over meanwhile
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        _held.discard(fd)
        os.close(fd)
        if created:  # a failed first build leaves no empty output folder behind
            _remove_if_empty(out)


#: The descriptors of the locks this process holds: a forked child closes
#: its copies (``close_inherited``), so that no lock outlives its holder.
_held: set[int] = set()


def hold(fd: int) -> None:
    """Count ``fd`` (a locked file) among the locks a fork must not keep."""
    _held.add(fd)


def release(fd: int) -> None:
    _held.discard(fd)


def close_inherited() -> None:
    """In a forked child: close the copies of the parent's lock
    descriptors. A ``flock`` lasts while any copy is open, so a child that
    kept one would hold the lock after its parent ended."""
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def remove_leftovers(out: Path, slug: str) -> None:
    """Staging and set-aside folders of a build of ``slug`` that was killed
    outright (SIGKILL, power cut), which no ``finally`` could remove. Only
    called with the lock held, so no running build owns them."""
    pattern = re.compile(rf"^\.{re.escape(slug)}\.([a-z0-9_]{{8}}\.tmp|old)$")
    for child in out.iterdir():
        if pattern.match(child.name) and child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
