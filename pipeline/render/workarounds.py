"""Workarounds for faults of WeasyPrint's layout that lose content.

``footnotes_kept()``: WeasyPrint 70.0 can drop a footnote. Its line layout
(``weasyprint/layout/block.py``, ``_linebox_layout``) has a branch for a
line that overflows the page where the paragraph may break after that line
but not before it (orphans and widows; our paragraphs keep 3 lines, see
templates/css/text.css): it defers the page's footnotes to the next page,
last first, until the line fits, then keeps the line and stops the page
(upstream: Kozea/WeasyPrint#2432, "Try to report footnotes when text
overflows because of orphans"). That branch leaves the loop before the
code that lays out the footnotes *called on that line*: the line is
printed with its call, and its note is never laid out on any page. The
1000-page benchmark book lost a note so (docs/benchmarks.md, "At 1000
pages"); tests/test_footnotes.py builds the smallest case.

The wrapper lets WeasyPrint lay the lines out as before and then looks at
the lines it kept: a note called on one of them that is still waiting in
``context.footnotes`` met that fault. It is laid out and deferred to the
next page at once, after the notes just deferred (so the order of the
notes stays the order of their calls, and no note comes before its call),
and handed back with the line's other notes so that WeasyPrint takes it
back if it drops the line later. A document that does not meet the fault
is laid out exactly as before: same pages, same bytes.

The fault is in WeasyPrint's code, so the patch is for that code only: a
WeasyPrint other than ``PATCHED_VERSION`` stops the PDF with a message
(pyproject.toml pins it), to check whether the fault is still there
(tests/test_footnotes.py without this patch) and then drop or adapt it.
"""

from __future__ import annotations

import functools
import inspect

from pipeline.errors import BuildError
from pipeline.render.patches import Patch

#: The WeasyPrint release whose ``_linebox_layout`` this patch was written
#: for and tested with.
PATCHED_VERSION = "70.0"
#: Its parameters, in order; the wrapper reads ``context`` and ``new_children``.
_PARAMETERS = ("context", "box", "index", "child", "new_children", "page_is_empty", "absolute_boxes",
               "fixed_boxes", "adjoining_margins", "bottom_space", "position_y", "skip_stack",
               "first_letter_style", "first_line_style", "draw_bottom_decoration", "max_lines")

def _keeping_footnotes(original):
    @functools.wraps(original)
    def linebox_layout(context, box, index, child, new_children, *args):
        kept_before = {id(line) for line in new_children}
        result = original(context, box, index, child, new_children, *args)
        abort, _stop, _resume_at, _position_y, new_footnotes, _max_lines = result
        if abort or not context.footnotes:
            return result  # the lines are dropped, or every note is laid out
        for line in new_children:
            if id(line) in kept_before:
                continue
            for descendant in line.descendants():
                if descendant.footnote in context.footnotes:
                    # Called on a line kept on this page, never laid out: WeasyPrint
                    # deferred earlier notes to make room for this line, so this one
                    # follows them to the next page.
                    context.layout_footnote(descendant.footnote)
                    context.report_footnote(descendant.footnote)
                    new_footnotes.append(descendant.footnote)
        return result

    return linebox_layout


def _check_version():
    import weasyprint
    from weasyprint.layout import block

    found = tuple(inspect.signature(block._linebox_layout).parameters)
    if weasyprint.__version__ != PATCHED_VERSION or found != _PARAMETERS:
        raise BuildError(
            f"pipeline/render/workarounds.py patches WeasyPrint {PATCHED_VERSION}'s footnote layout, "
            f"but WeasyPrint {weasyprint.__version__} is installed: see whether tests/test_footnotes.py "
            "passes without footnotes_kept(), then remove the patch or adapt it to this version")


_patched: dict = {}


def _keep_footnotes() -> None:
    from weasyprint.layout import block

    _check_version()
    _patched["original"] = block._linebox_layout
    block._linebox_layout = _keeping_footnotes(_patched["original"])


def _footnotes_as_before() -> None:
    from weasyprint.layout import block

    block._linebox_layout = _patched.pop("original")


#: Lay out with WeasyPrint's ``_linebox_layout`` wrapped so that no footnote
#: is lost (the original comes back after the last block).
footnotes_kept = Patch(_keep_footnotes, _footnotes_as_before)
