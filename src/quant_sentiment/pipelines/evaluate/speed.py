"""Speed of a variant: timed in a fresh process (:mod:`quant_sentiment.benchmark`)."""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd

from quant_sentiment.benchmark import benchmark_in_subprocess

from .quality import skip_reason

logger = logging.getLogger(__name__)


def benchmark_variant(
    handle: Any,
    test: pd.DataFrame,
    params: dict[str, Any],
    model: dict[str, Any],
    variant: str,
) -> dict[str, Any]:
    """Time the variant in a fresh process on test texts at their real lengths.

    Args:
        handle: The variant folder.
        test: Clean test split; ``n_texts`` texts are sampled from it (fixed seed).
        params: ``evaluate.benchmark``: ``n_texts``, ``seed``, ``warmup``,
            ``latency_runs``, ``throughput_batches``, ``batch_size``, ``progress``,
            ``timeout_s``.
        model: ``params:model``: ``threads`` (null = all logical CPUs).
        variant: The variant's name.
    """
    reason = skip_reason(handle)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason}
    if test.empty:
        raise ValueError("clean_test is empty: nothing to time the variants on")
    n_texts = min(int(params["n_texts"]), len(test))
    texts = test["text"].astype(str).sample(n=n_texts, random_state=int(params["seed"]))
    threads = int(model["threads"] or os.cpu_count())
    logger.info(
        "Timing %s in a fresh process (%d texts, %d threads)", variant, n_texts, threads
    )
    result = benchmark_in_subprocess(handle.path, texts.tolist(), threads, params)
    logger.info(
        "%s: batch-1 p50 %.2f ms, p95 %.2f ms; batch-%d %.1f texts/s; peak RSS %.0f MB",
        variant,
        result["latency_p50_ms"],
        result["latency_p95_ms"],
        params["batch_size"],
        result["throughput_texts_per_s"],
        result["peak_rss_mb"],
    )
    return {"variant": variant, "status": "ok", "n_texts": n_texts, **result}
