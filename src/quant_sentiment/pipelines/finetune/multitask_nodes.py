"""The ``finetune`` nodes' multi-task branch (docs/multitask.md).

A registry entry with more than one task (``params:dataset_spec.tasks``) trains a
:class:`~quant_sentiment.multitask.MultiTaskModel` (one encoder, one head per task)
with :func:`~quant_sentiment.multitask.multitask_from_source` and
:func:`~quant_sentiment.multitask_training.fit_multitask` (the one Trainer builder),
under the same node names and outputs as a single-task run:

- the model folder's manifest adds ``tasks`` (names, kinds, class names in id order),
  ``label_maps`` (``{task: {class: id}}``), the ``multitask`` block and the learned
  ``loss_weights``; ``label_map`` / ``id2label`` are the primary task's;
- the test predictions keep today's columns for the **primary** head (``pred_id``,
  ``pred_label``, ``prob_<label>``) and add, per task, ``pred_id__<t>``,
  ``pred_label__<t>``, ``prob__<t>__<class>`` (single_label) or
  ``pred__<t>__<class>`` (0/1) and ``prob__<t>__<class>`` (multi_label, sigmoid);
- the test metrics keep today's fields for the primary head and add ``tasks:
  {task: {...}}`` (unmasked rows only).

Why a branch and not the one-task case of one path: a single-task entry keeps its
``hf`` sequence-classification folder (loaded by ``AutoModelForSequenceClassification``
and every existing writer), byte for byte; the multi-task folder is ``hf_multitask``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.tasks import MASKED, SINGLE

logger = logging.getLogger(__name__)

#: The ``finetune`` key of the multi-task settings (conf/base/parameters_finetune.yml).
BLOCK = "multitask"


def multitask_tasks(dataset_spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The entry's tasks when it declares more than one, else ``[]`` (single-task)."""
    tasks = list((dataset_spec or {}).get("tasks") or [])
    return [dict(t) for t in tasks] if len(tasks) > 1 else []


def single_task_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params:finetune`` without the ``multitask`` block, so a single-task run's
    training fingerprint and manifest are those of a run before the block existed."""
    return {k: v for k, v in params.items() if k != BLOCK}


def train_multitask(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    normalisation: dict[str, Any],
    tasks: list[dict[str, Any]],
):
    """``train_classifier`` for a multi-task entry: ``(bundle, history)``."""
    from transformers import set_seed

    from quant_sentiment.formats.multitask import primary_task
    from quant_sentiment.modeling import ModelBundle
    from quant_sentiment.multitask import multitask_from_source
    from quant_sentiment.multitask_training import fit_multitask
    from quant_sentiment.training import limit_rows

    from .nodes import _metadata

    seed = int(params["training_args"]["seed"])
    set_seed(seed)
    train = limit_rows(train, params["max_train_samples"], seed)
    valid = limit_rows(valid, params["max_eval_samples"], seed)
    source = params["model"]
    max_length = int(model["max_length"])
    net, tokenizer = multitask_from_source(
        str(source["source"]),
        tasks,
        train["text"].tolist(),
        scratch=source["scratch"],
        revision=source["revision"],
    )
    tokenizer.model_max_length = max_length
    primary = primary_task(tasks)["labels"]
    net.config.id2label = dict(enumerate(primary))
    net.config.label2id = {label: i for i, label in enumerate(primary)}
    run = fit_multitask(net, tokenizer, train, valid, params, max_length)
    logger.info(
        "Best validation aggregate macro-F1 %.4f; %d epochs in %.1f s; loss weights %s",
        run.best_metric or float("nan"),
        len(run.history),
        run.train_runtime,
        run.model.loss_weights(),
    )
    metadata = {
        **_metadata(model, normalisation, params, len(train), len(valid), run),
        "tasks": [dict(t) for t in run.model.config.tasks],
        "label_maps": {
            t["name"]: {label: i for i, label in enumerate(t["labels"])} for t in tasks
        },
        "loss_weights": run.model.loss_weights(),
    }
    bundle = ModelBundle(model=run.model, tokenizer=tokenizer, metadata=metadata)
    return bundle, run.history


def predict_tasks(
    bundle, split: pd.DataFrame, max_length: int, batch_size: int
) -> pd.DataFrame:
    """Test predictions of a multi-task bundle: the primary head's usual columns and
    every head's own (module docstring)."""
    from scipy.special import expit, softmax

    from quant_sentiment.formats.multitask import in_memory
    from quant_sentiment.inference import predictions_frame

    classifier = in_memory(bundle.model, bundle.tokenizer, max_length)
    logits = classifier.predict_task_logits(split["text"].tolist(), batch_size)
    out = predictions_frame(split, logits[classifier.primary], classifier.id2label)
    extra = {}
    for task in classifier.tasks:
        name, labels, z = task["name"], task["labels"], logits[task["name"]]
        if task["kind"] == SINGLE:
            ids = z.argmax(axis=1)
            extra[f"pred_id__{name}"] = ids
            extra[f"pred_label__{name}"] = [labels[i] for i in ids]
            probs = softmax(z, axis=1)
        else:
            probs = expit(z)
            for i, label in enumerate(labels):
                extra[f"pred__{name}__{label}"] = (z[:, i] > 0).astype(int)
        for i, label in enumerate(labels):
            extra[f"prob__{name}__{label}"] = probs[:, i].round(6)
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)


def task_test_metrics(
    predictions: pd.DataFrame, tasks: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``{task: metrics}`` on each head's unmasked test rows: single_label as
    ``metrics.classification_metrics``; multi_label: macro / micro F1 and
    per-class P/R/F1/support. Each block names its ``metric`` and ``score``."""
    from quant_sentiment.metrics import classification_metrics

    out = {}
    for task in tasks:
        name, labels = task["name"], list(task["labels"])
        if task["kind"] == SINGLE:
            y = predictions[f"label_id__{name}"].astype(int).to_numpy()
            keep = y != MASKED
            block = classification_metrics(
                y[keep], predictions[f"pred_id__{name}"].to_numpy()[keep], labels
            )
        else:
            y = predictions[[f"label__{name}__{c}" for c in labels]].to_numpy(int)
            keep = (y != MASKED).all(axis=1)
            pred = predictions[[f"pred__{name}__{c}" for c in labels]].to_numpy(int)
            block = _multi_label_metrics(y[keep], pred[keep], labels)
        block.update(kind=task["kind"], n_masked=int((~keep).sum()))
        metric = task.get("metric", "macro_f1")
        block.update(metric=metric, score=block.get(metric, float("nan")))
        out[name] = block
    return out


def _multi_label_metrics(
    y: np.ndarray, pred: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    if not len(y):
        return {"n": 0, "macro_f1": float("nan"), "micro_f1": float("nan")}
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    return {
        "n": int(len(y)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y, pred, average="micro", zero_division=0)),
        "per_class": {
            label: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i, label in enumerate(labels)
        },
    }
