"""Key figures: headline numbers kept as data in publication.yaml, shown in
every format as a panel and as a small chart (an SVG made at build time)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.model import KeyFigure, Publication

CHART_NAME = "generated/key-figures-chart.svg"
CHART_WIDTH = 560


@dataclass(frozen=True)
class Figure:
    """A key figure as printed: '517 million', 'over 70%'."""

    item: KeyFigure

    @property
    def value(self) -> str:
        v = self.item.value
        number = f"{int(v):,}" if float(v).is_integer() else f"{v:,}"
        unit = self.item.unit
        text = f"{number}{unit}" if unit.startswith("%") else f"{number} {unit}".rstrip()
        return f"{self.item.prefix} {text}".strip()

    @property
    def sentence(self) -> str:
        return f"{self.value} {self.item.label}"

    @property
    def share(self) -> float | None:
        """The bar length, for a percentage; None for other figures."""
        return self.item.value / 100 if self.item.unit.strip() == "%" else None


@dataclass(frozen=True)
class Bar:
    figure: Figure
    y: int  # top of the bar
    filled: float  # width of the filled part


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def key_figures(pub: Publication, design, width: int = CHART_WIDTH) -> tuple[dict, dict[str, bytes]]:
    """The panel as a raw HTML block for the AST, and the chart's SVG,
    ``width`` units wide (its type is 13-15 units: a narrower chart shown
    as wide has larger type)."""
    CHART_WIDTH = width
    figures = [Figure(i) for i in pub.meta.key_figures]
    shares = [f for f in figures if f.share is not None]
    images: dict[str, bytes] = {}
    chart = None
    words = design.words(pub.meta.language)
    title = pub.meta.key_figures_title or words["key_figures"]
    if shares:
        bars = [Bar(f, 8 + i * 46, round(CHART_WIDTH * min(f.share, 1.0), 1)) for i, f in enumerate(shares)]
        axis_y = 8 + len(bars) * 46
        ticks = [{"x": round(CHART_WIDTH * p / 100, 1), "label": f"{p}%",
                  "anchor": "start" if p == 0 else "end" if p == 100 else "middle"} for p in (0, 25, 50, 75, 100)]
        sentences = [_capitalise(f.sentence) + "." for f in shares]
        svg = design.render("partials/chart.svg.j2", bars=bars, ticks=ticks, axis_y=axis_y, width=CHART_WIDTH,
                            height=axis_y + 26, title=title,
                            description=" ".join(sentences))
        images[CHART_NAME] = svg.encode("utf-8")
        chart = {"src": CHART_NAME, "alt": words["chart_alt"].format(sentences=" ".join(sentences)), "caption": " ".join(sentences)}
    html = design.render("partials/key-figures.html.j2", title=title,
                         figures=figures, chart=chart)
    return {"t": "RawBlock", "c": ["html", html]}, images


def insert_after(pub: Publication, chapters: list[list[dict]], heading_id: str, block: dict) -> list[list[dict]]:
    """The chapters' blocks with ``block`` placed after the heading
    ``heading_id`` (or after the first part's heading when none is named)."""
    out = [list(bs) for bs in chapters]
    for chapter, blocks in zip(pub.chapters, out):
        for i, b in enumerate(blocks):
            if b["t"] == "Header" and (b["c"][1][0] == heading_id or (not heading_id and chapter.kind == "part")):
                blocks.insert(i + 1, block)
                return out
    raise ValueError(f"no heading with the id {heading_id!r}")
