"""Measured workarounds for library code that grows faster than the document,
or does the same work twice.

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

``objects_serialised_once()``: given a file identifier (ours is derived from
the publication's identifier and edition), ``pydyf.PDF.write`` hashes the
serialised bytes of every object for the second half of the trailer's
``/ID``, and gets those bytes by serialising every object again after
writing it: each page's content stream, the font files and the object
stream holding the whole structure tree are compressed a second time
(zlib level 9), and every tag's dictionary is turned into bytes twice.
Inside the context an object of the PDF being written keeps its bytes
until that write ends; the bytes written, the ``/ID`` included, are the
same (the 300-page benchmark book, writing only, CPU: 7.2-8.1 s without,
6.2-6.7 s with; 2.9 -> 2.4 s at 100 pages).

``collections_paused()``: laying out and writing a PDF, WeasyPrint makes
millions of objects (boxes, computed styles, PDF objects) that live until
the document is done. Python's cyclic collector, started every 700
allocations, walks the survivors again and again: 2.4-3.0 s of CPU in a
22-25 s 300-page PDF, 10 s in a 73 s 1000-page one. Inside the context
automatic collection is off; it is restored as it was when the last
context ends. Off for the whole PDF, the process would keep the layout's
discarded boxes (a 300-page PDF peaks at 393 MB instead of 358, 1000
pages at 1160 instead of 1005), so ``pdf.render`` collects once, between
laying out and writing (0.7 s at 300 pages, 470,000 objects freed): the
peaks are then 325 and 932 MB, lower than with the collector's own
schedule. The bytes are the same.
"""

from __future__ import annotations

import gc
import threading

from pipeline.render.patches import Patch


def _cached_page_references(self):
    kids = self.pages["Kids"]  # [number, 0, "R"] for each page, in order
    cached = self.__dict__.get("_pipeline_page_references")
    if cached is None or cached[0] != len(kids):
        cached = (len(kids), tuple(f"{number} 0 R".encode("ascii") for number in kids[::3]))
        self.__dict__["_pipeline_page_references"] = cached
    return cached[1]


_writing = threading.local()  # .pdf: the PDF being written in this thread; .data: number -> bytes
_originals: dict = {}


def _data_once(original):
    def data(self):
        pdf = getattr(_writing, "pdf", None)
        number = self.number
        # only the objects of the PDF being written, found by number *and*
        # identity: temporary objects (a stream's own dictionary) have no number
        if pdf is None or number is None or number >= len(pdf.objects) or pdf.objects[number] is not self:
            return original.fget(self)
        known = _writing.data.get(number)
        if known is None:
            known = _writing.data[number] = original.fget(self)
        return known

    data.__doc__ = original.__doc__
    return property(data)


def _write_once(original):
    def write(self, *args, **kwargs):
        before = getattr(_writing, "pdf", None), getattr(_writing, "data", None)
        _writing.pdf, _writing.data = self, {}
        try:
            return original(self, *args, **kwargs)
        finally:
            _writing.pdf, _writing.data = before

    write.__doc__ = original.__doc__
    write.__wrapped__ = original
    return write


def _serialise_once() -> None:
    import pydyf

    for cls in (pydyf.Dictionary, pydyf.Array, pydyf.Stream, pydyf.String):
        _originals[cls] = cls.__dict__["data"]
        cls.data = _data_once(_originals[cls])
    _originals[pydyf.PDF] = pydyf.PDF.__dict__["write"]
    pydyf.PDF.write = _write_once(_originals[pydyf.PDF])


def _serialise_as_before() -> None:
    import pydyf

    for cls, original in _originals.items():
        setattr(cls, "write" if cls is pydyf.PDF else "data", original)
    _originals.clear()


#: While ``pydyf.PDF.write`` runs inside the block, each object of that PDF
#: is serialised once (the library's own code comes back after the last block).
objects_serialised_once = Patch(_serialise_once, _serialise_as_before)


_collector = {"was enabled": True}


def _pause() -> None:
    _collector["was enabled"] = gc.isenabled()
    gc.disable()


def _resume() -> None:
    if _collector["was enabled"]:
        gc.enable()


#: No automatic cyclic garbage collection while the block runs (the
#: collector's state before the first block comes back after the last).
collections_paused = Patch(_pause, _resume)


_page_references: dict = {}


def _cache_page_references() -> None:
    import pydyf

    _page_references["original"] = pydyf.PDF.__dict__["page_references"]
    pydyf.PDF.page_references = property(_cached_page_references)


def _page_references_as_before() -> None:
    import pydyf

    pydyf.PDF.page_references = _page_references.pop("original")


#: pydyf's ``PDF.page_references`` cached while the block runs (the original
#: comes back after the last block).
page_references_cached = Patch(_cache_page_references, _page_references_as_before)
