"""The single-task baseline rows of the task table (docs/multitask.md, "Baselines in
the same run").

When ``finetune_per_task`` has run, ``single_task_test_predictions`` holds every
head's test predictions of one single-task model per task; each head then gets a
``single_task`` row: its macro-F1 [CI], per-class F1 and the paired Δ
**multi-task FP32 − single-task** [CI] (``delta_of`` says which difference a row's
Δ is: ``<variant> - fp32`` elsewhere). Without those predictions the table is
:func:`.tasks.build_task_table`'s as is (plus ``delta_of``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from quant_sentiment.multitask_training import task_labels

from .tasks import _row, build_task_table, entry_tasks

SINGLE_TASK = "single_task"


def _aligned(single: pd.DataFrame, clean_test: pd.DataFrame) -> pd.DataFrame:
    """The predictions, checked to cover the test split's texts in order."""
    texts = clean_test["text"].astype(str).tolist()
    if "text" not in single or single["text"].astype(str).tolist() != texts:
        raise ValueError(
            f"single_task_test_predictions ({len(single)} rows) do not cover this "
            f"clean_test ({len(texts)} rows) in the same order; rerun "
            "`kedro run --pipelines=finetune_per_task` on this dataset"
        )
    return single.reset_index(drop=True)


def build_task_table_with_baselines(
    clean_test: pd.DataFrame,
    dataset_spec: dict[str, Any],
    bootstrap: dict[str, Any],
    single_task: pd.DataFrame | None,
    *frames: pd.DataFrame,
    variants: list[str],
    reference: str,
) -> pd.DataFrame:
    """:func:`.tasks.build_task_table` plus a ``single_task`` row per head when
    ``single_task`` (``single_task_test_predictions``, ``None`` when absent) is
    given (module docstring)."""
    table = build_task_table(
        clean_test,
        dataset_spec,
        bootstrap,
        *frames,
        variants=variants,
        reference=reference,
    )
    table["delta_of"] = f"variant - {reference}"
    if single_task is None:
        return table
    single = _aligned(single_task, clean_test)
    ref = dict(zip(variants, frames, strict=True))[reference]
    boot = {
        "n_resamples": int(bootstrap["n_resamples"]),
        "seed": int(bootstrap["seed"]),
        "confidence": float(bootstrap["confidence"]),
        "method": str(bootstrap["method"]),
    }
    tasks = entry_tasks(dataset_spec)
    rows = []
    for task in tasks:
        truth = task_labels(clean_test.reset_index(drop=True), task, len(tasks) == 1)
        row = _row(task, truth, single, ref, boot, reverse=True)  # fp32 − single
        rows.append(
            {
                "variant": SINGLE_TASK,
                "task": task["name"],
                "kind": task["kind"],
                **row,
                "delta_of": f"{reference} - {SINGLE_TASK}",
            }
        )
    order = {t["name"]: i for i, t in enumerate(tasks)}
    out = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    out = out.sort_values("task", key=lambda s: s.map(order), kind="stable")
    return out.reset_index(drop=True).reindex(columns=table.columns)
