"""Read every output back and hold it against the source.

``check_outputs(pub, folder)`` opens ``<slug>.<format>`` in ``folder`` for
every format of the registry (``pipeline.formats``) and trusts nothing the
build did: each format's reader (``Format.read``) extracts the outline and
the text from the finished file, its comparison policy (``Format.compare``,
built from ``compare``) holds them against the source, and its validator
(``Format.start_validator``: EPUBCheck, the Nu Html Checker) and in-process
checks (``Format.conformance``: the PDF's) judge its conformance. The
external validators start first and run while the readers work.

The ``Report`` says whether everything holds (``ok``), lists the findings in
plain words (``findings()``), and writes ``check.json`` (``write()``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import formats as registry
from pipeline.check import compare, conformance
from pipeline.check.compare import Expected
from pipeline.check.extracted import Extracted, Finding
from pipeline.model import Publication

__all__ = ["check_outputs", "Report", "FormatReport", "Finding", "Expected", "Extracted"]


@dataclass
class FormatReport:
    format: str
    file: Path
    extracted: Extracted | None = None
    differences: list[Finding] = field(default_factory=list)  # against the source
    conformance: conformance.Result | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return self.differences + (self.conformance.findings if self.conformance else [])

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict:
        ex = self.extracted
        return {
            "file": self.file.name,
            "ok": self.ok,
            "outline": [e.as_json() for e in ex.outline] if ex else [],
            **({"headings": [e.as_json() for e in ex.headings]} if ex and ex.headings else {}),
            **({"contents": [{"text": c.text, **({"level": c.level} if c.level else {}),
                              **({"target": c.target} if c.target else {}),
                              **({"page": c.printed_page} if c.printed_page else {})} for c in ex.contents]}
               if ex and ex.contents else {}),
            **({"info": ex.info} if ex and ex.info else {}),
            "differences": [str(f) for f in self.differences],
            "conformance": self.conformance.as_json() if self.conformance else None,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass
class Report:
    slug: str
    folder: Path
    formats: dict[str, FormatReport] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.formats.values())

    def findings(self) -> list[str]:
        """Every finding in plain words, each naming its format and entry."""
        return [str(f) for r in self.formats.values() for f in r.findings]

    def as_json(self) -> dict:
        return {
            "publication": self.slug,
            "ok": self.ok,
            "formats": {fmt: r.as_json() for fmt, r in self.formats.items()},
            "findings": self.findings(),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def write(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def output_file(folder: Path, slug: str, fmt: str) -> Path:
    return Path(folder) / registry.get(fmt).output_name(slug)


def check_outputs(pub: Publication, folder: Path | str, formats=None,
                  expected: Expected | None = None, previous: Path | None = None) -> Report:
    """Check the files ``<slug>.<format>`` in ``folder`` against ``pub``.
    ``expected`` is what ``pub`` says (``Expected.from_publication``), when
    the caller has worked it out already (a build checks each format apart).
    ``previous`` is the folder of the last good build (a build's check
    passes it): a file byte for byte the same as the one there keeps that
    build's verdict from EPUBCheck or the Nu Html Checker instead of
    starting the validator again (``conformance.reuse``); the readers and
    the comparison with the source always run. ``formats``: the names of
    the formats to check, by default those publication.yaml lists under
    ``formats:``, else the registry's default ones (what a build makes)."""
    start = time.perf_counter()
    formats = registry.ordered(pub.formats or registry.default()) if formats is None else formats
    folder = Path(folder)
    report = Report(pub.slug, folder)
    for fmt in formats:
        report.formats[fmt] = FormatReport(fmt, output_file(folder, pub.slug, fmt))

    # the validators first: they run while the readers work
    running: dict[str, conformance.Running] = {}
    try:
        for fmt, r in report.formats.items():
            if r.file.is_file():
                run = registry.get(fmt).start_validator(r.file, previous)
                if run is not None:
                    running[fmt] = run

        if expected is None:
            t = time.perf_counter()
            expected = Expected.from_publication(pub)
            report.timings["source"] = time.perf_counter() - t

        for fmt, r in report.formats.items():
            if not r.file.is_file():
                r.differences.append(Finding(fmt, "structure", f"{r.file.name} is missing from {folder}"))
                continue
            t = time.perf_counter()
            r.extracted = registry.get(fmt).read(r.file)
            r.timings["read"] = time.perf_counter() - t
            t = time.perf_counter()
            own = registry.get(fmt).expected(pub, expected)
            r.differences = r.extracted.problems + compare.compare(fmt, own, r.extracted)
            r.timings["compare"] = time.perf_counter() - t
            t = time.perf_counter()
            found = registry.get(fmt).conformance(r.file, pub)
            if found is not None:
                r.conformance = found
                r.timings["conformance"] = time.perf_counter() - t
        report.timings["readers"] = time.perf_counter() - start

        t = time.perf_counter()
        for fmt, run in running.items():
            r = report.formats[fmt]
            r.conformance = run.wait()
            registry.get(fmt).locate_in_source(r.file, r.conformance, pub)
            r.timings["conformance"] = r.conformance.seconds
        report.timings["waiting for validators"] = time.perf_counter() - t
    finally:
        for run in running.values():
            run.kill()
    report.timings["total"] = time.perf_counter() - start
    return report
