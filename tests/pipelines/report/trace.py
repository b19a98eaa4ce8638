"""Check a report's numbers against the catalog tables they came from.

Every traceable number in a page is an element with ``data-src="<table>|<row>|
<column>"`` and ``data-value``; its shown text must be the table's value in the
report's format, and ``data-value`` the value itself.
"""

from __future__ import annotations

import math
from html.parser import HTMLParser

import pandas as pd

DELTA = "delta_vs_reference"


class _Cells(HTMLParser):
    """Collects ``(src, value, text)`` of every element carrying ``data-src``."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self._open: list[dict[str, str] | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-src" in attrs:
            entry = {"src": attrs["data-src"], "value": attrs["data-value"], "text": ""}
            self.cells.append(entry)
            self._open.append(entry)
        else:
            self._open.append(None)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for entry in self._open:
            if entry is not None:
                entry["text"] += data


def cells(page: str) -> list[dict[str, str]]:
    """Every traceable element of ``page``: ``src``, ``value``, shown ``text``."""
    parser = _Cells()
    parser.feed(page)
    return parser.cells


def key_of(frame: pd.DataFrame, key: str | list[str]) -> pd.Series:
    if isinstance(key, list):
        return frame[key].astype(str).agg("/".join, axis=1)
    return frame[key].astype(str)


def source_value(
    tables: dict[str, tuple[pd.DataFrame, str | list[str]]],
    src: str,
    reference: str = "fp32",
) -> float:
    """The value a ``data-src`` names, read from the catalog tables."""
    table, row, column = src.split("|")
    if table == DELTA:
        frame, key = tables["evaluate_comparison_table"]
        keys = key_of(frame, key)
        mine = frame.loc[keys == row, column].iloc[0]
        ref = frame.loc[keys == reference, column].iloc[0]
        return float(mine) - float(ref)
    frame, key = tables[table]
    match = frame.loc[key_of(frame, key) == row, column]
    assert len(match) == 1, f"{src}: {len(match)} rows in {table}"
    return match.iloc[0]


def shown(value: float, text: str) -> bool:
    """Whether ``text`` is ``value`` rounded to the digits ``text`` shows."""
    text = text.strip()
    if text.endswith("%"):
        return shown(value * 100, text[:-1])
    if text in {"yes", "no (busy)"}:
        return bool(value) == (text == "yes")
    number = float(text)
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    if "e" in text:
        return math.isclose(number, value, rel_tol=10 ** -(len(text.split("e")[0]) - 2))
    return abs(number - value) <= 0.5 * 10**-decimals + 1e-12


def check_cells(
    page_cells: list[dict[str, str]],
    tables: dict[str, tuple[pd.DataFrame, str | list[str]]],
) -> int:
    """Assert every cell's text and value equal its source; returns the count."""
    for c in page_cells:
        value = source_value(tables, c["src"])
        if c["text"].strip() in {"yes", "no (busy)", "?"}:
            if c["text"].strip() != "?":
                assert str(value).lower() in {"true", "false"}, c
                assert (str(value).lower() == "true") == (c["text"].strip() == "yes"), c
            continue
        if pd.isna(value):
            assert c["text"].strip() == "", c
            continue
        if isinstance(value, str):  # e.g. bits "4/8" of a mixed variant
            assert c["value"] == value and c["text"].strip() == value, (c, value)
            continue
        assert float(c["value"]) == float(value), (c, value)
        assert shown(float(value), c["text"]), (c, value)
    return len(page_cells)
