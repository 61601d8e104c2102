"""What a build may replace: its own output folder, and nothing else.

A build swaps ``<out>/<slug>/`` as a whole, so before it does it must be
sure the folder there is one of its own outputs. It is when it holds
nothing but the names a build or ``pipeline preview`` writes (a file per
registered format, ``pipeline.formats``, ``check.json``, ``preview/`` with its pictures, and ``.failed/``,
where a build whose check failed leaves its outputs for inspection): the
list of a build's files is the manifest. Anything else there (the editions archive,
someone's notes, a link to a web root) is refused with a message and left
as it was.

Some slugs are refused outright, at ``pipeline new`` and at ``build``:
names that start with a dot (the build's own lock, staging and set-aside
folders are dot-names) and the names of folders that live beside the
outputs in ``dist/`` (``editions``, the archive; ``site``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Folder names in ``dist/`` that are not a publication's outputs.
RESERVED = {
    "editions": "dist/editions/ is the editions archive",
    "site": "dist/site/ is kept for the published site",
}
#: The folder inside ``<out>/<slug>/`` that holds the outputs of the last
#: build whose check failed, beside the last good ones; the next failed
#: build replaces it, the next good build removes it (with the folder).
FAILED = ".failed"


def reserved(slug: str) -> str | None:
    """Why ``slug`` cannot name a publication, or None when it can."""
    if slug.startswith("."):
        return "a name that starts with a dot is kept for the build's own lock and temporary folders"
    if slug.lower() in RESERVED:
        return f"the name is reserved: {RESERVED[slug.lower()]}"
    return None


def own_names(slug: str) -> set[str]:
    from pipeline import formats

    return {f.output_name(slug) for f in formats.REGISTRY.values()} | {"check.json"}


def foreign(folder: Path, slug: str) -> list[str]:
    """The entries of ``folder`` that no build of ``slug`` made (sorted;
    empty when the folder is a build's output, or empty). Symbolic links
    are never a build's: the build writes files and folders only."""
    names = own_names(slug)
    out = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except NotADirectoryError:
        return [folder.name]
    for entry in entries:
        if entry.is_symlink():
            out.append(entry.name)
        elif entry.name in names and entry.is_file(follow_symlinks=False):
            continue
        elif entry.name == FAILED and entry.is_dir(follow_symlinks=False):
            out += [f"{FAILED}/{e.name}" for e in sorted(os.scandir(entry.path), key=lambda e: e.name)
                    if e.is_symlink() or not e.is_file(follow_symlinks=False) or e.name not in names]
        elif entry.name == "preview" and entry.is_dir(follow_symlinks=False):
            out += [f"preview/{e.name}" for e in sorted(os.scandir(entry.path), key=lambda e: e.name)
                    if e.is_symlink() or not e.is_file(follow_symlinks=False) or not e.name.endswith(".png")]
        else:
            out.append(entry.name)
    return out


def refusal(final: Path, slug: str) -> str | None:
    """Why the build must not replace ``final`` (``<out>/<slug>``), or None
    when it may (absent, or one of its own output folders)."""
    from pipeline.errors import shown_path

    if final.is_symlink():
        return (f"{shown_path(final)} is a symbolic link (to {os.readlink(final)}); the build replaces its output "
                f"folder as a whole and does not replace a link\n"
                f"  hint: build into the link's folder with --out, or remove the link {shown_path(final)}")
    if not final.exists():
        return None
    if not final.is_dir():
        return (f"{shown_path(final)} is a file, not a build's output folder; nothing was written\n"
                f"  hint: move it away, or build into another folder with --out")
    others = foreign(final, slug)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        return (f"{shown_path(final)} holds files a build did not make ({shown}); the build replaces that folder "
                f"as a whole, so nothing was written\n"
                f"  hint: move those files elsewhere, or build into another folder with --out")
    return None
