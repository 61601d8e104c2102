"""The PDF's text layer for scripts whose glyphs are not one per character:
Devanagari, Bengali, Thai, Arabic and the like.

WeasyPrint 70 maps each glyph to text once per font, with the text of the
first cluster it was drawn in (``draw_first_line`` in
``weasyprint/draw/text.py``), and gives the other glyphs of a cluster no
text. Where HarfBuzz draws a cluster as several glyphs (a vowel sign drawn
before its consonant, a mark above a base, the dotted circle before a lone
combining mark) or a glyph stands for different text in different places,
copied text and every reader got something else: ``हिन्दी देवनागरी लिपि`` read
back as ``ȡलिȞपि``, ``है`` as ``हिै``, Thai marks as lines of their own.

The PDF's answer is a ``/Span`` with ``/ActualText`` around such a
cluster (ISO 32000-1, 14.9.4), which PDF readers and text extraction
(PDFium, Poppler, Acrobat) put in place of the glyphs' own text. This patch
adds one around each cluster drawn as more than one glyph, and around a
one-glyph cluster whose glyph already stands for other text; a glyph first
drawn inside a cluster takes its text from a later place where it stands
alone, when there is one. Text whose glyphs are one per character (Latin,
Chinese) gets no span: its PDF is byte for byte what it was. Each line
with right-to-left text (Arabic, Hebrew), which is drawn in visual order,
is one span with its text in logical order.

The patch rewrites three lines of WeasyPrint's ``draw_first_line`` (the
function's own source, edited and compiled once); a WeasyPrint other than
``PATCHED_VERSION``, or a function whose lines have changed, stops the PDF
with a message.
"""

from __future__ import annotations

import inspect
import re
import textwrap

from pipeline.errors import BuildError
from pipeline.render.patches import Patch

PATCHED_VERSION = "70.0"

#: (line in draw_first_line, what it becomes): each must occur exactly once.
_EDITS = (
    ("            font, font_size = stream.add_font(pango_font)\n",
     "            font, font_size = stream.add_font(pango_font)\n"
     "            _pipeline_bold(stream, textbox, font, font_size)\n"),
    ("    run = first_line.runs[0]\n",
     "    _line = _pipeline_line(stream, textbox, first_line)\n    run = first_line.runs[0]\n"),
    ("        string += '<'\n        for i, glyph_info in enumerate(glyphs_info[0:num_glyphs]):\n",
     "        string += '<'\n        _spans, _open = _pipeline_spans(glyph_item, textbox, font, _line), None\n"
     "        for i, glyph_info in enumerate(glyphs_info[0:num_glyphs]):\n"
     "            if _open is not None and i > _open:\n"
     "                string, _open = _pipeline_end(stream, string), None\n"
     "            if i in _spans:\n"
     "                string, _open = _pipeline_begin(stream, string, _spans[i][1]), _spans[i][0]\n"),
    ("        # Close the last glyphs list, remove if empty.\n",
     "        if _open is not None:\n"
     "            string, _open = _pipeline_end(stream, string), None\n"
     "        # Close the last glyphs list, remove if empty.\n"),
    ("    # Draw text.\n    stream.show_text(string)\n",
     "    # Draw text.\n    stream.show_text(string)\n    if _line:\n        stream.end_marked_content()\n"
     "    _pipeline_bold(stream, textbox, None, 0)\n"),
)

#: The scripts that are shaped: Hebrew to Mongolian (Arabic, the Indic
#: scripts, Thai, Lao, Tibetan, Myanmar, Khmer …) and their extensions. Only
#: runs of text in them are looked at cluster by cluster; others (Latin,
#: Greek, Cyrillic, CJK) keep WeasyPrint's one text per glyph, even a glyph
#: that stands for two characters (the hyphen for U+002D and U+2010).
_COMPLEX = re.compile("[\u0590-\u1cff\ua800-\uabff\ufb1d-\ufdff\ufe70-\ufefc\U00011000-\U0001bfff]")
_EMPTY = 0x0FFFFFFF        # PANGO_GLYPH_EMPTY
_UNKNOWN = 0x10000000      # PANGO_GLYPH_UNKNOWN_FLAG


def _groups(glyph_item, font_size: float) -> list[tuple[int, int, int, int]]:
    """The run's clusters as (first glyph, last glyph, start, end) in its
    UTF-8 text. WeasyPrint draws a glyph raised or lowered (a Thai tone mark
    over a consonant) in a text object of its own, which readers then read
    out of place (PDFium: at the end of the line): a shift of less than 1/50
    em, which nobody sees (Noto Sans Thai's tone marks: 1/500 em), is left
    out; a larger one joins the cluster before it."""
    glyphs = glyph_item.glyphs
    least = font_size * 1024 / 50  # Pango units
    for k in range(glyphs.num_glyphs):
        if abs(glyphs.glyphs[k].geometry.y_offset) < least:
            glyphs.glyphs[k].geometry.y_offset = 0
    n = glyphs.num_glyphs
    clusters = glyphs.log_clusters
    item = glyph_item.item
    rtl = item.analysis.level % 2
    out: list[list[int]] = []
    i = 0
    while i < n:
        j = i
        while j + 1 < n and clusters[j + 1] == clusters[i]:
            j += 1
        t1 = clusters[i]
        if rtl:
            t2 = item.length if i == 0 else clusters[i - 1]
        else:
            t2 = item.length if j == n - 1 else clusters[j + 1]
        raised = any(glyphs.glyphs[k].geometry.y_offset for k in range(i, j + 1))
        if raised and out and not rtl:
            out[-1][1], out[-1][3] = j, t2
        else:
            out.append([i, j, t1, t2])
        i = j + 1
    return [tuple(g) for g in out]


def _line(stream, textbox, line) -> bool:
    """A line with right-to-left text (Arabic, Hebrew) in one ActualText
    span with its text in logical order: its runs are drawn in visual
    order, which readers cannot all turn back (PDFium read a line of Arabic
    with some words reversed and a number moved to its start)."""
    if not any(run.item.analysis.level % 2 for run in _runs(line)):
        return False
    utf8 = textbox.pango_layout.text.encode()
    text = utf8[line.start_index:line.start_index + line.length].decode().rstrip()
    stream.begin_marked_content("Span", _actual_text(text))
    return True


def _runs(line):
    from weasyprint.text.ffi import ffi

    run = line.runs
    while run != ffi.NULL:
        yield run.data
        run = run.next


def _spans(glyph_item, textbox, font, in_span: bool = False) -> dict[int, tuple[int, str]]:
    """The clusters of a run that need an ActualText span, as first glyph
    index -> (last glyph index, text); records the text of the run's glyphs
    in ``font.to_unicode`` (the PDF's ToUnicode map) where WeasyPrint would
    record another."""
    glyphs = glyph_item.glyphs
    offset = glyph_item.item.offset
    utf8 = textbox.pango_layout.text.encode()
    if not _COMPLEX.search(utf8[offset:offset + glyph_item.item.length].decode()):
        return {}  # Latin, Greek, Cyrillic, CJK: one glyph per character, WeasyPrint's own text
    provisional = font.__dict__.setdefault("_pipeline_provisional", set())
    spans: dict[int, tuple[int, str]] = {}
    for i, j, t1, t2 in _groups(glyph_item, textbox.style["font_size"]):
        text = utf8[offset + t1:offset + t2].decode()
        ids = [glyphs.glyphs[k].glyph for k in range(i, j + 1)]
        real = [g for g in ids if g != _EMPTY and not g & _UNKNOWN]
        if len(ids) == 1 and len(real) == 1:
            glyph = real[0]
            if glyph not in font.to_unicode or glyph in provisional:
                # its text where it stands alone, before WeasyPrint's loop meets
                # it first inside a cluster
                font.to_unicode[glyph] = text
                provisional.discard(glyph)
            elif font.to_unicode[glyph] != text and not in_span and _COMPLEX.search(text + font.to_unicode[glyph]):
                spans[i] = (j, text)
        elif real:
            # each glyph stands for the character the font maps to it, the first
            # other for the characters no glyph is mapped from (a vowel sign's
            # variant form), the rest for nothing: readers take the ActualText only
            # where some of its characters are in the font's ToUnicode map
            # (PDFium), and those without read these
            own = _characters(font, text)
            rest = "".join(ch for ch in text if ch not in own.values())
            for glyph in real:
                if glyph not in font.to_unicode:
                    font.to_unicode[glyph] = own[glyph] if glyph in own else rest
                    rest = rest if glyph in own else ""
                    provisional.add(glyph)
            if not in_span:  # else the line has its ActualText
                spans[i] = (j, text)
    return spans


def _characters(font, text: str) -> dict[int, str]:
    """glyph -> the character of ``text`` the font's cmap maps to it."""
    cmap = font.__dict__.get("_pipeline_cmap")
    if cmap is None:
        import uharfbuzz as hb

        cmap = font.__dict__["_pipeline_cmap"] = hb.Font(hb.Face(font.file_content, font.index))
    out = {}
    for ch in text:
        glyph = cmap.get_nominal_glyph(ord(ch))
        if glyph:
            out.setdefault(glyph, ch)
    return out


#: Families with one weight, whose bold text is drawn bold by stroking the
#: glyphs' outlines as well as filling them (a synthetic bold): the CJK
#: fonts (pipeline.fonts) come in Regular only.
SINGLE_WEIGHT = {"Noto Serif SC", "Noto Sans SC", "Noto Serif TC", "Noto Sans TC", "Noto Serif JP", "Noto Sans JP",
                 "Noto Serif KR", "Noto Sans KR"}
#: The stroke's width, in em: each stem grows by half of it on either side.
BOLD_STROKE = 0.035


def _bold(stream, textbox, font, font_size) -> None:
    """Before a run: stroke its glyphs too when its text is bold (600 and
    up) and its font has no bold face; after the line (``font`` None): stop."""
    # (font.weight says what was asked for, not what the face has)
    bold = font is not None and textbox.style["font_weight"] >= 600 and font.family in SINGLE_WEIGHT
    if bold:
        stream.set_color(textbox.style["color"], stroke=True)
        stream.set_line_width(round(textbox.style["font_size"] * BOLD_STROKE, 3))
        stream.set_text_rendering(2)  # fill, then stroke
        stream.__dict__["_pipeline_stroked"] = True
    elif stream.__dict__.pop("_pipeline_stroked", False):
        stream.set_text_rendering(0)


def _close(stream, string: str) -> str:
    """Show the glyphs collected so far (``string`` is a TJ array's inside,
    open at a hex string) and start anew."""
    string = string[:-1] if string.endswith("<") else string + ">"
    if string:
        stream.show_text(string)
    return "<"


def _begin(stream, string: str, text: str) -> str:
    string = _close(stream, string)
    stream.begin_marked_content("Span", _actual_text(text))
    return string


def _actual_text(text: str) -> bytes:
    hexa = (b"\xfe\xff" + text.encode("utf-16-be")).hex().encode("ascii")
    return b"<< /ActualText <" + hexa + b"> >>"


def _end(stream, string: str) -> str:
    string = _close(stream, string)
    stream.end_marked_content()
    return string


_patched: dict = {}


def _patched_function():
    import weasyprint
    from weasyprint.draw import text as module

    source = textwrap.dedent(inspect.getsource(module.draw_first_line))
    if weasyprint.__version__ != PATCHED_VERSION or any(source.count(old) != 1 for old, _ in _EDITS):
        raise BuildError(
            f"pipeline/render/actualtext.py patches WeasyPrint {PATCHED_VERSION}'s draw_first_line, but "
            f"WeasyPrint {weasyprint.__version__} is installed or the function has changed: see whether "
            "tests/test_scripts.py passes without actual_text(), then remove the patch or adapt it")
    for old, new in _EDITS:
        source = source.replace(old, new)
    namespace = dict(vars(module), _pipeline_bold=_bold, _pipeline_line=_line, _pipeline_spans=_spans, _pipeline_begin=_begin,
                     _pipeline_end=_end)
    exec(compile(source, module.__file__, "exec"), namespace)
    return namespace["draw_first_line"]


def _apply() -> None:
    from weasyprint.draw import text as module

    if "function" not in _patched:
        _patched["function"] = _patched_function()
    _patched["original"] = module.draw_first_line
    module.draw_first_line = _patched["function"]


def _undo() -> None:
    from weasyprint.draw import text as module

    module.draw_first_line = _patched.pop("original")


#: Draw with ActualText spans around the clusters that need them.
actual_text = Patch(_apply, _undo)
