"""TF-IDF + logistic regression per head of a multi-task entry (docs/multitask.md,
"Baselines in the same run").

The TF-IDF features (word + character n-grams) are fitted once on every train text;
each task then gets its own logistic regression on the rows that carry its label
(a pooled member's masked rows are left out of that head): one multinomial
classifier for a ``single_label`` task, one binary classifier per class for a
``multi_label`` task (one-vs-rest). The primary task's classifier also completes the
usual ``model.skops`` pipeline, so the folder still scores as a single-task variant.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.multitask_training import task_labels
from quant_sentiment.tasks import MASKED, SINGLE

logger = logging.getLogger(__name__)


def fit_heads(
    train: pd.DataFrame,
    tasks: list[dict[str, Any]],
    vectorizer,
    make_classifier,
) -> dict[str, Any]:
    """``{task: fitted classifier, or one per class}`` on ``vectorizer``'s features.

    Args:
        train: Clean train split with the per-task label columns.
        tasks: The entry's tasks (``params:dataset_spec.tasks``).
        vectorizer: The fitted TF-IDF ``FeatureUnion``.
        make_classifier: A factory of an unfitted ``LogisticRegression``.

    Raises:
        ValueError: When a head has a class (or, multi_label, a class's 0 or 1)
            without train rows, naming the task and the class.
    """
    frame = train.reset_index(drop=True)
    features = vectorizer.transform(frame["text"].astype(str).tolist())
    heads: dict[str, Any] = {}
    for task in tasks:
        y = task_labels(frame, task, len(tasks) == 1)
        name, labels = task["name"], list(task["labels"])
        if task["kind"] == SINGLE:
            keep = y != MASKED
            _check_classes(name, labels, y[keep])
            heads[name] = make_classifier().fit(features[keep], y[keep])
            logger.info("TF-IDF head %s: %d train rows", name, int(keep.sum()))
            continue
        keep = (y != MASKED).all(axis=1)
        per_class = []
        for k, label in enumerate(labels):
            column = y[keep, k]
            if len(np.unique(column)) < 2:  # noqa: PLR2004
                raise ValueError(
                    f"clean_train: task {name!r}, class {label!r} is "
                    f"{int(column[0]) if len(column) else 'absent'} on every labelled "
                    f"row; its one-vs-rest TF-IDF head needs both 0 and 1"
                )
            per_class.append(make_classifier().fit(features[keep], column))
        heads[name] = per_class
        logger.info("TF-IDF head %s: %d train rows", name, int(keep.sum()))
    return heads


def _check_classes(name: str, labels: list[str], y: np.ndarray) -> None:
    missing = [labels[i] for i in range(len(labels)) if not (y == i).any()]
    if missing:
        raise ValueError(
            f"clean_train has no labelled row of class(es) {missing} of task "
            f"{name!r}; its TF-IDF head cannot learn them"
        )
