"""Benchmark: the real documents of ../shared/realdocs against the bare
toolchain (issue 12).

    python bench/realdocs.py                  # all six: initial, adapted, imported
    python bench/realdocs.py --write          # and put the table in docs/benchmarks.md
    python bench/realdocs.py FOLDER ...       # publication folders of your own

For each publication folder it times ``python -m pipeline build`` with its
check (``bench.ours``) and the bare toolchain on the same Markdown files
(``bench.bare``: pandoc to HTML, pandoc to EPUB, WeasyPrint on pandoc's HTML),
once each (a build of the rust book takes minutes), and prints pages and
seconds. The imports are made first with ``pipeline import`` from ``raw/``,
as tests/test_realdocs.py makes them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

ROOT = bench.ROOT
REALDOCS = ROOT.parent / "shared" / "realdocs"


def imported(document: str, work: Path) -> Path:
    """``pipeline import`` of the document's raw/, as the tests make it."""
    raw = REALDOCS / document / "raw"
    if document == "rust-book":
        given = raw / "src"
    else:
        folder = work / "given" / document
        folder.mkdir(parents=True)
        shutil.copy(raw / "README.md", folder / "README.md")
        shutil.copytree(REALDOCS / document / "initial" / "images", folder / "images")
        given = folder / "README.md"
    sources = work / "imported"
    subprocess.run([bench.PY, "-m", "pipeline", "import", str(given), "--sources", str(sources),
                    "--slug", f"{document}-imported"], cwd=ROOT, check=True, capture_output=True)
    return sources / f"{document}-imported"


def measure(src: Path, work: Path) -> dict:
    ours = bench.ours(src, work / "dist")
    bare = bench.bare(src, work / "bare" / src.name)
    verdict = "clean" if not ours.failed else ours.failed.strip().splitlines()[-1][:80]
    return {"name": src.name, "pages": ours.pdf_pages, "ours": ours.wall, "bare": bare.wall,
            "bare_pages": bare.pdf_pages, "verdict": verdict}


def table(rows: list[dict]) -> str:
    out = ["| publication | pages (ours) | ours, s (build + check) | bare pandoc + WeasyPrint, s | pages (bare) | ours / bare | verdict |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ratio = r["ours"] / r["bare"] if r["bare"] else float("nan")
        out.append(f"| {r['name']} | {r['pages'] or '–'} | {r['ours']:.0f} | {r['bare']:.0f} | {r['bare_pages'] or '–'} "
                   f"| {ratio:.1f} | {r['verdict']} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="*", type=Path, help="publication folders (default: the six real documents)")
    p.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-realdocs.") as tmp:
        work = Path(tmp)
        folders = list(args.folders)
        if not folders:
            for document in ("system-design-primer", "rust-book"):
                folders += [REALDOCS / document / "initial", REALDOCS / document / "adapted", imported(document, work)]
        rows = []
        for src in folders:
            row = measure(src, work)
            if src.parent.parent == REALDOCS:
                row["name"] = f"{src.parent.name}/{src.name}"
            rows.append(row)
            print(table(rows).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.write:
        bench.write_section(bench.DOC, "realdocs", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
