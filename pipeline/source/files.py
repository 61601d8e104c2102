"""The files of a publication folder: names kept inside the folder (no absolute paths, URLs, ``..``
or symlinks out), symlink loops, the names the publication gives its files, and problems in
reading order.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
from pathlib import Path

from pipeline.errors import Problem
from pipeline.model import Publication


PUBLICATION_FILE = "publication.yaml"


def _name(name: str) -> str:
    """A file's name as the publication gives it, in one spelling
    (``./figures//a.png`` is ``figures/a.png``)."""
    return posixpath.normpath(name.replace("\\", "/"))


def source_files(pub: Publication) -> list[tuple[str, Path]]:
    """Every file of the publication's folder that the build reads, as
    (name, file), sorted by name: publication.yaml, the Markdown files it
    lists and the images they show. The name is the path the publication
    gives (relative, POSIX; through a symlinked folder if that is how it is
    named), the file is where it really is. ``pipeline release`` archives
    exactly these files, so whatever builds also releases."""
    return sorted(pub.names.items())


def _in_reading_order(problems: list[Problem], files: list[Path]) -> list[Problem]:
    """Problems sorted by file (publication.yaml first, then the chapters
    in reading order) and by line, as a reader goes through them."""
    rank = {f: i for i, f in enumerate(files)}
    return sorted(problems, key=lambda p: (rank.get(p.file, len(rank)), p.line or 0, p.column or 0))


def _inside(root: Path, name: str) -> Path | None:
    """The file ``name`` names, if it is inside ``root`` (symlinks resolved):
    never an absolute path, a URL (``file:``, ``https:`` …) or a path that
    leads out with ``..`` or through a symlink."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", name):
        return None
    path = Path(os.path.realpath(root / name))  # a symlink loop is left unresolved (then not a file)
    try:
        path.relative_to(root)
    except ValueError:
        return None
    return path


def _loops(path: Path) -> bool:
    """True when ``path`` leads round a loop of symlinks."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False
