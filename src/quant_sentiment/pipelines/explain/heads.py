"""The heads a variant's explanations are about, and the class each one explains.

Every variant is explained head by head (:class:`quant_sentiment.heads.HeadView`): a
multi-task folder has one head per task, any other classifier one head, named after
the entry's primary task (a single-task entry: its one task), so the outputs' ``task``
column is there in both cases (docs/multitask.md, "predict / serve / explain").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.heads import HeadView, heads_of, primary_name
from quant_sentiment.tasks import SINGLE


def entry_primary(dataset_spec: dict[str, Any] | None) -> str:
    """The entry's primary task: the head ``reference_pred_id`` is about."""
    return primary_name((dataset_spec or {}).get("tasks"))


def explained_heads(clf: Any, dataset_spec: dict[str, Any] | None) -> list[HeadView]:
    """Every head of ``clf`` as a one-head classifier (a classifier without tasks:
    one head named after the entry's primary task)."""
    return [HeadView(clf, h) for h in heads_of(clf, entry_primary(dataset_spec))]


def _need(sample: pd.DataFrame, columns: Sequence[str], task: str) -> None:
    missing = [c for c in columns if c not in sample]
    if missing:
        raise ValueError(
            f"explain_sample has no {missing[:3]} for head {task!r}: the reference's "
            "test predictions (finetune_test_predictions) must carry every head "
            "(rerun finetune, then explain), or set explain.attribution.target: "
            "prediction"
        )


def head_targets(
    view: HeadView,
    sample: pd.DataFrame,
    probs: np.ndarray,
    target: str,
    primary: str,
) -> np.ndarray:
    """The class explained per text for one head.

    ``target: prediction``: the head's own most probable class. ``target:
    reference``: the reference's (FP32's) class for that head: ``reference_pred_id``
    for the primary head, ``reference_pred_id__<t>`` for another single_label head,
    and for a multi_label head its most probable class
    (argmax of ``reference_prob__<t>__<class>``): one class per text, also when the
    head predicts none or several over 0.5.
    """
    name = view.head.name
    if target == "prediction":
        return probs.argmax(axis=1)
    if name == primary:
        return sample["reference_pred_id"].astype(int).to_numpy()
    if view.kind == SINGLE:
        column = f"reference_pred_id__{name}"
        _need(sample, [column], name)
        return sample[column].astype(int).to_numpy()
    columns = [f"reference_prob__{name}__{c}" for c in view.head.labels]
    _need(sample, columns, name)
    return sample[columns].to_numpy(float).argmax(axis=1)


def of_task(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """The rows of ``frame`` about ``task`` (a frame without ``task``: all)."""
    if "task" not in frame:
        return frame
    return frame[frame["task"].astype(str) == task]
