"""One PDF from several laid out apart (issue 14): the report's pieces (the
front matter, then each group of parts or chapters that starts on a
right-hand page) are laid out by WeasyPrint in worker processes, and
``assemble`` joins their PDFs into one, as if one process had laid out the
whole: pages in order, one tagged structure tree, the bookmarks, the named
destinations and every link, the page labels, and the folios stamped on the
pages as pagination artifacts.

A pure function on bytes, built on pikepdf (qpdf). Each piece's pages are
copied first and everything else of the piece after them, from the same
foreign ``Pdf``: qpdf keeps one map from a foreign object to its copy per
foreign file, so a structure element's /Pg, a bookmark's or a named
destination's page and an OBJR's annotation all come out as the very
objects that are in the page tree, not orphan copies of them.

A link from one piece to an anchor in another is written by the layout as
``href="pipeline-anchor:NAME"``; WeasyPrint keeps it as a /URI action, which
becomes a link to the named destination NAME here (``ANCHOR_SCHEME``).

Size: each piece embeds its own subset of every font it uses. WeasyPrint
subsets with the glyph ids kept, so the subsets of one TrueType font are
merged into one program (``_merge_font_files``), and streams that are the
same bytes (an ICC profile, an image) are kept once (``_dedupe_streams``).
On the 300-page generated book (bench/bench.py, 7 pieces with 6 stamp
files) the assembled PDF is 1.095x the one-process PDF (1.156x without the
font merge), every page rendering pixel-identical to it; what is left is
mostly qpdf's object streams of 100 objects each (about 90 kB more than
WeasyPrint's one stream), the stamps' forms (40 kB) and each piece's own
font dictionaries (/W, ToUnicode). Assembly takes about 1.3 s of CPU there.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
import zlib
from struct import error as struct_error
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence
from urllib.parse import unquote

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream, String

#: The scheme of a link to an anchor laid out in another piece.
ANCHOR_SCHEME = "pipeline-anchor:"

#: Styles of a page label (PDF 32000-1 12.4.2): decimal, roman, letters.
LABEL_STYLES = ("D", "r", "R", "a", "A")

#: Entries per leaf of the name and number trees written here.
_TREE_LEAF = 64


@dataclass
class Piece:
    """One WeasyPrint PDF, tagged (``pdf_tags=True``), of the same variant
    as the others; ``stamps``, if given, a PDF of as many pages, each laid
    over the piece's page of the same index as a pagination artifact (the
    folios). A stamp page may be empty."""

    pdf: bytes
    stamps: bytes | None = None


def assemble(pieces: Sequence[Piece], *, page_labels: Iterable[tuple[int, str, int]] = (),
             identifier: bytes | None = None) -> bytes:
    """The pieces' pages, in order, as one PDF.

    ``pieces[0]`` is the front matter: the result keeps its catalog (XMP
    metadata, /Lang, MarkInfo, ViewerPreferences, OutputIntents, /AF and the
    embedded files) and its /Info. ``page_labels`` are (index of the first
    page in the result, style, first number), replacing any the pieces had.
    ``identifier`` is the first half of the /ID (by default a hash of the
    inputs). The same inputs give the same bytes.

    Raises ValueError for inputs that cannot make a right PDF: no pieces, a
    link to an anchor no piece has, an anchor in two pieces, stamps of
    another page count or size than their piece, bad page labels."""
    if not pieces:
        raise ValueError("assemble: no pieces")
    labels = _checked_labels(page_labels)
    out = pikepdf.open(io.BytesIO(pieces[0].pdf))
    opened = [out]
    try:
        state = _State(out)
        for k, piece in enumerate(pieces):
            src = out if k == 0 else pikepdf.open(io.BytesIO(piece.pdf))
            if k:
                opened.append(src)
            _add_piece(state, src, k)
            if piece.stamps is not None:
                _stamp(state, piece.stamps, k, opened)
        _write_dests(state)
        _resolve_anchor_links(state)
        _write_struct_tree(state)
        _write_outlines(state)
        if labels:
            out.Root.PageLabels = _number_tree(out, [(i, Dictionary(S=Name("/" + style), St=start))
                                                     for i, style, start in labels])
        elif "/PageLabels" in out.Root:
            del out.Root.PageLabels
        if labels and labels[-1][0] >= len(out.pages):
            raise ValueError(f"assemble: a page label starts at page index {labels[-1][0]}, "
                             f"past the last page ({len(out.pages) - 1})")
        _associated_files_once(out)
        _merge_font_files(out)
        _glyph_texts_as_in_one_document(out)
        _dedupe_streams(out)
        if identifier is None:
            h = hashlib.sha256()
            for piece in pieces:
                for part in (piece.pdf, piece.stamps or b""):
                    h.update(len(part).to_bytes(8, "big"))
                    h.update(part)
            h.update(repr(labels).encode())
            identifier = h.hexdigest()[:32].encode("ascii")
        out.trailer.ID = Array([String(identifier), String(identifier)])
        version = max((p.pdf_version for p in opened), key=lambda v: tuple(int(x) for x in v.split(".")))
        buf = io.BytesIO()
        # deterministic: the /ID's second half is a hash of the content, the first
        # one is kept; objects are numbered in the order they are reached
        out.save(buf, deterministic_id=True, object_stream_mode=pikepdf.ObjectStreamMode.generate,
                 compress_streams=True, recompress_flate=False, min_version=version,
                 fix_metadata_version=False)
        return buf.getvalue()
    finally:
        for pdf in reversed(opened):
            pdf.close()


def _checked_labels(page_labels) -> list[tuple[int, str, int]]:
    labels = [(int(i), str(style), int(start)) for i, style, start in page_labels]
    for n, (i, style, start) in enumerate(labels):
        if style not in LABEL_STYLES:
            raise ValueError(f"assemble: page label style {style!r} is not one of {', '.join(LABEL_STYLES)}")
        if start < 1:
            raise ValueError(f"assemble: a page label's first number must be 1 or more, not {start}")
        if n == 0 and i != 0:
            raise ValueError(f"assemble: the first page label must start at page index 0, not {i}")
        if n and i <= labels[n - 1][0]:
            raise ValueError(f"assemble: page labels must start at increasing page indexes ({labels[n - 1][0]}, {i})")
    return labels


class _State:
    """What is gathered from the pieces, in ``out``'s objects."""

    def __init__(self, out: pikepdf.Pdf):
        self.out = out
        self.dests: dict[bytes, tuple[String, object, int]] = {}  # key bytes -> (key, destination, piece)
        self.parent_tree: list[tuple[int, object]] = []
        self.next_key = 0
        self.struct_kids: list = []  # top-level structure elements, in order
        self.role_map: dict[str, object] = {}
        self.class_map: dict[str, object] = {}
        self.id_tree: dict[bytes, tuple[String, object]] = {}
        self.outline_items: list[tuple[Dictionary, int]] = []  # (top-level item, its /Count), in order
        self.container = None  # the structure element that holds the top-level ones (the front matter's Document)
        self.tagged = False
        self.piece_starts: list[int] = []  # index in the result of each piece's first page
        self.stamp_streams: dict[str, Stream] = {}  # the content streams around a stamp, shared by the pages


def _add_piece(state: _State, src: pikepdf.Pdf, k: int) -> None:
    out = state.out
    first = len(out.pages) if k else 0
    state.piece_starts.append(first)
    if k:
        with warnings.catch_warnings():
            # pikepdf warns that named destinations are not carried: they are, below
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            out.pages.extend(src.pages)
    pages = list(out.pages)[first:]

    root = src.Root
    sroot = root.get("/StructTreeRoot")
    offset = state.next_key
    copy = (lambda obj: obj) if k == 0 else _copier(out)

    # the structure tree: the top element's kids, the parent tree, role and class maps
    if sroot is not None and k and not state.tagged:
        raise ValueError(f"assemble: piece {k} is tagged (it has a StructTreeRoot) while piece 0 is not")
    if sroot is not None:
        state.tagged = True
        top = _as_list(sroot.get("/K"))
        wrapper = top[0] if len(top) == 1 and isinstance(top[0], Dictionary) and top[0].get("/S") == "/Document" \
            else None
        kids = _as_list(wrapper.get("/K")) if wrapper is not None else top
        if k == 0:
            state.container = wrapper if wrapper is not None else sroot
        parent_of_kids = wrapper if wrapper is not None else sroot
        entries = list(_read_number_tree(sroot.get("/ParentTree")))
        if k:
            # the copies must not drag the piece's own tree root and Document element
            # along: their places are taken by the front matter's after the copy
            for kid in kids:
                if isinstance(kid, Dictionary) and "/P" in kid:
                    del kid.P
            placeholders = []
            for n, (key, value) in enumerate(entries):
                if isinstance(value, Array):
                    for j, el in enumerate(value):
                        if _same(el, parent_of_kids):
                            placeholders.append((n, j))
                            value[j] = None
                elif _same(value, parent_of_kids):
                    placeholders.append((n, None))
                    entries[n] = (key, None)
            lang = root.get("/Lang")
            main_lang = out.Root.get("/Lang")
            if lang is not None and str(lang) != str(main_lang or ""):
                for kid in kids:  # a piece in another language than the front matter says so
                    if isinstance(kid, Dictionary) and "/Lang" not in kid:
                        kid.Lang = lang
            kids = _copy_all(out, src, kids)
            values = _copy_all(out, src, [value for _, value in entries])
            entries = [(key, value) for (key, _), value in zip(entries, values)]
            for n, j in placeholders:
                key, value = entries[n]
                if j is None:
                    entries[n] = (key, state.container)
                else:
                    value[j] = state.container
            for kid in kids:
                if isinstance(kid, Dictionary):
                    kid.P = state.container
        state.struct_kids.extend(kids)
        state.parent_tree.extend((key + offset, value) for key, value in entries)
        used = max((key for key, _ in entries), default=-1) + 1
        used = max(used, int(sroot.get("/ParentTreeNextKey", 0)))
        state.next_key = offset + used
        for name, into in (("/RoleMap", state.role_map), ("/ClassMap", state.class_map)):
            for key, value in (sroot.get(name) or {}).items():
                into.setdefault(key, copy(value))
        for key, value in _read_name_tree(sroot.get("/IDTree")):
            state.id_tree.setdefault(bytes(key), (key, copy(value)))
        if k:
            _offset_struct_parents(pages, offset)
    elif k and state.tagged:
        raise ValueError(f"assemble: piece {k} is not tagged (no StructTreeRoot) while piece 0 is")

    # named destinations: the name tree and the PDF 1.1 /Dests dictionary
    names = root.get("/Names")
    found = list(_read_name_tree(names.get("/Dests") if names is not None else None))
    old = root.get("/Dests")
    if isinstance(old, Dictionary):
        found += [(String(str(key)[1:]), value) for key, value in old.items()]
    values = _copy_all(out, src, [value for _, value in found]) if k else [value for _, value in found]
    for (key, _), value in zip(found, values):
        raw = bytes(key)
        if raw in state.dests:
            raise ValueError(f"assemble: the anchor {str(key)!r} is in piece {state.dests[raw][2]} and in piece {k}")
        state.dests[raw] = (key, value, k)

    # bookmarks: the top-level items, their nesting kept
    outlines = root.get("/Outlines")
    item = outlines.get("/First") if outlines is not None else None
    items = []
    seen = set()
    while isinstance(item, Dictionary) and item.objgen not in seen:
        seen.add(item.objgen)
        items.append(item)
        item = item.get("/Next")
    counts = [int(item.get("/Count", 0)) for item in items]
    if k:
        for item in items:
            for key in ("/Parent", "/Prev", "/Next"):
                if key in item:
                    del item[key]
        items = _copy_all(out, src, items)
    state.outline_items.extend(zip(items, counts))


def _copy_all(out: pikepdf.Pdf, src: pikepdf.Pdf, objects: list) -> list:
    """Copies in ``out`` of ``src``'s objects, in one call to qpdf (one
    foreign-object map per source file: the pages copied before are
    referred to, not copied again)."""
    if not objects:
        return []
    return list(out.copy_foreign(src.make_indirect(Array(objects))))


def _copier(out: pikepdf.Pdf):
    def copy(obj):
        if isinstance(obj, (Dictionary, Array, Stream)) and obj.is_indirect:
            return out.copy_foreign(obj)
        if isinstance(obj, (Dictionary, Array)):
            # a direct container: its indirect members are copied, the same map kept
            if isinstance(obj, Array):
                return Array([copy(x) for x in obj])
            return Dictionary({key: copy(value) for key, value in obj.items()})
        return obj
    return copy


def _same(a, b) -> bool:
    return isinstance(a, (Dictionary, Stream)) and a.is_indirect and b is not None and b.is_indirect \
        and a.objgen == b.objgen


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, Array):
        return list(value)
    return [value]


def _offset_struct_parents(pages, offset: int) -> None:
    """Move the pages' (and their annotations' and form XObjects') keys into
    the parent tree by ``offset``, each object once."""
    done = set()

    def shift(obj, key):
        if not isinstance(obj, (Dictionary, Stream)) or key not in obj:
            return
        if obj.is_indirect:
            if obj.objgen in done:
                return
            done.add(obj.objgen)
        obj[key] = int(obj[key]) + offset

    seen_xobjects = set()  # WeasyPrint gives every page one resource dictionary: walk it once
    for page in pages:
        shift(page.obj, "/StructParents")
        for annot in page.obj.get("/Annots") or []:
            shift(annot, "/StructParent")
        resources = page.obj.get("/Resources")
        xobjects = resources.get("/XObject") if isinstance(resources, Dictionary) else None
        if not isinstance(xobjects, Dictionary):
            continue
        holder = xobjects if xobjects.is_indirect else resources
        if holder.is_indirect:
            if holder.objgen in seen_xobjects:
                continue
            seen_xobjects.add(holder.objgen)
        for _, xobject in xobjects.items():
            shift(xobject, "/StructParents")


# ---------------------------------------------------------------- trees

def _read_name_tree(node, depth: int = 0) -> Iterator[tuple[String, object]]:
    """(key, value) of a name tree, keys as the String objects they are
    (their bytes are what a /Dest names)."""
    if not isinstance(node, Dictionary) or depth > 32:
        return
    names = node.get("/Names")
    if isinstance(names, Array):
        for i in range(0, len(names) - 1, 2):
            yield names[i], names[i + 1]
    for kid in node.get("/Kids") or []:
        yield from _read_name_tree(kid, depth + 1)


def _read_number_tree(node, depth: int = 0) -> Iterator[tuple[int, object]]:
    if not isinstance(node, Dictionary) or depth > 32:
        return
    nums = node.get("/Nums")
    if isinstance(nums, Array):
        for i in range(0, len(nums) - 1, 2):
            yield int(nums[i]), nums[i + 1]
    for kid in node.get("/Kids") or []:
        yield from _read_number_tree(kid, depth + 1)


def _tree(pdf: pikepdf.Pdf, entries: list[tuple], kind: str) -> Dictionary:
    """A name (``kind`` /Names) or number (/Nums) tree of sorted entries: one
    leaf when they are few, else a root whose kids are leaves with /Limits."""
    if len(entries) <= _TREE_LEAF:
        return Dictionary({kind: Array([x for entry in entries for x in entry])})
    kids = []
    for i in range(0, len(entries), _TREE_LEAF):
        chunk = entries[i:i + _TREE_LEAF]
        kids.append(pdf.make_indirect(Dictionary({kind: Array([x for entry in chunk for x in entry]),
                                                  "/Limits": Array([chunk[0][0], chunk[-1][0]])})))
    return Dictionary(Kids=Array(kids))


def _number_tree(pdf: pikepdf.Pdf, entries: list[tuple[int, object]]) -> Dictionary:
    return _tree(pdf, sorted(entries, key=lambda e: e[0]), "/Nums")


def _name_tree(pdf: pikepdf.Pdf, entries: dict[bytes, tuple]) -> Dictionary:
    return _tree(pdf, [entries[key][:2] for key in sorted(entries)], "/Names")


# ---------------------------------------------------------------- writing the merged parts

def _write_dests(state: _State) -> None:
    root = state.out.Root
    if "/Dests" in root:
        del root.Dests
    names = root.get("/Names")
    if not state.dests:
        if names is not None and "/Dests" in names:
            del names.Dests
        return
    if names is None:
        root.Names = names = Dictionary()
    names.Dests = state.out.make_indirect(_name_tree(state.out, state.dests))


def _resolve_anchor_links(state: _State) -> None:
    """Each link to ``pipeline-anchor:NAME`` as a link to the named
    destination NAME, written as WeasyPrint writes a link within a document
    (/Dest, and the name as the link's /Contents)."""
    by_name: dict[str, String] = {}
    for raw, (key, _, _) in state.dests.items():
        by_name.setdefault(str(key), key)
    missing = []
    for n, page in enumerate(state.out.pages):
        for annot in page.obj.get("/Annots") or []:
            action = annot.get("/A")
            if not (isinstance(action, Dictionary) and action.get("/S") == "/URI"):
                continue
            uri = bytes(action.get("/URI", b"")).decode("utf-8", "replace")
            if not uri.startswith(ANCHOR_SCHEME):
                continue
            name = uri[len(ANCHOR_SCHEME):]
            key = by_name.get(name) or by_name.get(unquote(name))
            if key is None:
                missing.append(f"{unquote(name)!r} (page index {n})")
                continue
            del annot.A
            annot.Dest = key
            annot.Contents = String(str(key))
    if missing:
        raise ValueError("assemble: no piece has the anchor of the link" + ("s " if len(missing) > 1 else " ")
                         + ", ".join(missing))


def _write_struct_tree(state: _State) -> None:
    if not state.tagged:
        return
    out = state.out
    sroot = out.Root.StructTreeRoot
    container = state.container
    container.K = Array(state.struct_kids)
    sroot.ParentTree = out.make_indirect(_number_tree(out, state.parent_tree))
    sroot.ParentTreeNextKey = state.next_key
    for name, values in (("/RoleMap", state.role_map), ("/ClassMap", state.class_map)):
        if values:
            sroot[name] = Dictionary({key: values[key] for key in sorted(values)})
    if state.id_tree:
        sroot.IDTree = _name_tree(out, state.id_tree)


def _write_outlines(state: _State) -> None:
    out = state.out
    items = state.outline_items
    if not items:
        if "/Outlines" in out.Root:
            del out.Root.Outlines
        return
    root = out.Root.get("/Outlines")
    if root is None:
        root = out.Root.Outlines = out.make_indirect(Dictionary(Type=Name.Outlines))
    for i, (item, _) in enumerate(items):
        item.Parent = root
        if i:
            item.Prev = items[i - 1][0]
        elif "/Prev" in item:
            del item.Prev
        if i + 1 < len(items):
            item.Next = items[i + 1][0]
        elif "/Next" in item:
            del item.Next
    root.First = items[0][0]
    root.Last = items[-1][0]
    # the root counts every item a reader shows open: each top item, and the open ones below it
    root.Count = sum(1 + max(count, 0) for _, count in items)


# ---------------------------------------------------------------- stamps

_MARKED = {"BDC", "BMC", "EMC", "MP", "DP"}


def _stamp(state: _State, stamps: bytes, k: int, opened: list) -> None:
    """Lay each stamp page over its page as a Form XObject inside a
    pagination artifact. The stamp's own marked content (WeasyPrint tags
    what it lays out) is dropped: it belongs to no structure tree here. The
    forms of one piece come from one stamp file, so they share its fonts."""
    out = state.out
    src = pikepdf.open(io.BytesIO(stamps))
    opened.append(src)
    first = state.piece_starts[k]
    count = (state.piece_starts[k + 1] if k + 1 < len(state.piece_starts) else len(out.pages)) - first
    if len(src.pages) != count:
        raise ValueError(f"assemble: piece {k} has {count} pages but its stamps {len(src.pages)}")
    for j, spage in enumerate(src.pages):
        ops = [(operands, op) for operands, op in pikepdf.parse_content_stream(spage)
               if str(op) not in _MARKED]
        if not any(str(op) not in ("q", "Q", "cm", "w", "J", "j", "M", "d", "ri", "i", "gs") for _, op in ops):
            continue  # an empty stamp
        page = out.pages[first + j]
        box = [float(x) for x in spage.mediabox]
        target = [float(x) for x in page.mediabox]
        if any(abs(a - b) > 0.01 for a, b in zip(box, target)):
            raise ValueError(f"assemble: the stamp for page index {first + j} is {box}, its page {target}")
        form = Stream(src, pikepdf.unparse_content_stream(ops))
        form.Type = Name.XObject
        form.Subtype = Name.Form
        form.BBox = spage.mediabox
        form.Resources = spage.obj.get("/Resources") or Dictionary()
        form = out.copy_foreign(src.make_indirect(form))
        resources = page.obj.get("/Resources")
        if resources is None:
            resources = page.obj.Resources = Dictionary()
        if "/XObject" not in resources:
            resources.XObject = Dictionary()
        name, n = "/Stamp", 0
        while name in resources.XObject:
            n += 1
            name = f"/Stamp{n}"
        resources.XObject[name] = form
        # the page's own content with its graphics state saved around it, then the stamp, in
        # two small streams around it: the "q" one shared by every page, the other by the
        # pages that name their stamp alike (WeasyPrint gives all the pages of a piece one
        # resource dictionary, so there each page's stamp has a name of its own: /Stamp,
        # /Stamp1 ...). Written into each page's stream instead, recompressed, they cost
        # 6 kB more on 300 pages, not less.
        if "q" not in state.stamp_streams:
            state.stamp_streams["q"] = out.make_indirect(Stream(out, b"q\n"))
        if name not in state.stamp_streams:
            state.stamp_streams[name] = out.make_indirect(
                Stream(out, b"Q\n/Artifact <</Type /Pagination>> BDC q " + name.encode() + b" Do Q EMC\n"))
        page.contents_add(state.stamp_streams["q"], prepend=True)
        page.contents_add(state.stamp_streams[name])


# ---------------------------------------------------------------- fonts

def _merge_font_files(out: pikepdf.Pdf) -> None:
    """One font program for the subsets of one TrueType font that the
    pieces embed, each piece's its own: WeasyPrint subsets with the glyph
    ids kept (``retain_gids``, its CIDs are glyph ids, /CIDToGIDMap
    /Identity), so the union of the subsets is the first with the glyphs
    the others add copied in at their ids. Every piece's font dictionaries
    (their /W widths and ToUnicode maps) stay as they are and point at the
    union, which holds every glyph any of them shows.

    A group is merged only when it is safe: TrueType outlines (/FontFile2,
    the PDF/UA variants' fonts; CFF ones are left alone), no /CIDSet (PDF/A-1
    would need it rewritten), the same units per em, and every glyph that
    two subsets both hold byte-identical in both: else they are not
    subsets of one font, and nothing changes."""
    groups: dict[str, list[Dictionary]] = {}
    for obj in _cid_fonts(out):
        if obj.get("/CIDToGIDMap", Name.Identity) != Name.Identity:
            continue
        descriptor = obj.get("/FontDescriptor")
        if not isinstance(descriptor, Dictionary) or "/CIDSet" in descriptor:
            continue
        program = descriptor.get("/FontFile2")
        if not isinstance(program, Stream) or not program.is_indirect:
            continue
        name = str(descriptor.get("/FontName", ""))
        groups.setdefault(name.split("+", 1)[-1], []).append(descriptor)
    for _, descriptors in sorted(groups.items()):
        programs = list({d.FontFile2.objgen: d.FontFile2 for d in descriptors}.values())
        if len(programs) < 2:
            continue
        for merged, members in _unions_of_subsets([p.read_bytes() for p in programs]):
            stream = Stream(out, b"")
            # compressed as WeasyPrint compresses (zlib's level 9: qpdf's 6 is larger)
            stream.write(zlib.compress(merged, 9), filter=Name.FlateDecode)
            stream.Length1 = len(merged)
            stream = out.make_indirect(stream)
            objgens = {programs[i].objgen for i in members}
            for d in descriptors:
                if d.FontFile2.objgen in objgens:
                    d.FontFile2 = stream


_BFCHAR = re.compile(rb"<([0-9a-fA-F]{4})> <([0-9a-fA-F]{4})>")


def _glyph_texts_as_in_one_document(out: pikepdf.Pdf) -> None:
    """Each glyph of a font read as the same text in every piece: the text
    the earliest piece gave it. WeasyPrint gives a glyph the text it was
    first drawn for in its document (one ToUnicode entry a glyph), so where
    one glyph draws two characters (Source Serif's hyphen: U+002D and the
    hyphenation's U+2010) a piece, a document of its own, read "opera\u2010"
    where one document, which had drawn a "-" in an earlier piece, reads
    "opera-" (the Rust book's page 389; 39 of the system-design-primer's
    109 pages). One document draws its pages in order, so its text for a
    glyph is the earliest piece's that has it. Only glyphs that stand for
    one character outside the shaped scripts are touched: there the patch
    of pipeline/render/actualtext.py may give a glyph its text later."""
    from pipeline.render.actualtext import _COMPLEX

    first: dict[tuple[str, bytes], bytes] = {}
    for font in _type0_fonts(out):
        descendant = font.DescendantFonts[0]
        descriptor = descendant.get("/FontDescriptor")
        to_unicode = font.get("/ToUnicode")
        if not isinstance(descriptor, Dictionary) or not isinstance(to_unicode, Stream) \
                or descendant.get("/CIDToGIDMap", Name.Identity) != Name.Identity:
            continue
        name = str(descriptor.get("/FontName", "")).split("+", 1)[-1]
        data = to_unicode.read_bytes()
        changed = False

        def same(m: re.Match) -> bytes:
            nonlocal changed
            text = m.group(2).lower()
            if _COMPLEX.search(chr(int(text, 16))) or 0xD800 <= int(text, 16) < 0xE000:
                return m.group(0)
            earliest = first.setdefault((name, m.group(1).lower()), text)
            if earliest == text:
                return m.group(0)
            changed = True
            return b"<" + m.group(1) + b"> <" + earliest + b">"

        data = _BFCHAR.sub(same, data)
        if changed:
            font.ToUnicode = out.make_indirect(Stream(out, zlib.compress(data, 9), Filter=Name.FlateDecode))


def _type0_fonts(out: pikepdf.Pdf) -> Iterator[Dictionary]:
    """The Type0 fonts of TrueType CID fonts that the pages use, each once,
    in the order the pages show them (the stamps' forms are left out: their
    folios are digits)."""
    seen: set = set()
    for page in out.pages:
        resources = page.obj.get("/Resources")
        fonts = resources.get("/Font") if isinstance(resources, Dictionary) else None
        for _, font in (fonts or {}).items():
            if isinstance(font, Dictionary) and font.get("/Subtype") == "/Type0" and font.objgen not in seen:
                seen.add(font.objgen)
                kids = font.get("/DescendantFonts") or []
                if len(kids) == 1 and isinstance(kids[0], Dictionary) \
                        and kids[0].get("/Subtype") == "/CIDFontType2":
                    yield font


def _cid_fonts(out: pikepdf.Pdf) -> Iterator[Dictionary]:
    """The TrueType CID fonts that the pages and their form XObjects (the
    stamps among them) use, each once, in the order the pages show them
    (walking the resources, not the file's 30 000 objects)."""
    seen: set = set()
    todo = [page.obj.get("/Resources") for page in out.pages]
    while todo:
        resources = todo.pop(0)
        if not isinstance(resources, Dictionary):
            continue
        if resources.is_indirect:
            if resources.objgen in seen:
                continue
            seen.add(resources.objgen)
        for _, font in (resources.get("/Font") or {}).items():
            for descendant in (font.get("/DescendantFonts") or []) if isinstance(font, Dictionary) else []:
                if isinstance(descendant, Dictionary) and descendant.get("/Subtype") == "/CIDFontType2" \
                        and descendant.objgen not in seen:
                    seen.add(descendant.objgen)
                    yield descendant
        for _, xobject in (resources.get("/XObject") or {}).items():
            if isinstance(xobject, Stream) and xobject.get("/Subtype") == "/Form" and xobject.objgen not in seen:
                seen.add(xobject.objgen)
                todo.append(xobject.get("/Resources"))


def _unions_of_subsets(fonts: list[bytes]) -> list[tuple[bytes, list[int]]]:
    """The subsets of one TrueType font merged where they can be: (the
    merged program, the indexes of the subsets it replaces), for each union
    of two or more.

    WeasyPrint keeps the glyph ids up to the highest one a piece uses, but
    the glyphs that a composite glyph is made of and that lie beyond it are
    renumbered after it (its second pass drops the empty tail), so two
    subsets can disagree about a glyph id: the breve of "й" at 1008 in one,
    at 1028 in the other. Such subsets go to different unions: each subset,
    largest first, joins the first union whose every glyph it agrees with."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        loaded = [TTFont(io.BytesIO(data), recalcTimestamp=False) for data in fonts]
        if not all("glyf" in f and "hmtx" in f for f in loaded):
            return []
        if len({f["head"].unitsPerEm for f in loaded}) != 1:
            return []
        sizes = [len(f.getGlyphOrder()) for f in loaded]
        unions: list[tuple[object, list[int]]] = []
        for i in sorted(range(len(loaded)), key=lambda i: (-sizes[i], i)):
            for base, members in unions:
                if _merge_into(base, loaded[i]):
                    members.append(i)
                    break
            else:
                unions.append((loaded[i], [i]))
        out = []
        for base, members in unions:
            if len(members) < 2:
                continue
            if "hdmx" in base:
                del base["hdmx"]  # per-glyph pixel widths, of the base's glyphs only
            buf = io.BytesIO()
            base.save(buf)
            out.append((buf.getvalue(), sorted(members)))
        return out
    except (TTLibError, KeyError, IndexError, ValueError, AssertionError, struct_error):
        return []


def _merge_into(base, other) -> bool:
    """Copy into ``base`` the glyphs (and advances) of ``other`` that it
    lacks, if every glyph id they both fill holds the same glyph in both
    and ``other`` is no longer; else change nothing and say False."""
    from fontTools.ttLib.tables._g_l_y_f import Glyph

    order, their_order = base.getGlyphOrder(), other.getGlyphOrder()
    if len(their_order) > len(order):
        return False
    glyf, metrics = base["glyf"], base["hmtx"].metrics
    glyphs = glyf.glyphs
    their_glyf, their_metrics = other["glyf"], other["hmtx"].metrics
    their = their_glyf.glyphs
    vertical = "vmtx" in base and "vmtx" in other
    changes = []
    for gid, name in enumerate(their_order):
        mine_name = order[gid]
        data = _glyph_bytes(their_glyf, their[name])
        mine = _glyph_bytes(glyf, glyphs[mine_name])
        advance, mine_advance = their_metrics[name][0], metrics[mine_name][0]
        if advance and mine_advance and advance != mine_advance:
            return False  # not the same glyph
        if data and mine and data != mine:
            return False
        # a glyph the base subset left out has no outline and no advance: a
        # piece's glyph brings both, a piece's space (no outline) its advance,
        # which the font program must give as the piece's /W does (PDF/UA 7.21.5)
        if (data and not mine) or (advance and not mine_advance):
            changes.append((mine_name, name, data if data and not mine else None))
    for mine_name, name, data in changes:
        if data is not None:
            glyphs[mine_name] = Glyph(data)
        metrics[mine_name] = their_metrics[name]
        if vertical:
            base["vmtx"].metrics[mine_name] = other["vmtx"].metrics[name]
    return True


def _glyph_bytes(table, glyph) -> bytes:
    data = getattr(glyph, "data", None)
    if data is None:
        if getattr(glyph, "numberOfContours", None) == 0:
            return b""  # an empty glyph, as fontTools reads one
        data = glyph.compile(table)
    return bytes(data)


# ---------------------------------------------------------------- duplicates

def _associated_files_once(out: pikepdf.Pdf) -> None:
    """Each of the catalog's associated files once: WeasyPrint 70 lists
    them twice for PDF/A-3 (as pipeline.render.pdf corrects in one process)."""
    af = out.Root.get("/AF")
    if isinstance(af, Array):
        seen, unique = set(), []
        for spec in af:
            key = spec.objgen if spec.is_indirect else id(spec)
            if key not in seen:
                seen.add(key)
                unique.append(spec)
        if len(unique) != len(af):
            out.Root.AF = Array(unique)


def _dedupe_streams(out: pikepdf.Pdf) -> None:
    """Streams that are the same bytes under the same dictionary (an ICC
    profile, an image or a font file that several pieces embed alike) kept
    once: every reference to a copy is pointed at the first. Only streams
    whose dictionaries hold no indirect references, so that equal keys mean
    equal streams."""
    similar: dict[str, list[Stream]] = {}
    replace: dict[tuple[int, int], Stream] = {}
    containers = []  # what may refer to a stream: one walk over the file's objects
    for obj in out.objects:
        if isinstance(obj, Array):
            # not a parent tree's array of structure elements (a missed array would only
            # keep a duplicate, never break a reference)
            if not (len(obj) and isinstance(obj[0], Dictionary) and obj[0].get("/Type") in _NO_STREAMS):
                containers.append(obj)
            continue
        if isinstance(obj, Dictionary):
            if obj.get("/Type") not in _NO_STREAMS:  # most of a tagged PDF's objects, none refers to a stream
                containers.append(obj)
            continue
        if not isinstance(obj, Stream):
            continue
        containers.append(obj)
        try:
            d = {str(key): value for key, value in obj.stream_dict.items()}
            if any(_has_indirect(v) for v in d.values()):
                continue
            # the dictionary (with /Length) first: the bytes are read only where two agree
            similar.setdefault(repr(sorted((k, _text(v)) for k, v in d.items())), []).append(obj)
        except pikepdf.PdfError:
            continue
    for streams in similar.values():
        if len(streams) < 2:
            continue
        first: dict[bytes, Stream] = {}
        for obj in streams:
            try:
                data = obj.read_raw_bytes()
            except pikepdf.PdfError:
                continue
            if data in first:
                replace[obj.objgen] = first[data]
            else:
                first[data] = obj
    if not replace:
        return
    for obj in containers:
        _repoint(obj.stream_dict if isinstance(obj, Stream) else obj, replace, 0)
    _repoint(out.trailer, replace, 0)


#: Objects that never refer to a stream: structure elements and their references.
_NO_STREAMS = (Name.StructElem, Name.OBJR, Name.MCR)


def _has_indirect(value) -> bool:
    if isinstance(value, (Dictionary, Array, Stream)):
        if value.is_indirect:
            return True
        return any(_has_indirect(v) for v in (value.values() if isinstance(value, Dictionary) else value))
    return False


def _text(value) -> str:
    return value.unparse().decode("latin-1") if isinstance(value, pikepdf.Object) else repr(value)


#: Arrays longer than this are not searched for references to a duplicate
#: stream: the long ones are widths, name and number trees, structure kids;
#: a stream is referred to from a dictionary or a short array (/ICCBased,
#: /Contents). One missed would only keep a duplicate, never break a link.
_LONG_ARRAY = 32


def _repoint(container, replace, depth: int) -> None:
    """Replace, in a direct container and the direct ones inside it, every
    reference to a duplicate stream by its first copy."""
    if depth > 50:
        return
    if isinstance(container, Array):
        if len(container) > _LONG_ARRAY:
            return
        for i, value in enumerate(container):
            if isinstance(value, Stream) and value.objgen in replace:
                container[i] = replace[value.objgen]
            elif isinstance(value, (Dictionary, Array)) and not value.is_indirect:
                _repoint(value, replace, depth + 1)
    else:
        for key, value in container.items():
            if isinstance(value, Stream) and value.objgen in replace:
                container[key] = replace[value.objgen]
            elif isinstance(value, (Dictionary, Array)) and not value.is_indirect:
                _repoint(value, replace, depth + 1)
