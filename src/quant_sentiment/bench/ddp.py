"""DDP on CPU: ``finetune`` on 1 process vs 2 ``torchrun`` processes, same global batch.

Runs preprocessing once, then the ``finetune`` pipeline twice in the run folder
``bench/ddp`` of ``--env``: one process with ``per_device_train_batch_size = --batch``
and ``torchrun --standalone --nproc_per_node=2`` with ``--batch / 2`` per process (gloo
on CPU; each process gets half the cores' threads). Prints the wall time of each
command and the validation macro-F1 per epoch from the versioned
``finetune_history`` of each run (its ``world_size`` and ``global_train_batch_size``
columns say what ran). The goal: the same best validation macro-F1 within 0.5 point.
With ``--seeds`` both launchers run once per seed (``finetune.training_args.seed``):
one seed cannot tell a DDP effect from the sampling-order noise, so the figure to
read is the mean of the paired differences over the seeds and its t-interval.

    python -m quant_sentiment.bench.ddp --env offline --batch 16 --seeds 42,43,44 \\
        --params finetune.training_args.num_train_epochs=3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

RUN = "bench/ddp"


def kedro_run(prefix: list[str], env: str, pipeline: str, params: str, threads: int):
    """``<prefix> -m quant_sentiment --env --pipelines --params``; wall seconds."""
    command = [*prefix, "-m", "quant_sentiment", f"--env={env}"]
    command += [f"--pipelines={pipeline}", f"--params={params}"]
    env_vars = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env_vars["PYTHONPATH"] = os.pathsep.join(sys.path)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env_vars)  # noqa: S603 - our own module
    return time.perf_counter() - start


def newest_history(project: Path) -> pd.DataFrame:
    files = sorted(
        (project / "data/08_reporting" / RUN).glob("finetune_history.csv/*/*")
    )
    return pd.read_csv(files[-1])


def describe(name: str, seconds: float, hist: pd.DataFrame) -> str:
    """One launcher's line: world size, global batch, times, validation macro-F1."""
    return (
        f"{name}: world_size {int(hist['world_size'].iloc[0])}, global batch "
        f"{int(hist['global_train_batch_size'].iloc[0])}, wall {seconds:.1f} s, "
        f"train {hist['train_seconds'].sum():.1f} s, best valid macro-F1 "
        f"{hist['eval_macro_f1'].max() * 100:.2f}, per epoch "
        f"{(hist['eval_macro_f1'] * 100).round(2).tolist()}"
    )


def paired_summary(deltas: list[float]) -> str:
    """Mean of the per-seed differences (points) with its 95 % t-interval."""
    from scipy import stats

    series = pd.Series(deltas, dtype=float)
    mean = float(series.mean())
    if len(series) == 1:
        return f"{mean:+.2f} points (1 seed: no interval)"
    half = float(stats.t.ppf(0.975, len(series) - 1) * series.std(ddof=1))
    half /= len(series) ** 0.5
    return (
        f"mean {mean:+.2f} points [{mean - half:+.2f}, {mean + half:+.2f}] over "
        f"{len(series)} seeds (per seed {[round(float(d), 2) for d in deltas]})"
    )


def main() -> None:
    """Parse arguments, run both launchers per seed, print the figures."""
    from quant_sentiment.benchmark import cpu_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="offline")
    parser.add_argument("--batch", type=int, default=16, help="global train batch")
    parser.add_argument("--params", default="", help="extra --params for both runs")
    parser.add_argument(
        "--seeds", default="", help="comma-separated seeds (default: the recipe's)"
    )
    args = parser.parse_args()
    if args.batch % 2:
        parser.error("--batch must be even (half per process)")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()] or [None]
    except ValueError:
        parser.error(f"--seeds must be integers separated by commas: {args.seeds!r}")

    project = Path.cwd()
    cores = os.cpu_count() or 2
    common = f"run={RUN},tracking.enabled=false" + (
        f",{args.params}" if args.params else ""
    )
    load = os.getloadavg()[0]
    kedro_run([sys.executable], args.env, "preprocessing", common, cores)
    per = "finetune.training_args.per_device_train_batch_size"
    half = max(1, cores // 2)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    lines, deltas = [], []
    for seed in seeds:
        seeded = (
            common if seed is None else f"{common},finetune.training_args.seed={seed}"
        )
        one = f"{seeded},{per}={args.batch},model.threads={cores}"
        t1 = kedro_run([sys.executable], args.env, "finetune", one, cores)
        h1 = newest_history(project)
        two = f"{seeded},{per}={args.batch // 2},model.threads={half}"
        t2 = kedro_run(
            [*torchrun, "--nproc_per_node=2"], args.env, "finetune", two, half
        )
        h2 = newest_history(project)
        label = "recipe seed" if seed is None else f"seed {seed}"
        lines += [f"[{label}] " + describe("1 process", t1, h1)]
        lines += [f"[{label}] " + describe("2 processes", t2, h2)]
        deltas.append((h2["eval_macro_f1"].max() - h1["eval_macro_f1"].max()) * 100)

    print(f"CPU: {cpu_model()}, {cores} logical CPUs; load before {load:.2f}")
    print("\n".join(lines))
    print(
        "best valid macro-F1, 2 - 1 processes: "
        f"{paired_summary(deltas)} (goal |.| <= 0.5)"
    )
    print(f"load after {os.getloadavg()[0]:.2f} (busy if well above 0)")


if __name__ == "__main__":
    main()
