"""Time one saved model variant in a fresh Python process.

Run as ``python -m quant_sentiment.benchmark <folder> --job job.json --threads 2 --out result.json``.
The process pins its thread count before importing torch (``OMP_NUM_THREADS``,
``torch.set_num_threads``, ONNX Runtime intra-op threads), loads the variant with
:func:`quant_sentiment.variants.load_classifier`, warms up, and measures:

- batch-1 latency (p50/p95/mean, ms) over the given texts at their real lengths,
- batch-32 throughput (texts/s) over consecutive batches of the given texts,
- peak resident memory of the process (``ru_maxrss``), load time, size on disk,

and records the machine (CPU model, threads, library versions) with the numbers.
The thread count is passed to the loader (ONNX Runtime sessions take it per
session) and set for torch, which is process-wide. Size on disk is not measured
here: it is the ``size_bytes`` of the folder's manifest.
:func:`benchmark_in_subprocess` is the caller's side (used by the ``evaluate`` pipeline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "onnxruntime",
    "torchao",
    "optimum-quanto",
    "bitsandbytes",
    "scikit-learn",
    "numpy",
)


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (falls back to ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """CPU model, logical CPUs, thread setting, Python and library versions."""
    from quant_sentiment.manifest import library_versions

    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "versions": library_versions(LIBRARIES),
    }


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


#: Keys of the ``evaluate.benchmark`` block that :func:`measure` uses.
SETTINGS = ("warmup", "latency_runs", "throughput_batches", "batch_size", "progress")


def _cycled(texts: Sequence[str], n: int, offset: int = 0) -> list[str]:
    return [texts[(offset + i) % len(texts)] for i in range(n)]


def _time_batch1(clf, texts: Sequence[str], settings: dict[str, Any], label: str):
    from tqdm.auto import tqdm

    for text in _cycled(texts, settings["warmup"]):
        clf.predict_logits([text], batch_size=1)
    latencies = []
    runs = _cycled(texts, settings["latency_runs"])
    for text in tqdm(
        runs, desc=f"batch-1 {label}", disable=not settings["progress"], leave=False
    ):
        t0 = time.perf_counter()
        clf.predict_logits([text], batch_size=1)
        latencies.append((time.perf_counter() - t0) * 1000.0)
    return latencies


def _time_batches(clf, texts: Sequence[str], settings: dict[str, Any], label: str):
    from tqdm.auto import tqdm

    size, warmup = settings["batch_size"], settings["warmup"]
    batches = [
        _cycled(texts, size, offset=i * size)
        for i in range(warmup + settings["throughput_batches"])
    ]
    for batch in batches[:warmup]:
        clf.predict_logits(batch, batch_size=size)
    t0 = time.perf_counter()
    for batch in tqdm(
        batches[warmup:],
        desc=f"batch-{size} {label}",
        disable=not settings["progress"],
        leave=False,
    ):
        clf.predict_logits(batch, batch_size=size)
    return time.perf_counter() - t0


def measure(
    folder: str | Path, texts: Sequence[str], threads: int, settings: dict[str, Any]
) -> dict[str, Any]:
    """Load and time a variant in *this* process (call it in a fresh one).

    Args:
        folder: The variant folder.
        texts: Texts to time with, in order (cycled when runs exceed them).
        threads: Thread count for torch and ONNX Runtime.
        settings: ``warmup`` (untimed calls before each measurement),
            ``latency_runs`` (timed batch-1 calls), ``throughput_batches`` and
            ``batch_size`` (the throughput measurement), ``progress`` (tqdm bars).
    """
    import resource

    import numpy as np

    from quant_sentiment.formats import load_classifier
    from quant_sentiment.manifest import read_manifest

    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("benchmark needs at least one text")
    folder = Path(folder)
    manifest = read_manifest(folder)
    info = machine_info(threads)
    if manifest["format"] != "sklearn":  # the scikit-learn baseline never needs torch
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        info["torch_threads"] = torch.get_num_threads()
    rss_before_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    clf = load_classifier(folder, threads=threads)
    load_s = time.perf_counter() - start
    latencies = _time_batch1(clf, texts, settings, folder.name)
    elapsed = _time_batches(clf, texts, settings, folder.name)
    runs = _cycled(texts, settings["latency_runs"])
    return {
        "folder": str(folder),
        "format": manifest["format"],
        "latency_p50_ms": _percentile(latencies, 50),
        "latency_p95_ms": _percentile(latencies, 95),
        "latency_mean_ms": float(np.mean(latencies)),
        "latency_text_chars_mean": float(np.mean([len(t) for t in runs])),
        "throughput_texts_per_s": settings["batch_size"]
        * settings["throughput_batches"]
        / elapsed,
        "settings": {k: settings[k] for k in SETTINGS},
        "load_s": load_s,
        # Linux: ru_maxrss is in KiB
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "peak_rss_before_load_mb": rss_before_load / 1024.0,
        "machine": info,
    }


def benchmark_in_subprocess(
    folder: str | Path, texts: Sequence[str], threads: int, settings: dict[str, Any]
) -> dict[str, Any]:
    """Run :func:`measure` in a fresh ``python -m quant_sentiment.benchmark`` process.

    The child inherits stderr (its progress bars show) and gets the thread count in
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` before any
    library starts its thread pool.

    Args:
        settings: As for :func:`measure`, plus ``timeout_s`` for the child.

    Raises:
        RuntimeError: If the child fails or writes no result.
    """
    package_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, env.get("PYTHONPATH")) if p
    )
    env.update({var: str(threads) for var in THREAD_ENV_VARS})
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="qs_bench_") as tmp:
        job, out_file = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(json.dumps({"texts": list(texts), "settings": settings}))
        cmd = [
            sys.executable,
            "-m",
            "quant_sentiment.benchmark",
            str(folder),
            "--job",
            str(job),
            "--out",
            str(out_file),
            "--threads",
            str(threads),
        ]
        proc = subprocess.run(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            timeout=settings["timeout_s"],
            check=False,
        )
        if proc.returncode != 0 or not out_file.is_file():
            raise RuntimeError(
                f"Benchmark of '{folder}' failed (exit code {proc.returncode}); its "
                f"error output is above. Command: {' '.join(cmd)}"
            )
        return json.loads(out_file.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", type=Path, help="variant folder")
    parser.add_argument(
        "--job",
        type=Path,
        required=True,
        help='JSON file {"texts": [...], "settings": {...}}',
    )
    parser.add_argument("--out", type=Path, required=True, help="result JSON file")
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args(argv)
    from quant_sentiment.quiet import quiet_library_noise

    quiet_library_noise()  # before torch / torchao / onnxruntime are imported
    for var in THREAD_ENV_VARS:  # before torch / numpy start their thread pools
        os.environ[var] = str(args.threads)
    job = json.loads(args.job.read_text())
    result = measure(args.folder, job["texts"], args.threads, job["settings"])
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
