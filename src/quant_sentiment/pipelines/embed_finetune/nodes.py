"""Nodes of the ``embed_finetune`` pipeline."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from quant_sentiment.datasets import JSONLinesStream
from quant_sentiment.manifest import library_versions
from quant_sentiment.training import build_trainer, fingerprint

from .pairs import PAIR_COLUMNS, build_corpus_splits, build_parallel_splits
from .training import (
    best_metric_key,
    history_frame,
    load_sentence_model,
    make_loss,
    pick_metrics,
    retrieval_evaluator,
    trainer_spec,
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
    source = params["source"]
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


def _train_datasets(train: JSONLinesStream, valid: pd.DataFrame, cache_dir):
    """Train pairs as a memory-mapped Arrow table, valid pairs in memory."""
    from datasets import Dataset

    train_ds = Dataset.from_json(str(train.path), cache_dir=cache_dir)
    valid_ds = Dataset.from_pandas(
        valid[["anchor", "positive"]].reset_index(drop=True), preserve_index=False
    )
    return train_ds.select_columns(["anchor", "positive"]), valid_ds


def _checkpoint_dir(params: dict[str, Any], train: JSONLinesStream, valid) -> Path:
    """``checkpoint_dir/embed_<fingerprint of the config and the pairs>``.

    The train pairs count by their content, not their file's path or time: under
    torchrun the other ranks read their own copy of the file (hooks.scratch_copy) and
    every rank must name the same checkpoint folder.
    """
    digest = hashlib.sha256()
    with train.path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    run_fp = fingerprint(params, digest.hexdigest(), valid["pair_id"].tolist())
    return Path(params["training"]["checkpoint_dir"]) / f"embed_{run_fp}"


def _summary(trainer, result, train_ds, valid, params) -> dict[str, Any]:
    """Training time, steps, early stop, best metric, loss, device, world size."""
    state, args = trainer.state, trainer.args
    metric = best_metric_key(params["training"])
    best_ckpt = state.best_model_checkpoint
    return {
        "train_runtime_s": float(result.metrics.get("train_runtime", float("nan"))),
        "train_pairs": len(train_ds),
        "valid_pairs": len(valid),
        "loss": type(trainer.loss).__name__,
        "per_device_batch_size": args.per_device_train_batch_size,
        "world_size": args.world_size,
        "rank": args.process_index,
        "device": str(args.device),
        "steps": state.global_step,
        "planned_steps": state.max_steps,
        "stopped_early": state.global_step < state.max_steps,
        "best_metric": {metric: state.best_metric},
        "best_checkpoint_step": (
            int(best_ckpt.rsplit("-", 1)[-1]) if best_ckpt else None
        ),
        "model_source": str(params["model"]["source"]),
        "versions": library_versions(
            ("torch", "transformers", "sentence-transformers")
        ),
    }


def train_embedding_model(
    train: JSONLinesStream,
    valid: pd.DataFrame,
    pairs_report: dict[str, Any],
    params: dict[str, Any],
) -> tuple[Any, pd.DataFrame, dict[str, Any]]:
    """Fine-tune the encoder with in-batch negatives (``SentenceTransformerTrainer``).

    The shared builder (:func:`quant_sentiment.training.build_trainer`) with
    ``training.training_args`` passed as is: MultipleNegativesRankingLoss (cached for
    large batches) in duplicate-free batches, validation retrieval metrics, early
    stopping and the best checkpoint by ``early_stopping_metric``. ``pairs_report``
    only orders the node after the leakage check.

    Under ``torchrun``/``accelerate launch`` every rank trains its shard (DDP) and
    returns normally; the ranks wait for each other, only rank 0 deletes the
    checkpoints, and ``quant_sentiment.hooks.MainProcessOutputsHook`` keeps the
    outputs of other ranks in memory (saved once). See docs/embed_finetune.md.

    Returns:
        ``(model, history, summary)``.
    """
    from transformers import set_seed

    cfg = params["training"]
    set_seed(int(cfg["training_args"]["seed"]))
    model = load_sentence_model(params["model"])
    train_ds, valid_ds = _train_datasets(train, valid, cfg["arrow_cache_dir"])
    out_dir = _checkpoint_dir(params, train, valid)
    spec = trainer_spec(cfg, str(out_dir))
    batch = int(cfg["training_args"]["per_device_train_batch_size"])
    eval_batch = int(cfg["training_args"]["per_device_eval_batch_size"])
    trainer = build_trainer(
        model,
        spec,
        train_dataset=train_ds,
        eval_dataset=valid_ds,
        loss=make_loss(model, cfg, batch),
        evaluator=retrieval_evaluator(valid, "valid", eval_batch),
    )
    logger.info(
        "Training on %d pairs, %s, batch %d x %d processes, device %s",
        *(len(train_ds), type(trainer.loss).__name__, batch),
        *(trainer.args.world_size, trainer.args.device),
    )
    result = trainer.train()
    if trainer.args.world_size > 1:
        trainer.accelerator.wait_for_everyone()  # nobody deletes checkpoints early
    summary = _summary(trainer, result, train_ds, valid, params)
    logger.info(
        "Rank %d: trained %d steps in %.1f s (best %s)",
        summary["rank"],
        summary["steps"],
        summary["train_runtime_s"],
        summary["best_metric"],
    )
    if not cfg["keep_checkpoints"] and trainer.is_world_process_zero():
        shutil.rmtree(out_dir, ignore_errors=True)
    history = history_frame(trainer.state.log_history, best_metric_key(cfg))
    return trainer.model, history, summary


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
    batch = int(params["training"]["training_args"]["per_device_eval_batch_size"])
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
