"""``pipeline preview``: pictures of the built outputs, for a quick look and
for the README: each format's own (``Format.preview``), here the PDF's.

The first pages are rendered to PNG by PDFium (``pypdfium2``, no system
tools) and laid side by side on a contact sheet with Pillow. Rendering is
deterministic: the same PDF gives the same PNG bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The files this module writes into a preview folder (others may add theirs).
PAGE_NAME = "page-{:02d}.png"
SHEET_NAME = "contact-sheet.png"
#: The slide deck's pictures, when the build made one: every slide.
SLIDE_NAME = "slide-{:02d}.png"
SLIDES_SHEET_NAME = "slides-sheet.png"


@dataclass(frozen=True)
class Preview:
    pdf: Path
    pages: tuple[Path, ...]
    sheet: Path
    page_count: int  # of the whole PDF


def preview_dir(out: Path, slug: str) -> Path:
    return Path(out) / slug / "preview"


def stale(pdf: Path, inputs: list[Path]) -> bool:
    """True when ``pdf`` is missing or older than any file of ``inputs``."""
    if not pdf.is_file():
        return True
    built = pdf.stat().st_mtime
    for root in inputs:
        for f in [root] if root.is_file() else root.rglob("*"):
            if f.is_file() and f.stat().st_mtime > built:
                return True
    return False


def page_numbers(text: str) -> int | tuple[int, ...]:
    """``--pages``: a count ("4": the first four pages) or a list of page
    numbers and ranges ("1,3" or "1-3,7"). ValueError when it is neither."""
    text = text.strip()
    if text.isdigit():
        if int(text) < 1:
            raise ValueError("give at least one page")
        return int(text)
    numbers: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"'{text}' is neither a number of pages (4) nor a list of pages (1,3 or 1-3)")
        a, b = int(first), int(last or first)
        if a < 1 or b < a:
            raise ValueError(f"'{part.strip()}' is not a range of pages (pages count from 1)")
        numbers += [n for n in range(a, b + 1) if n not in numbers]
    return tuple(numbers)


def render_pages(pdf: Path, dest: Path, pages: int | tuple[int, ...] | None = 4, width: int = 800,
                 sheet_columns: int = 4, thumb_width: int = 280, page_name: str = PAGE_NAME,
                 sheet_name: str = SHEET_NAME) -> Preview:
    """PNGs of the first ``pages`` pages (or of the pages numbered in a
    tuple, or of every page when None), ``width`` pixels wide, and a contact
    sheet of them; files of an earlier preview (named like ``page_name``)
    are replaced. Page numbers beyond the end are skipped."""
    import pypdfium2

    dest.mkdir(parents=True, exist_ok=True)
    for old in sorted(dest.glob(page_name.split("{")[0] + "*.png")):
        old.unlink()
    doc = pypdfium2.PdfDocument(str(pdf))
    try:
        count = len(doc)
        if pages is None:
            wanted = range(1, count + 1)
        elif isinstance(pages, int):
            wanted = range(1, min(pages, count) + 1)
        else:
            wanted = [n for n in pages if n <= count]
        images = []
        written = []
        for number in wanted:
            page = doc[number - 1]
            try:
                scale = width / page.get_width()
                image = page.render(scale=scale, may_draw_forms=False).to_pil().convert("RGB")
            finally:
                page.close()
            path = dest / page_name.format(number)
            image.save(path, format="PNG", optimize=True)
            images.append((number, image))
            written.append(path)
    finally:
        doc.close()
    sheet = dest / sheet_name
    contact_sheet(images, columns=sheet_columns, thumb_width=thumb_width).save(sheet, format="PNG", optimize=True)
    return Preview(pdf, tuple(written), sheet, count)


def render_slides(deck: Path, dest: Path, width: int = 800) -> Preview:
    """PNGs of every slide of the deck, ``width`` pixels wide, and a
    contact sheet of them (three a row); an earlier preview's are replaced."""
    return render_pages(deck, dest, pages=None, width=width, sheet_columns=3, thumb_width=360,
                        page_name=SLIDE_NAME, sheet_name=SLIDES_SHEET_NAME)


def contact_sheet(images: list, columns: int = 4, thumb_width: int = 280, gap: int = 24):
    """(page number, image) pairs as thumbnails in a grid, each framed and
    labelled with its page number."""
    from PIL import Image, ImageDraw

    if not images:
        raise ValueError("no pages to put on a contact sheet")
    numbers = [n for n, _ in images]
    thumbs = [im.resize((thumb_width, round(im.height * thumb_width / im.width)), Image.Resampling.LANCZOS)
              for _, im in images]
    columns = max(1, min(columns, len(thumbs)))
    rows = -(-len(thumbs) // columns)
    cell_h = max(t.height for t in thumbs)
    font = _label_font(18)
    label_h = 32
    sheet = Image.new("RGB", (gap + columns * (thumb_width + gap), gap + rows * (cell_h + label_h + gap)), "#e8eaed")
    draw = ImageDraw.Draw(sheet)
    for n, thumb in enumerate(thumbs):
        x = gap + (n % columns) * (thumb_width + gap)
        y = gap + (n // columns) * (cell_h + label_h + gap)
        sheet.paste(thumb, (x, y))
        draw.rectangle((x - 1, y - 1, x + thumb.width, y + thumb.height), outline="#9aa0a6")
        draw.text((x + thumb_width / 2, y + thumb.height + label_h / 2), str(numbers[n]), fill="#3c4043", font=font,
                  anchor="mm")
    return sheet


def _label_font(size: int):
    """The project's own sans-serif (installed with it), else Pillow's default."""
    from PIL import ImageFont

    try:
        from pipeline.render.common import font_dirs

        for d in font_dirs():
            path = d / "SourceSansPro-Semibold.ttf"
            if path.is_file():
                return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        pass
    return ImageFont.load_default(size)


def run(source_dir: Path, out: Path, report, pages: int | tuple[int, ...] = 4, width: int = 800,
        dest: Path | None = None) -> dict[str, str]:
    """``pipeline preview``: build first if no pictured output is there or
    one is older than its source or the templates, then picture each format
    that has pictures (``Format.preview``: the PDF's pages, the HTML page's
    screens). Returns what was made, by format."""
    from pipeline import formats
    from pipeline.progress import run_build
    from pipeline.render.common import DEFAULT_TEMPLATES

    source_dir = Path(source_dir)
    slug = source_dir.resolve().name
    folder = Path(out) / slug
    pictured = [f for f in formats.REGISTRY.values() if f.pictured()]
    files = [folder / f.output_name(slug) for f in pictured]
    present = [f for f in files if f.is_file()]
    if not present or any(stale(f, [source_dir, DEFAULT_TEMPLATES]) for f in present):
        shown = present[0] if present else files[0] if files else folder
        report.line(f"{shown} is missing or older than its source; building it first")
        run_build(report, source_dir, out=out)

    made: dict[str, str] = {}

    def picture(where: Path) -> None:
        for fmt in pictured:
            file = folder / fmt.output_name(slug)
            if file.is_file():
                said = fmt.preview(file, where, pages=pages, width=width)
                if said:
                    made[fmt.name] = said

    if dest:
        picture(Path(dest))
    else:  # inside <out>/<slug>/: not while a build swaps that folder
        from pipeline.lock import output_lock

        with output_lock(out, slug):
            picture(preview_dir(out, slug))
    for said in made.values():
        report.line(f"{slug}: {said}")
    return made
