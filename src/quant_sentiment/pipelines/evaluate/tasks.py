"""Per-task scores of every variant (docs/multitask.md): ``evaluate_task_table``.

For each variant and each task of the entry (``params:dataset_spec.tasks``; a
single-task entry is the one-task case, scored from the usual ``pred_id``):
macro-F1 with its bootstrap CI, per-class F1, and Δ macro-F1 vs FP32 with the paired
bootstrap CI, on the task's unmasked test rows (:mod:`quant_sentiment.significance`;
multi-label heads: macro over classes of each class's F1, the rows' label sets
resampled together).

- :func:`task_predictions` (one node per variant): every head's predicted ids on the
  test split: the producer's columns where it wrote them (``finetune``'s
  ``pred_id__<task>`` / ``pred__<task>__<class>``), else the variant folder's own
  heads (``predict_task_logits``), else the primary head only (a variant without
  heads, e.g. the TF-IDF baseline); zero rows for a skipped variant.
- :func:`build_task_table` / :func:`task_table_markdown`: the table (CSV) and its
  Markdown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.multitask_training import task_labels
from quant_sentiment.significance import (
    bootstrap_macro_f1,
    bootstrap_macro_f1_difference,
    bootstrap_paired_statistics,
    macro_f1,
    per_class_f1,
)
from quant_sentiment.tasks import MASKED, SINGLE

from .quality import skip_reason


def entry_tasks(dataset_spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's tasks (a single-task entry: its one task)."""
    tasks = list(dataset_spec.get("tasks") or [])
    if not tasks:
        raise ValueError(
            f"params:dataset_spec of {dataset_spec.get('name')!r} has no tasks; "
            "it is the resolved registry entry (corpora.resolve) that carries them"
        )
    return [dict(t) for t in tasks]


def head_columns(task: dict[str, Any]) -> list[str]:
    """The prediction column(s) of a head."""
    if task["kind"] == SINGLE:
        return [f"pred_id__{task['name']}"]
    return [f"pred__{task['name']}__{c}" for c in task["labels"]]


def _from_logits(tasks, logits: dict[str, np.ndarray]) -> pd.DataFrame:
    columns = {}
    for task in tasks:
        z = logits.get(task["name"])
        if z is None:
            continue
        if task["kind"] == SINGLE:
            columns[head_columns(task)[0]] = z.argmax(axis=1)
        else:
            for i, column in enumerate(head_columns(task)):
                columns[column] = (z[:, i] > 0).astype(int)
    return pd.DataFrame(columns)


def task_predictions(
    handle: Any,
    predictions: pd.DataFrame,
    clean_test: pd.DataFrame,
    dataset_spec: dict[str, Any],
    params: dict[str, Any],
    variant: str,
) -> pd.DataFrame:
    """Every head's predicted ids on the test split (module docstring).

    Args:
        handle: The variant folder (or the FP32 bundle).
        predictions: The variant's test predictions (primary head: ``pred_id``).
        clean_test: Clean test split (its texts, for heads predicted here).
        dataset_spec: ``params:dataset_spec``.
        params: ``evaluate.predict`` (``batch_size``).
        variant: The variant's name.
    """
    tasks = entry_tasks(dataset_spec)
    if skip_reason(handle):
        return pd.DataFrame()
    wanted = [c for t in tasks for c in head_columns(t)]
    if all(c in predictions for c in wanted):
        return predictions[wanted].reset_index(drop=True)
    if len(tasks) > 1 and hasattr(handle, "load"):
        classifier = handle.load()
        if hasattr(classifier, "predict_task_logits"):
            logits = classifier.predict_task_logits(
                clean_test["text"].astype(str).tolist(),
                batch_size=int(params["batch_size"]),
            )
            return _from_logits(tasks, logits)
    primary = next(t for t in tasks if t["kind"] == SINGLE)
    return pd.DataFrame(
        {head_columns(primary)[0]: predictions["pred_id"].to_numpy(int)}
    )


def _codes(matrix: np.ndarray) -> np.ndarray:
    """Each row's 0/1 label set as one integer (so rows resample as a whole)."""
    return (matrix.astype(np.int64) << np.arange(matrix.shape[1])).sum(axis=1)


def _class_f1(codes_true, codes_pred, n: int) -> np.ndarray:
    """Per-class F1 of multi-label rows given as codes; shape ``[n, ...]``."""
    return np.stack(
        [
            per_class_f1((codes_true >> k) & 1, (codes_pred >> k) & 1, 2)[1]
            for k in range(n)
        ]
    )


def _score_multi(y, p, r, n: int, boot: dict[str, Any]) -> dict[str, Any]:
    t, p, r = _codes(y), _codes(p), _codes(r)

    def macro(a, b, axis=-1):
        return _class_f1(a, b, n).mean(axis=0)[None]

    def delta(a, b, c, axis=-1):
        return macro(a, b) - macro(a, c)

    own = bootstrap_paired_statistics((t, p), macro, **boot)
    diff = bootstrap_paired_statistics((t, p, r), delta, **boot)
    return {
        "macro_f1": float(own["point"][0]),
        "macro_f1_low": float(own["low"][0]),
        "macro_f1_high": float(own["high"][0]),
        "per_class": _class_f1(t, p, n),
        "delta": float(diff["point"][0]),
        "delta_low": float(diff["low"][0]),
        "delta_high": float(diff["high"][0]),
    }


def _score_single(y, p, r, n: int, boot: dict[str, Any]) -> dict[str, Any]:
    low, high = bootstrap_macro_f1(y, p, n, **boot)
    d_low, d_high = bootstrap_macro_f1_difference(y, p, r, n, **boot)
    score, ref = float(macro_f1(y, p, n)), float(macro_f1(y, r, n))
    return {
        "macro_f1": score,
        "macro_f1_low": low,
        "macro_f1_high": high,
        "per_class": per_class_f1(y, p, n),
        "delta": score - ref,
        "delta_low": d_low,
        "delta_high": d_high,
    }


def _per_class_reference(y, r, n: int, single: bool) -> np.ndarray:
    """The reference's per-class F1 on the same rows (for the per-class Δ)."""
    return per_class_f1(y, r, n) if single else _class_f1(_codes(y), _codes(r), n)


def _support(y, n: int, single: bool) -> np.ndarray:
    """Test rows per class (multi-label: rows carrying the class)."""
    return np.bincount(y, minlength=n) if single else y.astype(int).sum(axis=0)


def _row(task, truth, frame, reference, boot, reverse: bool = False) -> dict[str, Any]:
    """One (variant, task) row; ``status`` says why a row has no scores.

    Δ (macro and per class) is ``variant - reference``; ``reverse`` gives
    ``reference - variant`` (the single-task baseline's row)."""
    columns = head_columns(task)
    if frame.empty:
        return {"status": "skipped"}
    if not all(c in frame for c in columns):
        return {"status": "no head for this task"}
    if not all(c in reference for c in columns):
        return {"status": "the reference has no head for this task"}
    single = task["kind"] == SINGLE
    keep = truth != MASKED if single else (truth != MASKED).all(axis=1)
    y = truth[keep]
    p = frame[columns].to_numpy(int)[keep]
    r = reference[columns].to_numpy(int)[keep]
    if single:
        p, r = p[:, 0], r[:, 0]
    if not len(y):
        return {"status": "no labelled test row"}
    score = (_score_single if single else _score_multi)(
        y, p, r, len(task["labels"]), boot
    )
    n = len(task["labels"])
    per_class = score.pop("per_class")
    class_delta = per_class - _per_class_reference(y, r, n, single)
    if reverse:
        class_delta = -class_delta
        score["delta"], score["delta_low"], score["delta_high"] = (
            -score["delta"],
            -score["delta_high"],
            -score["delta_low"],
        )
    labels = task["labels"]
    return {
        "status": "ok",
        "n": int(len(y)),
        **score,
        "per_class_f1": _per_class_text(labels, per_class, "{:.3f}"),
        "per_class_delta": _per_class_text(labels, class_delta, "{:+.3f}"),
        "class_support": _per_class_text(labels, _support(y, n, single), "{:d}"),
    }


def _per_class_text(labels, values, fmt: str) -> str:
    return "; ".join(
        f"{c} {fmt.format(v)}" for c, v in zip(labels, values.tolist(), strict=True)
    )


def build_task_table(
    clean_test: pd.DataFrame,
    dataset_spec: dict[str, Any],
    bootstrap: dict[str, Any],
    *frames: pd.DataFrame,
    variants: list[str],
    reference: str,
) -> pd.DataFrame:
    """One row per (variant, task): macro-F1 [CI], per-class F1, Δ vs ``reference``
    [paired CI] (module docstring). ``frames``: :func:`task_predictions` of
    ``variants``, in order."""
    tasks = entry_tasks(dataset_spec)
    boot = {
        "n_resamples": int(bootstrap["n_resamples"]),
        "seed": int(bootstrap["seed"]),
        "confidence": float(bootstrap["confidence"]),
        "method": str(bootstrap["method"]),
    }
    by_name = dict(zip(variants, frames, strict=True))
    ref = by_name[reference]
    rows = []
    for task in tasks:
        truth = task_labels(clean_test.reset_index(drop=True), task, len(tasks) == 1)
        for variant, frame in by_name.items():
            rows.append(
                {
                    "variant": variant,
                    "task": task["name"],
                    "kind": task["kind"],
                    **_row(task, truth, frame, ref, boot),
                }
            )
    columns = [
        "variant",
        "task",
        "kind",
        "status",
        "n",
        "macro_f1",
        "macro_f1_low",
        "macro_f1_high",
        "delta",
        "delta_low",
        "delta_high",
        "per_class_f1",
        "per_class_delta",
        "class_support",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


def task_table_markdown(table: pd.DataFrame) -> str:
    """The task table as Markdown: one section per task, macro-F1 [CI] and Δ vs FP32
    [paired CI] per variant; skipped variants named once, above."""
    lines = ["# Per-task scores (test split)", ""]
    skipped = table["status"] == "skipped"
    if skipped.any():
        names = ", ".join(table.loc[skipped, "variant"].drop_duplicates())
        lines += [f"Skipped variants (not built): {names}.", ""]
    for task, rows in table[~skipped].groupby("task", sort=False):
        shown = pd.DataFrame(
            {
                "variant": _variant_cells(rows),
                "status": rows["status"],
                "n": [("" if pd.isna(n) else str(int(n))) for n in rows["n"]],
                "macro-F1 [CI]": [
                    _interval(r.macro_f1, r.macro_f1_low, r.macro_f1_high)
                    for r in rows.itertuples()
                ],
                "Δ vs FP32 [CI]": [
                    _interval(r.delta, r.delta_low, r.delta_high, signed=True)
                    for r in rows.itertuples()
                ],
                "per-class F1": rows["per_class_f1"].fillna(""),
                "per-class Δ": rows["per_class_delta"].fillna(""),
            }
        )
        kind = rows["kind"].iloc[0]
        support = rows["class_support"].dropna()
        lines += [f"## {task} ({kind})", ""]
        if len(support):
            lines += [f"Test rows per class: {support.iloc[0]}.", ""]
        lines += [shown.to_markdown(index=False), ""]
    return "\n".join(lines)


def _interval(value, low, high, signed: bool = False) -> str:
    if pd.isna(value):
        return ""
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def _variant_cells(rows: pd.DataFrame) -> list[str]:
    """The variant, with the difference its Δ is where that is not ``<variant> -
    fp32`` (the single-task baseline's row: ``fp32 - single_task``)."""
    if "delta_of" not in rows:
        return rows["variant"].tolist()
    return [
        v if str(d).startswith("variant") else f"{v} (Δ = {d})"
        for v, d in zip(rows["variant"], rows["delta_of"], strict=True)
    ]
