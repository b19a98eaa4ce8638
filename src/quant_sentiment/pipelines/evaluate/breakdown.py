"""Where quantization hurts: Δ vs the reference (FP32) per class and per group.

For one variant, on the test split: Δ F1 of each class and Δ macro-F1 / Δ accuracy of
each group of test rows (``clean_test[dataset_spec["group"]]``, e.g. the language of
``nusax_all``; one group ``all`` when the dataset has none), each with a paired
bootstrap CI and p-value (texts resampled together, both classifiers scored on the
same resample: :func:`quant_sentiment.significance.bootstrap_paired_statistics`).
Beside each Δ, its *excess* over the average (class Δ F1 − Δ macro-F1; group Δ −
overall Δ), from the same resamples, answers "does this class / group lose more than
the average?".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.modeling import label_names
from quant_sentiment.significance import bootstrap_paired_statistics, per_class_f1

from .quality import _paired, skip_reason

#: The group name when the dataset has no group column.
ALL = "all"


def row_groups(
    predictions: pd.DataFrame, clean_test: pd.DataFrame, dataset_spec: dict[str, Any]
) -> tuple[str | None, list[str], np.ndarray]:
    """The group column, the group names (sorted) and each test row's group code.

    Raises:
        ValueError: If the predictions are not in ``clean_test`` row order (other
            texts or another length), or the group column is missing or has empty
            values (rows named).
    """
    texts = clean_test["text"].astype(str).to_numpy()
    got = predictions["text"].astype(str).to_numpy()
    if len(texts) != len(got) or not (texts == got).all():
        where = (
            f"{len(got)} prediction rows vs {len(texts)} clean_test rows"
            if len(texts) != len(got)
            else f"first differing row {int(np.flatnonzero(texts != got)[0])}"
        )
        raise ValueError(
            "Test predictions are not in clean_test row order "
            f"({where}); the per-group breakdown needs them aligned: re-run the "
            "pipelines that made them on the current clean_test version"
        )
    column = dataset_spec.get("group")
    if column is None:
        return None, [ALL], np.zeros(len(texts), dtype=np.int64)
    if column not in clean_test.columns:
        raise ValueError(
            f"dataset_spec group column {column!r} (dataset "
            f"{dataset_spec.get('name')!r}) is not a column of clean_test "
            f"{list(clean_test.columns)}; re-run preprocessing"
        )
    values = clean_test[column]
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        rows = np.flatnonzero(empty.to_numpy())[:10].tolist()
        raise ValueError(
            f"clean_test column {column!r} is empty in {int(empty.sum())} rows "
            f"(row indices {rows}...)"
        )
    codes, names = pd.factorize(values.astype(str), sort=True)
    return str(column), [str(n) for n in names], codes.astype(np.int64)


def _statistic(n_labels: int, n_groups: int):
    """The vector statistic of (truth, variant, reference, group) along the last axis:
    Δ F1 per class, Δ macro-F1, Δ accuracy, per group Δ macro-F1 and Δ accuracy, then
    the excesses (class − macro; group − overall for both group metrics)."""

    def stat(y, o, r, g, axis=-1):
        f1_delta = per_class_f1(y, o, n_labels) - per_class_f1(y, r, n_labels)
        macro = f1_delta.mean(axis=0)
        acc = np.mean(y == o, axis=-1) - np.mean(y == r, axis=-1)
        g_macro, g_acc = [], []
        for j in range(n_groups):
            m = g == j
            g_macro.append(
                (
                    per_class_f1(y, o, n_labels, m) - per_class_f1(y, r, n_labels, m)
                ).mean(axis=0)
            )
            n = np.sum(m, axis=-1)
            diff = np.sum(m & (y == o), axis=-1) - np.sum(m & (y == r), axis=-1)
            g_acc.append(
                np.divide(diff, n, out=np.zeros(np.shape(n), dtype=float), where=n > 0)
            )
        g_macro, g_acc = np.stack(g_macro), np.stack(g_acc)
        return np.concatenate(
            [
                f1_delta,
                macro[None],
                acc[None],
                g_macro,
                g_acc,
                f1_delta - macro,
                g_macro - macro,
                g_acc - acc,
            ]
        )

    return stat


def _entry(stats: dict[str, np.ndarray], i: int, prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}delta": float(stats["point"][i]),
        f"{prefix}ci_low": float(stats["low"][i]),
        f"{prefix}ci_high": float(stats["high"][i]),
        f"{prefix}p_value": float(stats["p_value"][i]),
    }


def _excess(stats: dict[str, np.ndarray], i: int) -> dict[str, float]:
    """``excess``, ``excess_ci_low``, ``excess_ci_high``, ``excess_p_value``."""
    return {
        ("excess" if key == "delta" else f"excess_{key}"): value
        for key, value in _entry(stats, i).items()
    }


def _scores(y, o, r, n_labels, mask=None) -> tuple[float, float, float, float]:
    """Macro-F1 and accuracy of reference and variant (on ``mask``)."""
    m = np.ones(len(y), dtype=bool) if mask is None else mask
    return (
        float(per_class_f1(y, r, n_labels, m).mean()),
        float(per_class_f1(y, o, n_labels, m).mean()),
        float(np.mean(y[m] == r[m])),
        float(np.mean(y[m] == o[m])),
    )


def delta_breakdown(
    handle: Any,
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    clean_test: pd.DataFrame,
    model: dict[str, Any],
    dataset_spec: dict[str, Any],
    params: dict[str, Any],
    variant: str,
) -> dict[str, Any]:
    """Δ vs the reference per class and per group, with paired bootstrap CIs.

    Args:
        handle: The variant folder (skipped variants are reported as skipped).
        predictions: The variant's test predictions (clean_test row order).
        reference: The reference's test predictions (same rows).
        clean_test: Clean test split (its group column).
        model: ``params:model`` (label map).
        dataset_spec: ``params:dataset_spec`` (``group``: the column, or None).
        params: ``evaluate.bootstrap`` (``n_resamples``, ``seed``, ``confidence``,
            ``method``).

    Returns:
        ``classes``: per class support, F1 of both, Δ F1 with CI and p, and the
        excess over Δ macro-F1 with its CI; ``groups``: per group its size, macro-F1
        and accuracy of both, their Δ and excesses over the overall Δ;
        ``overall``: Δ macro-F1 and Δ accuracy.
    """
    reason = skip_reason(handle)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason}
    label_map = model["label_map"]
    pred, ref = _paired(predictions, reference, variant, label_map)
    column, groups, codes = row_groups(pred, clean_test, dataset_spec)
    names = label_names(label_map)
    k, n_groups = len(names), len(groups)
    y, o, r = (pred["label_id"].to_numpy(), pred["pred_id"].to_numpy(),
               ref["pred_id"].to_numpy())  # fmt: skip
    boot = {
        "n_resamples": int(params["n_resamples"]),
        "seed": int(params["seed"]),
        "confidence": float(params["confidence"]),
        "method": str(params["method"]),
    }
    stats = bootstrap_paired_statistics(
        (y, o, r, codes), _statistic(k, n_groups), **boot
    )
    f1_r, f1_o = per_class_f1(y, r, k), per_class_f1(y, o, k)
    classes = [
        {
            "class": name,
            "support": int(np.sum(y == i)),
            "f1_ref": float(f1_r[i]),
            "f1_variant": float(f1_o[i]),
            **_entry(stats, i),
            **_excess(stats, k + 2 + 2 * n_groups + i),
        }
        for i, name in enumerate(names)
    ]
    base = k + 2
    excess = base + 2 * n_groups + k
    group_rows = []
    for j, group in enumerate(groups):
        mask = codes == j
        macro_r, macro_o, acc_r, acc_o = _scores(y, o, r, k, mask)
        group_rows.append(
            {
                "group": group,
                "n": int(mask.sum()),
                "macro_f1_ref": macro_r,
                "macro_f1_variant": macro_o,
                **_entry(stats, base + j, "macro_f1_"),
                **_excess_prefixed(stats, excess + j, "macro_f1_"),
                "accuracy_ref": acc_r,
                "accuracy_variant": acc_o,
                **_entry(stats, base + n_groups + j, "accuracy_"),
                **_excess_prefixed(stats, excess + n_groups + j, "accuracy_"),
            }
        )
    macro_r, macro_o, acc_r, acc_o = _scores(y, o, r, k)
    return {
        "variant": variant,
        "status": "ok",
        "n": int(len(y)),
        "labels": names,
        "group_column": column,
        "overall": {
            "macro_f1_ref": macro_r,
            "macro_f1_variant": macro_o,
            **_entry(stats, k, "macro_f1_"),
            "accuracy_ref": acc_r,
            "accuracy_variant": acc_o,
            **_entry(stats, k + 1, "accuracy_"),
        },
        "classes": classes,
        "groups": group_rows,
        "bootstrap": boot,
    }


def _excess_prefixed(stats, i: int, prefix: str) -> dict[str, float]:
    return {prefix + key: v for key, v in _excess(stats, i).items()}
