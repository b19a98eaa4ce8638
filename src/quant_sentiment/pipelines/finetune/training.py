"""Trainer pieces: losses, metrics, timing callback, run fingerprint."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
import pandas as pd
from transformers import TrainerCallback


def class_weights(label_ids: pd.Series, num_labels: int, mode: str | None):
    """Return a float tensor of per-class weights, or ``None``.

    ``mode: balanced`` uses scikit-learn's ``compute_class_weight("balanced")``:
    ``n_samples / (n_classes * count)``.
    """
    if mode in (None, "none"):
        return None
    if mode != "balanced":
        raise ValueError(
            f"finetune.class_weights must be 'none' or 'balanced', got {mode!r}"
        )
    import torch
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.arange(num_labels)
    present = np.unique(label_ids)
    if len(present) != num_labels:
        raise ValueError(
            f"Balanced class weights need every class in train; found {present}"
        )
    weights = compute_class_weight("balanced", classes=classes, y=label_ids.to_numpy())
    return torch.tensor(weights, dtype=torch.float32)


def make_loss(kind: str, weights, gamma: float = 2.0):
    """Build a ``compute_loss_func`` for the Trainer, or ``None`` for the model's own.

    Args:
        kind: ``cross_entropy`` or ``focal`` (Lin et al. 2017, multi-class form:
            ``-(1 - p_t)^gamma * log p_t``, optionally class-weighted).
        weights: Per-class weights (tensor) or ``None``.
        gamma: Focal-loss focusing parameter.
    """
    import torch.nn.functional as F

    if kind not in {"cross_entropy", "focal"}:
        raise ValueError(
            f"finetune.loss must be 'cross_entropy' or 'focal', got {kind!r}"
        )
    if kind == "cross_entropy" and weights is None:
        return None

    def loss_func(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        w = None if weights is None else weights.to(logits.device)
        if kind == "cross_entropy":
            return F.cross_entropy(logits, labels, weight=w)
        log_p = F.log_softmax(logits, dim=-1)
        log_pt = log_p.gather(1, labels[:, None]).squeeze(1)
        focal = -((1 - log_pt.exp()) ** gamma) * log_pt
        if w is None:
            return focal.mean()
        wt = w[labels]
        return (wt * focal).sum() / wt.sum()

    return loss_func


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
