"""Figures of the ``eda`` pipeline (matplotlib, Agg backend).

Every function returns one closed ``Figure``: it is saved by the catalog
(``MatplotlibPNGDataset``), never shown.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from quant_sentiment.modeling import label_names  # noqa: E402

from .nodes import ALL, LENGTH_MEASURES, _split_order  # noqa: E402

_DPI = 110


def _done(fig, title: str):
    fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _labels_in(table: pd.DataFrame, label_map: dict[str, int]) -> list[str]:
    present = set(table["label"].astype(str))
    ordered = [lab for lab in label_names(label_map) if lab in present]
    return ordered + sorted(present - set(ordered) - {ALL})


def plot_label_distribution(counts: pd.DataFrame, view: str):
    """Bar chart (top row) and pie (bottom row) of label counts for each split."""
    splits = [s for s in _split_order(counts[counts["split"] != ALL])]
    fig, axes = plt.subplots(
        2, len(splits), figsize=(4 * len(splits), 7), dpi=_DPI, squeeze=False
    )
    for col, split in enumerate(splits):
        part = counts[(counts["split"] == split)]
        bar_ax, pie_ax = axes[0, col], axes[1, col]
        bars = bar_ax.bar(
            part["label"], part["count"], color=plt.cm.tab10.colors[: len(part)]
        )
        bar_ax.bar_label(bars, fmt="%d")
        bar_ax.set_title(f"{split} (n={int(part['count'].sum())})")
        bar_ax.set_ylabel("texts")
        nonzero = part[part["count"] > 0]
        pie_ax.pie(
            nonzero["count"],
            labels=nonzero["label"],
            autopct="%1.1f%%",
            colors=[plt.cm.tab10.colors[i] for i in np.flatnonzero(part["count"] > 0)],
            startangle=90,
            counterclock=False,
        )
        pie_ax.set_aspect("equal")
    return _done(fig, f"Label distribution per split ({view})")


def plot_label_share(counts: pd.DataFrame, view: str):
    """Label shares of train, valid and test side by side (grouped bars)."""
    splits = _split_order(counts[counts["split"] != ALL])
    labels = list(dict.fromkeys(counts["label"]))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=_DPI)
    width = 0.8 / max(len(splits), 1)
    x = np.arange(len(labels))
    for k, split in enumerate(splits):
        share = (
            counts[counts["split"] == split].set_index("label")["share"].reindex(labels)
        )
        bars = ax.bar(
            x + (k - (len(splits) - 1) / 2) * width, 100 * share, width, label=split
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylabel("% of split")
    ax.legend(title="split")
    return _done(fig, f"Label share: train vs valid vs test ({view})")


def plot_length_histograms(
    lengths: pd.DataFrame, eda: dict[str, Any], label_map: dict[str, int], view: str
):
    """Length histograms (density) for each measure, by split (left) and by label
    over all splits (right)."""
    bins = int(eda["histogram_bins"])
    splits = _split_order(lengths)
    labels = _labels_in(lengths, label_map)
    fig, axes = plt.subplots(
        len(LENGTH_MEASURES),
        2,
        figsize=(11, 3 * len(LENGTH_MEASURES)),
        dpi=_DPI,
        squeeze=False,
    )
    for row, (measure, name) in enumerate(LENGTH_MEASURES.items()):
        edges = np.histogram_bin_edges(lengths[measure], bins=bins)
        for col, (key, groups) in enumerate((("split", splits), ("label", labels))):
            ax = axes[row, col]
            for group in groups:
                values = lengths.loc[lengths[key] == group, measure]
                ax.hist(
                    values,
                    bins=edges,
                    density=True,
                    histtype="step",
                    linewidth=1.5,
                    label=f"{group} (n={len(values)})",
                )
            ax.set_xlabel(f"length in {name}")
            ax.set_ylabel("density")
            ax.set_title(f"{name} by {key}")
            ax.legend(fontsize=7)
    return _done(fig, f"Text length histograms ({view})")


def plot_length_boxplots(lengths: pd.DataFrame, label_map: dict[str, int], view: str):
    """Boxplots for each measure: by split (first column), then by label in each split."""
    splits = _split_order(lengths)
    labels = _labels_in(lengths, label_map)
    fig, axes = plt.subplots(
        len(LENGTH_MEASURES),
        1 + len(splits),
        figsize=(3.6 * (1 + len(splits)), 3 * len(LENGTH_MEASURES)),
        dpi=_DPI,
        squeeze=False,
        sharey="row",
    )
    for row, (measure, name) in enumerate(LENGTH_MEASURES.items()):
        ax = axes[row, 0]
        ax.boxplot(
            [lengths.loc[lengths["split"] == s, measure] for s in splits],
            tick_labels=splits,
            showmeans=True,
        )
        ax.set_ylabel(name)
        ax.set_title("by split" if row == 0 else "")
        for col, split in enumerate(splits, start=1):
            ax = axes[row, col]
            part = lengths[lengths["split"] == split]
            present = [lab for lab in labels if (part["label"] == lab).any()]
            ax.boxplot(
                [part.loc[part["label"] == lab, measure] for lab in present],
                tick_labels=present,
                showmeans=True,
            )
            ax.set_title(f"{split} by label" if row == 0 else "")
    return _done(fig, f"Text length boxplots ({view})")


def plot_token_coverage(lengths: pd.DataFrame, eda: dict[str, Any], view: str):
    """Cumulative share of texts by model-token length per split, with the candidate
    ``max_length`` values marked and the share truncated at each."""
    thresholds = sorted(int(x) for x in eda["truncation_lengths"])
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=_DPI)
    for split in _split_order(lengths):
        tokens = np.sort(lengths.loc[lengths["split"] == split, "n_tokens"].to_numpy())
        cut = ", ".join(f"{t}:{100 * (tokens > t).mean():.1f}%" for t in thresholds)
        ax.step(
            tokens,
            np.arange(1, len(tokens) + 1) / len(tokens),
            where="post",
            label=f"{split} (truncated at {cut})",
        )
    for t in thresholds:
        ax.axvline(t, color="grey", linestyle=":", linewidth=1)
        ax.text(t, 0.02, f" {t}", color="grey", fontsize=8)
    ax.set_xlabel("model tokens per text (special tokens included)")
    ax.set_ylabel("share of texts with at most x tokens")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="center right")
    return _done(fig, f"Token-length coverage ({view})")


def _barh(ax, terms: pd.Series, values: pd.Series, title: str, xlabel: str):
    ax.barh(terms[::-1], values[::-1])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", labelsize=8)


def plot_ngrams(ngrams: pd.DataFrame, eda: dict[str, Any], view: str):
    """Top n-grams over all labels, one panel per n-gram order."""
    top = int(eda["figure_top_n"])
    orders = sorted(ngrams["n"].unique()) or [1]
    fig, axes = plt.subplots(
        1,
        len(orders),
        figsize=(5.5 * len(orders), 0.3 * top + 1.5),
        dpi=_DPI,
        squeeze=False,
    )
    for ax, n in zip(axes[0], orders, strict=True):
        part = ngrams[(ngrams["n"] == n) & (ngrams["label"] == ALL)].head(top)
        _barh(ax, part["ngram"], part["count"], f"top {n}-grams", "count")
    stop = (
        "stop words removed" if eda["ngrams"]["remove_stopwords"] else "stop words kept"
    )
    return _done(fig, f"Most frequent n-grams ({view}, {stop})")


def _label_panels(n_labels: int, top: int):
    """One horizontal-bar panel per label, tall enough for ``top`` bars."""
    return plt.subplots(
        1, n_labels, figsize=(4.5 * n_labels, 0.3 * top + 1.5), dpi=_DPI, squeeze=False
    )


def plot_top_words_per_class(
    ngrams: pd.DataFrame, eda: dict[str, Any], label_map: dict[str, int], view: str
):
    """Most frequent words (unigram counts) of each label, one panel per label."""
    top = int(eda["figure_top_n"])
    words = ngrams[(ngrams["n"] == 1) & (ngrams["label"] != ALL)]
    labels = _labels_in(words, label_map) or ["(none)"]
    fig, axes = _label_panels(len(labels), top)
    for ax, label in zip(axes[0], labels, strict=True):
        part = words[words["label"] == label].head(top)
        _barh(ax, part["ngram"], part["count"], label, "count")
    return _done(fig, f"Top words per class by raw count ({view})")


def plot_distinctive_words(
    distinctive: pd.DataFrame, eda: dict[str, Any], label_map: dict[str, int], view: str
):
    """Distinctive words per label: weighted log-odds z-scores vs the other labels."""
    top = int(eda["figure_top_n"])
    labels = _labels_in(distinctive, label_map) or ["(none)"]
    fig, axes = _label_panels(len(labels), top)
    for ax, label in zip(axes[0], labels, strict=True):
        part = distinctive[distinctive["label"] == label].head(top)
        _barh(ax, part["word"], part["z"], label, "log-odds z (vs other labels)")
        ax.axvline(1.96, color="grey", linestyle=":", linewidth=1)
    return _done(
        fig,
        f"Distinctive words per class, weighted log-odds with informative "
        f"Dirichlet prior ({view})",
    )
