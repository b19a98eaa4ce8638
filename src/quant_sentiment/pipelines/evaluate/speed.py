"""Speed of a variant: timed in its own process, in interleaved rounds with the
reference in another (:mod:`quant_sentiment.benchmark`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from quant_sentiment.benchmark import benchmark_in_processes

from .quality import skip_reason

logger = logging.getLogger(__name__)


def _reference(reference_benchmark: dict[str, Any]) -> tuple[str, Path]:
    """(name, folder) of the reference, from its own benchmark result."""
    name = reference_benchmark.get("variant", "reference")
    if reference_benchmark.get("status") != "ok":
        raise ValueError(
            f"The reference {name!r} was not timed "
            f"({reference_benchmark.get('reason', 'no result')}); every speed-up "
            "is measured against it"
        )
    folder = Path(reference_benchmark["folder"])
    if not folder.is_dir():
        raise FileNotFoundError(
            f"The reference {name!r} folder '{folder}' (from its benchmark result) "
            "does not exist; run the evaluate pipeline with the reference's "
            "benchmark node too"
        )
    return name, folder


def benchmark_variant(
    handle: Any,
    test: pd.DataFrame,
    params: dict[str, Any],
    model: dict[str, Any],
    reference_benchmark: dict[str, Any] | None = None,
    *,
    variant: str,
) -> dict[str, Any]:
    """Time the variant on test texts at their real lengths, in its own process,
    against the reference in another one (interleaved rounds).

    Args:
        handle: The variant folder.
        test: Clean test split; ``n_texts`` texts are sampled from it (fixed seed).
        params: ``evaluate.benchmark``: ``n_texts``, ``seed``, ``warmup``,
            ``rounds``, ``calls_per_round``, ``confidence``, ``throughput_batches``,
            ``batch_size``, ``progress``, ``timeout_s``, ``idle_max_load``,
            ``idle_max_other_cpus``, ``idle_sample_s``.
        model: ``params:model``: ``threads`` (null = all logical CPUs).
        reference_benchmark: The reference's own result (``evaluate.fp32.benchmark``;
            its ``folder`` is timed alongside); ``None`` for the reference itself,
            which is timed alone (speed-up 1).
        variant: The variant's name.
    """
    reason = skip_reason(handle)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason}
    if test.empty:
        raise ValueError("clean_test is empty: nothing to time the variants on")
    reference = None if reference_benchmark is None else _reference(reference_benchmark)
    n_texts = min(int(params["n_texts"]), len(test))
    texts = test["text"].astype(str).sample(n=n_texts, random_state=int(params["seed"]))
    threads = int(model["threads"] or os.cpu_count())
    logger.info(
        "Timing %s in its own process%s: %d rounds x %d batch-1 calls (%d texts, "
        "%d threads)",
        variant,
        f", interleaved with {reference[0]} in another" if reference else "",
        params["rounds"],
        params["calls_per_round"],
        n_texts,
        threads,
    )
    result = benchmark_in_processes(
        variant, handle.path, texts.tolist(), threads, params, reference
    )
    logger.info(
        "%s: batch-1 p50 %.2f ms, p95 %.2f ms; speed-up vs %s %.2fx [%.2f, %.2f]; "
        "batch-%d %.1f texts/s; peak RSS %.0f MB%s",
        variant,
        result["latency_p50_ms"],
        result["latency_p95_ms"],
        reference[0] if reference else "itself",
        result["speedup_p50_vs_ref"],
        result["speedup_ci_low"],
        result["speedup_ci_high"],
        params["batch_size"],
        result["throughput_texts_per_s"],
        result["peak_rss_mb"],
        "" if result["idle"] else " (machine NOT idle)",
    )
    return {"variant": variant, "status": "ok", "n_texts": n_texts, **result}
