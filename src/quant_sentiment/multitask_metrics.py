"""Validation metrics and per-epoch loss-weight records of multi-task training
(:mod:`quant_sentiment.multitask_training`).

- :func:`multitask_metrics`: a Trainer ``compute_metrics`` giving each head's
  macro-F1 on its unmasked rows and the aggregate (``macro_f1``) that chooses the
  best checkpoint;
- :class:`LossWeightsLogger`: each head's loss weight and ``log_var`` per epoch.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from transformers import TrainerCallback

from quant_sentiment.tasks import MASKED, SINGLE

logger = logging.getLogger(__name__)


def task_scores(
    task: dict[str, Any], logits: np.ndarray, labels: np.ndarray
) -> dict[str, float]:
    """``{metric: value}`` of one head on its unmasked rows (``macro_f1`` and
    ``micro_f1``; multi_label predictions are ``logit > 0``)."""
    from sklearn.metrics import f1_score

    labels = np.asarray(labels)
    if task["kind"] == SINGLE:
        keep = labels != MASKED
        preds = np.asarray(logits).argmax(-1)[keep]
        labels = labels[keep]
    else:
        keep = (labels != MASKED).all(-1)
        preds = (np.asarray(logits)[keep] > 0).astype(int)
        labels = labels[keep].astype(int)
    if not len(labels):
        return {"macro_f1": float("nan"), "micro_f1": float("nan")}
    classes = list(range(len(task["labels"])))
    kwargs = {"zero_division": 0} | (
        {"labels": classes} if task["kind"] == SINGLE else {}
    )
    return {
        "macro_f1": float(f1_score(labels, preds, average="macro", **kwargs)),
        "micro_f1": float(f1_score(labels, preds, average="micro", **kwargs)),
    }


def multitask_metrics(tasks: list[dict[str, Any]], aggregate: str = "mean"):
    """A Trainer ``compute_metrics``: ``macro_f1__<task>`` (and the task's chosen
    metric as ``score__<task>``) per head and the aggregate as ``macro_f1``.

    Raises:
        ValueError: If ``aggregate`` is neither ``mean`` nor a task name.
    """
    names = [t["name"] for t in tasks]
    if aggregate != "mean" and aggregate not in names:
        raise ValueError(
            f"multitask.aggregate must be 'mean' or a task name {names}, got "
            f"{aggregate!r}"
        )

    def compute(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        logits = logits if isinstance(logits, tuple | list) else (logits,)
        labels = labels if isinstance(labels, tuple | list) else (labels,)
        out: dict[str, float] = {}
        for task, task_logits, task_y in zip(tasks, logits, labels, strict=True):
            scores = task_scores(task, task_logits, task_y)
            out[f"macro_f1__{task['name']}"] = scores["macro_f1"]
            out[f"score__{task['name']}"] = scores[task["metric"]]
        chosen = names if aggregate == "mean" else [aggregate]
        out["macro_f1"] = float(np.nanmean([out[f"score__{n}"] for n in chosen]))
        return out

    return compute


class LossWeightsLogger(TrainerCallback):
    """Record each head's loss weight (``exp(-s_t)`` under uncertainty weighting,
    else the fixed weight) and ``log_var`` at the end of every epoch, in the
    Trainer's log history and in :attr:`records`."""

    def __init__(self) -> None:
        self.records: list[dict[str, float]] = []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if model is None:
            return
        names = list(model.loss_weights())
        record = {
            "epoch": round(float(state.epoch or 0.0), 4),
            "step": state.global_step,
        }
        for name, weight in model.loss_weights().items():
            record[f"loss_weight__{name}"] = float(weight)
        for name, value in zip(names, model.log_vars.detach().tolist(), strict=True):
            record[f"log_var__{name}"] = float(value)
        self.records.append(record)
        state.log_history.append(dict(record))
        logger.info("loss weights after epoch %s: %s", record["epoch"], record)
