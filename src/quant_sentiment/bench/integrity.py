"""What proving a model folder costs: ``manifest.verified_manifest`` timed.

Times the check every load runs before reading a folder (SHA-256 of every listed
file), on a given model folder or on a synthetic one of ``--mb`` megabytes (random
bytes in ``model.safetensors`` plus small tokenizer-like files), and prints the
median, best and throughput of ``--repeats`` runs. The first run reads from disk
or the page cache as it finds it; the later ones from the page cache.

    python -m quant_sentiment.bench.integrity --mb 90 --repeats 5
    python -m quant_sentiment.bench.integrity --folder data/06_models/<run>/finetuned_model/<version>/finetuned_model
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def synthetic_folder(folder: Path, megabytes: float) -> Path:
    """A folder of about ``megabytes`` MB with a written manifest."""
    from quant_sentiment.manifest import write_manifest

    small = {"config.json": 700, "tokenizer.json": 700_000, "vocab.txt": 230_000}
    for name, size in small.items():
        (folder / name).write_bytes(os.urandom(size))
    rest = max(0, int(megabytes * 1e6) - sum(small.values()))
    with open(folder / "model.safetensors", "wb") as handle:
        for start in range(0, rest, 1 << 24):
            handle.write(os.urandom(min(1 << 24, rest - start)))
    write_manifest(folder, {"format": "hf", "status": "ok"})
    return folder


def time_verification(folder: Path, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``verified_manifest(folder)``."""
    from quant_sentiment.manifest import verified_manifest

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        verified_manifest(folder)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    """Parse arguments, time the check, print the figures."""
    from quant_sentiment.benchmark import cpu_model
    from quant_sentiment.manifest import folder_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--mb", type=float, default=90.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="integrity_") as tmp:
        folder = args.folder or synthetic_folder(Path(tmp), args.mb)
        times = time_verification(folder, args.repeats)
        size_mb = folder_size(folder) / 1e6
    median = statistics.median(times)
    print(f"folder: {args.folder or 'synthetic'} ({size_mb:.1f} MB)")
    load = os.getloadavg()[0]
    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores, load average {load:.1f}")
    print(f"runs: {', '.join(f'{t:.3f}' for t in times)} s")
    print(
        f"median {median:.3f} s, best {min(times):.3f} s, "
        f"{size_mb / median:.0f} MB/s (median)"
    )


if __name__ == "__main__":
    main()
