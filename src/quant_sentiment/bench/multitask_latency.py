"""Batch-1 latency of a multi-task model vs a single-task model of the same encoder:
the issue's goal "multi-task INT8 at batch 1 no more than 1.2x the single-task INT8
latency" (docs/multitask.md, "predict / serve / explain").

Both folders are timed by the project's benchmark (:mod:`quant_sentiment.benchmark`):
each in its own child process with the same thread count, an idle check first, then
interleaved rounds (multi-task, single-task, multi-task, ...) of batch-1 calls on
the same texts at their real lengths. A multi-task folder's batch-1 call runs the
whole graph, every head (``predict_logits`` of a ``MultiTaskClassifier`` is one
``predict_task_logits`` pass). The ratio is ``latency(multi-task) /
latency(single-task)``: the inverse of the benchmark's speed-up, with its
t-interval on the per-round log ratios inverted the same way.

    python -m quant_sentiment.bench.multitask_latency \\
        data/06_models/<run>/ptq_int8_ort_model data/06_models/<other run>/ptq_int8_ort_model \\
        --texts data/03_primary/<run>/clean_test.csv --threads 1 --rounds 20

Texts: ``--texts`` (a CSV with a ``text`` column, or plain lines), at most
``--n-texts`` of them; ``evaluate.benchmark``'s settings are the defaults
(``conf/base/parameters_evaluate.yml``), the flags override them. Run it on an idle
machine: the figures printed say whether the idle check passed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

_ROOT = Path(__file__).resolve().parents[3]
#: The issue's goal for the ratio (multi-task / single-task latency at batch 1).
GOAL = 1.2


def benchmark_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``evaluate.benchmark`` of ``conf/base/parameters_evaluate.yml`` with
    ``overrides`` (``None`` values ignored)."""
    params = yaml.safe_load((_ROOT / "conf/base/parameters_evaluate.yml").read_text())
    settings = dict(params["evaluate"]["benchmark"])
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return settings


def latency_ratio(
    multitask: str | Path,
    single: str | Path,
    texts: Sequence[str],
    threads: int,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """``latency(multitask) / latency(single)`` at batch 1 with its CI.

    Args:
        multitask: A multi-task folder (e.g. an ``onnx_multitask`` INT8 one).
        single: A single-task folder of the same encoder (e.g. ``int8_ort``).
        texts: Texts timed, in order (cycled).
        threads: Threads of each child process.
        settings: :func:`benchmark_settings`.

    Returns:
        ``ratio``, ``ratio_ci_low`` / ``ratio_ci_high``, ``confidence``, each
        side's ``latency_p50_ms``, ``meets_goal`` (the CI's upper end at most
        :data:`GOAL`), ``idle`` and ``machine`` (CPU model, flags, versions).
    """
    from quant_sentiment.benchmark import benchmark_in_processes, close_references

    try:
        result = benchmark_in_processes(
            "multitask", multitask, texts, threads, settings, ("single", single)
        )
    finally:
        close_references()
    low, high = result["speedup_ci_low"], result["speedup_ci_high"]
    return {
        "ratio": 1.0 / result["speedup_p50_vs_ref"],
        "ratio_ci_low": 1.0 / high,
        "ratio_ci_high": 1.0 / low,
        "confidence": float(settings["confidence"]),
        "multitask_p50_ms": result["latency_p50_ms"],
        "single_p50_ms": result["reference"]["latency_p50_ms"],
        "rounds": result["rounds"],
        "calls_per_round": result["calls_per_round"],
        "threads": threads,
        "meets_goal": 1.0 / low <= GOAL,
        "idle": result["idle"],
        "machine": result["machine"],
    }


def read_texts(path: Path, n: int) -> list[str]:
    """The first ``n`` texts of a CSV with a ``text`` column, else of plain lines."""
    if path.suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path, keep_default_na=False)
        if "text" not in frame:
            raise SystemExit(f"{path}: no 'text' column (columns: {list(frame)})")
        texts = frame["text"].astype(str).tolist()
    else:
        texts = path.read_text(encoding="utf-8").splitlines()
    texts = [t for t in texts if t.strip()][:n]
    if not texts:
        raise SystemExit(f"{path}: no text to time")
    return texts


def describe(result: dict[str, Any]) -> str:
    """The figures as printed: ratio [CI], p50s, goal, idle, the CPU."""
    machine = result["machine"]
    verdict = "meets" if result["meets_goal"] else "does not meet"
    return "\n".join(
        [
            f"multi-task / single-task latency at batch 1: {result['ratio']:.3f} "
            f"[{result['ratio_ci_low']:.3f}, {result['ratio_ci_high']:.3f}] "
            f"({result['confidence']:.0%} CI, {result['rounds']} interleaved rounds "
            f"x {result['calls_per_round']} calls, {result['threads']} thread(s))",
            f"p50: multi-task {result['multitask_p50_ms']:.2f} ms, single-task "
            f"{result['single_p50_ms']:.2f} ms",
            f"goal <= {GOAL}x (CI upper end): {verdict}",
            f"CPU: {machine.get('cpu_model', '?')}; machine idle before timing: "
            f"{result['idle']}" + ("" if result["idle"] else " (busy: rerun idle)"),
        ]
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multitask", type=Path, help="multi-task model folder")
    parser.add_argument("single", type=Path, help="single-task model folder")
    parser.add_argument("--texts", type=Path, required=True)
    parser.add_argument("--n-texts", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    for flag in ("warmup", "rounds", "calls-per-round", "throughput-batches"):
        parser.add_argument(f"--{flag}", type=int, default=None)
    parser.add_argument("--timeout-s", type=float, default=None)
    args = parser.parse_args(argv)
    settings = benchmark_settings(
        {
            "warmup": args.warmup,
            "rounds": args.rounds,
            "calls_per_round": args.calls_per_round,
            "throughput_batches": args.throughput_batches,
            "timeout_s": args.timeout_s,
            "progress": False,
        }
    )
    texts = read_texts(args.texts, args.n_texts)
    result = latency_ratio(args.multitask, args.single, texts, args.threads, settings)
    print(describe(result))
    return result


if __name__ == "__main__":
    main()
