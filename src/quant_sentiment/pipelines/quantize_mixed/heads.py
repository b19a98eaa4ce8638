"""The heads ``quantize_mixed`` scores: every head of a multi-task model, or the one
head of a sequence classifier (the one-task case of the same code).

A graph's validation logits are ``{task: logits}`` (:func:`predict_heads`);
:func:`compare_heads` compares them with the FP32 graph's per head and combines the
heads into the columns the ranking, the candidate scan and the budget read:

- ``mean_kl``: the mean over heads of each head's mean KL(FP32 ‖ variant) per text
  (softmax for a single_label head; for a multi_label head the KL of its
  independent Bernoulli outputs, summed over classes); ``max_kl`` the largest;
- ``flips``: texts on which any head's decision changes (argmax; for multi_label
  any class's ``logit > 0``);
- ``macro_f1``: the aggregate of the heads' validation metrics on their unmasked
  rows, as training chose the best checkpoint (``finetune.multitask.aggregate``,
  read from the FP32 manifest: ``mean`` of every head's metric, or one task's);
  ``delta_macro_f1`` and ``reference_macro_f1`` against FP32's;
- with more than one head, ``macro_f1__<task>``, ``delta_macro_f1__<task>`` and
  ``mean_kl__<task>`` per head.

For one head these are exactly the single-task figures (KL of the class
probabilities, argmax flips, macro-F1 over the classes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.formats import onnx
from quant_sentiment.formats._base import id2label_of
from quant_sentiment.formats.multitask import graph_classifier, is_multitask_model
from quant_sentiment.modeling import ModelBundle, label_names
from quant_sentiment.multitask_metrics import task_scores
from quant_sentiment.multitask_training import task_labels
from quant_sentiment.tasks import SINGLE

#: The name of a sequence classifier's one head.
ONE_HEAD = "label"


def mixed_tasks(bundle: ModelBundle, model: dict[str, Any]) -> list[dict[str, Any]]:
    """The heads scored: a multi-task model's tasks, or one single_label task over
    ``model.label_map`` (whose labels are the split's ``label_id``)."""
    if is_multitask_model(bundle.model):
        return [dict(t) for t in bundle.model.config.tasks]
    labels = label_names(model["label_map"])
    return [{"name": ONE_HEAD, "kind": SINGLE, "labels": labels, "metric": "macro_f1"}]


def aggregate_of(bundle: ModelBundle) -> str:
    """``finetune.multitask.aggregate`` as the FP32 model was trained (``mean``
    when its manifest does not record one, and for a one-task model)."""
    training = (bundle.metadata or {}).get("training") or {}
    return str((training.get("multitask") or {}).get("aggregate", "mean"))


def predict_heads(
    graph: bytes,
    bundle: ModelBundle,
    texts: list[str],
    params: dict[str, Any],
    model: dict[str, Any],
) -> dict[str, np.ndarray]:
    """``{task: logits}`` of a serialized ONNX graph on ``texts`` (ONNX Runtime,
    batched; a graph with dynamic activation scales per text)."""
    batch = int(params["predict"]["batch_size"])
    if is_multitask_model(bundle.model):
        classifier = graph_classifier(
            graph,
            bundle.tokenizer,
            bundle.model.config.tasks,
            model["max_length"],
            model["threads"],
        )
        return classifier.predict_task_logits(texts, batch_size=batch)
    classifier = onnx.OnnxClassifier(
        graph,
        bundle.tokenizer,
        id2label_of(bundle.model.config),
        max_length=model["max_length"],
        threads=model["threads"],
    )
    return {ONE_HEAD: classifier.predict_logits(texts, batch_size=batch)}


def _kl_and_decisions(task, reference: np.ndarray, logits: np.ndarray):
    """Per text: KL(reference ‖ variant) and whether the decision differs."""
    from scipy.special import log_expit, log_softmax

    ref, var = reference.astype(np.float64), logits.astype(np.float64)
    if task["kind"] == SINGLE:
        log_ref, log_var = log_softmax(ref, axis=1), log_softmax(var, axis=1)
        kl = (np.exp(log_ref) * (log_ref - log_var)).sum(axis=1)
        return kl, ref.argmax(1) != var.argmax(1)
    p = np.exp(log_expit(ref))
    kl = p * (log_expit(ref) - log_expit(var)) + (1 - p) * (
        log_expit(-ref) - log_expit(-var)
    )
    return kl.sum(axis=1), ((ref > 0) != (var > 0)).any(axis=1)


def aggregate_score(scores: dict[str, float], aggregate: str) -> float:
    """The heads' metrics combined as training chose its best checkpoint."""
    chosen = list(scores) if aggregate == "mean" else [aggregate]
    return float(np.nanmean([scores[name] for name in chosen]))


def compare_heads(
    reference: dict[str, np.ndarray],
    logits: dict[str, np.ndarray],
    frame: pd.DataFrame,
    tasks: list[dict[str, Any]],
    aggregate: str = "mean",
) -> dict[str, float]:
    """Every head of a variant against FP32 on ``frame`` (module docstring)."""
    kls, flipped, scores, ref_scores, per_head = [], None, {}, {}, {}
    for task in tasks:
        name = task["name"]
        kl, flips = _kl_and_decisions(task, reference[name], logits[name])
        y = task_labels(frame, task, len(tasks) == 1)
        scores[name] = task_scores(task, logits[name], y)[task["metric"]]
        ref_scores[name] = task_scores(task, reference[name], y)[task["metric"]]
        kls.append(kl)
        flipped = flips if flipped is None else flipped | flips
        per_head |= {
            f"macro_f1__{name}": scores[name],
            f"delta_macro_f1__{name}": scores[name] - ref_scores[name],
            f"mean_kl__{name}": float(kl.mean()),
        }
    score = aggregate_score(scores, aggregate)
    reference_score = aggregate_score(ref_scores, aggregate)
    n_flips = int(flipped.sum())
    return {
        "mean_kl": float(np.mean([kl.mean() for kl in kls])),
        "max_kl": float(max(kl.max() for kl in kls)),
        "flips": n_flips,
        "flip_rate": n_flips / len(frame),
        "macro_f1": score,
        "delta_macro_f1": score - reference_score,
        "reference_macro_f1": reference_score,
        **(per_head if len(tasks) > 1 else {}),
    }
