"""Time one saved model variant in a fresh Python process.

Run as ``python -m quant_sentiment.benchmark <folder> --texts texts.json --out result.json``.
The process pins its thread count before importing torch (``OMP_NUM_THREADS``,
``torch.set_num_threads``, ONNX Runtime intra-op threads), loads the variant with
:func:`quant_sentiment.variants.load_classifier`, warms up, and measures:

- batch-1 latency (p50/p95/mean, ms) over the given texts at their real lengths,
- batch-32 throughput (texts/s) over consecutive batches of the given texts,
- peak resident memory of the process (``ru_maxrss``), load time, size on disk,

and records the machine (CPU model, threads, library versions) with the numbers.
:func:`benchmark_in_subprocess` is the caller's side (used by the ``evaluate`` pipeline).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata as importlib_metadata
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
    versions = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib_metadata.version(lib)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "versions": versions,
    }


def folder_size(folder: str | Path) -> int:
    """Bytes of all files below ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def _pin_onnxruntime_threads(threads: int) -> None:
    """Make every ONNX Runtime session of this process use ``threads`` intra-op threads.

    Loaders create their own ``InferenceSession``; this wraps the class so that a
    session created without an explicit thread count gets the benchmark's.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return
    base = ort.InferenceSession

    class PinnedInferenceSession(base):  # type: ignore[misc,valid-type]
        def __init__(self, path_or_bytes, sess_options=None, *args, **kwargs):
            options = sess_options or ort.SessionOptions()
            if not options.intra_op_num_threads:
                options.intra_op_num_threads = threads
            if not options.inter_op_num_threads:
                options.inter_op_num_threads = 1
            super().__init__(path_or_bytes, options, *args, **kwargs)

    ort.InferenceSession = PinnedInferenceSession


def measure(
    folder: str | Path,
    texts: Sequence[str],
    threads: int,
    warmup: int = 5,
    latency_runs: int = 100,
    throughput_batches: int = 10,
    batch_size: int = 32,
    max_length: int = 128,
    import_modules: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Load and time a variant in *this* process (call it in a fresh one).

    Args:
        folder: The variant folder.
        texts: Texts to time with, in the order to use (cycled when runs exceed them).
        threads: Thread count for torch / ONNX Runtime.
        warmup: Untimed calls before each measurement (batch-1 and batch-N).
        latency_runs: Timed batch-1 calls.
        throughput_batches: Timed batches of ``batch_size`` texts.
        batch_size: Batch size of the throughput measurement.
        max_length: Truncation length passed to the loader.
        import_modules: Modules imported first (they register variant formats).
        progress: Show tqdm progress bars on stderr.
    """
    import resource

    import numpy as np
    from tqdm.auto import tqdm

    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("benchmark needs at least one text")
    for module in ["quant_sentiment.baseline", *import_modules]:
        importlib.import_module(module)
    from quant_sentiment.variants import load_classifier, read_manifest

    folder = Path(folder)
    fmt = read_manifest(folder).get("format", "hf")
    torch = None
    if fmt != "sklearn":  # the scikit-learn baseline never needs torch
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        _pin_onnxruntime_threads(threads)
    rss_before_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    clf = load_classifier(folder, max_length=max_length)
    load_s = time.perf_counter() - start

    def cycled(n: int, offset: int = 0) -> list[str]:
        return [texts[(offset + i) % len(texts)] for i in range(n)]

    for text in cycled(warmup):
        clf.predict_logits([text], batch_size=1)
    latencies = []
    for text in tqdm(
        cycled(latency_runs),
        desc=f"batch-1 {folder.name}",
        disable=not progress,
        leave=False,
    ):
        t0 = time.perf_counter()
        clf.predict_logits([text], batch_size=1)
        latencies.append((time.perf_counter() - t0) * 1000.0)

    batches = [
        cycled(batch_size, offset=i * batch_size)
        for i in range(warmup + throughput_batches)
    ]
    for batch in batches[:warmup]:
        clf.predict_logits(batch, batch_size=batch_size)
    t0 = time.perf_counter()
    for batch in tqdm(
        batches[warmup:],
        desc=f"batch-{batch_size} {folder.name}",
        disable=not progress,
        leave=False,
    ):
        clf.predict_logits(batch, batch_size=batch_size)
    elapsed = time.perf_counter() - t0
    peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = machine_info(threads)
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    return {
        "folder": str(folder),
        "format": fmt,
        "latency_runs": latency_runs,
        "latency_p50_ms": _percentile(latencies, 50),
        "latency_p95_ms": _percentile(latencies, 95),
        "latency_mean_ms": float(np.mean(latencies)),
        "latency_text_chars_mean": float(
            np.mean([len(t) for t in cycled(latency_runs)])
        ),
        "throughput_batch_size": batch_size,
        "throughput_batches": throughput_batches,
        "throughput_texts_per_s": batch_size * throughput_batches / elapsed,
        "warmup": warmup,
        "load_s": load_s,
        "peak_rss_mb": peak_rss_kb / 1024.0,  # Linux: ru_maxrss is in KiB
        "peak_rss_before_load_mb": rss_before_load / 1024.0,
        "size_bytes": folder_size(folder),
        "max_length": max_length,
        "machine": info,
    }


def benchmark_in_subprocess(
    folder: str | Path,
    texts: Sequence[str],
    threads: int,
    warmup: int = 5,
    latency_runs: int = 100,
    throughput_batches: int = 10,
    batch_size: int = 32,
    max_length: int = 128,
    import_modules: Sequence[str] = (),
    timeout_s: float = 1800.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run :func:`measure` in a fresh ``python -m quant_sentiment.benchmark`` process.

    The child inherits stderr (its progress bars show) and gets the thread count in
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` before any
    library starts its thread pool.

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
        texts_file, out_file = Path(tmp) / "texts.json", Path(tmp) / "result.json"
        texts_file.write_text(json.dumps(list(texts)))
        cmd = [
            sys.executable,
            "-m",
            "quant_sentiment.benchmark",
            str(folder),
            "--texts",
            str(texts_file),
            "--out",
            str(out_file),
            "--threads",
            str(threads),
            "--warmup",
            str(warmup),
            "--latency-runs",
            str(latency_runs),
            "--throughput-batches",
            str(throughput_batches),
            "--batch-size",
            str(batch_size),
            "--max-length",
            str(max_length),
        ]
        for module in import_modules:
            cmd += ["--import", module]
        if not progress:
            cmd.append("--no-progress")
        proc = subprocess.run(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout_s,
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
        "--texts", type=Path, required=True, help="JSON file with a list of texts"
    )
    parser.add_argument("--out", type=Path, required=True, help="result JSON file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--throughput-batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        help="module to import first (registers variant formats)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    for var in THREAD_ENV_VARS:  # before torch / numpy start their thread pools
        os.environ[var] = str(args.threads)
    texts = json.loads(args.texts.read_text())
    result = measure(
        args.folder,
        texts,
        threads=args.threads,
        warmup=args.warmup,
        latency_runs=args.latency_runs,
        throughput_batches=args.throughput_batches,
        batch_size=args.batch_size,
        max_length=args.max_length,
        import_modules=args.imports,
        progress=not args.no_progress,
    )
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
