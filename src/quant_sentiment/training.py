"""One Trainer builder for every training pipeline (finetune, quantize_qat, embed_finetune).

The pieces, from general to classifier-specific:

- :func:`training_arguments` builds ``TrainingArguments`` (or a subclass such as
  ``SentenceTransformerTrainingArguments``) from the YAML block ``training_args``
  **passed through as is**, plus the few settings a pipeline fixes. A key that is both
  configured and fixed is an error, so no setting is silently overridden.
- :func:`build_trainer` wires a Trainer (or a subclass) from a :class:`TrainerSpec`:
  the arguments, the ``prepare_model`` hook (QAT inserts fake quantization there), a
  ``compute_loss_func``, early stopping and extra callbacks.
- :func:`make_loss` is a small registry of classification losses configured by the
  ``loss`` block (``cross_entropy``, ``focal``; class weights for both); new kinds
  (e.g. distillation) register with :func:`register_loss`.
- :func:`fit_classifier` runs the whole sequence-classification recipe shared by
  ``finetune`` and ``quantize_qat``: tokenization, dynamic or fixed padding,
  evaluation each epoch, early stopping and the best checkpoint by validation
  macro-F1, resume from the last checkpoint of an identical run, per-epoch history.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import TrainerCallback

logger = logging.getLogger(__name__)

#: Settings every sequence-classifier run fixes (the rest comes from ``training_args``):
#: one evaluation, checkpoint and loss record per epoch (the history is per epoch) and
#: the best checkpoint by validation macro-F1.
CLASSIFIER_FIXED_ARGS: dict[str, Any] = {
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "epoch",
    "load_best_model_at_end": True,
    "metric_for_best_model": "macro_f1",
    "greater_is_better": True,
    # Under DDP (torchrun) transformers multiplies the loss by the world size when
    # this is on, expecting a token-summed LM loss; a classifier's loss is a per-example
    # mean, so it would train with a world-size-times larger gradient (the reported
    # loss doubled on 2 processes). Off, 2 x batch 8 tracks 1 x batch 16 (docs/scale.md).
    "average_tokens_across_devices": False,
}

PADDING_MODES = ("dynamic", "max_length")


# --------------------------------------------------------------------------- losses

LossBuilder = Callable[[dict[str, Any], Any], Callable | None]
LOSSES: dict[str, LossBuilder] = {}


def register_loss(kind: str) -> Callable[[LossBuilder], LossBuilder]:
    """Register ``builder(loss_cfg, weights) -> compute_loss_func | None`` as ``kind``."""

    def decorator(builder: LossBuilder) -> LossBuilder:
        LOSSES[kind] = builder
        return builder

    return decorator


@register_loss("cross_entropy")
def _cross_entropy(cfg: dict[str, Any], weights) -> Callable | None:
    """Cross-entropy; without class weights the model's own loss (``None``) is used."""
    import torch.nn.functional as F

    if weights is None:
        return None

    def loss_func(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        return F.cross_entropy(logits, labels, weight=weights.to(logits.device))

    return loss_func


@register_loss("focal")
def _focal(cfg: dict[str, Any], weights) -> Callable:
    """Focal loss (Lin et al. 2017, multi-class): ``-(1 - p_t)^gamma * log p_t``.

    With class weights the mean is weighted by the weight of each example's class.
    """
    import torch.nn.functional as F

    gamma = float(cfg["focal_gamma"])

    def loss_func(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        log_pt = F.log_softmax(logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
        focal = -((1 - log_pt.exp()) ** gamma) * log_pt
        if weights is None:
            return focal.mean()
        wt = weights.to(logits.device)[labels]
        return (wt * focal).sum() / wt.sum()

    return loss_func


def make_loss(cfg: dict[str, Any], weights=None, setting: str = "loss.kind"):
    """A Trainer ``compute_loss_func`` from the ``loss`` block, or ``None`` (model's own).

    Args:
        cfg: ``{"kind": ..., <options of that kind>}`` (e.g. ``focal_gamma``).
        weights: Per-class weights (tensor, see :func:`class_weights`) or ``None``.
        setting: The parameter name quoted in errors (e.g. ``finetune.loss.kind``).

    Raises:
        ValueError: If ``kind`` is not registered.
    """
    kind = cfg["kind"]
    if kind not in LOSSES:
        raise ValueError(f"{setting} must be one of {sorted(LOSSES)}, got {kind!r}")
    return LOSSES[kind](cfg, weights)


def class_weights(
    label_ids: pd.Series, num_labels: int, mode: str | None, setting: str = "loss"
):
    """Return a float tensor of per-class weights, or ``None``.

    ``mode: balanced`` uses scikit-learn's ``compute_class_weight("balanced")``:
    ``n_samples / (n_classes * count)``.
    """
    if mode in (None, "none"):
        return None
    if mode != "balanced":
        raise ValueError(
            f"{setting}.class_weights must be 'none' or 'balanced', got {mode!r}"
        )
    import torch
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(label_ids)
    if len(present) != num_labels:
        raise ValueError(
            f"Balanced class weights need every class in train; found {present}"
        )
    weights = compute_class_weight(
        "balanced", classes=np.arange(num_labels), y=label_ids.to_numpy()
    )
    return torch.tensor(weights, dtype=torch.float32)


# ------------------------------------------------------------- metrics and callbacks


def compute_eval_metrics(eval_pred) -> dict[str, float]:
    """Accuracy and macro-F1 for the Trainer's evaluation loop."""
    from sklearn.metrics import accuracy_score, f1_score

    logits, labels = eval_pred
    preds = np.asarray(logits).argmax(axis=-1)
    return {
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
    }


class EpochTimer(TrainerCallback):
    """Record the pure training time of each epoch (evaluation excluded).

    The Trainer evaluates after ``on_epoch_end``, so the span from ``on_epoch_begin``
    to ``on_epoch_end`` is training only; its own ``train_samples_per_second``
    includes evaluation time.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self._start = 0.0
        self._step0 = 0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        self._step0 = state.global_step

    def on_epoch_end(self, args, state, control, **kwargs):
        self.epochs.append(
            {
                "epoch": round(state.epoch or 0.0, 4),
                "train_seconds": time.perf_counter() - self._start,
                "steps": state.global_step - self._step0,
            }
        )


def fingerprint(*objects: Any) -> str:
    """A short stable hash of JSON-serialisable objects (config + data)."""
    h = hashlib.sha256()
    for obj in objects:
        h.update(json.dumps(obj, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def history_frame(
    log_history: list[dict[str, Any]],
    epochs: list[dict[str, float]],
    train_batch_size: int,
    n_train: int,
) -> pd.DataFrame:
    """One row per epoch: train loss, validation metrics and training speed.

    Expects ``logging_strategy="epoch"`` (one training-loss record per epoch). Epochs
    run before a resume have no timing (``NaN``).
    """

    def key(epoch: float | None) -> float:
        return round(float(epoch or 0.0), 2)

    train_loss = {
        key(r["epoch"]): r["loss"]
        for r in log_history
        if "loss" in r and "eval_loss" not in r
    }
    timing = {key(e["epoch"]): e for e in epochs}
    rows = []
    for ev in (r for r in log_history if "eval_loss" in r):
        k = key(ev.get("epoch"))
        row = {
            "epoch": k,
            "step": ev.get("step"),
            "train_loss": train_loss.get(k, np.nan),
            "eval_loss": ev.get("eval_loss"),
            "eval_accuracy": ev.get("eval_accuracy"),
            "eval_macro_f1": ev.get("eval_macro_f1"),
            "train_seconds": np.nan,
            "train_samples_per_second": np.nan,
        }
        if k in timing and timing[k]["train_seconds"] > 0:
            seconds = timing[k]["train_seconds"]
            samples = min(timing[k]["steps"] * train_batch_size, n_train)
            row.update(
                train_seconds=seconds, train_samples_per_second=samples / seconds
            )
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the builder


def training_arguments(
    output_dir: str,
    training_args: dict[str, Any],
    fixed: dict[str, Any] | None = None,
    args_class: type | None = None,
):
    """``args_class(output_dir=..., **training_args, **fixed)``.

    ``training_args`` is the YAML block of real ``TrainingArguments`` keywords, passed
    through unchanged (transformers 5.23: a float ``warmup_steps`` below 1 is a ratio
    of the total steps; ``train_sampling_strategy: group_by_length`` replaces
    ``group_by_length``). ``fixed`` holds what the pipeline requires; the project also
    sets ``report_to="none"`` and ``use_cpu`` only when no CUDA device is visible.

    Raises:
        ValueError: If a configured key is one the pipeline fixes.
    """
    import torch
    from transformers import TrainingArguments

    fixed = {
        **(fixed or {}),
        "report_to": "none",
        "use_cpu": not torch.cuda.is_available(),
    }
    clash = sorted(set(training_args) & (set(fixed) | {"output_dir"}))
    if clash:
        raise ValueError(
            f"training_args must not set {clash}: the pipeline fixes them ({fixed})"
        )
    if fixed["use_cpu"]:
        training_args = cpu_precision(training_args)
    return (args_class or TrainingArguments)(
        output_dir=output_dir, **training_args, **fixed
    )


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's own check)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_precision(training_args: dict[str, Any]) -> dict[str, Any]:
    """``training_args`` with ``bf16`` dropped where this CPU only emulates bfloat16.

    bf16 autocast pays on CPUs with native bfloat16 (AVX512_BF16 / AMX); on others
    (e.g. an AVX2-only AMD EPYC) oneDNN emulates it and a training step measured
    ~15 s instead of ~1 s, so training runs in FP32 there, with a warning naming the
    CPU capability. A CUDA run is never changed (the caller checks).
    """
    import torch

    if not training_args.get("bf16") or native_bf16():
        return training_args
    logger.warning(
        "training_args.bf16 is set but this CPU (%s) has no native bfloat16 "
        "(AVX512_BF16/AMX): training in FP32 instead, which is several times faster "
        "here",
        torch.backends.cpu.get_cpu_capability(),
    )
    return {**training_args, "bf16": False}


@dataclass
class TrainerSpec:
    """What :func:`build_trainer` needs beyond the model and the data.

    Attributes:
        output_dir: Checkpoint folder of this run.
        training_args: The ``training_args`` YAML block (passed through as is).
        fixed_args: Settings the pipeline fixes (see :data:`CLASSIFIER_FIXED_ARGS`).
        prepare_model: Applied once to the model before the Trainer is built; its
            return value is trained (QAT inserts fake quantization here).
        compute_loss_func: From :func:`make_loss` (``None``: the model's own loss).
        early_stopping_patience: Evaluations without improvement before stopping
            (``None``: no early stopping).
        trainer_class / args_class: ``Trainer`` / ``TrainingArguments`` or subclasses
            (``SentenceTransformerTrainer`` / ``SentenceTransformerTrainingArguments``).
    """

    output_dir: str
    training_args: dict[str, Any]
    fixed_args: dict[str, Any] = field(default_factory=dict)
    prepare_model: Callable[[Any], Any] | None = None
    compute_loss_func: Callable | None = None
    early_stopping_patience: int | None = None
    trainer_class: type | None = None
    args_class: type | None = None


def build_trainer(model, spec: TrainerSpec, callbacks=(), **trainer_kwargs):
    """The Trainer of ``spec`` for ``model`` (after ``spec.prepare_model``).

    ``trainer_kwargs`` go to the Trainer unchanged (datasets, collator,
    ``compute_metrics``, ``loss`` / ``evaluator`` for sentence-transformers, ...).
    """
    from transformers import EarlyStoppingCallback, Trainer

    if spec.prepare_model is not None:
        model = spec.prepare_model(model)
    args = training_arguments(
        spec.output_dir, spec.training_args, spec.fixed_args, spec.args_class
    )
    callbacks = list(callbacks)
    if spec.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(int(spec.early_stopping_patience)))
    if spec.compute_loss_func is not None:
        trainer_kwargs["compute_loss_func"] = spec.compute_loss_func
    return (spec.trainer_class or Trainer)(
        model=model, args=args, callbacks=callbacks, **trainer_kwargs
    )


def last_checkpoint(output_dir: str | Path, resume: bool) -> str | None:
    """The newest complete ``checkpoint-*`` under ``output_dir`` when ``resume`` (else
    ``None``); incomplete ones (a killed save) are skipped with a warning and removed
    (:mod:`quant_sentiment.checkpoints`)."""
    from quant_sentiment.checkpoints import newest_complete_checkpoint

    if not resume or not Path(output_dir).is_dir():
        return None
    found = newest_complete_checkpoint(output_dir)
    if found:
        logger.info("Resuming from checkpoint %s", found)
    return found


# --------------------------------------------------- the sequence-classifier recipe


def limit_rows(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """A reproducible random subset of ``n`` rows (all rows when ``n`` is null)."""
    if not n or n >= len(frame):
        return frame
    return frame.sample(n=int(n), random_state=seed).reset_index(drop=True)


def tokenized_dataset(frame: pd.DataFrame, tokenizer, max_length: int):
    """A ``datasets.Dataset`` of token ids, ``label`` and ``length`` (for grouping)."""
    from datasets import Dataset

    ds = Dataset.from_dict(
        {
            "text": frame["text"].tolist(),
            "label": frame["label_id"].astype(int).tolist(),
        }
    )

    def tokenize(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return ds.map(tokenize, batched=True, remove_columns=["text"], desc="tokenize")


def padding_collator(tokenizer, padding: str, max_length: int, setting: str):
    """``DataCollatorWithPadding``: pad to the longest in the batch, or to max_length."""
    from transformers import DataCollatorWithPadding

    if padding not in PADDING_MODES:
        raise ValueError(
            f"{setting} must be 'dynamic' or 'max_length', got {padding!r}"
        )
    dynamic = padding == "dynamic"
    return DataCollatorWithPadding(
        tokenizer,
        padding="longest" if dynamic else "max_length",
        max_length=None if dynamic else max_length,
    )


@dataclass
class ClassifierRun:
    """The outcome of :func:`fit_classifier`."""

    model: Any
    history: pd.DataFrame
    best_metric: float | None
    resumed_from: str | None
    data_fingerprint: str
    train_runtime: float


def run_dir(
    params: dict[str, Any], max_length: int, label2id: dict, train, valid
) -> tuple[Path, str]:
    """``(checkpoint_dir/<fingerprint>, data fingerprint)`` of a classifier run.

    The fingerprint covers the configuration, ``max_length``, the label map and the
    data, so a rerun of an interrupted identical run finds its checkpoints.
    """
    data_fp = fingerprint(
        train[["text", "label_id"]].to_dict("list"),
        valid[["text", "label_id"]].to_dict("list"),
    )
    run_fp = fingerprint(params, max_length, label2id, data_fp)
    return Path(params["checkpoint_dir"]) / run_fp, data_fp


def classifier_spec(
    params: dict[str, Any],
    output_dir: Path,
    weights,
    prepare_model: Callable[[Any], Any] | None,
    setting: str,
) -> TrainerSpec:
    """The :class:`TrainerSpec` of a sequence-classifier run (``finetune``-shaped block)."""
    return TrainerSpec(
        output_dir=str(output_dir),
        training_args=params["training_args"],
        fixed_args=CLASSIFIER_FIXED_ARGS,
        prepare_model=prepare_model,
        compute_loss_func=make_loss(params["loss"], weights, f"{setting}.loss.kind"),
        early_stopping_patience=params["early_stopping_patience"],
    )


def fit_classifier(  # noqa: PLR0913 - the shared recipe's inputs and hooks
    model,
    tokenizer,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: dict[str, Any],
    max_length: int,
    prepare_model: Callable[[Any], Any] | None = None,
    setting: str = "finetune",
    callbacks: tuple[TrainerCallback, ...] = (),
) -> ClassifierRun:
    """Train a sequence classifier on clean splits (``text``, ``label_id``).

    ``params`` is shaped like ``finetune`` (``training_args``, ``loss``, ``padding``,
    ``early_stopping_patience``, ``checkpoint_dir``, ``resume``, ``keep_checkpoints``);
    ``setting`` names it in errors; ``callbacks`` join the Trainer's (e.g. the
    hyperparameter search's pruning callback). Resumes from the last checkpoint of an identical
    run (:func:`run_dir`). Returns the best checkpoint by validation macro-F1, in FP32.
    """
    from quant_sentiment.sampling import oversample

    # Training rows only (validation untouched); `oversample` absent or off: as is.
    train = oversample(train, params.get("oversample"), f"{setting}.oversample")
    label2id = dict(model.config.label2id)
    out_dir, data_fp = run_dir(params, max_length, label2id, train, valid)
    weights = class_weights(
        train["label_id"],
        len(label2id),
        params["loss"]["class_weights"],
        f"{setting}.loss",
    )
    timer = EpochTimer()
    trainer = build_trainer(
        model,
        classifier_spec(params, out_dir, weights, prepare_model, setting),
        callbacks=[timer, *callbacks],
        train_dataset=tokenized_dataset(train, tokenizer, max_length),
        eval_dataset=tokenized_dataset(valid, tokenizer, max_length),
        processing_class=tokenizer,
        data_collator=padding_collator(
            tokenizer, params["padding"], max_length, f"{setting}.padding"
        ),
        compute_metrics=compute_eval_metrics,
    )
    resumed_from = last_checkpoint(out_dir, params["resume"])
    result = trainer.train(resume_from_checkpoint=resumed_from)
    global_batch = global_batch_size(trainer.args)
    logger.info(
        "%s: world size %d, global train batch %d",
        setting,
        trainer.args.world_size,
        global_batch,
    )
    history = history_frame(
        trainer.state.log_history, timer.epochs, global_batch, len(train)
    )
    history["world_size"] = trainer.args.world_size
    history["global_train_batch_size"] = global_batch
    return finish_run(trainer, result, history, out_dir, params, resumed_from, data_fp)


def global_batch_size(args: Any) -> int:
    """The batch one optimizer step sees: under torchrun each of ``world_size``
    processes takes per-device batches, accumulated ``gradient_accumulation_steps``
    times."""
    return (
        args.per_device_train_batch_size
        * args.world_size
        * args.gradient_accumulation_steps
    )


def finish_run(  # noqa: PLR0913 - the trained run's parts
    trainer: Any,
    result: Any,
    history: pd.DataFrame,
    out_dir: Path,
    params: dict[str, Any],
    resumed_from: str | None,
    data_fp: str,
) -> ClassifierRun:
    """The :class:`ClassifierRun` of a finished ``trainer.train``: the best checkpoint
    (loaded by the Trainer) in FP32; the run's checkpoints are deleted unless
    ``params["keep_checkpoints"]``, by rank 0 once every rank has loaded it."""
    trainer.accelerator.wait_for_everyone()
    if not params.get("keep_checkpoints", False) and trainer.is_world_process_zero():
        shutil.rmtree(out_dir, ignore_errors=True)
    return ClassifierRun(
        model=trainer.model.float().eval(),
        history=history,
        best_metric=trainer.state.best_metric,
        resumed_from=resumed_from,
        data_fingerprint=data_fp,
        train_runtime=float(result.metrics.get("train_runtime", float("nan"))),
    )
