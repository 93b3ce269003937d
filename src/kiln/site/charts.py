"""Chart geometry for inline SVG drawn at build time: bars across and columns up.

Only numbers are worked out here; ``_charts.html`` writes the SVG, so every label goes
through the template's escaping. Each chart has a table of the same figures beside it on the
page, so the SVG is a picture of the table, not the only place the numbers are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640  # the viewBox width; the SVG scales to its container
ROW = 22  # height of one bar's row
LABEL = 200  # room for the labels left of the bars
VALUE = 64  # room for the value right of the bars
PLOT = 180  # height of the column chart's plot area
TOP = 18  # room above it for the largest value
MAX_BARS = 24  # more rows than this are in the table only
LABEL_CHARS = 26
MAX_COLUMN = 24  # a column's widest, so a few days do not fill the chart with one block


@dataclass(frozen=True)
class Segment:
    kind: str  # a CSS class: "main", "picked", "rejected"
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    label: str
    short: str  # the label as drawn, cut to fit
    text: str  # the value as drawn
    y: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    left: int
    omitted: int  # rows left out of the picture (they are in the table)


@dataclass(frozen=True)
class Column:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class ColumnChart:
    title: str
    columns: tuple[Column, ...]
    width: int
    height: int
    plot: int  # where the axis is
    top: int  # the largest value, marked above the plot
    first: str
    last: str


def shorten(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def bar_chart(title: str, rows: Sequence[tuple[str, Sequence[tuple[str, float]], str]]) -> BarChart:
    """Bars across, one per row of ``(label, [(kind, value), ...], value as text)``; the
    parts of a row are stacked left to right, and the longest row spans the plot."""
    shown = rows[:MAX_BARS]
    longest = max((sum(v for _, v in parts) for _, parts, _ in shown), default=0) or 1
    span = WIDTH - LABEL - VALUE
    bars = []
    for i, (label, parts, text) in enumerate(shown):
        x = float(LABEL)
        segments = []
        for kind, v in parts:
            width = span * v / longest
            if width > 0:
                segments.append(Segment(kind, round(x, 2), round(width, 2)))
            x += width
        bars.append(Bar(label, shorten(label or "(none)"), text, i * ROW, tuple(segments)))
    return BarChart(title, tuple(bars), WIDTH, max(ROW, len(bars) * ROW), LABEL, len(rows) - len(shown))


def column_chart(title: str, points: Sequence[tuple[str, int]]) -> ColumnChart:
    """Columns up, one per ``(label, value)`` in order (days or months)."""
    top = max((v for _, v in points), default=0) or 1
    step = min(MAX_COLUMN, WIDTH / max(1, len(points)))
    gap = min(2.0, step * 0.2)
    columns = tuple(
        Column(label, v, round(i * step + gap / 2, 2), round(TOP + PLOT - PLOT * v / top, 2), round(step - gap, 2), round(PLOT * v / top, 2))
        for i, (label, v) in enumerate(points)
    )
    first = points[0][0] if points else ""
    last = points[-1][0] if points else ""
    return ColumnChart(title, columns, WIDTH, TOP + PLOT + 20, TOP + PLOT, top, first, last)
