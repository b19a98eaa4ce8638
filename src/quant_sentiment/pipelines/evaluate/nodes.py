"""Nodes of the ``evaluate`` pipeline.

The per-variant nodes take the variant's lazy :class:`~quant_sentiment.variants.VariantHandle`
and its test predictions (columns ``text``, ``label_id``, ``pred_id``, ``prob_<label>``);
a variant whose manifest ``status`` is not ``ok`` is reported as skipped by every node.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.baseline import SklearnVariant, build_tfidf_logreg
from quant_sentiment.benchmark import benchmark_in_subprocess
from quant_sentiment.inference import predictions_frame
from quant_sentiment.metrics import classification_metrics, confusion_matrix_figure
from quant_sentiment.modeling import ModelBundle, label_maps
from quant_sentiment.significance import (
    argmax_agreement,
    bootstrap_macro_f1,
    bootstrap_macro_f1_difference,
    mcnemar_exact,
    pareto_front,
)
from quant_sentiment.variants import VariantHandle, read_manifest

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("text", "label_id", "pred_id")
#: Columns of the comparison table, in order (``status`` says ``ok`` or why skipped).
TABLE_COLUMNS = [
    "variant",
    "status",
    "format",
    "method",
    "library",
    "bits",
    "n_test",
    "accuracy",
    "macro_f1",
    "macro_f1_ci_low",
    "macro_f1_ci_high",
    "weighted_f1",
    "agreement_vs_ref",
    "delta_macro_f1_vs_ref",
    "delta_ci_low",
    "delta_ci_high",
    "mcnemar_p",
    "ref_only_correct",
    "variant_only_correct",
    "latency_p50_ms",
    "latency_p95_ms",
    "speedup_p50_vs_ref",
    "throughput_b32_texts_s",
    "size_mb",
    "size_vs_ref",
    "peak_rss_mb",
    "load_s",
    "threads",
    "cpu_model",
    "library_versions",
]


# ------------------------------------------------------------------ helpers
def _skip_reason(handle: VariantHandle) -> str | None:
    """``None`` for a variant that ran, else why it was skipped."""
    manifest = handle.manifest or {}
    status = manifest.get("status", "ok")
    if status == "ok" and manifest.get("format") != "skipped":
        return None
    return str(manifest.get("reason") or f"manifest status is {status!r}")


def _label_names(label_map: dict[str, int]) -> list[str]:
    id2label, _ = label_maps(label_map)
    return [id2label[i] for i in range(len(id2label))]


def _checked_predictions(
    predictions: pd.DataFrame, variant: str, label_map: dict[str, int]
) -> pd.DataFrame:
    """The predictions with integer ids; a clear error for missing columns or bad ids."""
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"Test predictions of variant {variant!r} lack columns {missing}; "
            f"got {list(predictions.columns)}"
        )
    if predictions.empty:
        raise ValueError(
            f"Test predictions of variant {variant!r} are empty, but its "
            "manifest says status 'ok'"
        )
    if predictions[["label_id", "pred_id"]].isna().any().any():
        raise ValueError(
            f"Test predictions of variant {variant!r} have empty label_id "
            "or pred_id values"
        )
    out = predictions.reset_index(drop=True).copy()
    out["label_id"] = out["label_id"].astype(int)
    out["pred_id"] = out["pred_id"].astype(int)
    n_labels = len(label_map)
    bad = ~out["label_id"].between(0, n_labels - 1) | ~out["pred_id"].between(
        0, n_labels - 1
    )
    if bad.any():
        raise ValueError(
            f"Test predictions of variant {variant!r}: {int(bad.sum())} rows "
            f"have label ids outside 0..{n_labels - 1}"
        )
    return out


def _paired(
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    variant: str,
    label_map: dict[str, int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both prediction tables, checked to cover the same texts in the same order."""
    pred = _checked_predictions(predictions, variant, label_map)
    ref = _checked_predictions(reference, "reference", label_map)
    if (
        len(pred) != len(ref)
        or not (
            pred["text"].astype(str).to_numpy() == ref["text"].astype(str).to_numpy()
        ).all()
    ):
        raise ValueError(
            f"Test predictions of variant {variant!r} ({len(pred)} rows) and of the "
            f"reference ({len(ref)} rows) do not cover the same texts in the same order; "
            "re-run the pipelines that made them on the same clean_test version"
        )
    if not (pred["label_id"].to_numpy() == ref["label_id"].to_numpy()).all():
        raise ValueError(
            f"Variant {variant!r} and the reference disagree on true labels"
        )
    return pred, ref


# ------------------------------------------------------------------ baseline
def train_tfidf_logreg(
    train: pd.DataFrame, label_map: dict[str, int], params: dict[str, Any]
) -> SklearnVariant:
    """Fit TF-IDF (word 1-2 + char 2-5 grams) + balanced logistic regression on train.

    Args:
        train: Clean train split (``text``, ``label_id``).
        label_map: ``{label: id}``.
        params: ``evaluate.tfidf_logreg`` (see :func:`build_tfidf_logreg`).

    Returns:
        A variant artifact (format ``sklearn``) for ``VariantFolderDataset``.
    """
    id2label, _ = label_maps(label_map)
    missing = sorted(set(id2label) - set(train["label_id"].astype(int)))
    if missing:
        raise ValueError(f"clean_train has no rows for label ids {missing}")
    pipeline = build_tfidf_logreg(params)
    pipeline.fit(train["text"].astype(str).tolist(), train["label_id"].astype(int))
    vocab = {
        name: len(vec.vocabulary_)
        for name, vec in pipeline.named_steps["tfidf"].transformer_list
    }
    logger.info(
        "TF-IDF + logistic regression fitted on %d texts (features: %s)",
        len(train),
        vocab,
    )
    return SklearnVariant(
        pipeline,
        id2label,
        extra={"params": params, "train_rows": len(train), "n_features": vocab},
    )


def predict_with_variant(
    handle: VariantHandle, split: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """Predict a split with any loadable variant (columns as ``finetune_test_predictions``)."""
    clf = handle.load(max_length=int(params.get("max_length", 128)))
    logits = clf.predict_logits(
        split["text"].astype(str).tolist(),
        batch_size=int(params.get("predict_batch_size", 64)),
    )
    return predictions_frame(split, logits, clf.id2label)


# ------------------------------------------------------------------ per variant
def quality_metrics(
    handle: VariantHandle,
    predictions: pd.DataFrame,
    label_map: dict[str, int],
    variant: str,
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class P/R/F1 and confusion counts on test."""
    reason = _skip_reason(handle)
    if reason:
        logger.info("Variant %s skipped: %s", variant, reason)
        return {"variant": variant, "status": "skipped", "reason": reason}
    from sklearn.metrics import confusion_matrix

    pred = _checked_predictions(predictions, variant, label_map)
    names = _label_names(label_map)
    metrics = classification_metrics(pred["label_id"], pred["pred_id"], names)
    metrics["confusion_matrix"] = confusion_matrix(
        pred["label_id"], pred["pred_id"], labels=list(range(len(names)))
    ).tolist()
    return {"variant": variant, "status": "ok", **metrics}


def classification_report_text(
    handle: VariantHandle,
    predictions: pd.DataFrame,
    label_map: dict[str, int],
    variant: str,
) -> str:
    """scikit-learn's text classification report (4 digits)."""
    reason = _skip_reason(handle)
    if reason:
        return f"{variant}: skipped ({reason})\n"
    from sklearn.metrics import classification_report

    pred = _checked_predictions(predictions, variant, label_map)
    names = _label_names(label_map)
    report = classification_report(
        pred["label_id"],
        pred["pred_id"],
        labels=list(range(len(names))),
        target_names=names,
        digits=4,
        zero_division=0,
    )
    return f"{variant}: test split, {len(pred)} texts\n\n{report}"


def plot_variant_confusion_matrix(
    handle: VariantHandle,
    predictions: pd.DataFrame,
    label_map: dict[str, int],
    variant: str,
):
    """Confusion-matrix figure (a figure saying 'skipped' for a skipped variant)."""
    reason = _skip_reason(handle)
    if reason:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.8, 2.0), dpi=120)
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"{variant}: skipped\n{reason}",
            ha="center",
            va="center",
            wrap=True,
        )
        plt.close(fig)
        return fig
    pred = _checked_predictions(predictions, variant, label_map)
    return confusion_matrix_figure(
        pred["label_id"],
        pred["pred_id"],
        _label_names(label_map),
        title=f"{variant}, test split",
    )


def misclassified_examples(
    handle: VariantHandle,
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    label_map: dict[str, int],
    variant: str,
) -> pd.DataFrame:
    """The test texts the variant gets wrong, most confident mistakes first.

    Columns: ``source``/``line`` (where present), ``text``, ``label``, ``pred_label``,
    ``confidence`` (probability of the predicted label), ``prob_true`` (of the true
    label), ``ref_pred_label`` and ``ref_correct`` (what the reference predicted).
    """
    columns = [
        "source",
        "line",
        "text",
        "label",
        "pred_label",
        "confidence",
        "prob_true",
        "ref_pred_label",
        "ref_correct",
        "n_chars",
    ]
    if _skip_reason(handle):
        return pd.DataFrame(columns=columns)
    pred, ref = _paired(predictions, reference, variant, label_map)
    names = _label_names(label_map)
    prob_cols = [f"prob_{n}" for n in names]
    out = pd.DataFrame(
        {
            "source": pred["source"] if "source" in pred else "",
            "line": pred["line"] if "line" in pred else np.arange(1, len(pred) + 1),
            "text": pred["text"],
            "label": [names[i] for i in pred["label_id"]],
            "pred_label": [names[i] for i in pred["pred_id"]],
            "ref_pred_label": [names[i] for i in ref["pred_id"]],
            "ref_correct": ref["pred_id"].to_numpy() == ref["label_id"].to_numpy(),
            "n_chars": pred["text"].astype(str).str.len(),
        }
    )
    if all(c in pred for c in prob_cols):
        probs = pred[prob_cols].to_numpy(dtype=float)
        rows = np.arange(len(pred))
        out["confidence"] = probs[rows, pred["pred_id"].to_numpy()]
        out["prob_true"] = probs[rows, pred["label_id"].to_numpy()]
    else:
        out["confidence"] = np.nan
        out["prob_true"] = np.nan
    wrong = out[pred["pred_id"].to_numpy() != pred["label_id"].to_numpy()]
    return wrong[columns].sort_values("confidence", ascending=False, kind="stable")


def compare_with_reference(
    handle: VariantHandle,
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    label_map: dict[str, int],
    params: dict[str, Any],
    variant: str,
) -> dict[str, Any]:
    """Paired comparison with the reference (FP32) on the same test texts.

    Argmax agreement, bootstrap CI of macro-F1 and of the paired difference to the
    reference, and McNemar's exact test on the discordant pairs.

    Args:
        params: ``evaluate.bootstrap`` (``n_resamples``, ``seed``, ``confidence``,
            ``method``).
    """
    reason = _skip_reason(handle)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason}
    pred, ref = _paired(predictions, reference, variant, label_map)
    y, p, r = pred["label_id"], pred["pred_id"], ref["pred_id"]
    n_labels = len(label_map)
    boot = {
        "n_resamples": int(params.get("n_resamples", 2000)),
        "seed": int(params.get("seed", 0)),
        "confidence": float(params.get("confidence", 0.95)),
        "method": str(params.get("method", "percentile")),
    }
    f1_low, f1_high = bootstrap_macro_f1(y, p, n_labels, **boot)
    d_low, d_high = bootstrap_macro_f1_difference(y, p, r, n_labels, **boot)
    mcnemar = mcnemar_exact(y, r, p)
    names = _label_names(label_map)
    from sklearn.metrics import f1_score

    labels = list(range(n_labels))
    delta = f1_score(y, p, labels=labels, average="macro", zero_division=0) - f1_score(
        y, r, labels=labels, average="macro", zero_division=0
    )
    return {
        "variant": variant,
        "status": "ok",
        "n": int(len(pred)),
        "labels": names,
        "agreement": argmax_agreement(p, r),
        "macro_f1_ci": [f1_low, f1_high],
        "delta_macro_f1": float(delta),
        "delta_macro_f1_ci": [d_low, d_high],
        "mcnemar": mcnemar,
        "bootstrap": boot,
    }


def benchmark_variant(
    handle: VariantHandle, test: pd.DataFrame, params: dict[str, Any], variant: str
) -> dict[str, Any]:
    """Time the variant in a fresh process on test texts at their real lengths.

    Args:
        handle: The variant folder.
        test: Clean test split; ``n_texts`` texts are sampled from it (fixed seed).
        params: ``evaluate.benchmark``: ``threads``, ``n_texts``, ``seed``, ``warmup``,
            ``latency_runs``, ``throughput_batches``, ``batch_size``, ``max_length``,
            ``loader_modules`` (modules registering variant formats), ``timeout_s``.
    """
    reason = _skip_reason(handle)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason}
    if test.empty:
        raise ValueError("clean_test is empty: nothing to time the variants on")
    n_texts = min(int(params.get("n_texts", 200)), len(test))
    texts = (
        test["text"]
        .astype(str)
        .sample(n=n_texts, random_state=int(params.get("seed", 0)))
        .tolist()
    )
    logger.info(
        "Timing %s in a fresh process (%d texts, %s threads)",
        variant,
        n_texts,
        params.get("threads"),
    )
    result = benchmark_in_subprocess(
        handle.path,
        texts,
        threads=int(params.get("threads", 1)),
        warmup=int(params.get("warmup", 5)),
        latency_runs=int(params.get("latency_runs", 100)),
        throughput_batches=int(params.get("throughput_batches", 10)),
        batch_size=int(params.get("batch_size", 32)),
        max_length=int(params.get("max_length", 128)),
        import_modules=list(params.get("loader_modules") or []),
        timeout_s=float(params.get("timeout_s", 1800)),
        progress=bool(params.get("progress", True)),
    )
    logger.info(
        "%s: batch-1 p50 %.2f ms, p95 %.2f ms; batch-%d %.1f texts/s; peak RSS %.0f MB",
        variant,
        result["latency_p50_ms"],
        result["latency_p95_ms"],
        result["throughput_batch_size"],
        result["throughput_texts_per_s"],
        result["peak_rss_mb"],
    )
    return {"variant": variant, "status": "ok", "n_texts": n_texts, **result}


def summarise_variant(
    handle: VariantHandle,
    metrics: dict[str, Any],
    comparison: dict[str, Any],
    bench: dict[str, Any],
    variant: str,
) -> dict[str, Any]:
    """One flat row of the comparison table for this variant."""
    manifest = handle.manifest or {}
    row: dict[str, Any] = {
        "variant": variant,
        "format": manifest.get("format", "hf"),
        "method": manifest.get("method")
        or (
            f"{manifest['torch_dtype']} cast"
            if manifest.get("torch_dtype")
            else "fp32 eager"
        ),
        "library": manifest.get("library") or "transformers",
        "bits": manifest.get("bits")
        or {"bfloat16": 16, "float16": 16}.get(str(manifest.get("torch_dtype")), 32),
        "path": str(handle.path),
    }
    reason = _skip_reason(handle)
    if reason:
        return {**row, "status": f"skipped: {reason}"}
    machine = bench["machine"]
    versions = machine.get("versions", {})
    row.update(
        {
            "status": "ok",
            "n_test": metrics["n"],
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "macro_f1_ci_low": comparison["macro_f1_ci"][0],
            "macro_f1_ci_high": comparison["macro_f1_ci"][1],
            "weighted_f1": metrics["weighted_f1"],
            **{f"f1_{name}": vals["f1"] for name, vals in metrics["per_class"].items()},
            "agreement_vs_ref": comparison["agreement"],
            "delta_macro_f1_vs_ref": comparison["delta_macro_f1"],
            "delta_ci_low": comparison["delta_macro_f1_ci"][0],
            "delta_ci_high": comparison["delta_macro_f1_ci"][1],
            "mcnemar_p": comparison["mcnemar"]["p_value"],
            "ref_only_correct": comparison["mcnemar"]["ref_only_correct"],
            "variant_only_correct": comparison["mcnemar"]["other_only_correct"],
            "latency_p50_ms": bench["latency_p50_ms"],
            "latency_p95_ms": bench["latency_p95_ms"],
            "throughput_b32_texts_s": bench["throughput_texts_per_s"],
            "size_mb": bench["size_bytes"] / 1e6,
            "peak_rss_mb": bench["peak_rss_mb"],
            "load_s": bench["load_s"],
            "threads": machine.get("threads"),
            "cpu_model": machine.get("cpu_model"),
            "library_versions": ", ".join(
                f"{k} {v}" for k, v in sorted(versions.items())
            ),
        }
    )
    return row


# ------------------------------------------------------------------ comparison
def build_comparison_table(*summaries: dict[str, Any], reference: str) -> pd.DataFrame:
    """One row per variant; speed-up and size relative to the reference variant.

    Raises:
        ValueError: If the reference variant is missing or was skipped.
    """
    table = pd.DataFrame(list(summaries))
    if reference not in set(table["variant"]):
        raise ValueError(
            f"Reference variant {reference!r} is not among the evaluated "
            f"variants {table['variant'].tolist()}"
        )
    ref = table.loc[table["variant"] == reference].iloc[0]
    if ref["status"] != "ok":
        raise ValueError(
            f"Reference variant {reference!r} did not run: {ref['status']}"
        )
    table["speedup_p50_vs_ref"] = ref["latency_p50_ms"] / table["latency_p50_ms"]
    table["size_vs_ref"] = table["size_mb"] / ref["size_mb"]
    f1_cols = sorted(c for c in table.columns if c.startswith("f1_"))
    ordered = [c for c in TABLE_COLUMNS if c in table.columns]
    ordered[ordered.index("weighted_f1") + 1 : ordered.index("weighted_f1") + 1] = (
        f1_cols
    )
    extra = [c for c in table.columns if c not in ordered]
    skipped = table.loc[table["status"] != "ok", "variant"].tolist()
    if skipped:
        logger.info("Skipped variants (reported, not evaluated): %s", skipped)
    return table[ordered + extra].reset_index(drop=True)


def comparison_markdown(table: pd.DataFrame, reference: str) -> str:
    """The comparison as Markdown: the main table, skipped variants, the machine."""
    ok = table[table["status"] == "ok"]
    shown = pd.DataFrame(
        {
            "variant": ok["variant"],
            "method": ok["method"],
            "macro-F1 [95% CI]": [
                f"{r.macro_f1:.4f} [{r.macro_f1_ci_low:.4f}, {r.macro_f1_ci_high:.4f}]"
                for r in ok.itertuples()
            ],
            "Δ vs ref [95% CI]": [
                f"{r.delta_macro_f1_vs_ref:+.4f} [{r.delta_ci_low:+.4f}, "
                f"{r.delta_ci_high:+.4f}]"
                for r in ok.itertuples()
            ],
            "accuracy": ok["accuracy"].map("{:.4f}".format),
            "agreement": ok["agreement_vs_ref"].map("{:.3f}".format),
            "McNemar p": ok["mcnemar_p"].map("{:.3g}".format),
            "p50 ms": ok["latency_p50_ms"].map("{:.2f}".format),
            "p95 ms": ok["latency_p95_ms"].map("{:.2f}".format),
            "speed-up": ok["speedup_p50_vs_ref"].map("{:.2f}×".format),
            "b32 texts/s": ok["throughput_b32_texts_s"].map("{:.1f}".format),
            "size MB": ok["size_mb"].map("{:.1f}".format),
            "size vs ref": ok["size_vs_ref"].map("{:.1%}".format),
            "peak RSS MB": ok["peak_rss_mb"].map("{:.0f}".format),
        }
    )
    lines = [
        "# Model variants compared on the test split",
        "",
        f"Reference: `{reference}`. Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        shown.to_markdown(index=False),
        "",
        "Δ and its CI: paired bootstrap of macro-F1(variant) − macro-F1(reference); "
        "McNemar: exact test on the texts only one of the two gets right; latency: "
        "batch 1 at the texts' real lengths; each variant timed in its own process.",
        "",
    ]
    skipped = table[table["status"] != "ok"]
    if not skipped.empty:
        lines += ["## Skipped variants", ""]
        lines += [f"- `{r.variant}`: {r.status}" for r in skipped.itertuples()]
        lines.append("")
    lines += ["## Machine", ""]
    for col in ("cpu_model", "threads", "library_versions"):
        for value in ok[col].astype(str).unique():
            lines.append(f"- {col}: {value}")
    return "\n".join(lines) + "\n"


def _pareto_figure(
    table: pd.DataFrame, cost: str, xlabel: str, title: str, log_x: bool
):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[table["status"] == "ok"].reset_index(drop=True)
    front = pareto_front(ok[cost], ok["macro_f1"])
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    yerr = np.vstack(
        [
            ok["macro_f1"] - ok["macro_f1_ci_low"],
            ok["macro_f1_ci_high"] - ok["macro_f1"],
        ]
    ).clip(min=0)
    ax.errorbar(
        ok[cost],
        ok["macro_f1"],
        yerr=yerr,
        fmt="none",
        ecolor="0.7",
        elinewidth=1,
        capsize=2,
        zorder=1,
    )
    ax.scatter(
        ok.loc[~front, cost],
        ok.loc[~front, "macro_f1"],
        c="0.5",
        s=36,
        label="dominated",
        zorder=2,
    )
    ax.scatter(
        ok.loc[front, cost],
        ok.loc[front, "macro_f1"],
        c="tab:red",
        s=52,
        marker="D",
        label="Pareto front",
        zorder=3,
    )
    pts = ok.loc[front].sort_values(cost)
    ax.step(pts[cost], pts["macro_f1"], where="post", c="tab:red", lw=1, alpha=0.6)
    for r in ok.itertuples():
        ax.annotate(
            r.variant,
            (getattr(r, cost), r.macro_f1),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    if log_x:
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("macro-F1 (test, 95 % bootstrap CI)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_f1_vs_latency(table: pd.DataFrame):
    """macro-F1 vs batch-1 p50 latency, Pareto front (faster and better) marked."""
    return _pareto_figure(
        table,
        "latency_p50_ms",
        "batch-1 latency p50 (ms, log scale)",
        "macro-F1 vs latency",
        log_x=True,
    )


def plot_f1_vs_size(table: pd.DataFrame):
    """macro-F1 vs size on disk, Pareto front (smaller and better) marked."""
    return _pareto_figure(
        table, "size_mb", "size on disk (MB, log scale)", "macro-F1 vs size", log_x=True
    )


def reference_handle(bundle: ModelBundle) -> VariantHandle:
    """The fine-tuned FP32 model (``finetuned_model``) as a lazy variant handle.

    Reading ``finetuned_model`` itself (rather than a second catalog entry on the same
    folder) lets Kedro order evaluation after fine-tuning in one ``kedro run``, and
    ``--load-versions finetuned_model:<ts>`` pins the reference.

    Raises:
        ValueError: If the bundle was not loaded from a folder.
    """
    if bundle.path is None:
        raise ValueError(
            "finetuned_model has no folder: save it through the catalog first."
        )
    return VariantHandle(path=Path(bundle.path), manifest=read_manifest(bundle.path))
