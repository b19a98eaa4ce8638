"""Renderings: the drift table as Markdown, the drift figure and the HTML report
(every example with each variant's words highlighted, plus the summary tables)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.modeling import label_maps

from .tables import _split, to_markdown

METRICS = ("spearman", "jaccard", "sign_flip")


def _with_ci(table: pd.DataFrame, metric: str) -> list[str]:
    return [
        ""
        if pd.isna(r[metric])
        else f"{r[metric]:.3f} [{r[f'{metric}_ci_low']:.3f}, {r[f'{metric}_ci_high']:.3f}]"
        for _, r in table.iterrows()
    ]


def _keys(table: pd.DataFrame) -> list[str]:
    """The columns naming a row: variant, head (``task``) when present, method."""
    return ["variant", *(["task"] if "task" in table else []), "method"]


def _bar_names(rows: pd.DataFrame) -> list[str]:
    """A bar's name: its variant, with its head when the table has several heads."""
    if "task" not in rows or rows["task"].nunique() <= 1:
        return rows["variant"].astype(str).tolist()
    return (rows["variant"].astype(str) + " · " + rows["task"].astype(str)).tolist()


def drift_markdown(table: pd.DataFrame, confidence: float, reference: str) -> str:
    """The drift table as Markdown: each metric as ``mean [CI]``, skipped variants
    listed below."""
    ok = table[table["status"] == "ok"].reset_index(drop=True)
    metrics = [c for c in ok.columns if c.split("@")[0] in METRICS and "_ci_" not in c]
    metrics = [m for m in metrics if not m.endswith("_n")]
    keys = _keys(ok)
    shown = ok[[*keys, "n_texts"]].copy()
    for metric in metrics:
        shown[metric] = _with_ci(ok, metric)
    lines = [
        f"# Attribution drift from {reference}\n",
        f"Means over texts [{confidence:.0%} bootstrap CI].\n",
        shown.to_markdown(index=False),
    ]
    counts = [c for c in ok.columns if c.endswith("_n")]
    if counts:
        lines.append(
            "\nTexts where a metric is undefined (a constant attribution vector, one "
            "word, no word scored by both) are left out of its mean; counts:\n\n"
            + ok[[*keys, *counts]].to_markdown(index=False)
        )
    skipped = table[table["status"] != "ok"]
    if not skipped.empty:
        lines.append("")
    lines += [f"- {r.variant}: {r.status}" for r in skipped.itertuples()]
    return "\n".join(lines) + "\n"


def faithfulness_markdown(table: pd.DataFrame) -> str:
    """The faithfulness table as Markdown (variants that ran; skipped ones below).

    Comprehensiveness: higher is more faithful; sufficiency: lower is more faithful;
    the ``random`` ranking is the control.
    """
    ok = table[table["status"] == "ok"].drop(columns="status")
    lines = [to_markdown(ok, "Faithfulness (ERASER comprehensiveness / sufficiency)")]
    lines += [
        f"- {r.variant}: {r.status}"
        for r in table[table["status"] != "ok"].itertuples()
    ]
    return "\n".join(lines) + "\n"


def cost_markdown(table: pd.DataFrame) -> str:
    """The cost table as Markdown."""
    return to_markdown(table, "Attribution cost (seconds per text, this machine)")


def plot_drift(table: pd.DataFrame, reference: str):
    """Spearman rho and top-k Jaccard of every variant vs the reference, one column
    of panels per method, with bootstrap CIs as error bars."""
    import matplotlib.pyplot as plt

    ok = table[table["status"] == "ok"]
    methods = list(dict.fromkeys(ok["method"]))
    metrics = ["spearman", *[c for c in ok.columns if c.startswith("jaccard@")]]
    metrics = [m for m in metrics if not m.endswith("_n") and "_ci_" not in m]
    fig, axes = plt.subplots(
        2, max(len(methods), 1), figsize=(4.5 * max(len(methods), 1), 7), squeeze=False
    )
    for col, method in enumerate(methods):
        rows = ok[ok["method"] == method].reset_index(drop=True)
        x = np.arange(len(rows))
        groups = (["spearman"], metrics[1:])
        for ax, group in zip(axes[:, col], groups, strict=True):
            width = 0.8 / max(len(group), 1)
            for j, metric in enumerate(group):
                mean = rows[metric].to_numpy(float)
                err = [
                    mean - rows[f"{metric}_ci_low"],
                    rows[f"{metric}_ci_high"] - mean,
                ]
                ax.bar(x + j * width, mean, width, yerr=err, capsize=3, label=metric)
            ax.set_xticks(
                x + width * (len(group) - 1) / 2, _bar_names(rows), rotation=45
            )
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_ylim(-1.05 if group == ["spearman"] else 0, 1.05)
            ax.legend(fontsize=7)
        axes[0, col].set_title(f"{method}: drift from {reference}")
    fig.tight_layout()
    return fig


def _highlight(words: Sequence[str], scores: np.ndarray) -> str:
    """Words as spans, green for support of the target, red against (per-row scale)."""
    scale = float(np.max(np.abs(scores))) if len(scores) else 0.0
    spans = []
    for word, score in zip(words, scores, strict=True):
        alpha = abs(score) / scale if scale else 0.0
        rgb = "0,160,0" if score > 0 else "220,0,0"
        spans.append(
            f'<span style="background:rgba({rgb},{alpha:.2f})" '
            f'title="{score:.4g}">{html.escape(word)}</span>'
        )
    return " ".join(spans)


def _per_head(frame: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """``frame``'s rows by head (``task``; a frame without it: one head, ``None``)."""
    if "task" not in frame:
        return [(None, frame)]
    return [(str(t), g) for t, g in frame.groupby("task", sort=False)]


def _per_text(texts: pd.DataFrame, task: str | None) -> pd.DataFrame:
    """One head's per-text frame indexed by ``text_id``."""
    if task is not None and "task" in texts:
        texts = texts[texts["task"].astype(str) == task]
    return texts.set_index("text_id")


def _example(sample_row, methods, texts, attributions, id2label) -> str:
    """One example: per method, a row per variant and head (prediction, explained
    class, highlighted words)."""
    t = sample_row.text_id
    head = (
        f"<h3>text {t} · label {html.escape(sample_row.label)} · selected for "
        f"{sample_row.selected_for}</h3>"
    )
    parts = [head]
    for method in methods:
        rows = []
        for variant, frame in attributions.items():
            for task, head in _per_head(frame[frame["text_id"] == t]):
                mine = head[head["method"] == method].sort_values("word_index")
                if mine.empty:
                    continue
                pred = _per_text(texts[variant], task).loc[t]
                target = pred.get("target_label", id2label.get(int(pred["target_id"])))
                name = variant if task is None else f"{variant} · {task}"
                rows.append(
                    f"<tr><td>{html.escape(name)}</td><td>"
                    f"{html.escape(str(pred['pred_label']))} ({pred['pred_prob']:.3f})"
                    f"</td><td>{html.escape(str(target))}</td><td>"
                    f"{_highlight(mine['word'].tolist(), mine['score'].to_numpy(float))}"
                    "</td></tr>"
                )
        if rows:
            parts.append(
                f"<h4>{html.escape(method)}</h4><table><tr><th>variant</th>"
                "<th>prediction (p)</th><th>explained class</th><th>words</th></tr>"
                + "".join(rows)
                + "</table>"
            )
    return "\n".join(parts)


def html_report(
    model: dict[str, Any],
    sample: pd.DataFrame,
    drift: pd.DataFrame,
    faithfulness: pd.DataFrame,
    *parts: Any,
    reference: str,
) -> str:
    """The HTML report: status of every variant, the drift and faithfulness tables,
    then every example with each variant's explanation side by side.

    Args:
        model: ``params:model`` (label map).
        parts: Every variant's ``info``, then its per-text frame, then its
            attributions.
    """
    id2label, _ = label_maps(model["label_map"])
    infos, text_frames, frames = _split(parts, 3)
    names = [i["variant"] for i in infos]
    texts = dict(zip(names, text_frames, strict=True))
    attributions = {n: f for n, f in zip(names, frames, strict=True) if not f.empty}
    methods = list(dict.fromkeys(m for i in infos for m in i.get("methods", [])))
    status = pd.DataFrame(
        [
            {
                "variant": i["variant"],
                "status": i["status"]
                if i["status"] == "ok"
                else f"skipped: {i.get('reason', '')}",
                "heads": ", ".join(i.get("tasks", [])),
                "methods": ", ".join(i.get("methods", [])),
                "not applicable": ", ".join(i.get("not_applicable", [])),
            }
            for i in infos
        ]
    )
    examples = [
        _example(r, methods, texts, attributions, id2label) for r in sample.itertuples()
    ]
    from markupsafe import Markup

    from quant_sentiment.htmlreport import render

    def table(frame: pd.DataFrame) -> Markup:
        # pandas' to_html escapes the cells
        return Markup(  # noqa: S704
            frame.to_html(
                index=False, float_format="{:.4g}".format, na_rep="", border=0
            )
        )

    return render(
        "explain.html",
        reference=reference,
        status=table(status),
        drift=table(drift),
        faithfulness=table(faithfulness),
        # built by _example, which escapes every word and label
        examples=[Markup(e) for e in examples],  # noqa: S704
    )
