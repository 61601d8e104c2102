"""Every footnote of the PDF is printed, once, in order, on the page of its
call or a later one — also where WeasyPrint 70 has to defer notes to make
room for the last line of a page (pipeline/render/workarounds.py).

The publication below is the smallest case of the footnote the 1000-page
benchmark book lost (docs/benchmarks.md, "At 1000 pages"). Each trial is a
part, so it starts on a page of its own: a first paragraph of N short lines
whose first line calls note a, then a six-line paragraph whose third line
calls note b. For one N that third line is the last line of the page: it
fits only if note a leaves the page, and our paragraphs keep 3 lines
together (orphans and widows: templates/css/text.css), so WeasyPrint defers
note a to the next page and keeps the line. WeasyPrint 70 then never sets
note b anywhere. The trials sweep N across the page so that one of them
meets that case even if the design moves the lines a little."""

from __future__ import annotations

import pytest
import yaml

from conftest import FIXTURE
from readback import normalise, pdf_pages

TRIALS = range(19, 32)  # N = 25 meets the case with the design of this commit


def _trial_source(root, trials=TRIALS):
    parts = []
    for n in trials:
        title = f"Trial with {n} lines"
        first = [f"Trial {n} opens with note a.[^t{n}a]"] + [f"Line {i} of trial {n}." for i in range(2, n + 1)]
        second = [f"The closing paragraph of trial {n}", "goes on with a second line",
                  f"whose third line calls note b of trial {n}.[^t{n}b]",
                  "A fourth line follows,", "then a fifth", "and a sixth to end."]
        (root / f"trial-{n}.md").write_text(
            f"# {title}\n\n" + "\\\n".join(first) + "\n\n" + "\\\n".join(second) + "\n\n"
            f"[^t{n}a]: Note a of trial {n}.\n\n[^t{n}b]: Note b of trial {n}.\n", encoding="utf-8")
        parts.append({"label": "Trial", "title": title, "file": f"trial-{n}.md"})
    meta = yaml.safe_load((FIXTURE / "publication.yaml").read_text("utf-8"))
    meta.pop("front", None)
    meta["title"] = "Notes at the foot of a full page"
    meta["outline"] = {"title": "Contents", "parts": parts}
    (root / "publication.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")


def _pages_of(pages, text):
    return [i for i, page in enumerate(pages) if text in page]


def test_every_footnote_is_printed_once_in_order_on_or_after_its_call(tmp_path):
    from pipeline.build import build

    src = tmp_path / "notes"
    src.mkdir()
    _trial_source(src)
    result = build(src, tmp_path / "dist", formats=("pdf",), check=False)
    pages = [normalise(p) for p in pdf_pages(result.files["pdf"])]

    placed = []  # (page, offset) of each note, in the order of the calls
    deferred_together = []
    for n in TRIALS:
        found = {}
        for note, call in (("a", f"Trial {n} opens with note a."), ("b", f"calls note b of trial {n}.")):
            text = f"Note {note} of trial {n}."
            where = [(i, page.index(text)) for i, page in enumerate(pages) if text in page]
            assert sum(page.count(text) for page in pages) == 1, f"note {note} of trial {n} printed on {where}"
            call_page, = _pages_of(pages, call)
            assert where[0][0] >= call_page, f"note {note} of trial {n} before its call (page {call_page})"
            placed.append(where[0])
            found[note] = call_page, where[0][0]
        if found["a"] == found["b"] and found["a"][1] == found["a"][0] + 1:
            deferred_together.append(n)  # both called on one page, both printed on the next
    assert placed == sorted(placed), "the notes are printed in the order of their calls"
    assert deferred_together, "no trial reaches the case any more: move TRIALS"


def test_the_patch_refuses_another_weasyprint(monkeypatch):
    """The workaround is for WeasyPrint 70.0's code: another release stops the
    PDF with a message instead of being patched blindly."""
    import weasyprint
    from weasyprint.layout import block

    from pipeline.errors import BuildError
    from pipeline.render.workarounds import footnotes_kept

    original = block._linebox_layout
    monkeypatch.setattr(weasyprint, "__version__", "71.0")
    with pytest.raises(BuildError, match="WeasyPrint 71.0 is installed"):
        with footnotes_kept():
            pass
    assert block._linebox_layout is original
