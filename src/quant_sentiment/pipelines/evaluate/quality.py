"""Per-variant quality on the test split: predictions, metrics, report, confusion
matrix, misclassified texts and the paired comparison with the reference (FP32).

The nodes take the variant's handle (a :class:`~quant_sentiment.variants.VariantHandle`,
or the FP32 :class:`~quant_sentiment.modeling.ModelBundle`: both have ``manifest`` and
``path``) and its test predictions (columns ``text``, ``label_id``, ``pred_id``,
``prob_<label>``). A variant whose manifest ``status`` is not ``ok`` is reported as
skipped by every node.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.inference import predictions_frame
from quant_sentiment.metrics import classification_metrics, confusion_matrix_figure
from quant_sentiment.modeling import label_maps, label_names
from quant_sentiment.significance import (
    argmax_agreement,
    bootstrap_macro_f1,
    bootstrap_macro_f1_difference,
    mcnemar_exact,
)

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("text", "label_id", "pred_id")


def skip_reason(handle: Any) -> str | None:
    """``None`` for a variant that was built, else why it was skipped."""
    manifest = handle.manifest
    status = manifest.get("status")
    if status in (None, "ok"):  # a hand-saved folder has no status: it was built
        return None
    return str(manifest.get("reason") or f"manifest status is {status!r}")


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


def predict_test_split(
    handle: Any, test: pd.DataFrame, model: dict[str, Any], params: dict[str, Any]
) -> pd.DataFrame:
    """Predict the test split with the variant as saved (columns as
    ``finetune_test_predictions``); zero rows for a skipped variant.

    Args:
        handle: The variant folder.
        test: Clean test split.
        model: ``params:model`` (label map).
        params: ``evaluate.predict`` (``batch_size``).
    """
    id2label, _ = label_maps(model["label_map"])
    if skip_reason(handle):
        return predictions_frame(test.iloc[0:0], np.zeros((0, len(id2label))), id2label)
    clf = handle.load()
    texts = test["text"].astype(str).tolist()
    logits = clf.predict_logits(texts, batch_size=int(params["batch_size"]))
    return predictions_frame(test, logits, clf.id2label)


def quality_metrics(
    handle: Any,
    predictions: pd.DataFrame,
    model: dict[str, Any],
    variant: str,
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class P/R/F1 and confusion counts on test."""
    label_map = model["label_map"]
    reason = skip_reason(handle)
    if reason:
        logger.info("Variant %s skipped: %s", variant, reason)
        return {"variant": variant, "status": "skipped", "reason": reason}
    from sklearn.metrics import confusion_matrix

    pred = _checked_predictions(predictions, variant, label_map)
    names = label_names(label_map)
    metrics = classification_metrics(pred["label_id"], pred["pred_id"], names)
    metrics["confusion_matrix"] = confusion_matrix(
        pred["label_id"], pred["pred_id"], labels=list(range(len(names)))
    ).tolist()
    return {"variant": variant, "status": "ok", **metrics}


def classification_report_text(
    handle: Any,
    predictions: pd.DataFrame,
    model: dict[str, Any],
    variant: str,
) -> str:
    """scikit-learn's text classification report (4 digits)."""
    label_map = model["label_map"]
    reason = skip_reason(handle)
    if reason:
        return f"{variant}: skipped ({reason})\n"
    from sklearn.metrics import classification_report

    pred = _checked_predictions(predictions, variant, label_map)
    names = label_names(label_map)
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
    handle: Any,
    predictions: pd.DataFrame,
    model: dict[str, Any],
    variant: str,
):
    """Confusion-matrix figure (a figure saying 'skipped' for a skipped variant)."""
    label_map = model["label_map"]
    reason = skip_reason(handle)
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
        label_names(label_map),
        title=f"{variant}, test split",
    )


def misclassified_examples(
    handle: Any,
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    model: dict[str, Any],
    variant: str,
) -> pd.DataFrame:
    """The test texts the variant gets wrong, most confident mistakes first.

    Columns: ``source``/``line`` (where present), ``text``, ``label``, ``pred_label``,
    ``confidence`` (probability of the predicted label), ``prob_true`` (of the true
    label), ``ref_pred_label`` and ``ref_correct`` (what the reference predicted).
    """
    label_map = model["label_map"]
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
    if skip_reason(handle):
        return pd.DataFrame(columns=columns)
    pred, ref = _paired(predictions, reference, variant, label_map)
    names = label_names(label_map)
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
    handle: Any,
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    model: dict[str, Any],
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
    label_map = model["label_map"]
    reason = skip_reason(handle)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason}
    pred, ref = _paired(predictions, reference, variant, label_map)
    y, p, r = pred["label_id"], pred["pred_id"], ref["pred_id"]
    n_labels = len(label_map)
    boot = {
        "n_resamples": int(params["n_resamples"]),
        "seed": int(params["seed"]),
        "confidence": float(params["confidence"]),
        "method": str(params["method"]),
    }
    f1_low, f1_high = bootstrap_macro_f1(y, p, n_labels, **boot)
    d_low, d_high = bootstrap_macro_f1_difference(y, p, r, n_labels, **boot)
    mcnemar = mcnemar_exact(y, r, p)
    names = label_names(label_map)
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


def compare_with_paired(
    handle: Any,
    predictions: pd.DataFrame,
    paired_predictions: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    variant: str,
    paired: str,
) -> dict[str, Any]:
    """Paired comparison with the variant this one is paired with in the registry
    (``Variant.compare_with``; QAT vs PTQ at the same bits: the "recovery").

    Δ macro-F1 = variant − paired variant, with the paired bootstrap CI, and
    McNemar's exact test (``ref_only_correct`` counts texts only the paired variant
    gets right). Skipped when either variant was not built.
    """
    base = {"variant": variant, "paired_with": paired}
    reason = skip_reason(handle)
    if not reason and paired_predictions.empty:
        reason = f"paired variant {paired!r} has no test predictions (skipped)"
    if reason:
        return {**base, "status": "skipped", "reason": reason}
    result = compare_with_reference(
        handle, predictions, paired_predictions, model, params, variant
    )
    return {**result, **base}
