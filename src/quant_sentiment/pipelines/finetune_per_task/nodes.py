"""One single-task model per head (docs/multitask.md, "Baselines in the same run").

The same encoder (``finetune.model``) and recipe (``params:finetune``: training
arguments, loss, padding, early stopping, checkpoints) as the multi-task model,
trained once per task of the entry on the rows that carry that task's label:

- a ``single_label`` task: a sequence classifier through
  :func:`quant_sentiment.training.fit_classifier` (``label_id`` = the task's ids);
- a ``multi_label`` task: a :class:`~quant_sentiment.multitask.MultiTaskModel` with
  that one task through :func:`~quant_sentiment.multitask_training.fit_multitask`
  (the sigmoid head and its loss; the ``multitask`` block's settings for that task).

Outputs: one folder holding a model folder per task (``<task>/``, each with its
manifest), the test predictions of every head (``pred_id__<t>`` / ``pred__<t>__<c>``
and probabilities, the columns of ``finetune_test_predictions``) and the histories
(a ``task`` column). ``evaluate``'s task table adds a ``single_task`` row per head
from the predictions, with Δ = multi-task FP32 − single-task.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from quant_sentiment.manifest import write_manifest
from quant_sentiment.multitask_training import task_labels
from quant_sentiment.tasks import MASKED, SINGLE
from quant_sentiment.variants import StagedFolder

logger = logging.getLogger(__name__)
PRODUCER = "finetune_per_task"


def chosen_tasks(
    dataset_spec: dict[str, Any], settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """The entry's tasks ``finetune_per_task.tasks`` names (null: all).

    Raises:
        ValueError: For a task the entry does not have (the setting named).
    """
    tasks = [dict(t) for t in dataset_spec.get("tasks") or []]
    wanted = settings.get("tasks")
    if wanted is None:
        return tasks
    names = [t["name"] for t in tasks]
    unknown = sorted(set(wanted) - set(names))
    if unknown or not wanted:
        raise ValueError(
            f"finetune_per_task.tasks names {unknown or wanted!r}, but "
            f"datasets.{dataset_spec.get('name')} has tasks {names} (null = all)"
        )
    return [t for t in tasks if t["name"] in set(wanted)]


def task_rows(frame: pd.DataFrame, task: dict[str, Any], only: bool) -> pd.DataFrame:
    """The rows labelled for ``task``; a single_label task's ids as ``label_id``."""
    y = task_labels(frame.reset_index(drop=True), task, only)
    keep = y != MASKED if task["kind"] == SINGLE else (y != MASKED).all(axis=1)
    rows = frame.reset_index(drop=True)[keep].reset_index(drop=True)
    if task["kind"] == SINGLE:
        rows = rows.assign(label_id=y[keep], label=[task["labels"][i] for i in y[keep]])
    return rows


def _fit_single(train, valid, task, params, max_length: int):
    """``(model, tokenizer, run)`` of a sequence classifier for one task."""
    from quant_sentiment.modeling import load_model_source
    from quant_sentiment.training import fit_classifier

    source = params["model"]
    label_map = {label: i for i, label in enumerate(task["labels"])}
    model, tokenizer = load_model_source(
        str(source["source"]),
        label_map,
        train["text"].tolist(),
        scratch=source["scratch"],
        revision=source["revision"],
    )
    tokenizer.model_max_length = max_length
    run = fit_classifier(
        model, tokenizer, train, valid, params, max_length, setting="finetune"
    )
    return run.model, tokenizer, run


def _fit_multi(train, valid, task, params, max_length: int):
    """``(model, tokenizer, run)`` of a one-task multi-task model (a sigmoid head)."""
    from quant_sentiment.multitask import multitask_from_source
    from quant_sentiment.multitask_training import fit_multitask

    source, name = params["model"], task["name"]
    block = dict(params.get("multitask") or {})
    for key in ("tasks", "task_weights"):
        block[key] = {k: v for k, v in (block.get(key) or {}).items() if k == name}
    block["aggregate"] = "mean"
    net, tokenizer = multitask_from_source(
        str(source["source"]),
        [task],
        train["text"].tolist(),
        scratch=source["scratch"],
        revision=source["revision"],
    )
    tokenizer.model_max_length = max_length
    run = fit_multitask(
        net, tokenizer, train, valid, {**params, "multitask": block}, max_length
    )
    return run.model, tokenizer, run


def _predict(model, tokenizer, task, texts, max_length, batch_size) -> dict:
    """The task's prediction and probability columns on ``texts``."""
    from scipy.special import expit, softmax

    name, labels = task["name"], task["labels"]
    if task["kind"] == SINGLE:
        from quant_sentiment.inference import predict_logits

        z = predict_logits(
            model, tokenizer, texts, max_length=max_length, batch_size=batch_size
        )
        out = {f"pred_id__{name}": z.argmax(axis=1)}
        probs = softmax(z, axis=1)
    else:
        from quant_sentiment.formats.multitask import in_memory

        z = in_memory(model, tokenizer, max_length).predict_task_logits(
            texts, batch_size
        )[name]
        out = {
            f"pred__{name}__{c}": (z[:, i] > 0).astype(int)
            for i, c in enumerate(labels)
        }
        probs = expit(z)
    for i, label in enumerate(labels):
        out[f"prob__{name}__{label}"] = probs[:, i].round(6)
    return out


def _save(folder, model, tokenizer, task, run, max_length, n_train) -> None:
    from quant_sentiment.formats import hf, multitask

    folder.mkdir(parents=True)
    if task["kind"] == SINGLE:
        hf.write_pretrained(model, tokenizer, folder)
        fields = hf.pretrained_fields(model)
    else:
        fields = multitask.write_hf(model, tokenizer, folder, max_length)
    labels = task["labels"]
    write_manifest(
        folder,
        {
            **fields,
            "producer": PRODUCER,
            "task": dict(task),
            "label_map": {label: i for i, label in enumerate(labels)},
            "max_length": max_length,
            "best_valid_macro_f1": run.best_metric,
            "data": {"train_rows": n_train, "fingerprint": run.data_fingerprint},
        },
    )


def train_single_task_models(  # noqa: PLR0913 - splits, settings and the entry
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    settings: dict[str, Any],
    dataset_spec: dict[str, Any],
) -> tuple[StagedFolder, pd.DataFrame, pd.DataFrame]:
    """Fine-tune one single-task model per chosen task (module docstring).

    Args:
        train: Clean train split with the per-task label columns.
        valid: Clean validation split (each model's early stopping, its task's rows).
        test: Clean test split (every model predicts every row).
        model: ``params:model`` (``max_length``).
        params: ``params:finetune`` (the multi-task model's recipe and encoder).
        settings: ``params:finetune_per_task`` (``tasks``: which heads, null = all).
        dataset_spec: ``params:dataset_spec`` (its tasks).

    Returns:
        ``(models, test_predictions, history)``.
    """
    from transformers import set_seed

    from quant_sentiment.training import limit_rows

    tasks = chosen_tasks(dataset_spec, settings)
    only = len(dataset_spec.get("tasks") or []) == 1
    max_length = int(model["max_length"])
    seed = int(params["training_args"]["seed"])
    batch = int(params["training_args"]["per_device_eval_batch_size"])
    texts = test["text"].astype(str).tolist()
    staged, columns, histories = StagedFolder(), {"text": texts}, []
    summary = {}
    for task in tasks:
        set_seed(seed)
        tr = limit_rows(task_rows(train, task, only), params["max_train_samples"], seed)
        va = limit_rows(task_rows(valid, task, only), params["max_eval_samples"], seed)
        logger.info(
            "Single-task model for %s: %d train / %d valid rows",
            task["name"],
            len(tr),
            len(va),
        )
        fit = _fit_single if task["kind"] == SINGLE else _fit_multi
        net, tokenizer, run = fit(tr, va, task, params, max_length)
        columns.update(_predict(net, tokenizer, task, texts, max_length, batch))
        _save(
            staged.folder / task["name"], net, tokenizer, task, run, max_length, len(tr)
        )
        histories.append(run.history.assign(task=task["name"]))
        summary[task["name"]] = {
            "kind": task["kind"],
            "train_rows": len(tr),
            "best_valid_macro_f1": run.best_metric,
        }
    write_manifest(
        staged.folder,
        {
            "producer": PRODUCER,
            "status": "ok",
            "format": "single_task_models",
            "model_source": str(params["model"]["source"]),
            "tasks": summary,
        },
    )
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    return staged, pd.DataFrame(columns), history
