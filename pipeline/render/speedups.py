"""Measured workarounds for library code that grows faster than the document.

``page_references_cached()``: pydyf's ``PDF.page_references`` is a property
that builds a tuple naming every page each time it is read, and
WeasyPrint's PDF tagging (``weasyprint/pdf/tags.py``, once per tagged
element) and link annotations (``weasyprint/pdf/anchors.py``, once per link)
read it to find *one* page. A tagged PDF therefore costs pages x elements:
quadratic in the length of the document. Inside the context the property
keeps its tuple until a page is added, so every read after the first is
free; the bytes written are the same (bench/bench.py; docs/benchmarks.md
has the numbers: 1.3 s of 26 s CPU at 300 pages, more than that share at
1000).
"""

from __future__ import annotations

import contextlib
import threading

_lock = threading.Lock()
_depth = 0
_original = None


def _cached_page_references(self):
    kids = self.pages["Kids"]  # [number, 0, "R"] for each page, in order
    cached = self.__dict__.get("_pipeline_page_references")
    if cached is None or cached[0] != len(kids):
        cached = (len(kids), tuple(f"{number} 0 R".encode("ascii") for number in kids[::3]))
        self.__dict__["_pipeline_page_references"] = cached
    return cached[1]


@contextlib.contextmanager
def page_references_cached():
    """Cache pydyf's ``PDF.page_references`` while the block runs (nested
    and threaded uses are counted; the original comes back after the last)."""
    global _depth, _original
    import pydyf

    with _lock:
        if _depth == 0:
            _original = pydyf.PDF.__dict__["page_references"]
            pydyf.PDF.page_references = property(_cached_page_references)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                pydyf.PDF.page_references = _original
                _original = None
