"""Per-head diagnostics of every variant (docs/multitask.md, "Diagnostics").

Both read the heads :func:`.tasks.task_predictions` already predicted for the task
table (nothing is predicted twice), on the test split:

- :func:`task_confusion`: the confusion counts per head, as one long table
  (``variant, task, kind, class, true, pred, count``): a ``single_label`` head's
  K x K matrix (``class`` empty, ``true`` / ``pred`` class names) and, per class of a
  ``multi_label`` head, its 2 x 2 matrix (``true`` / ``pred`` 0 or 1), each on the
  head's unmasked rows; :func:`plot_task_confusion`: one figure, one panel per head.
- :func:`contradiction_rows`: the test rows whose predicted heads meet a rule of the
  entry's ``contradictions`` (:mod:`quant_sentiment.contradictions`), with the
  count and share per rule (:func:`contradiction_table` gathers them per variant,
  plus the ``labels`` row: the same rules on the true labels).

A single-task entry is the one-task case (one confusion matrix, no rules).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.contradictions import rule_mask
from quant_sentiment.multitask_training import task_labels
from quant_sentiment.tasks import MASKED, SINGLE

from .quality import skip_reason
from .tasks import entry_tasks, head_columns

CONFUSION_COLUMNS = ["variant", "task", "kind", "class", "true", "pred", "count"]
ROW_COLUMNS = ["variant", "rule", "source", "line", "text", "predicted", "labels"]
COUNT_COLUMNS = ["variant", "rule", "description", "status", "n", "count", "share"]
#: The pseudo-variant of the contradiction table scoring the true labels.
LABELS = "labels"


def heads_of(frame: pd.DataFrame, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """``{task: predicted ids [n] or 0/1 matrix [n, classes]}`` of the heads present
    in a :func:`.tasks.task_predictions` frame."""
    out = {}
    for task in tasks:
        columns = head_columns(task)
        if all(c in frame for c in columns):
            values = frame[columns].to_numpy(int)
            out[task["name"]] = values[:, 0] if task["kind"] == SINGLE else values
    return out


def _truths(clean_test: pd.DataFrame, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    test = clean_test.reset_index(drop=True)
    return {t["name"]: task_labels(test, t, len(tasks) == 1) for t in tasks}


def _kept(task: dict[str, Any], truth: np.ndarray) -> np.ndarray:
    return truth != MASKED if task["kind"] == SINGLE else (truth != MASKED).all(axis=1)


def task_confusion(
    handle: Any,
    heads: pd.DataFrame,
    clean_test: pd.DataFrame,
    dataset_spec: dict[str, Any],
    variant: str,
) -> pd.DataFrame:
    """The confusion counts of every head the variant has (module docstring); no
    rows for a skipped variant."""
    from sklearn.metrics import confusion_matrix, multilabel_confusion_matrix

    tasks = entry_tasks(dataset_spec)
    if skip_reason(handle) or heads.empty:
        return pd.DataFrame(columns=CONFUSION_COLUMNS)
    predicted, truths = heads_of(heads, tasks), _truths(clean_test, tasks)
    rows = []
    for task in tasks:
        if task["name"] not in predicted:
            continue
        truth = truths[task["name"]]
        keep = _kept(task, truth)
        y, p = truth[keep], predicted[task["name"]][keep]
        if not len(y):  # no labelled test row for this head
            continue
        labels = list(task["labels"])
        base = {"variant": variant, "task": task["name"], "kind": task["kind"]}
        if task["kind"] == SINGLE:
            matrix = confusion_matrix(y, p, labels=list(range(len(labels))))
            rows += [
                {**base, "class": "", "true": labels[i], "pred": labels[j], "count": n}
                for (i, j), n in np.ndenumerate(matrix)
            ]
            continue
        per_class = multilabel_confusion_matrix(
            y.reshape(-1, len(labels)), p.reshape(-1, len(labels))
        )
        for k, matrix in enumerate(per_class):
            rows += [
                {**base, "class": labels[k], "true": i, "pred": j, "count": n}
                for (i, j), n in np.ndenumerate(matrix)
            ]
    table = pd.DataFrame(rows, columns=CONFUSION_COLUMNS)
    table["count"] = table["count"].astype(int)
    return table


def plot_task_confusion(
    table: pd.DataFrame, dataset_spec: dict[str, Any], variant: str
):
    """One figure, one panel per head of ``table`` (:func:`task_confusion`): a
    single_label head's K x K counts; a multi_label head's classes x (TN, FP, FN,
    TP). A figure saying so when the variant has no heads (skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in entry_tasks(dataset_spec) if t["name"] in set(table["task"])]
    if not tasks:
        fig, ax = plt.subplots(figsize=(4.8, 2.0), dpi=120)
        ax.axis("off")
        ax.text(0.5, 0.5, f"{variant}: no heads scored (skipped)", ha="center")
        plt.close(fig)
        return fig
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(4.2 * len(tasks), 4.0), dpi=120, squeeze=False
    )
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = table[table["task"] == task["name"]]
        if task["kind"] == SINGLE:
            names = rows.assign(
                true=rows["true"].astype(str), pred=rows["pred"].astype(str)
            )
            matrix = names.pivot(index="true", columns="pred", values="count")
            matrix = matrix.reindex(index=task["labels"], columns=task["labels"])
            xlabels, ylabels = task["labels"], task["labels"]
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        else:
            cell = rows["true"].astype(int) * 2 + rows["pred"].astype(int)
            cells = rows.assign(cell=cell)
            matrix = cells.pivot(index="class", columns="cell", values="count")
            matrix = matrix.reindex(index=task["labels"], columns=[0, 1, 2, 3])
            xlabels, ylabels = ["TN", "FP", "FN", "TP"], task["labels"]
        values = matrix.fillna(0).to_numpy(int)
        ax.imshow(values, cmap="Blues")
        for (i, j), n in np.ndenumerate(values):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=45, ha="right")
        ax.set_yticks(range(len(ylabels)), ylabels)
        ax.set_title(f"{task['name']} ({task['kind']})")
    fig.suptitle(f"{variant}, test split: confusion per head")
    fig.tight_layout()
    plt.close(fig)
    return fig


def _shown(task: dict[str, Any], values: np.ndarray) -> list[str]:
    """Each row's value of a head as text (class name; multi_label: set classes)."""
    labels = task["labels"]
    if task["kind"] == SINGLE:
        return [labels[i] if i != MASKED else "" for i in values]
    return [
        "" if (row == MASKED).any() else ";".join(c for c, v in zip(labels, row) if v)
        for row in values
    ]


def _rule_heads(rule, tasks, values) -> list[str]:
    names = {c["task"] for c in rule["when"]}
    shown = {
        t["name"]: _shown(t, values[t["name"]]) for t in tasks if t["name"] in names
    }
    return [
        "; ".join(f"{task}={text[i]}" for task, text in shown.items())
        for i in range(len(next(iter(shown.values()))))
    ]


def contradiction_rows(
    handle: Any,
    heads: pd.DataFrame,
    clean_test: pd.DataFrame,
    dataset_spec: dict[str, Any],
    variant: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows, counts)``: the test rows whose predictions meet a contradiction rule
    (one row per rule met: the rule, the row's ``source``/``line``/``text``, the
    heads it involves as predicted and as labelled), and per rule ``n``, ``count``,
    ``share`` (``status`` says why a rule was not checked)."""
    tasks = entry_tasks(dataset_spec)
    rules = list(dataset_spec.get("contradictions") or [])
    test = clean_test.reset_index(drop=True)
    reason = skip_reason(handle) and "skipped"
    predicted = {} if reason else heads_of(heads, tasks)
    truths = _truths(test, tasks)
    found, counts = [], []
    for rule in rules:
        base = {"variant": variant, "rule": rule["name"]}
        counts.append({**base, "description": rule["description"]})
        missing = [c["task"] for c in rule["when"] if c["task"] not in predicted]
        if reason or missing:
            counts[-1]["status"] = reason or f"no head for {', '.join(missing)}"
            continue
        mask = rule_mask(rule, predicted, len(test))
        counts[-1].update(
            status="ok", n=len(test), count=int(mask.sum()), share=float(mask.mean())
        )
        if mask.any():
            kept = {k: v[mask] for k, v in predicted.items()}
            labels = {k: v[mask] for k, v in truths.items()}
            found.append(
                pd.DataFrame(
                    {
                        **base,
                        "source": test.loc[mask, "source"] if "source" in test else "",
                        "line": test.loc[mask, "line"] if "line" in test else "",
                        "text": test.loc[mask, "text"],
                        "predicted": _rule_heads(rule, tasks, kept),
                        "labels": _rule_heads(rule, tasks, labels),
                    }
                )
            )
    rows = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    return rows.reindex(columns=ROW_COLUMNS), pd.DataFrame(
        counts, columns=COUNT_COLUMNS
    )


def label_contradictions(
    clean_test: pd.DataFrame, dataset_spec: dict[str, Any]
) -> pd.DataFrame:
    """The rules on the true labels (variant ``labels``), on the rows where every
    task a rule involves is labelled: how often the data itself shows them."""
    tasks = entry_tasks(dataset_spec)
    truths = _truths(clean_test, tasks)
    by_name = {t["name"]: t for t in tasks}
    counts = []
    for rule in dataset_spec.get("contradictions") or []:
        names = [c["task"] for c in rule["when"]]
        keep = np.logical_and.reduce([_kept(by_name[n], truths[n]) for n in names])
        labelled = {n: truths[n][keep] for n in names}
        mask = rule_mask(rule, labelled, int(keep.sum()))
        counts.append(
            {
                "variant": LABELS,
                "rule": rule["name"],
                "description": rule["description"],
                "status": "ok",
                "n": int(keep.sum()),
                "count": int(mask.sum()),
                "share": float(mask.mean()) if keep.any() else float("nan"),
            }
        )
    return pd.DataFrame(counts, columns=COUNT_COLUMNS)


def contradiction_table(
    clean_test: pd.DataFrame, dataset_spec: dict[str, Any], *counts: pd.DataFrame
) -> pd.DataFrame:
    """Every variant's counts per rule (:func:`contradiction_rows`), after the true
    labels' own (:func:`label_contradictions`)."""
    frames = [label_contradictions(clean_test, dataset_spec), *counts]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=COUNT_COLUMNS)
    return pd.concat(frames, ignore_index=True).reindex(columns=COUNT_COLUMNS)


def contradiction_markdown(table: pd.DataFrame) -> str:
    """The contradiction table as Markdown: one section per rule."""
    lines = ["# Contradicting heads (test split)", ""]
    if table.empty:
        return "\n".join([*lines, "The dataset entry declares no contradictions.", ""])
    for (rule, description), rows in table.groupby(["rule", "description"], sort=False):
        shown = pd.DataFrame(
            {
                "variant": rows["variant"],
                "status": rows["status"],
                "rows": [_count(r) for r in rows.itertuples()],
            }
        )
        lines += [f"## {rule}: {description}", "", shown.to_markdown(index=False), ""]
    return "\n".join(lines)


def _count(row) -> str:
    if row.status != "ok":
        return ""
    return f"{int(row.count)} / {int(row.n)} ({row.share:.1%})"
