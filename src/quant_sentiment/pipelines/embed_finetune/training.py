"""sentence-transformers pieces: model loading, loss, retrieval evaluator, trainer, history."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Metrics reported from ``InformationRetrievalEvaluator`` (cosine similarity).
RETRIEVAL_METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
SCORE_FUNCTION = "cosine"


def load_sentence_model(model_cfg: dict[str, Any]):
    """Load the base encoder: a hub id (online) or a local folder.

    A plain Hugging Face folder without ``modules.json`` gets mean pooling, as
    ``SentenceTransformer`` does by default. ``max_seq_length`` caps the tokens.
    """
    from sentence_transformers import SentenceTransformer

    source = str(model_cfg["source"])
    looks_local = source.startswith((".", "/", "~")) or Path(source).exists()
    if looks_local and not Path(source).expanduser().is_dir():
        raise FileNotFoundError(
            f"embed_finetune.model.source '{source}' is not a folder."
        )
    # a local folder loads safetensors only (no pickled weights)
    safetensors = {"model_kwargs": {"use_safetensors": True}} if looks_local else {}
    model = SentenceTransformer(source, revision=model_cfg["revision"], **safetensors)
    if model_cfg["max_seq_length"]:
        model.max_seq_length = int(model_cfg["max_seq_length"])
    return model


def retrieval_evaluator(pairs: pd.DataFrame, name: str, batch_size: int = 64):
    """An ``InformationRetrievalEvaluator``: each anchor must retrieve its positive.

    Queries are the anchors (keyed by ``pair_id``), the corpus is every distinct
    positive (keyed by ``doc_id``) and each query has exactly one relevant document,
    so Recall@k equals Accuracy@k.
    """
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )
    from sentence_transformers.util import cos_sim

    if pairs.empty:
        raise ValueError(f"No pairs to evaluate for '{name}'.")
    docs = pairs.drop_duplicates("doc_id")
    clash = docs["positive"].duplicated()
    if clash.any():
        raise ValueError(
            f"'{name}': {int(clash.sum())} documents repeat another's text under a "
            f"different id; deduplicate the pairs first."
        )
    return InformationRetrievalEvaluator(
        queries=dict(zip(pairs["pair_id"], pairs["anchor"], strict=True)),
        corpus=dict(zip(docs["doc_id"], docs["positive"], strict=True)),
        relevant_docs={
            q: {d} for q, d in zip(pairs["pair_id"], pairs["doc_id"], strict=True)
        },
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1, 5, 10],
        precision_recall_at_k=[1, 5, 10],
        map_at_k=[10],
        batch_size=batch_size,
        name=name,
        write_csv=False,
        score_functions={SCORE_FUNCTION: cos_sim},
        main_score_function=SCORE_FUNCTION,
    )


def pick_metrics(raw: dict[str, float], name: str) -> dict[str, float]:
    """``{recall@1: ..., mrr@10: ...}`` out of the evaluator's prefixed keys."""
    prefix = f"{name}_{SCORE_FUNCTION}_"
    missing = [m for m in RETRIEVAL_METRICS if prefix + m not in raw]
    if missing:
        raise KeyError(f"Evaluator output lacks {missing}; keys: {sorted(raw)[:8]}...")
    return {m: float(raw[prefix + m]) for m in RETRIEVAL_METRICS}


def make_loss(model, cfg: dict[str, Any], batch_size: int):
    """MultipleNegativesRankingLoss, or its cached (GradCache) variant for large batches.

    ``loss: auto`` picks the cached loss when the per-device batch exceeds
    ``cached_above_batch_size``: the contrastive batch stays large (more in-batch
    negatives) while activations are computed ``cached_mini_batch_size`` at a time.
    """
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    kind = cfg["loss"]
    if kind == "auto":
        cached = batch_size > int(cfg["cached_above_batch_size"])
        kind = "cached_mnrl" if cached else "mnrl"
    common = {
        "scale": float(cfg["scale"]),
        "gather_across_devices": bool(cfg["gather_across_devices"]),
    }
    if kind == "mnrl":
        return MultipleNegativesRankingLoss(model, **common)
    if kind == "cached_mnrl":
        return CachedMultipleNegativesRankingLoss(
            model, mini_batch_size=int(cfg["cached_mini_batch_size"]), **common
        )
    raise ValueError(
        f"embed_finetune.training.loss must be auto, mnrl or cached_mnrl, got {kind!r}"
    )


def best_metric_key(cfg: dict[str, Any]) -> str:
    """The Trainer's key of the validation metric used for early stopping."""
    metric = cfg["early_stopping_metric"]
    if metric not in RETRIEVAL_METRICS:
        raise ValueError(
            f"early_stopping_metric must be one of {RETRIEVAL_METRICS}, got {metric!r}"
        )
    return f"eval_valid_{SCORE_FUNCTION}_{metric}"


def trainer_spec(cfg: dict[str, Any], output_dir: str):
    """The shared builder's :class:`~quant_sentiment.training.TrainerSpec` for
    ``SentenceTransformerTrainer``.

    ``cfg["training_args"]`` goes to ``SentenceTransformerTrainingArguments`` as is;
    the pipeline fixes duplicate-free batches (``BatchSamplers.NO_DUPLICATES``: a
    repeated text would be its own false negative) and the best checkpoint by the
    validation retrieval metric. The CPU is used only when no GPU is visible; under
    ``torchrun``/``accelerate launch`` the Trainer takes the GPU of each process.
    """
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    from quant_sentiment.training import TrainerSpec

    return TrainerSpec(
        output_dir=output_dir,
        training_args=cfg["training_args"],
        fixed_args={
            "batch_sampler": BatchSamplers.NO_DUPLICATES,
            "load_best_model_at_end": True,
            "metric_for_best_model": best_metric_key(cfg),
            "greater_is_better": True,
        },
        early_stopping_patience=cfg["early_stopping_patience"],
        trainer_class=SentenceTransformerTrainer,
        args_class=SentenceTransformerTrainingArguments,
    )


def history_frame(log_history: list[dict[str, Any]], metric_key: str) -> pd.DataFrame:
    """One row per validation: train loss since the previous one, validation metrics."""
    train = {
        r["step"]: r["loss"]
        for r in log_history
        if "loss" in r and "eval_loss" not in r
    }
    rows = []
    for ev in (r for r in log_history if metric_key in r):
        row = {
            "epoch": round(float(ev.get("epoch") or 0.0), 4),
            "step": ev.get("step"),
            "train_loss": train.get(ev.get("step"), np.nan),
            "eval_loss": ev.get("eval_loss", np.nan),
        }
        for m in RETRIEVAL_METRICS:
            row[f"valid_{m}"] = ev.get(f"eval_valid_{SCORE_FUNCTION}_{m}", np.nan)
        rows.append(row)
    columns = ["epoch", "step", "train_loss", "eval_loss"] + [
        f"valid_{m}" for m in RETRIEVAL_METRICS
    ]
    return pd.DataFrame(rows, columns=columns)
