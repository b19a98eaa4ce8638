"""Training a :class:`~quant_sentiment.multitask.MultiTaskModel` through the one
Trainer builder (:func:`quant_sentiment.training.build_trainer`).

:func:`fit_multitask` is the multi-task form of ``training.fit_classifier``: the same
``finetune``-shaped block (``training_args`` passed through, ``padding``,
``early_stopping_patience``, ``checkpoint_dir``, ``resume``, ``keep_checkpoints``,
``oversample``, ``loss``) plus an optional ``multitask`` block:

- ``weighting``: ``fixed`` (with ``task_weights: {task: w}``) or ``uncertainty``
  (``log_var_lr``: the learned weights' own learning rate, default
  :data:`LOG_VAR_LR`, no weight decay);
- ``tasks: {task: {kind, focal_gamma, class_weights}}``: per-head loss settings over
  the block's ``loss`` defaults (``class_weights: balanced`` is computed on that
  task's unmasked train rows; for a multi_label head it is the positive-class weight
  ``negatives / positives`` per class);
- ``sampling``: the task-sampling rule of a pool (below);
- ``aggregate``: ``mean`` (the mean of every task's metric, default) or a task name;
  it is reported as ``macro_f1`` and chooses the best checkpoint and early stopping.

Rows carry their labels as the registry's per-task columns (``label_id__<task>``,
``label__<task>__<class>``; :mod:`quant_sentiment.tasks`), or, for a one-task model
on a single-task split, the usual ``label_id``. The block's ``oversample`` applies
to the primary ``label_id`` as in a single-task run; then ``multitask.sampling``
(``rule``: proportional / temperature / uniform, ``temperature``, ``seed``) redraws
the train rows of a pool by task group (:mod:`quant_sentiment.task_sampling`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import TrainerCallback

from quant_sentiment.multitask_metrics import LossWeightsLogger, multitask_metrics
from quant_sentiment.tasks import MASKED, SINGLE
from quant_sentiment.training import (
    CLASSIFIER_FIXED_ARGS,
    ClassifierRun,
    EpochTimer,
    TrainerSpec,
    build_trainer,
    class_weights,
    fingerprint,
    finish_run,
    global_batch_size,
    history_frame,
    last_checkpoint,
    padding_collator,
)


# ------------------------------------------------------------------ labels and data
def label_key(task: str) -> str:
    """The batch key (and ``forward`` keyword) of a task's labels."""
    return f"labels__{task}"


def task_labels(frame: pd.DataFrame, task: dict[str, Any], only: bool) -> np.ndarray:
    """A task's labels from a split: class ids (single_label, ``-100`` masked) or a
    0/1 matrix (multi_label, ``-100`` rows masked). ``only``: the model has this one
    task, so a plain ``label_id`` column serves (the one-task case).

    Raises:
        ValueError: Naming the missing column(s).
    """
    name = task["name"]
    if task["kind"] == SINGLE:
        for column in (f"label_id__{name}", *(["label_id"] if only else [])):
            if column in frame:
                return frame[column].astype(int).to_numpy()
        raise ValueError(
            f"the split has no column label_id__{name} for task {name!r} (columns: "
            f"{list(frame.columns)}); is the dataset entry's tasks block declared?"
        )
    columns = [f"label__{name}__{c}" for c in task["labels"]]
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"the split has no column(s) {missing} for task {name!r}")
    return frame[columns].astype(int).to_numpy()


def multitask_dataset(frame: pd.DataFrame, tokenizer, max_length: int, tasks):
    """A ``datasets.Dataset`` of token ids, ``length`` and ``labels__<task>``."""
    from datasets import Dataset

    data = {"text": frame["text"].tolist()}
    for task in tasks:
        data[label_key(task["name"])] = task_labels(
            frame, task, len(tasks) == 1
        ).tolist()

    def tokenize(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return Dataset.from_dict(data).map(
        tokenize, batched=True, remove_columns=["text"], desc="tokenize"
    )


class MultiTaskCollator:
    """Dynamic (or ``max_length``) padding of the token fields
    (``training.padding_collator``), with every ``labels__<task>`` stacked: class
    ids as ``long``, multi-label rows as ``float`` (``-100`` kept as the mask)."""

    def __init__(self, tokenizer, padding: str, max_length: int, tasks, setting: str):
        self.pad = padding_collator(tokenizer, padding, max_length, setting)
        self.kinds = {label_key(t["name"]): t["kind"] for t in tasks}

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        tokens = [
            {k: v for k, v in f.items() if k not in self.kinds and k != "length"}
            for f in features
        ]
        batch = dict(self.pad(tokens))
        for key, kind in self.kinds.items():
            if key in features[0]:
                values = [f[key] for f in features]
                dtype = torch.long if kind == SINGLE else torch.float32
                batch[key] = torch.tensor(values, dtype=dtype)
        return batch


# ------------------------------------------------------------------ loss settings
def loss_settings(
    model, train: pd.DataFrame, params: dict[str, Any], setting: str
) -> dict[str, Any]:
    """``config.loss`` of the run: weighting and per-task losses, with
    ``class_weights: balanced`` turned into numbers from the train rows."""
    tasks = model.config.tasks
    block = params.get("multitask") or {}
    check_block(block, [t["name"] for t in tasks], f"{setting}.multitask")
    defaults = params.get("loss") or {"kind": "cross_entropy"}
    per_task = {}
    for task in tasks:
        cfg = {**defaults, **((block.get("tasks") or {}).get(task["name"]) or {})}
        mode = cfg.pop("class_weights", None)
        y = task_labels(train, task, len(tasks) == 1)
        where = f"{setting}.multitask.tasks.{task['name']}"
        cfg["class_weights"] = _weights(task, y, mode, where)
        per_task[task["name"]] = cfg
    return {
        "weighting": block.get("weighting", "fixed"),
        "task_weights": dict(block.get("task_weights") or {}),
        "tasks": per_task,
    }


BLOCK_KEYS = {
    "weighting",
    "task_weights",
    "tasks",
    "aggregate",
    "sampling",
    "log_var_lr",
}
TASK_LOSS_KEYS = {"kind", "focal_gamma", "class_weights"}


def check_block(block: dict[str, Any], names: list[str], where: str) -> None:
    """Stop on an unknown key or task in the ``multitask`` block (named).

    Raises:
        ValueError: Naming ``<pipeline>.multitask.<key>``.
    """
    unknown = sorted(set(block) - BLOCK_KEYS)
    if unknown:
        raise ValueError(
            f"{where}: unknown setting(s) {unknown}; allowed: {sorted(BLOCK_KEYS)}"
        )
    for key in ("tasks", "task_weights"):
        strays = sorted(set(block.get(key) or {}) - set(names))
        if strays:
            raise ValueError(
                f"{where}.{key} names task(s) {strays} the model does not have "
                f"(tasks: {names})"
            )
    for name, cfg in (block.get("tasks") or {}).items():
        unknown = sorted(set(cfg or {}) - TASK_LOSS_KEYS)
        if unknown:
            raise ValueError(
                f"{where}.tasks.{name}: unknown setting(s) {unknown}; allowed: "
                f"{sorted(TASK_LOSS_KEYS)}"
            )


def _weights(task, y: np.ndarray, mode, where: str) -> list[float] | None:
    if task["kind"] == SINGLE:
        kept = pd.Series(y[y != MASKED])
        weights = class_weights(kept, len(task["labels"]), mode, where)
        return None if weights is None else weights.tolist()
    if mode in (None, "none"):
        return None
    if mode != "balanced":
        raise ValueError(f"{where}.class_weights must be 'none' or 'balanced'")
    rows = y[(y != MASKED).all(-1)]
    positives = rows.sum(0)
    if (positives == 0).any():
        raise ValueError(f"{where}: balanced weights need a positive row per class")
    return ((len(rows) - positives) / positives).astype(float).tolist()


# ------------------------------------------------------------------ the recipe
#: Default learning rate of the uncertainty weights' ``log_vars``. At a fine-tuning
#: rate (5e-5) they barely move: 720 hate-speech rows x 3 epochs (69 steps) changed
#: every weight by < 0.002 (``bench.multitask``), so they get their own rate.
LOG_VAR_LR = 1e-2


def add_log_var_group(trainer, model, lr: float) -> None:
    """Build the Trainer's optimizer with ``log_vars`` in a group of their own:
    learning rate ``lr`` (``multitask.log_var_lr``), no weight decay (which would
    pull every weight towards 1). The scheduler (warmup, decay) still scales it."""
    model.log_vars.requires_grad_(False)
    optimizer = trainer.create_optimizer()
    model.log_vars.requires_grad_(True)
    optimizer.add_param_group(
        {"params": [model.log_vars], "lr": lr, "weight_decay": 0.0}
    )


def fit_multitask(  # noqa: PLR0913 - the shared recipe's inputs and hooks
    model,
    tokenizer,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: dict[str, Any],
    max_length: int,
    setting: str = "finetune",
    callbacks: tuple[TrainerCallback, ...] = (),
    prepare_model: Callable[[Any], Any] | None = None,
) -> ClassifierRun:
    """Train a multi-task model (module docstring); returns the best checkpoint by
    the aggregate, in FP32, with a per-epoch history (per-task validation macro-F1
    and loss weights as extra columns). ``prepare_model`` is the Trainer builder's
    hook (``quantize_qat`` inserts fake quantization there), applied in place."""
    from quant_sentiment.multitask import check_config
    from quant_sentiment.sampling import oversample
    from quant_sentiment.task_sampling import sample_tasks

    tasks = model.config.tasks
    block = params.get("multitask") or {}
    check_block(block, [t["name"] for t in tasks], f"{setting}.multitask")
    train = oversample(train, params.get("oversample"), f"{setting}.oversample")
    train = sample_tasks(
        train, tasks, block.get("sampling"), f"{setting}.multitask.sampling"
    )
    model.config.loss = loss_settings(model, train, params, setting)
    check_config(model.config)
    uncertainty = model.config.loss["weighting"] == "uncertainty"
    model.log_vars.requires_grad_(uncertainty)
    columns = ["text", *[c for c in train.columns if c.startswith("label")]]
    data_fp = fingerprint(
        train[columns].to_dict("list"), valid[columns].to_dict("list")
    )
    out_dir = Path(params["checkpoint_dir"]) / fingerprint(
        params, max_length, tasks, data_fp
    )
    timer, weights_log = EpochTimer(), LossWeightsLogger()
    spec = TrainerSpec(
        output_dir=str(out_dir),
        training_args=params["training_args"],
        fixed_args={
            **CLASSIFIER_FIXED_ARGS,
            "label_names": [label_key(t["name"]) for t in tasks],
        },
        early_stopping_patience=params.get("early_stopping_patience"),
        prepare_model=prepare_model,
    )
    trainer = build_trainer(
        model,
        spec,
        callbacks=[timer, weights_log, *callbacks],
        train_dataset=multitask_dataset(train, tokenizer, max_length, tasks),
        eval_dataset=multitask_dataset(valid, tokenizer, max_length, tasks),
        processing_class=tokenizer,
        data_collator=MultiTaskCollator(
            tokenizer, params["padding"], max_length, tasks, f"{setting}.padding"
        ),
        compute_metrics=multitask_metrics(tasks, block.get("aggregate", "mean")),
    )
    if uncertainty:
        add_log_var_group(trainer, model, float(block.get("log_var_lr", LOG_VAR_LR)))
    resumed_from = last_checkpoint(out_dir, params.get("resume", False))
    result = trainer.train(resume_from_checkpoint=resumed_from)
    history = multitask_history(
        trainer.state.log_history,
        timer.epochs,
        global_batch_size(trainer.args),
        len(train),
        tasks,
    )
    return finish_run(trainer, result, history, out_dir, params, resumed_from, data_fp)


def multitask_history(
    log_history: list[dict[str, Any]],
    epochs: list[dict[str, float]],
    batch: int,
    n_train: int,
    tasks: list[dict[str, Any]],
) -> pd.DataFrame:
    """``training.history_frame`` plus, per epoch, each head's validation macro-F1
    (``eval_macro_f1__<task>``) and loss weight (``loss_weight__<task>``)."""
    history = history_frame(log_history, epochs, batch, n_train)
    evals = [r for r in log_history if "eval_loss" in r]
    weights = {
        round(float(r["epoch"]), 2): r
        for r in log_history
        if any(k.startswith("loss_weight__") for k in r)
    }
    for task in tasks:
        name = task["name"]
        history[f"eval_macro_f1__{name}"] = [
            r.get(f"eval_macro_f1__{name}") for r in evals
        ]
        history[f"loss_weight__{name}"] = [
            weights.get(e, {}).get(f"loss_weight__{name}") for e in history["epoch"]
        ]
    return history
