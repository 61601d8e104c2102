"""Benchmark: our pipeline against the bare toolchain, on the same text.

    python bench/bench.py                     # sizes 10, 300 and 1000 pages
    python bench/bench.py --sizes 10,300 --runs 3
    python bench/bench.py --profile 300       # where a build's time goes

For each size it generates a deterministic synthetic publication in our
source format (publication.yaml + Markdown: parts with nested sections,
paragraphs, lists, tables, footnotes, cross-references, a figure; a seeded
RNG and a word list made from syllables, so no network and no data files)
and, in the same run, measures

* ours: ``python -m pipeline build SOURCE --out OUT`` with its check, and
* bare: the toolchain as a user without our tool would script it, one
  command after another on the same Markdown: pandoc -> standalone HTML,
  pandoc -> EPUB 3, WeasyPrint on pandoc's HTML -> PDF,

each as a child process whose whole process tree is polled for its resident
memory. It prints a table and writes it to docs/benchmarks.md (unless
``--no-write``) with the machine, the versions and the date. Medians of
``--runs`` runs (3); when the runs of a size would not fit in the time
budget (``--budget``, seconds for the whole benchmark) the largest size gets
fewer, and the table says so.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import io
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline import formats as _formats


def pdf_pages(path):
    return _formats.get("pdf").pages(path)


ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DOC = ROOT / "docs" / "benchmarks.md"
FLAGSHIP = ROOT / "sources" / "poverty-alleviation-cooperation"

#: Words of running text per A4 page of our PDF, measured (see calibrate()):
#: the generator writes pages * WORDS_PER_PAGE words of paragraphs, lists,
#: tables and notes.
WORDS_PER_PAGE = 205


# ------------------------------------------------------------ the text

class Text:
    """Deterministic pseudo-English from a seeded RNG."""

    ONSETS = ["b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w",
              "br", "cl", "dr", "gr", "pl", "pr", "st", "tr", "sh", "ch", "th"]
    NUCLEI = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "ee"]
    CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rt", "ng"]
    SHORT = ["the", "of", "and", "to", "in", "a", "for", "is", "on", "that", "by", "with", "as", "from",
             "at", "its", "was", "are", "this", "which", "their", "more", "has", "were", "between"]

    def __init__(self, seed: int, size: int = 3000):
        self.rng = random.Random(seed)
        words = set()
        while len(words) < size:
            n = self.rng.choice((1, 2, 2, 2, 3, 3, 4))
            words.add("".join(self.rng.choice(self.ONSETS) + self.rng.choice(self.NUCLEI) + self.rng.choice(self.CODAS)
                              for _ in range(n)))
        self.words = sorted(words)
        self.written = 0  # words of running text so far
        self.endings: set[str] = set()  # the last word of every heading so far, reversed
        self.endings_sorted: list[str] = []

    def word(self) -> str:
        if self.rng.random() < 0.35:
            return self.rng.choice(self.SHORT)
        # a Zipf-like skew: some words are much more common than others
        return self.words[int(len(self.words) * self.rng.random() ** 2.5)]

    def phrase(self, lo: int, hi: int) -> str:
        n = self.rng.randint(lo, hi)
        self.written += n
        return " ".join(self.word() for _ in range(n))

    def title(self, lo: int = 2, hi: int = 6) -> str:
        """A heading of ``lo`` to ``hi`` words. Headings of two words or more
        end in a word of their own that is not the end of any other heading's
        last word, nor ends in one: a contents line is matched to its heading
        by how its letters end, so no title may be the tail of another."""
        if hi < 2:
            return self.phrase(lo, hi).capitalize()
        words = self.phrase(lo - 1, hi - 1).split() + [self._last_word()]
        return " ".join(w.capitalize() if i == 0 or len(w) > 3 else w for i, w in enumerate(words))

    def _last_word(self) -> str:
        while True:
            w = "".join(self.rng.choice(self.ONSETS) + self.rng.choice(self.NUCLEI) + self.rng.choice(self.CODAS)
                        for _ in range(self.rng.choice((2, 3, 3))))
            r = w[::-1]
            if any(r[:k] in self.endings for k in range(1, len(r) + 1)):
                continue  # an earlier heading's last word is the end of this one
            i = bisect.bisect_left(self.endings_sorted, r)
            if i < len(self.endings_sorted) and self.endings_sorted[i].startswith(r):
                continue  # this one is the end of an earlier heading's last word
            self.endings.add(r)
            self.endings_sorted.insert(i, r)
            self.written += 1
            return w

    def sentence(self) -> str:
        s = self.phrase(8, 24)
        r = self.rng.random()
        words = s.split()
        if r < 0.15 and len(words) > 4:  # emphasis
            i = self.rng.randrange(len(words) - 2)
            words[i] = "*" + words[i]
            words[i + 1] = words[i + 1] + "*"
        elif r < 0.22 and len(words) > 4:
            i = self.rng.randrange(len(words) - 1)
            words[i] = "**" + words[i] + "**"
        elif r < 0.3:
            words.insert(self.rng.randrange(len(words)), str(self.rng.randint(2, 9800)))
        s = " ".join(words)
        sep = "," if self.rng.random() < 0.3 else ""
        return s[0].upper() + s[1:] + sep + ("." if not sep else " " + self.phrase(3, 9) + ".")

    def paragraph(self, lo: int = 3, hi: int = 8) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(lo, hi)))


@dataclass
class Section:
    level: int
    ident: str
    title: str


@dataclass
class Part:
    file: str
    title: str
    label: str
    lines: list[str] = field(default_factory=list)


def generate(pages: int, folder: Path, seed: int | None = None) -> dict:
    """Write a publication of about ``pages`` A4 pages into ``folder`` (made
    anew). Returns facts about it (words, parts, headings, notes, tables)."""
    seed = pages if seed is None else seed
    t = Text(seed)
    rng = t.rng
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "figures").mkdir(parents=True)
    target = pages * WORDS_PER_PAGE
    n_parts = max(2, round(pages / 10))
    per_part = target / (n_parts + 0.4)  # preface and closing take about 0.2 of a part each
    facts = {"pages": pages, "parts": n_parts, "headings": 0, "notes": 0, "tables": 0, "lists": 0, "figures": 0}
    sections: list[Section] = []  # every heading so far, for cross-references

    def notes_and_links(par: str, out: list[str], chapter: str, notes: list[str]) -> str:
        if rng.random() < 0.35:
            n = len(notes) + 1
            label = f"{chapter}-{n}"
            notes.append(f"[^{label}]: {t.paragraph(1, 2)}")
            facts["notes"] += 1
            # the call goes after a word inside the paragraph
            words = par.split(" ")
            i = rng.randrange(len(words) // 2, len(words))
            words[i] = words[i] + f"[^{label}]"
            par = " ".join(words)
        if sections and rng.random() < 0.12:
            s = rng.choice(sections[-60:])
            par += f" See [{s.title}](#{s.ident})."
        return par

    def body(chapter: str, budget: float, out: list[str], depth_prefix: str, level: int, notes: list[str]) -> None:
        """Paragraphs, lists and tables until ``budget`` words are written."""
        start = t.written
        while t.written - start < budget:
            r = rng.random()
            if r < 0.08:
                out.append(_list(t, ordered=rng.random() < 0.4))
                facts["lists"] += 1
            elif r < 0.12:
                out.append(_table(t))
                facts["tables"] += 1
            else:
                out.append(notes_and_links(t.paragraph(), out, chapter, notes))
            out.append("")

    def chapter_file(name: str, title: str, ident: str, budget: float, numbered_sections: bool) -> list[str]:
        out = [f"# {title} {{#{ident}}}", ""]
        facts["headings"] += 1
        notes: list[str] = []
        sections.append(Section(1, ident, title))
        n_sec = max(1, round(budget / 1100))
        for s in range(1, n_sec + 1):
            sid = f"{ident}-{s}"
            stitle = t.title()
            out += [f"## {stitle} {{#{sid}}}", ""]
            facts["headings"] += 1
            body(ident, budget / n_sec * 0.3, out, sid, 2, notes)
            sections.append(Section(2, sid, stitle))
            for ss in range(1, rng.randint(2, 3) + 1):
                ssid = f"{sid}-{ss}"
                sstitle = t.title()
                out += [f"### {sstitle} {{#{ssid}}}", ""]
                facts["headings"] += 1
                sections.append(Section(3, ssid, sstitle))
                body(ident, budget / n_sec * 0.25, out, ssid, 3, notes)
                if rng.random() < 0.4:
                    s4 = f"{ssid}-1"
                    out += [f"#### {t.title()} {{#{s4}}}", ""]
                    facts["headings"] += 1
                    body(ident, budget / n_sec * 0.1, out, s4, 4, notes)
        out += notes + [""] if notes else []
        return out

    # front matter
    preface = chapter_file("preface.md", "Preface", "preface", per_part * 0.2, False)
    parts: list[Part] = []
    for p in range(1, n_parts + 1):
        title = t.title(3, 8)
        part = Part(f"{p:03d}-part.md", title, t.title(1, 1))
        part.lines = chapter_file(part.file, title, f"p{p}", per_part, True)
        parts.append(part)
    # the figure, in the first part, after its first section heading
    fig = folder / "figures" / "chart.png"
    _figure(fig, rng)
    facts["figures"] = 1
    first = parts[0].lines
    at = next(i for i, line in enumerate(first) if line.startswith("## "))
    first[at + 2:at + 2] = [f"![{t.sentence()}](figures/chart.png)", ""]
    closing = chapter_file("closing.md", "Closing words", "closing", per_part * 0.2, False)

    (folder / "preface.md").write_text("\n".join(preface), "utf-8")
    for part in parts:
        (folder / part.file).write_text("\n".join(part.lines), "utf-8")
    (folder / "closing.md").write_text("\n".join(closing), "utf-8")
    meta = {
        "title": f"Synthetic report of about {pages} pages",
        "subtitle": "Generated for the pipeline's benchmark",
        "authors": [{"name": "Bench Mark", "affiliation": "Performance Unit", "organisation": "The Pipeline Project"}],
        "language": "en",
        "description": f"A deterministic synthetic publication (seed {seed}) used to measure build times.",
        "keywords": ["benchmark", "synthetic"],
        "rights": "Public domain.",
        "edition": {"version": "1.0.0", "date": "2026-01-01"},
        "front": ["preface.md"],
        "outline": {"title": "Contents", "parts": [{"label": p.label, "title": p.title, "file": p.file} for p in parts]},
        "back": ["closing.md"],
    }
    (folder / "publication.yaml").write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100), "utf-8")
    facts["words"] = t.written
    return facts


def _list(t: Text, ordered: bool) -> str:
    rng = t.rng
    lines = []
    for i in range(1, rng.randint(3, 7) + 1):
        mark = f"{i}." if ordered else "-"
        lines.append(f"{mark} {t.phrase(4, 16)}")
        if rng.random() < 0.25:  # a nested list
            for _ in range(rng.randint(2, 3)):
                lines.append(f"{' ' * (len(mark) + 1)}- {t.phrase(3, 10)}")
    return "\n".join(lines)


def _table(t: Text) -> str:
    rng = t.rng
    cols = rng.randint(3, 5)
    head = [t.title(1, 2) for _ in range(cols)]
    rows = []
    for _ in range(rng.randint(4, 9)):
        rows.append([t.phrase(1, 3)] + [f"{rng.randint(0, 99999):,}" for _ in range(cols - 1)])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["--:"] * (cols - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + f"\n\n: {t.sentence()}"


def _figure(path: Path, rng: random.Random) -> None:
    """A bar chart as PNG, drawn with Pillow (WeasyPrint's own dependency)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (600, 300), "white")
    draw = ImageDraw.Draw(img)
    for i in range(8):
        h = rng.randint(30, 260)
        draw.rectangle([30 + i * 70, 280 - h, 80 + i * 70, 280], fill=(11, 83, 148))
    draw.line([20, 280, 590, 280], fill="black", width=2)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)
    path.write_bytes(buf.getvalue())


# ------------------------------------------------------------ measuring

@dataclass
class Measured:
    """One command (or a sequence of them): wall time, CPU time and peak
    RSS of its process tree, and the steps it reported."""

    wall: float
    peak_rss: int  # bytes, the whole process tree at its largest
    cpu: float = 0.0  # user + system seconds of the whole tree
    peak_pss: int = 0  # bytes: the same, each shared page counted once (sampled less often)
    steps: dict[str, float] = field(default_factory=dict)
    pdf_pages: int | None = None
    stdout: str = ""
    failed: str = ""  # what a failed check said (the build's own time is still measured)


def _pss(pid: int) -> int | None:
    """A process's proportional set size in bytes: its resident pages, each
    shared page divided among the processes that share it (Linux 4.14+)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


#: PSS costs the kernel about 10 ms per GB of a process to add up, so it is
#: sampled every PSS_EVERY polls (0.2 s), RSS at every one
PSS_EVERY = 10


def run_tree(cmd: list[str], cwd: Path | None = None, env: dict | None = None, interval: float = 0.02,
             ok: tuple[int, ...] = (0,)) -> Measured:
    """Run ``cmd``; poll the resident memory of it and all its descendants
    (summed) every ``interval`` seconds, and their proportional set size
    every ``PSS_EVERY`` polls (a forked process's pages shared with its
    parent count twice in the RSS sum, once in the PSS sum); fail loudly if
    it fails. CPU time comes from getrusage(RUSAGE_CHILDREN): every
    descendant is reaped before the command ends, so its time is in there."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = peak_pss = polls = 0
    out: dict[str, bytes] = {}

    def drain(name, stream):
        out[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, s), daemon=True)
               for n, s in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for r in readers:
        r.start()
    try:
        root = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        root = None
    while proc.poll() is None:
        if root is not None:
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                procs = []
            for p in procs:
                try:
                    total += p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            peak = max(peak, total)
            if polls % PSS_EVERY == 0:
                peak_pss = max(peak_pss, sum(_pss(p.pid) or 0 for p in procs))
            polls += 1
        time.sleep(interval)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for r in readers:
        r.join()
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                           + out["stderr"].decode("utf-8", "replace")[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = Measured(wall, peak, cpu, peak_pss=peak_pss, stdout=out["stdout"].decode("utf-8", "replace"))
    if proc.returncode != 0:
        m.failed = out["stderr"].decode("utf-8", "replace").strip()
    return m


_STEP = re.compile(r"^\S+: (.+) \((\d+\.\d+)s\)$")


#: The formats bare makes: a publication that asks for more (the flagship's
#: deck) builds only these here, so that both sides make the same files.
SAME_FORMATS = ("--formats", "pdf,epub,html")


def ours(src: Path, out: Path, check: bool = True, fresh: bool = True, env: dict | None = None,
         args: tuple[str, ...] = ()) -> Measured:
    """``python -m pipeline build`` with its check; its plain progress lines
    (stdout is a pipe) give each step's time. ``fresh``: the earlier run's
    outputs are removed first, so that the build is a first one (a rebuild
    keeps the last build's validator verdicts for unchanged files)."""
    from pipeline import formats
    from pipeline.progress import STEP_LABELS, step_label

    if fresh:
        shutil.rmtree(out / src.name, ignore_errors=True)
    steps_by_label = {step_label(step): step for step in (*STEP_LABELS, *formats.REGISTRY)}
    env = {**os.environ, "CI": "true", **(env or {})}
    cmd = [PY, "-m", "pipeline", "build", str(src), "--out", str(out), *([] if check else ["--no-check"]), *args]
    if "--formats" not in args:
        cmd += SAME_FORMATS
    m = run_tree(cmd, cwd=ROOT, env=env, ok=(0, 1))  # 1: the check failed, which the report says
    for line in m.stdout.splitlines():
        hit = _STEP.match(line.strip())
        if hit:
            m.steps[steps_by_label.get(hit.group(1), hit.group(1))] = float(hit.group(2))
    if not m.failed:
        m.pdf_pages = pdf_pages(out / src.name / f"{src.name}.pdf")
    return m


def reading_order(src: Path) -> list[str]:
    meta = yaml.safe_load((src / "publication.yaml").read_text("utf-8"))
    return [*meta.get("front", []), *(p["file"] for p in meta["outline"]["parts"]), *meta.get("back", [])]


def bare(src: Path, work: Path) -> Measured:
    """The toolchain without us, one command after another, as a script
    would run it: the same Markdown files, in reading order."""
    import pypandoc

    meta = yaml.safe_load((src / "publication.yaml").read_text("utf-8"))
    files = reading_order(src)
    pandoc = pypandoc.get_pandoc_path()
    work.mkdir(parents=True, exist_ok=True)
    html, epub, pdf = work / "book.html", work / "book.epub", work / "book.pdf"
    title = ["--metadata", f"title={' '.join(meta['title'].split())}", "--metadata", f"lang={meta['language']}"]
    steps = {
        "html": [pandoc, "-s", *title, "-o", str(html), *files],
        "epub": [pandoc, *title, "-o", str(epub), *files],
        "pdf": [PY, "-m", "weasyprint", "-u", src.as_uri() + "/", str(html), str(pdf)],
    }
    total = Measured(0.0, 0)
    for name, cmd in steps.items():
        m = run_tree(cmd, cwd=src)
        total.steps[name] = m.wall
        total.wall += m.wall
        total.cpu += m.cpu
        total.peak_rss = max(total.peak_rss, m.peak_rss)
        total.peak_pss = max(total.peak_pss, m.peak_pss)
    total.pdf_pages = pdf_pages(pdf)
    return total


# ------------------------------------------------------------ the validators, cold and warm

class Validators:
    """The warm validator service (pipeline.check.service) seen from the
    benchmark: a *cold* build gets a new empty per-user folder, so it finds
    no service, starts one (as the first build on a machine does) and pays
    the JVMs' start; a *warm* build uses the benchmark's own folder, where a
    service was started by an untimed build before the runs. Every service
    the benchmark starts is stopped at the end (``close``)."""

    def __init__(self, work: Path):
        self.work = work
        self.folders: list[Path] = []
        self.warm_folder = self._folder()

    def _folder(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="validators-", dir=self.work))
        path.chmod(0o700)
        self.folders.append(path)
        return path

    def cold(self) -> dict:
        return {"PIPELINE_VALIDATOR_RUNTIME_DIR": str(self._folder())}

    def warm(self) -> dict:
        return {"PIPELINE_VALIDATOR_RUNTIME_DIR": str(self.warm_folder)}

    def close(self) -> None:
        code = ("from pipeline.check import service\n"
                "for fmt in ('epub', 'html'):\n"
                "    try: service.stop(fmt, service.key(fmt))\n"
                "    except Exception: pass\n")
        for folder in self.folders:
            subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True,
                           env={**os.environ, "PIPELINE_VALIDATOR_RUNTIME_DIR": str(folder)})
        self.folders.clear()


def edit_one_sentence(src: Path, copy: Path) -> Path:
    """A copy of ``src`` with one word added to the first sentence of its
    first part's file: the edit a writer saves while the preview runs."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(src, copy)
    first = copy / reading_order(copy)[0]
    text = first.read_text("utf-8")
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith(("#", "-", "*", "|", ":", ">", "!", "[", "<", "`")) \
                and "." in line:
            lines[i] = line.replace(".", " indeed.", 1)
            break
    first.write_text("".join(lines), "utf-8")
    return copy


# ------------------------------------------------------------ the PDF laid out in parallel

LAYOUT_RUN = r"""
import json, sys, time
from pathlib import Path
src, out, jobs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
from pipeline.build import build
t = time.monotonic()
result = build(src, out, formats=("pdf",), check=False, jobs=jobs)
wall = time.monotonic() - t
events = [dict(step=e.step, start=e.start - t, end=e.end - t, pid=e.pid) for e in result.events]
weights = {}
try:
    from pipeline.render import parallel, pdf
    from pipeline.render.common import Design, body_html
    chapters = pdf.prepare(result.publication, body_html(result.publication, Design()))
    weights = {n: [p.weight for p in parallel.plan(chapters, n)] for n in (jobs, 1, 2, 4, 8, 16)}
except Exception as exc:
    weights = {"error": str(exc)}
print(json.dumps(dict(wall=wall, timings=result.timings, events=events, weights=weights)))
"""


@dataclass
class Layout:
    """One PDF-only build without its check, at ``jobs`` workers."""

    jobs: int
    measured: Measured
    wall: float = 0.0  # the build's own clock, from before loading to the PDF written
    timings: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    weights: dict = field(default_factory=dict)  # workers -> the weights of the pieces parallel.plan makes
    size: int = 0  # bytes of the PDF


def layout(src: Path, out: Path, jobs: int) -> Layout:
    shutil.rmtree(out / src.name, ignore_errors=True)
    m = run_tree([PY, "-c", LAYOUT_RUN, str(src), str(out), str(jobs)], cwd=ROOT, env={**os.environ, "CI": "true"})
    data = json.loads(m.stdout.strip().splitlines()[-1])
    made = out / src.name / f"{src.name}.pdf"
    m.pdf_pages = pdf_pages(made)
    return Layout(jobs, m, data["wall"], data["timings"], data["events"],
                  {int(k): v for k, v in data["weights"].items() if k != "error"}, made.stat().st_size)


def _makespan(durations: list[float], workers: int) -> float:
    """Longest first onto the least loaded worker, as the pool feeds them."""
    loads = [0.0] * workers
    for d in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += d
    return max(loads)


def extrapolate(run: Layout, cores=(1, 2, 4, 8, 16)) -> tuple[dict, dict]:
    """The PDF build's wall time at more cores, on paper, from one measured
    parallel run: its serial steps as measured (reading the source, the
    body, the assembly, and the wait between phases), the main matter's
    pieces as ``parallel.plan`` would cut them for that many workers, each
    costing its text's weight times the seconds per weight measured, fed
    longest first; then the front matter and the folio stamps, timed as
    measured and spread over the workers (the front matter is one task, so
    never shorter than it was)."""
    ev = run.events
    main = [e for e in ev if e["step"].startswith("pdf main")]
    later = [e for e in ev if e["step"].startswith(("pdf stamps", "pdf front"))]
    pdf = next((e for e in ev if e["step"] == "pdf"), None)
    if not main or pdf is None or run.jobs not in run.weights:
        return {}, {}
    main_work = sum(e["end"] - e["start"] for e in main)
    rate = main_work / max(1, sum(run.weights[run.jobs]))
    main_span = max(e["end"] for e in main) - min(e["start"] for e in main)
    later_span = (max(e["end"] for e in later) - max(e["end"] for e in main)) if later else 0.0
    front = max((e["end"] - e["start"] for e in later if e["step"] == "pdf front"), default=0.0)
    later_work = sum(e["end"] - e["start"] for e in later)
    serial = run.wall - main_span - later_span
    parts = {"serial": serial, "main work": main_work, "later work": later_work, "front": front,
             "pieces": len(main)}
    out = {}
    for n in cores:
        weights = run.weights.get(n) or run.weights[run.jobs]
        out[n] = serial + _makespan([w * rate for w in weights], n) + max(front, later_work / n)
    return out, parts


# ------------------------------------------------------------ the report

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


@dataclass
class Subject:
    """What is measured: a synthetic size or a real publication."""

    label: str
    src: Path
    pages: int  # nominal, for planning the time budget
    facts: dict
    ours: list[Measured] = field(default_factory=list)
    bare: list[Measured] = field(default_factory=list)
    unchecked: list[Measured] = field(default_factory=list)  # ours with --no-check
    rebuilt: list[Measured] = field(default_factory=list)  # ours again over its own outputs, nothing changed
    warm: list[Measured] = field(default_factory=list)  # ours with the validator service already running
    edited: list[Measured] = field(default_factory=list)  # ours again after one sentence was edited, warm
    layouts: list[Layout] = field(default_factory=list)  # the PDF alone, at 1 worker and at every core
    note: str = ""

    def med(self, which: str, what: str):
        runs = getattr(self, which)
        if what in ("wall", "cpu", "peak_rss", "peak_pss", "pdf_pages"):
            return median([getattr(r, what) for r in runs])
        return median([r.steps.get(what) for r in runs])


def fmt_s(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def machine() -> dict:
    import pypandoc
    import weasyprint

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    try:
        mem = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1]) * 1024
    except (OSError, StopIteration):
        mem = 0
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory": f"{mem / 2**30:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "pandoc": pypandoc.get_pandoc_version(),
        "weasyprint": weasyprint.__version__, "java": java[0] if java else "none",
    }


WHO = {"ours": "ours, cold", "warm": "ours, warm", "edited": "ours, one sentence edited, warm",
       "rebuilt": "ours, rebuilt unchanged, warm", "bare": "bare"}


def table(results: list[Subject]) -> str:
    mb = lambda b: "–" if b is None else f"{b / 2**20:.0f}"
    rate = lambda pages, s: "–" if not pages or not s else f"{pages / s:.1f}"

    def pages(r, who):
        n = r.med(who, "pdf_pages") or (r.med("unchecked", "pdf_pages") if who == "ours" else None)
        return "–" if n is None else f"{n:.0f}"

    lines = [
        "| publication | runs | PDF pages | PDF s | EPUB s | HTML s | check s | **total s** | CPU s | peak RSS MiB | "
        "peak PSS MiB | PDF pages/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        for who in ("ours", "warm", "edited", "rebuilt", "bare"):
            if not getattr(r, who):
                continue
            pdf_s = r.med(who, "pdf")
            lines.append(
                f"| {r.label}, {WHO[who]} | {len(getattr(r, who))} | {pages(r, who)} | {fmt_s(pdf_s)} | "
                f"{fmt_s(r.med(who, 'epub'))} | {fmt_s(r.med(who, 'html'))} | "
                f"{fmt_s(r.med(who, 'check')) if who != 'bare' else '–'} | **{fmt_s(r.med(who, 'wall'))}** | "
                f"{fmt_s(r.med(who, 'cpu'))} | {mb(r.med(who, 'peak_rss'))} | {mb(r.med(who, 'peak_pss'))} | "
                f"{rate(r.med(who, 'pdf_pages') or r.med('unchecked', 'pdf_pages'), pdf_s)} |")
    lines += ["", "| publication | words | ours cold s | ours warm s | bare s | **cold / bare** | **warm / bare** | "
                  "ours without check s | check adds (cold) | ours CPU / bare CPU |",
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    ratio = lambda x, y: f"**{x / y:.2f}×**" if x and y else "–"
    for r in results:
        o, w, b, u = r.med("ours", "wall"), r.med("warm", "wall"), r.med("bare", "wall"), r.med("unchecked", "wall")
        adds = f"{o - u:.2f} s ({100 * (o - u) / o:.0f} %)" if o and u else "–"
        cpu = f"{r.med('ours', 'cpu') / r.med('bare', 'cpu'):.2f}×" if r.bare and r.med("bare", "cpu") else "–"
        lines.append(f"| {r.label} | {r.facts.get('words', 0):,} | {fmt_s(o)} | {fmt_s(w)} | {fmt_s(b)} | "
                     f"{ratio(o, b)} | {ratio(w, b)} | {fmt_s(u)} | {adds} | {cpu} |")
        for who in ("edited", "rebuilt"):
            x = r.med(who, "wall")
            if x:
                lines.append(f"| {r.label}, {WHO[who].removeprefix('ours, ')} | | | {fmt_s(x)} | {fmt_s(b)} | | "
                             f"{ratio(x, b)} | | | |")
    lines += layout_table(results)
    for r in results:
        failures = [m.failed for m in r.ours if m.failed]
        if failures:
            lines_failed = [line for line in failures[0].splitlines() if not line.startswith("check failed")]
            r.note = (r.note + "; " if r.note else "") + (
                f"**the check failed in {len(failures)} of {len(r.ours)} runs** (the build's time still counts; "
                f"the outputs were not published), first run: " + "; ".join(lines_failed[:4])
                + (f" and {len(lines_failed) - 4} more" if len(lines_failed) > 4 else ""))
    notes = [f"- {r.label}: {r.note}" for r in results if r.note]
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


def layout_table(results: list[Subject]) -> list[str]:
    """The PDF alone at one worker and at every core, and on paper at more."""
    rows = [r for r in results if len(r.layouts) >= 2]
    if not rows:
        return []
    cores = (1, 2, 4, 8, 16)
    lines = ["", "The PDF alone (`--formats pdf --no-check`), one run each: laid out by one WeasyPrint document "
             "(`--jobs 1`) and in pieces on every core, and on paper at more cores (see *Parallel layout* below "
             "for how).", "",
             "| publication | PDF pages 1 / all | size 1 / all kB | size ratio | jobs 1 s | jobs "
             f"{rows[0].layouts[-1].jobs} s | **speed-up** | pieces | serial s | "
             + " | ".join(f"{n} cores s (on paper)" for n in cores) + " |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|" + "--:|" * len(cores)]
    for r in rows:
        one, many = r.layouts[0], r.layouts[-1]
        paper, parts = extrapolate(many, cores)
        size = [one.size, many.size]
        lines.append(
            f"| {r.label} | {one.measured.pdf_pages} / {many.measured.pdf_pages} | {size[0] / 1000:.0f} / "
            f"{size[1] / 1000:.0f} | {size[1] / size[0]:.3f} | {one.measured.wall:.2f} | {many.measured.wall:.2f} | "
            f"**{one.measured.wall / many.measured.wall:.2f}×** | {parts.get('pieces', '–')} | "
            f"{fmt_s(parts.get('serial'))} | " + " | ".join(fmt_s(paper.get(n)) for n in cores) + " |")
    return lines


def report(results: list[Subject], info: dict, started: dt.datetime, seconds: float, load: tuple) -> str:
    return textwrap.dedent(f"""\
        Measured by `make bench` (`{Path(__file__).relative_to(ROOT)}`) on {started:%Y-%m-%d %H:%M} UTC, {seconds:.0f} s in all.

        Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; {info['os']}. Load average (1 min)
        before / after: {load[0]:.2f} / {load[1]:.2f} (other developers share this machine).
        Versions: Python {info['python']}, pandoc {info['pandoc']}, WeasyPrint {info['weasyprint']}, {info['java']}.

        Wall-clock seconds, medians of the runs shown. *ours* is `python -m pipeline build SOURCE --formats
        pdf,epub,html`: the three formats bare makes, the PDF laid out on every core (the default), and the
        check; the per-format and check times are the build's own progress report, and as the formats are
        made at the same time they do not add up to the total (the check's time runs from the first
        format's check to the last). Every build of *ours* is a first build (the earlier run's outputs are
        removed before it). *cold* builds find no validator service (each gets a new empty per-user folder,
        as on a machine where nothing has run yet), so they start EPUBCheck's and the Nu Html Checker's
        JVMs and pay their start; *warm* builds find the services an untimed build started before the
        runs. *one sentence edited, warm* is the flagship built once, one word added to one sentence, and
        built again (the rebuild is timed); *rebuilt unchanged, warm* builds over its own outputs with
        nothing changed. *ours without check* is the same with `--no-check` (cold and warm are the same
        then), so *check adds* is what the check costs a cold build. *bare* is pandoc → standalone HTML,
        pandoc → EPUB 3 and WeasyPrint (CLI) on pandoc's HTML → PDF, one after another on the same
        Markdown files, with no check. CPU s is user + system time of the whole process tree; peak RSS is
        the largest sum of the resident memory of the process tree (polled every 20 ms; pages a forked
        process shares with its parent count twice); peak PSS is the same sum with each shared page counted
        once (proportional set size, every 0.2 s); a warm build's validators run in the services, outside
        its process tree. PDF pages/s is the PDF's pages over the PDF step's time. The two PDFs differ in
        layout (ours: a 125 mm text block, justified and hyphenated, running heads, footnotes at the foot
        of the page, a contents page with page numbers, tagged PDF/UA-1; bare: pandoc's default style), so
        ours has more pages for the same words.

        """) + table(results) + "\n"


def write_section(path: Path, name: str, text: str) -> None:
    """Replace the part of ``path`` between ``<!-- name:start -->`` and
    ``<!-- name:end -->`` (appended if absent); the rest is prose kept as is."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    old = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    if start in old and end in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, "utf-8")


# ------------------------------------------------------------ profiling

def profile(pages: int, work: Path) -> str:
    """Profile each step of a build in this process with pyinstrument, one
    after another (the call tree, not the schedule): load, body, each
    format, the check."""
    from pyinstrument import Profiler

    from pipeline import source
    from pipeline import formats
    from pipeline.render.common import Design, body_html

    src = work / f"synthetic-{pages}"
    generate(pages, src)
    design = Design()
    profiler = Profiler(interval=0.002)
    profiler.start()
    pub = source.load(src)
    body = body_html(pub, design)
    outputs = {fmt: render(pub, body, design) for fmt, render in ((f.name, f.render) for f in formats.REGISTRY.values())}
    staging = work / "profile-out"
    staging.mkdir(exist_ok=True)
    for fmt, data in outputs.items():
        (staging / f"{pub.slug}.{fmt}").write_bytes(data)
    try:
        from pipeline.check import check_outputs
    except ImportError:
        check_outputs = None
    if check_outputs is not None:
        check_outputs(pub, staging)
    profiler.stop()
    if os.environ.get("BENCH_PROFILE_SESSION"):  # keep the raw session to render it again
        profiler.last_session.save(os.environ["BENCH_PROFILE_SESSION"])
    return profile_text(profiler.last_session, pages)


def profile_text(session, pages: int, threshold: float = 0.02, flat_lines: int = 25) -> str:
    """The call tree (frames under ``threshold`` of the total left out,
    library frames shown) and the functions with the most time of their own."""
    from pyinstrument.renderers import ConsoleRenderer

    def render(**kw) -> str:
        return ConsoleRenderer(unicode=False, color=False, **kw).render(session).strip()

    tree = render(show_all=False, processor_options={"filter_threshold": threshold})
    tree = "\n".join(line for line in tree.splitlines() if line.strip())
    flat = "\n".join(line for line in render(flat=True, flat_time="self").splitlines()[5:flat_lines + 5] if line)
    return (f"pyinstrument {session.duration:.1f} s, {pages} pages: load, body, each format and the check, "
            f"one after another in one process (the work, not the schedule).\n\n"
            f"Call tree (library internals folded, frames under {threshold:.0%} left out):\n\n```\n{tree}\n```\n\n"
            f"Inside the libraries: time under each function (recursion counted once), the largest:\n\n"
            f"```\n{inclusive(session, flat_lines)}\n```\n\n"
            f"Time spent in the function itself, the largest:\n\n```\n{flat}\n```\n")


def inclusive(session, lines: int, prefix: str = "site-packages/") -> str:
    """Seconds of the samples with each library function on the stack,
    each function counted once per sample however deep it recurses."""
    totals: dict[str, float] = {}
    for stack, seconds in session.frame_records:
        seen = set()
        for frame in stack:
            parts = frame.split("\x00")
            if len(parts) < 3 or prefix not in parts[1]:
                continue
            name = f"{parts[0]}  {parts[1].split(prefix, 1)[1]}:{parts[2].split(chr(1))[0]}"
            if name not in seen:
                seen.add(name)
                totals[name] = totals.get(name, 0.0) + seconds
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:lines]
    return "\n".join(f"{t:7.2f} s {100 * t / session.duration:4.0f} %  {name}" for name, t in top)


# ------------------------------------------------------------ main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,300,1000", help="pages, comma-separated (default 10,300,1000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each size (default 3); medians are reported")
    ap.add_argument("--budget", type=float, default=840,
                    help="seconds for the whole benchmark; the largest sizes get fewer runs to stay in it")
    ap.add_argument("--no-check", action="store_true", help="build ours without its check (not a fair comparison; "
                    "for looking at the formats alone)")
    ap.add_argument("--no-flagship", action="store_true", help="leave out the flagship publication")
    ap.add_argument("--no-layout", action="store_true", help="leave out the PDF-alone runs at 1 and at every core")
    ap.add_argument("--no-write", action="store_true", help="print the table; do not write docs/benchmarks.md")
    ap.add_argument("--profile", type=int, metavar="PAGES", help="profile one build of PAGES pages instead")
    ap.add_argument("--generate", type=int, metavar="PAGES", help="only write a publication of PAGES pages")
    ap.add_argument("--to", type=Path, help="with --generate: the folder to write (default sources-like name in /tmp)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    if args.generate:
        folder = args.to or Path(tempfile.gettempdir()) / f"synthetic-{args.generate}"
        print(json.dumps(generate(args.generate, folder)), folder)
        return 0

    work = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    try:
        if args.profile:
            text = profile(args.profile, work)
            print(text)
            if not args.no_write:
                write_section(DOC, "profile", text)
            return 0
        return bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(args, work: Path) -> int:
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()}, reverse=True)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    info = machine()
    subjects: list[Subject] = []
    for pages in sizes:
        src = work / f"synthetic-{pages}"
        subjects.append(Subject(f"{pages} pages", src, pages, generate(pages, src)))
    if not args.no_flagship:
        words = sum(len((FLAGSHIP / f).read_text("utf-8").split()) for f in reading_order(FLAGSHIP))
        subjects.insert(len([s for s in subjects if s.pages > 15]),
                        Subject("flagship", FLAGSHIP, 15, {"words": words}))
    # Largest first: its first run tells how long a page takes, so that the
    # runs of the smaller ones can be reserved before it repeats; the
    # largest is not built without its check (its runs are the dearest).
    from pipeline.render.parallel import jobs_available

    cores = jobs_available()
    validators = Validators(work)
    try:
        if not args.no_check:  # start the warm service, untimed; a service's first check is its slowest
            for _ in range(2):
                ours(FLAGSHIP, work / "warming", env=validators.warm())
        per_page, fixed = None, 12.0  # seconds of one round per page, and per round
        for i, subject in enumerate(subjects):
            smaller = subjects[i + 1:]
            unchecked = i > 0 or len(subjects) == 1
            for run in range(args.runs):
                t = time.perf_counter()
                subject.ours.append(ours(subject.src, work / "out", check=not args.no_check, env=validators.cold()))
                if not args.no_check:
                    subject.warm.append(ours(subject.src, work / "out", env=validators.warm()))
                subject.bare.append(bare(subject.src, work / "bare"))
                if unchecked and not args.no_check:
                    subject.unchecked.append(ours(subject.src, work / "out-unchecked", check=False))
                if subject.label == "flagship" and not args.no_check:
                    subject.rebuilt.append(ours(subject.src, work / "out", fresh=False, env=validators.warm()))
                    copy = work / "edited" / subject.src.name
                    shutil.rmtree(copy, ignore_errors=True)
                    shutil.copytree(subject.src, copy)
                    ours(copy, work / "out-edited", env=validators.warm())  # the outputs before the edit
                    edit_one_sentence(subject.src, copy)
                    subject.edited.append(ours(copy, work / "out-edited", fresh=False, env=validators.warm()))
                one = time.perf_counter() - t
                if per_page is None:
                    per_page = max(0.0, one - fixed) / subject.pages
                print(f"{subject.label:>11} run {run + 1}: ours {subject.ours[-1].wall:6.2f} s cold"
                      + (f", {subject.warm[-1].wall:6.2f} s warm" if subject.warm else "")
                      + f", bare {subject.bare[-1].wall:6.2f} s ({time.perf_counter() - t0:.0f} s so far)",
                      file=sys.stderr, flush=True)
                if run + 1 == args.runs:
                    break
                left = args.budget - (time.perf_counter() - t0)
                reserved = sum((fixed + 1.5 * per_page * s.pages) * args.runs for s in smaller)
                if one + reserved > left:
                    subject.note = (f"{run + 1} run{'s' if run else ''} instead of {args.runs}: another would not "
                                    f"have fit in the {args.budget:.0f} s budget of `make bench` beside the smaller "
                                    f"ones' runs")
                    break
            if subject.pages >= 300 and cores > 1 and not args.no_layout:
                for jobs in (1, cores):
                    subject.layouts.append(layout(subject.src, work / "out-layout", jobs))
                    print(f"{subject.label:>11} PDF alone, {jobs} job(s): {subject.layouts[-1].measured.wall:6.2f} s",
                          file=sys.stderr, flush=True)
    finally:
        validators.close()
    subjects.sort(key=lambda s: s.pages)
    seconds = time.perf_counter() - t0
    text = report(subjects, info, started, seconds, (load0, os.getloadavg()[0]))
    if args.no_check:
        text += "\n**Built with `--no-check`: ours did not check its outputs in this run.**\n"
    print(text)
    if not args.no_write:
        write_section(DOC, "bench", text)
        print(f"written to {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
