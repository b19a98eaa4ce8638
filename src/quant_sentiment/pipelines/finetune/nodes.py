"""Nodes of the ``finetune`` pipeline."""

from __future__ import annotations

import logging
import platform
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from quant_sentiment.inference import predict_logits, predictions_frame
from quant_sentiment.metrics import classification_metrics, confusion_matrix_figure
from quant_sentiment.modeling import ModelBundle, label_maps, load_model_source

from .training import (
    EpochTimer,
    class_weights,
    compute_eval_metrics,
    fingerprint,
    history_frame,
    make_loss,
)

logger = logging.getLogger(__name__)


def _limit(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """A reproducible random subset of ``n`` rows (all rows when ``n`` is null)."""
    if not n or n >= len(frame):
        return frame
    return frame.sample(n=int(n), random_state=seed).reset_index(drop=True)


def _to_hf_dataset(frame: pd.DataFrame, tokenizer, max_length: int):
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


def _versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def train_classifier(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    label_map: dict[str, int],
    params: dict[str, Any],
) -> tuple[ModelBundle, pd.DataFrame]:
    """Fine-tune a sequence classifier with the Hugging Face ``Trainer``.

    Dynamic padding (``DataCollatorWithPadding``) unless ``padding: max_length``;
    optional length-grouped batches, balanced class weights, focal loss, bf16
    autocast; evaluation every epoch, early stopping and the best checkpoint by
    validation macro-F1. Checkpoints go to ``checkpoint_dir/<fingerprint>`` where the
    fingerprint covers the configuration and the data, so an interrupted run with the
    same inputs resumes from its last checkpoint.

    Args:
        train: Clean train split (``text``, ``label_id``).
        valid: Clean validation split.
        label_map: ``{label: id}``.
        params: The ``finetune`` parameters.

    Returns:
        ``(bundle, history)``: the best model with its tokenizer and metadata, and the
        per-epoch history.
    """
    import torch
    from transformers import (
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_utils import get_last_checkpoint

    seed = int(params.get("seed", 42))
    if params.get("threads"):
        torch.set_num_threads(int(params["threads"]))
    set_seed(seed)
    train = _limit(train, params.get("max_train_samples"), seed)
    valid = _limit(valid, params.get("max_eval_samples"), seed)
    model_cfg = params["model"]
    model, tokenizer = load_model_source(
        str(model_cfg["source"]),
        label_map,
        train["text"].tolist(),
        scratch=model_cfg.get("scratch"),
        revision=model_cfg.get("revision"),
    )
    max_length = int(params.get("max_length", 128))
    train_ds = _to_hf_dataset(train, tokenizer, max_length)
    valid_ds = _to_hf_dataset(valid, tokenizer, max_length)
    padding = params.get("padding", "dynamic")
    if padding not in {"dynamic", "max_length"}:
        raise ValueError(
            f"finetune.padding must be 'dynamic' or 'max_length', got {padding!r}"
        )
    collator = DataCollatorWithPadding(
        tokenizer,
        padding="longest" if padding == "dynamic" else "max_length",
        max_length=None if padding == "dynamic" else max_length,
    )
    data_fp = fingerprint(
        train[["text", "label_id"]].to_dict("list"),
        valid[["text", "label_id"]].to_dict("list"),
    )
    run_fp = fingerprint(params, label_map, data_fp)
    out_dir = Path(params.get("checkpoint_dir", "data/06_models/checkpoints")) / run_fp
    batch_size = int(params.get("train_batch_size", 32))
    args = TrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=float(params.get("epochs", 3)),
        max_steps=int(params.get("max_steps", -1)),
        learning_rate=float(params.get("learning_rate", 5e-5)),
        weight_decay=float(params.get("weight_decay", 0.01)),
        warmup_steps=float(params.get("warmup_ratio", 0.1)),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=int(params.get("eval_batch_size", 64)),
        train_sampling_strategy="group_by_length"
        if params.get("group_by_length")
        else "random",
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        bf16=bool(params.get("bf16", False)),
        use_cpu=not torch.cuda.is_available(),
        seed=seed,
        data_seed=seed,
        full_determinism=bool(params.get("full_determinism", False)),
        dataloader_num_workers=0,
        report_to="none",
        disable_tqdm=not params.get("progress", True),
    )
    weights = class_weights(
        train["label_id"], len(label_map), params.get("class_weights")
    )
    timer = EpochTimer()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=valid_ds,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=compute_eval_metrics,
        compute_loss_func=make_loss(
            params.get("loss", "cross_entropy"),
            weights,
            float(params.get("focal_gamma", 2.0)),
        ),
        callbacks=[
            EarlyStoppingCallback(int(params.get("early_stopping_patience", 2))),
            timer,
        ],
    )
    last = (
        get_last_checkpoint(str(out_dir))
        if out_dir.is_dir() and params.get("resume", True)
        else None
    )
    if last:
        logger.info("Resuming from checkpoint %s", last)
    result = trainer.train(resume_from_checkpoint=last)
    history = history_frame(
        trainer.state.log_history, timer.epochs, batch_size, len(train)
    )
    best = trainer.state.best_metric
    logger.info(
        "Best validation macro-F1 %.4f (%s); %d epochs in %.1f s",
        best or float("nan"),
        trainer.state.best_model_checkpoint,
        len(history),
        result.metrics.get("train_runtime", float("nan")),
    )
    id2label, label2id = label_maps(label_map)
    trained = trainer.model.float().eval()
    trained.config.id2label, trained.config.label2id = id2label, label2id
    metadata = {
        "label_map": label2id,
        "model_source": str(model_cfg["source"]),
        "training": params,
        "data": {
            "train_rows": len(train),
            "valid_rows": len(valid),
            "fingerprint": data_fp,
        },
        "best_valid_macro_f1": best,
        "resumed_from": last,
        "versions": _versions(),
    }
    if not params.get("keep_checkpoints", False):
        shutil.rmtree(out_dir, ignore_errors=True)
    return ModelBundle(model=trained, tokenizer=tokenizer, metadata=metadata), history


def predict_split(
    bundle: ModelBundle, split: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """Predict a split with the fine-tuned model; one row per text with probabilities."""
    logits = predict_logits(
        bundle.model,
        bundle.tokenizer,
        split["text"].tolist(),
        batch_size=int(params.get("eval_batch_size", 64)),
        max_length=int(params.get("max_length", 128)),
    )
    return predictions_frame(split, logits, bundle.model.config.id2label)


def compute_test_metrics(
    predictions: pd.DataFrame, label_map: dict[str, int]
) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted-F1 and per-class P/R/F1 on the test split."""
    id2label, _ = label_maps(label_map)
    names = [id2label[i] for i in range(len(id2label))]
    return classification_metrics(
        predictions["label_id"], predictions["pred_id"], names
    )


def plot_confusion_matrix(predictions: pd.DataFrame, label_map: dict[str, int]):
    """Confusion-matrix figure of the test predictions."""
    id2label, _ = label_maps(label_map)
    names = [id2label[i] for i in range(len(id2label))]
    return confusion_matrix_figure(
        predictions["label_id"],
        predictions["pred_id"],
        names,
        title="Fine-tuned model, test split",
    )
