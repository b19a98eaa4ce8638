"""The study grid: N tiny cells one after another vs on a 2-worker ``LocalCluster``.

Runs the same N cells (the ``sample`` dataset x ``--env`` x seeds 1..N, a small
scratch BERT fine-tuned ``--epochs`` epochs, FP32 evaluated with a minimal benchmark)
twice in one invocation, side by side on the same machine: sequentially in this
process with all the cores' threads (``--workers`` x ``--threads``), then on
``--workers`` Dask worker processes with ``--threads`` each. Prints both wall times,
their ratio (the goal: <= 0.6) and whether the gathered tables agree. The artifacts go
under ``data/*/grid/bench_<time>_{seq,par}/`` of the project.

    python -m quant_sentiment.bench.grid --cells 4 --epochs 8 --workers 2 --threads 1
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

#: The scratch encoder of the cells (the tests' tiny model, a little wider).
SCRATCH = {
    "vocab_size": 2000,
    "min_frequency": 1,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 128,
}


def cell_params(epochs: int) -> dict:
    """Runtime parameters of a bench cell: scratch model, FP32 only, tracking off."""
    return {
        "finetune": {
            "model": {"source": "scratch", "scratch": SCRATCH},
            "training_args": {
                "num_train_epochs": epochs,
                "learning_rate": 1e-3,
                "per_device_train_batch_size": 16,
                "bf16": False,
                "disable_tqdm": True,
            },
            "early_stopping_patience": None,
        },
        "model": {"max_length": 64},
        "evaluate": {
            "benchmark": {
                "n_texts": 8,
                "warmup": 1,
                "rounds": 2,
                "calls_per_round": 2,
                "idle_sample_s": 0.05,
                "throughput_batches": 1,
            },
            "bootstrap": {"n_resamples": 200},
        },
        "multiseed": {"variants": [], "pipelines": ["finetune", "evaluate"]},
        "tracking": {"enabled": False},
    }


def main() -> None:
    """Parse arguments, run the cells twice, print the figures."""
    from quant_sentiment.benchmark import cpu_model
    from quant_sentiment.scale.grid import run_grid

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="per worker")
    parser.add_argument("--env", default="offline")
    args = parser.parse_args()

    project = Path.cwd()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    choice = (["sample"], [args.env], list(range(1, args.cells + 1)))
    extra = cell_params(args.epochs)
    load = os.getloadavg()[0]
    seq = run_grid(
        project,
        *choice,
        workers=0,
        threads=args.workers * args.threads,
        extra=extra,
        name=f"bench_{stamp}_seq",
    )
    par = run_grid(
        project,
        *choice,
        workers=args.workers,
        threads=args.threads,
        extra=extra,
        name=f"bench_{stamp}_par",
    )
    key = ["dataset", "model", "variant"]
    a = seq.summary.sort_values(key)["macro_f1_mean"].to_numpy()
    b = par.summary.sort_values(key)["macro_f1_mean"].to_numpy()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; load before {load:.2f}")
    print(f"{args.cells} cells, {args.epochs} epochs each, env {args.env}")
    print(
        f"| run | wall s |\n|---|---|\n"
        f"| sequential, {args.workers * args.threads} threads | {seq.seconds:.1f} |\n"
        f"| {args.workers} workers x {args.threads} thread(s) | {par.seconds:.1f} |"
    )
    print(f"parallel / sequential: {par.seconds / seq.seconds:.2f} (goal <= 0.6)")
    print(
        f"test macro-F1 mean, sequential {a.round(4).tolist()} vs parallel "
        f"{b.round(4).tolist()}; max |diff| {abs(a - b).max():.4f}"
    )
    print(f"load after {os.getloadavg()[0]:.2f} (busy if well above 0)")


if __name__ == "__main__":
    main()
