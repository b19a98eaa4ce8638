"""Nodes of the ``finetune`` pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from quant_sentiment.formats.multitask import is_multitask_model
from quant_sentiment.inference import predict_logits, predictions_frame
from quant_sentiment.manifest import library_versions
from quant_sentiment.metrics import classification_metrics, confusion_matrix_figure
from quant_sentiment.modeling import (
    ModelBundle,
    label_maps,
    label_names,
    load_model_source,
)
from quant_sentiment.textprep import MANIFEST_KEY
from quant_sentiment.training import fit_classifier, limit_rows

from .multitask_nodes import (
    multitask_tasks,
    predict_tasks,
    single_task_params,
    task_test_metrics,
    train_multitask,
)

logger = logging.getLogger(__name__)


def _metadata(
    model: dict[str, Any],
    normalisation: dict[str, Any],
    params: dict[str, Any],
    n_train: int,
    n_valid: int,
    run,
) -> dict[str, Any]:
    """The model folder's ``manifest.json`` fields (label map, normalisation, source,
    training, data)."""
    return {
        "label_map": label_maps(model["label_map"])[1],
        "max_length": int(model["max_length"]),
        MANIFEST_KEY: dict(normalisation),
        "model_source": str(params["model"]["source"]),
        "training": params,
        "data": {
            "train_rows": n_train,
            "valid_rows": n_valid,
            "fingerprint": run.data_fingerprint,
        },
        "best_valid_macro_f1": run.best_metric,
        "resumed_from": run.resumed_from,
        "versions": library_versions(("torch", "transformers", "tokenizers")),
    }


def train_classifier(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    normalisation: dict[str, Any],
    dataset_spec: dict[str, Any] | None = None,
) -> tuple[ModelBundle, pd.DataFrame]:
    """Fine-tune a sequence classifier with the shared Trainer builder.

    Loads ``finetune.model`` (hub id, folder or ``scratch``) and runs
    :func:`quant_sentiment.training.fit_classifier`: ``training_args`` passed to
    ``TrainingArguments`` as is, dynamic padding unless ``padding: max_length``, the
    ``loss`` block, evaluation every epoch, early stopping and the best checkpoint by
    validation macro-F1, resume of an identical interrupted run.

    Args:
        train: Clean train split (``text``, ``label_id``).
        valid: Clean validation split.
        model: ``params:model`` (``label_map``, ``max_length``: also the saved
            tokenizer's ``model_max_length``).
        params: ``params:finetune``.
        normalisation: ``params:preprocessing.normalisation``, recorded in the
            manifest so that every way of predicting normalises raw text the same
            way (:mod:`quant_sentiment.textprep`).
        dataset_spec: ``params:dataset_spec``; an entry with more than one task
            trains a multi-task model instead (``finetune.multitask``,
            :mod:`.multitask_nodes`); otherwise the ``multitask`` block is ignored.

    Returns:
        ``(bundle, history)``: the best model with its tokenizer and metadata, and the
        per-epoch history.
    """
    from transformers import set_seed

    tasks = multitask_tasks(dataset_spec)
    if tasks:
        return train_multitask(train, valid, model, params, normalisation, tasks)
    params = single_task_params(params)

    seed = int(params["training_args"]["seed"])
    set_seed(seed)
    train = limit_rows(train, params["max_train_samples"], seed)
    valid = limit_rows(valid, params["max_eval_samples"], seed)
    source = params["model"]
    classifier, tokenizer = load_model_source(
        str(source["source"]),
        model["label_map"],
        train["text"].tolist(),
        scratch=source["scratch"],
        revision=source["revision"],
    )
    # Saved with the folder: ``transformers.pipeline(..., truncation=True)`` then
    # truncates to the length the model was trained with, not the tokenizer's own
    # limit (512, or none for a scratch tokenizer).
    tokenizer.model_max_length = int(model["max_length"])
    run = fit_classifier(
        classifier, tokenizer, train, valid, params, int(model["max_length"])
    )
    logger.info(
        "Best validation macro-F1 %.4f; %d epochs in %.1f s",
        run.best_metric or float("nan"),
        len(run.history),
        run.train_runtime,
    )
    metadata = _metadata(model, normalisation, params, len(train), len(valid), run)
    bundle = ModelBundle(model=run.model, tokenizer=tokenizer, metadata=metadata)
    return bundle, run.history


def predict_split(
    bundle: ModelBundle,
    split: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
) -> pd.DataFrame:
    """Predict a split with the fine-tuned model; one row per text with probabilities.

    ``model`` is ``params:model`` (``max_length``); the batch size is
    ``training_args.per_device_eval_batch_size`` of ``params:finetune``. A
    multi-task model adds every head's columns (:func:`.multitask_nodes.predict_tasks`).
    """
    batch_size = int(params["training_args"]["per_device_eval_batch_size"])
    if is_multitask_model(bundle.model):
        return predict_tasks(bundle, split, int(model["max_length"]), batch_size)
    logits = predict_logits(
        bundle.model,
        bundle.tokenizer,
        split["text"].tolist(),
        batch_size=batch_size,
        max_length=int(model["max_length"]),
    )
    return predictions_frame(split, logits, bundle.model.config.id2label)


def compute_test_metrics(
    predictions: pd.DataFrame,
    model: dict[str, Any],
    dataset_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted-F1 and per-class P/R/F1 on the test split; a
    multi-task entry adds ``tasks: {task: {...}}`` (every head, unmasked rows)."""
    metrics = classification_metrics(
        predictions["label_id"],
        predictions["pred_id"],
        label_names(model["label_map"]),
    )
    tasks = multitask_tasks(dataset_spec)
    if tasks:
        metrics["tasks"] = task_test_metrics(predictions, tasks)
    return metrics


def plot_confusion_matrix(predictions: pd.DataFrame, model: dict[str, Any]):
    """Confusion-matrix figure of the test predictions (``model``: ``params:model``)."""
    return confusion_matrix_figure(
        predictions["label_id"],
        predictions["pred_id"],
        label_names(model["label_map"]),
        title="Fine-tuned model, test split",
    )
