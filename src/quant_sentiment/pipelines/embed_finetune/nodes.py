"""Nodes of the ``embed_finetune`` pipeline."""

from __future__ import annotations

import logging
import os
import platform
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from quant_sentiment.datasets import JSONLinesStream

from .pairs import PAIR_COLUMNS, build_corpus_splits, build_parallel_splits
from .training import (
    best_metric_key,
    history_frame,
    load_sentence_model,
    make_loss,
    pick_metrics,
    retrieval_evaluator,
    training_arguments,
)

logger = logging.getLogger(__name__)


def build_pairs(
    nusax: dict[str, Callable[[], pd.DataFrame]],
    corpus: JSONLinesStream,
    params: dict[str, Any],
) -> tuple[Iterable[dict[str, str]], pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Build train/valid/eval positive pairs from the source chosen by ``source``.

    ``parallel`` reads NusaX (small, in memory); ``corpus`` streams the JSON-Lines
    corpus once for the held-out pairs and hands back the train pairs as a lazy
    stream, written line by line by the catalog. Only the chosen source is read.

    Args:
        nusax: NusaX files as ``{"<language>/<split>": loader}`` (not read in corpus mode).
        corpus: The corpus stream (not read in parallel mode).
        params: ``embed_finetune.pairs``.

    Returns:
        ``(train_pairs, valid_pairs, eval_pairs, stats)``; ``stats`` lists what was dropped.
    """
    source = params.get("source")
    if source == "parallel":
        train, valid, evaluation, stats = build_parallel_splits(
            nusax, params["parallel"]
        )
        train_records: Iterable[dict[str, str]] = train[PAIR_COLUMNS].to_dict("records")
    elif source == "corpus":
        train_records, valid, evaluation, stats = build_corpus_splits(
            corpus, params["corpus"]
        )
    else:
        raise ValueError(
            f"embed_finetune.pairs.source must be 'parallel' or 'corpus', got {source!r}"
        )
    logger.info(
        "Pairs: %d valid, %d eval; dropped %s",
        len(valid),
        len(evaluation),
        stats.get("dropped"),
    )
    return train_records, valid, evaluation, stats


def check_pairs(
    train: JSONLinesStream,
    valid: pd.DataFrame,
    evaluation: pd.DataFrame,
    stats: dict[str, Any],
) -> dict[str, Any]:
    """Re-read the saved pairs and verify the splits share no id and no text.

    The train file is streamed; only hashes of held-out texts are kept in memory.

    Raises:
        ValueError: If a group id or text of valid/eval occurs in train, or valid
            overlaps eval, or a split is empty.
    """
    held_groups = set(valid["group_id"].astype(str)) | set(
        evaluation["group_id"].astype(str)
    )
    held_texts = set(
        pd.concat(
            [
                valid["anchor"],
                valid["positive"],
                evaluation["anchor"],
                evaluation["positive"],
            ]
        )
    )
    n_train, leaks, anchors = 0, [], set()
    for pair in train:
        n_train += 1
        anchors.add(hash(pair["anchor"]))
        if (
            str(pair["group_id"]) in held_groups
            or pair["anchor"] in held_texts
            or pair["positive"] in held_texts
        ):
            leaks.append(pair["pair_id"])
    if leaks:
        raise ValueError(
            f"{len(leaks)} train pairs share an id or text with valid/eval, "
            f"e.g. {leaks[:5]}"
        )
    overlap = set(valid["group_id"].astype(str)) & set(
        evaluation["group_id"].astype(str)
    )
    if overlap:
        raise ValueError(f"valid and eval share ids, e.g. {sorted(overlap)[:5]}")
    if n_train == 0 or valid.empty or evaluation.empty:
        raise ValueError(
            f"Empty split: train {n_train}, valid {len(valid)}, eval {len(evaluation)}"
        )
    report = dict(stats)
    report["pairs"] = {
        "train": n_train,
        "train_distinct_anchors": len(anchors),
        "valid": len(valid),
        "eval": len(evaluation),
    }
    report["eval_sets"] = evaluation["eval_set"].value_counts().sort_index().to_dict()
    report["leakage_check"] = (
        "passed: no group id or text shared between train, valid and eval"
    )
    return report


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def train_embedding_model(
    train: JSONLinesStream,
    valid: pd.DataFrame,
    pairs_report: dict[str, Any],
    params: dict[str, Any],
) -> tuple[Any, pd.DataFrame, dict[str, Any]]:
    """Fine-tune the encoder with in-batch negatives (``SentenceTransformerTrainer``).

    MultipleNegativesRankingLoss (cached for large batches) on (anchor, positive)
    pairs in duplicate-free batches, warmup, validation retrieval metrics on a
    schedule, early stopping and the best checkpoint by ``early_stopping_metric``.
    The train pairs are read from the JSON-Lines file into a memory-mapped Arrow table.

    Under ``torchrun``/``accelerate launch`` every process trains its shard (DDP);
    afterwards only the main process continues (the others exit), so outputs are
    saved once. See docs/embed_finetune.md.

    Args:
        train: Saved train pairs (stream with ``.path``).
        valid: Validation pairs (early stopping).
        pairs_report: Output of :func:`check_pairs` (runs after the leakage check).
        params: ``embed_finetune``.

    Returns:
        ``(model, history, summary)``.
    """
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import EarlyStoppingCallback, set_seed

    from quant_sentiment.pipelines.finetune.training import fingerprint

    cfg = params["training"]
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    set_seed(int(cfg.get("seed", 42)))
    model = load_sentence_model(params["model"])
    cache_dir = cfg.get("arrow_cache_dir")
    train_ds = Dataset.from_json(str(train.path), cache_dir=cache_dir).select_columns(
        ["anchor", "positive"]
    )
    valid_ds = Dataset.from_pandas(
        valid[["anchor", "positive"]].reset_index(drop=True), preserve_index=False
    )
    stat = train.path.stat()
    run_fp = fingerprint(
        params,
        str(train.path),
        stat.st_size,
        stat.st_mtime_ns,
        valid["pair_id"].tolist(),
    )
    out_dir = (
        Path(cfg.get("checkpoint_dir", "data/06_models/checkpoints"))
        / f"embed_{run_fp}"
    )
    args = training_arguments(cfg, str(out_dir))
    batch = args.per_device_train_batch_size
    loss = make_loss(model, cfg, batch)
    evaluator = retrieval_evaluator(valid, "valid", args.per_device_eval_batch_size)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=valid_ds,
        loss=loss,
        evaluator=evaluator,
        callbacks=[EarlyStoppingCallback(int(cfg.get("early_stopping_patience", 2)))],
    )
    logger.info(
        "Training on %d pairs, %s, batch %d x %d processes, device %s",
        len(train_ds),
        type(loss).__name__,
        batch,
        args.world_size,
        args.device,
    )
    result = trainer.train()
    if args.world_size > 1:
        trainer.accelerator.wait_for_everyone()
        if not trainer.is_world_process_zero():
            logger.info(
                "Rank %s done; the main process saves and evaluates.",
                os.environ.get("RANK"),
            )
            raise SystemExit(0)
    state = trainer.state
    history = history_frame(state.log_history, best_metric_key(cfg))
    max_steps = state.max_steps
    summary = {
        "train_runtime_s": float(result.metrics.get("train_runtime", float("nan"))),
        "train_pairs": len(train_ds),
        "valid_pairs": len(valid),
        "loss": type(loss).__name__,
        "per_device_batch_size": batch,
        "world_size": args.world_size,
        "device": str(args.device),
        "steps": state.global_step,
        "planned_steps": max_steps,
        "stopped_early": state.global_step < max_steps,
        "best_metric": {best_metric_key(cfg): state.best_metric},
        "best_checkpoint_step": (
            int(state.best_model_checkpoint.rsplit("-", 1)[-1])
            if state.best_model_checkpoint
            else None
        ),
        "model_source": str(params["model"]["source"]),
        "versions": _versions(),
    }
    logger.info(
        "Trained %d steps in %.1f s (best %s)",
        state.global_step,
        summary["train_runtime_s"],
        summary["best_metric"],
    )
    if not cfg.get("keep_checkpoints", False):
        shutil.rmtree(out_dir, ignore_errors=True)
    return trainer.model, history, summary


def _versions() -> dict[str, str]:
    import sentence_transformers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }


def evaluate_retrieval(
    model: Any,
    evaluation: pd.DataFrame,
    summary: dict[str, Any],
    params: dict[str, Any],
) -> pd.DataFrame:
    """Recall@1/5/10, MRR@10 and nDCG@10 of the base and the fine-tuned model.

    One row per model and retrieval task (``eval_set``, e.g. ``javanese->indonesian``),
    with ``InformationRetrievalEvaluator`` on the held-out pairs; the fine-tuned row
    carries the training time.
    """
    batch = int(params["training"].get("eval_batch_size", 64))
    base = load_sentence_model(params["model"])
    rows = []
    for label, encoder in (("base", base), ("fine-tuned", model)):
        for eval_set, pairs in evaluation.groupby("eval_set", sort=True):
            name = "eval"
            raw = retrieval_evaluator(pairs, name, batch)(encoder)
            row = {
                "model": label,
                "eval_set": eval_set,
                "queries": len(pairs),
                "documents": pairs["doc_id"].nunique(),
            }
            row.update(pick_metrics(raw, name))
            row["train_runtime_s"] = (
                summary["train_runtime_s"] if label == "fine-tuned" else float("nan")
            )
            rows.append(row)
            logger.info(
                "%s on %s: %s",
                label,
                eval_set,
                {k: round(v, 4) for k, v in row.items() if "@" in k},
            )
    table = pd.DataFrame(rows)
    table.insert(1, "model_source", [str(params["model"]["source"])] * len(table))
    return table


def render_retrieval_table(table: pd.DataFrame) -> str:
    """The retrieval table as Markdown (metrics to 4 decimals)."""
    return (
        "# Retrieval on held-out pairs: base vs fine-tuned\n\n"
        + table.to_markdown(index=False, floatfmt=".4f")
        + "\n"
    )
