"""HTML reports from Jinja2 templates: one environment, one style, traceable cells and
inline SVG charts.

Every report of the project (``report``, ``eda``, ``explain``) renders a template of
``quant_sentiment/templates`` that extends ``base.html`` (the shared CSS lives there).
Numbers shown in a report's tables are :class:`Cell` objects: the text a reader sees,
plus ``data-src`` (``<table>|<row>|<column>``, the catalog table and the row and
column it came from) and ``data-value`` (the exact value) attributes, so a test (or a
reader with the browser's inspector) can trace each number to the catalog CSV.

Charts are inline SVG drawn here (no JavaScript library: plotly.js alone weighs
4.8 MB); each point carries a ``<title>`` that browsers show on hover.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd


@cache
def environment():
    """The Jinja2 environment over the package's ``templates`` folder (autoescaped)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("quant_sentiment", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    return env


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``."""
    from quant_sentiment import __version__

    return environment().get_template(template).render(version=__version__, **context)


def is_missing(value: Any) -> bool:
    """``None`` or a float NaN (pandas' missing values)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_number(value: Any, fmt: str = ".4f") -> str:
    """``value`` with ``fmt`` (``""`` for a missing value; text as it is)."""
    if is_missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.integer | np.floating):
        return format(value, fmt)
    return str(value)


@dataclass(frozen=True)
class Cell:
    """One shown value: its text, where it came from and its exact value."""

    text: str
    src: str = ""
    value: str = ""
    css: str = ""


def cell(table: str, row: str, column: str, value: Any, fmt: str = ".4f") -> Cell:
    """A traceable cell: ``value`` (from ``table``'s ``row``, ``column``) shown with
    ``fmt``; ``data-value`` keeps ``repr`` of the number."""
    if is_missing(value):
        return Cell("", f"{table}|{row}|{column}", "")
    exact = repr(float(value)) if isinstance(value, int | float | np.number) else value
    return Cell(format_number(value, fmt), f"{table}|{row}|{column}", str(exact))


def text(value: Any) -> Cell:
    """A cell of plain text (labels, names: nothing to trace)."""
    return Cell("" if is_missing(value) else str(value))


def frame_table(
    frame: pd.DataFrame,
    table: str,
    key: str,
    formats: dict[str, str] | None = None,
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A whole catalog table as header + rows of cells (numbers traceable by the
    ``key`` column's value and the column name); ``formats`` per column."""
    formats = formats or {}
    columns = [c for c in (columns or frame.columns) if c in frame.columns]
    rows = []
    for _, row in frame.iterrows():
        rid = str(row[key])
        rows.append(
            [
                cell(table, rid, c, row[c], formats.get(c, ".4g"))
                if _is_number(row[c])
                else text(row[c])
                for c in columns
            ]
        )
    return {"header": list(columns), "rows": rows}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


# ---------------------------------------------------------------- SVG charts

WIDTH, HEIGHT = 620, 380
MARGIN = {"left": 64, "right": 24, "top": 28, "bottom": 48}


def _log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks between ``low`` and ``high`` (both > 0); 1..9 on a short axis."""
    exps = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
    for mantissas in ((1, 2, 5), range(1, 10)):  # all nine when 1-2-5 gives < 3
        ticks = [
            m * 10.0**e for e in exps for m in mantissas if low <= m * 10.0**e <= high
        ]
        if len(ticks) >= 3:  # noqa: PLR2004 - enough to read a log axis
            break
    return ticks


def _lin_ticks(low: float, high: float, n: int = 5) -> list[float]:
    step = (high - low) / n if high > low else 1.0
    magnitude = 10 ** math.floor(math.log10(step))
    step = min(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step)
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step) + 1)]


def _fmt_tick(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Point:
    """One point of a Pareto chart."""

    label: str
    x: float
    y: float
    y_low: float
    y_high: float
    hover: str
    front: bool


def pareto_svg(points: Sequence[Point], xlabel: str, ylabel: str, title: str) -> str:
    """A scatter of quality vs a cost on a log x axis: CI bars, dominated points in
    grey, the Pareto front as red diamonds joined by a step line; a ``<title>`` per
    point (hover text). Returns the ``<svg>`` element as markup."""
    points = [p for p in points if p.x > 0 and not math.isnan(p.y)]
    if not points:
        return ""
    xs = [p.x for p in points]
    ys = [v for p in points for v in (p.y, p.y_low, p.y_high) if not math.isnan(v)]
    lx, hx = math.log10(min(xs)) - 0.08, math.log10(max(xs)) + 0.12
    pad = (max(ys) - min(ys)) * 0.08 or 0.01
    ly, hy = min(ys) - pad, max(ys) + pad
    plot_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]

    def sx(x: float) -> float:
        return MARGIN["left"] + (math.log10(x) - lx) / (hx - lx) * plot_w

    def sy(y: float) -> float:
        return MARGIN["top"] + (hy - y) / (hy - ly) * plot_h

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{html.escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{WIDTH / 2}" y="16" class="ctitle">{html.escape(title)}</text>',
    ]
    bottom, left = HEIGHT - MARGIN["bottom"], MARGIN["left"]
    for tick in _log_ticks(10**lx, 10**hx):
        x = sx(tick)
        out.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN["top"]}" '
            f'y2="{bottom}"/><text class="tick" x="{x:.1f}" y="{bottom + 16}">'
            f"{_fmt_tick(tick)}</text>"
        )
    for tick in _lin_ticks(ly, hy):
        y = sy(tick)
        out.append(
            f'<line class="grid" x1="{left}" x2="{WIDTH - MARGIN["right"]}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/><text class="tick ytick" x="{left - 6}" '
            f'y="{y + 4:.1f}">{tick:.3f}</text>'
        )
    out.append(
        f'<text class="axis" x="{left + plot_w / 2}" y="{HEIGHT - 8}">'
        f"{html.escape(xlabel)}</text>"
        f'<text class="axis" transform="rotate(-90)" x="{-(MARGIN["top"] + plot_h / 2)}"'
        f' y="16">{html.escape(ylabel)}</text>'
    )
    front = sorted((p for p in points if p.front), key=lambda p: p.x)
    if len(front) > 1:
        path = [f"M{sx(front[0].x):.1f},{sy(front[0].y):.1f}"]
        for p in front[1:]:
            path.append(f"H{sx(p.x):.1f}V{sy(p.y):.1f}")
        out.append(f'<path class="front" d="{"".join(path)}"/>')
    for p in points:
        out.append(_svg_point(p, sx(p.x), sy(p.y), sy))
    out.append("</svg>")
    return "\n".join(out)


def _svg_point(p: Point, x: float, y: float, sy) -> str:
    """One point: CI bar, marker, label and hover title, in one group."""
    parts = [f'<g class="pt{" onfront" if p.front else ""}">']
    parts.append(f"<title>{html.escape(p.hover)}</title>")
    if not (math.isnan(p.y_low) or math.isnan(p.y_high)):
        parts.append(
            f'<line class="ci" x1="{x:.1f}" x2="{x:.1f}" y1="{sy(p.y_low):.1f}" '
            f'y2="{sy(p.y_high):.1f}"/>'
        )
    if p.front:
        d = 6
        parts.append(
            f'<path class="mark" d="M{x:.1f},{y - d:.1f}L{x + d:.1f},{y:.1f}'
            f'L{x:.1f},{y + d:.1f}L{x - d:.1f},{y:.1f}Z"/>'
        )
    else:
        parts.append(f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="4.5"/>')
    parts.append(
        f'<text class="plabel" x="{x + 7:.1f}" y="{y - 6:.1f}">{html.escape(p.label)}'
        "</text></g>"
    )
    return "".join(parts)
