"""One self-contained HTML report of an ``eda`` run (both views, figures embedded)."""

from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

from .nodes import ALL

# (key, heading, description) in report order; keys name the template outputs.
SECTIONS: list[tuple[str, str, str]] = [
    (
        "table_split_label_counts",
        "Split sizes and label distribution",
        "Rows per split and label; share = fraction of the split.",
    ),
    ("figure_label_distribution", "Label distribution per split", ""),
    ("figure_label_share", "Train vs valid vs test label share", ""),
    (
        "table_quality",
        "Missing, empty, duplicate and dropped rows",
        "dropped_* columns count rows removed before this view: by validate_rows for the "
        "raw view (invalid_rows_<split>), by the preprocessing pipeline "
        "(preprocessing_dropped_rows) for the cleaned view.",
    ),
    (
        "table_length_stats",
        "Length statistics",
        "Characters, whitespace words and model tokens (special tokens included) per split "
        "and label.",
    ),
    ("figure_length_histograms", "Length histograms", ""),
    ("figure_length_boxplots", "Length boxplots", ""),
    (
        "table_token_coverage",
        "Token-length coverage",
        "Share of texts longer than each candidate max_length (truncated) and share of "
        "tokens cut off.",
    ),
    ("figure_token_coverage", "Token-length coverage curve", ""),
    ("table_ngrams", "Top n-grams overall and per label", ""),
    ("figure_ngrams", "Most frequent n-grams", ""),
    (
        "figure_top_words_per_class",
        "Top words per class (raw counts)",
        "Raw counts are dominated by words common to every class; see the log-odds "
        "ranking below.",
    ),
    (
        "table_distinctive_words",
        "Distinctive words per class (weighted log-odds)",
        "Monroe, Colaresi & Quinn (2008): z-score of the log-odds ratio of a word in one "
        "label vs all others, with an informative Dirichlet prior from the whole corpus. "
        "|z| > 1.96 is conventionally notable.",
    ),
    ("figure_distinctive_words", "Distinctive words per class", ""),
]
VIEWS = ("raw", "clean")
_COLLAPSED = {
    "table_length_stats",
    "table_token_coverage",
    "table_ngrams",
    "table_distinctive_words",
}


def _table_html(table: pd.DataFrame) -> str:
    if table is None or not len(table):
        return "<p><em>(empty)</em></p>"
    return table.to_html(
        index=False, float_format=lambda x: f"{x:.4g}", border=0, na_rep=""
    )


def _figure_html(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _recommendation(coverage: pd.DataFrame, max_length: int, target: float) -> str:
    train = coverage[(coverage["split"] == "train") & (coverage["label"] == ALL)]
    if not len(train):
        return ""
    ok = train[train["truncated_share"] <= 1 - target]
    at_config = train[train["max_length"] == max_length]
    lines = []
    if len(at_config):
        share = at_config["truncated_share"].iloc[0]
        lines.append(
            f"model.max_length = {max_length} truncates {100 * share:.1f}% of "
            "train texts."
        )
    if len(ok):
        lines.append(
            f"Smallest candidate keeping {100 * target:.0f}% of train texts whole: "
            f"{int(ok['max_length'].min())} tokens."
        )
    else:
        lines.append(
            f"No candidate in eda.truncation_lengths keeps {100 * target:.0f}% of "
            "train texts whole."
        )
    return " ".join(lines)


def build_report(
    tokenizer_info: dict[str, Any],
    max_length: int,
    eda: dict[str, Any],
    preprocessing_effect: pd.DataFrame,
    **artifacts: Any,
) -> str:
    """Assemble the HTML report: raw and cleaned views side by side per section.

    Args:
        tokenizer_info: Output of ``load_tokenizer``.
        max_length: ``params:model.max_length`` (the model's token limit).
        eda: ``params:eda`` (``run`` for the header, ``coverage_target``).
        preprocessing_effect: The raw vs clean comparison table.
        **artifacts: ``<view>__<key>`` for every key of ``SECTIONS``: DataFrames for
            tables and PNG bytes for figures.

    Returns:
        A self-contained HTML document (figures embedded as base64 PNG), rendered
        from ``templates/eda.html`` (the style shared by every report).

    Raises:
        KeyError: If an artifact of a section is missing.
    """
    from markupsafe import Markup

    from quant_sentiment.htmlreport import render

    max_length = int(max_length)
    target = float(eda["coverage_target"])
    head = [
        (str(k), str(v))
        for k, v in {
            "run": eda["run"],
            **{f"tokenizer {k}": v for k, v in tokenizer_info.items()},
        }.items()
    ]
    recommendations = [
        (
            v,
            _recommendation(
                artifacts[f"{v}__table_token_coverage"], max_length, target
            ),
        )
        for v in VIEWS
    ]
    sections = []
    for key, heading, note in SECTIONS:
        cells = []
        for view in VIEWS:
            value = artifacts[f"{view}__{key}"]
            content = (
                _figure_html(value, f"{heading} ({view})")
                if key.startswith("figure")
                else _table_html(value)
            )
            cells.append(
                {
                    "view": view,
                    # built by _figure_html / pandas' to_html, which escape the text
                    "content": Markup(content),  # noqa: S704
                    "collapsed": key in _COLLAPSED,
                    "rows": len(value),
                }
            )
        sections.append({"heading": heading, "note": note, "cells": cells})
    return render(
        "eda.html",
        run=eda["run"],
        head=head,
        effect=Markup(_table_html(preprocessing_effect)),  # noqa: S704
        recommendations=recommendations,
        sections=sections,
    )
