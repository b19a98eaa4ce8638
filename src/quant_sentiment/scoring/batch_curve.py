"""The loaded variant's batch curve, measured at start-up, sizes the service's batches.

``serve --max-batch-texts auto`` (the default) times the model on texts of a typical
length at batch sizes 1, 2, 4, ... up to ``max_size`` and takes as the micro-batch cap
the smallest size whose throughput is within ``share`` of the best measured: batching
further only adds waiting. A route whose throughput does not grow with the batch (an
ONNX dynamic-INT8 graph, which runs each text alone to stay batch-invariant) gets a
small cap; an FP32 or static-INT8 graph, whose batch-32 throughput is several times its
batch-1 one, gets a large one. The curve and the chosen cap are logged and reported by
``GET /health``.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Words the probe texts are built from (Indonesian review vocabulary); the texts'
#: lengths (12-36 words) span the SmSA / NusaX median (~30 tokens).
_WORDS = (
    "makanan di restoran ini enak sekali tapi pelayanannya lambat dan harganya agak "
    "mahal untuk porsi yang kecil saya tidak akan kembali lagi ke sini karena kecewa "
    "tempatnya bersih nyaman dan cocok untuk keluarga pada akhir pekan"
).split()


def probe_texts(n: int) -> list[str]:
    """``n`` deterministic texts of 12 to 36 words."""
    texts = []
    for i in range(n):
        length = 12 + (i * 7) % 25
        texts.append(
            " ".join(_WORDS[(i + j) % len(_WORDS)] for j in range(length)).strip()
        )
    return texts


@dataclass(frozen=True)
class BatchCurve:
    """Throughput (texts/s) per batch size, and the cap chosen from it."""

    sizes: tuple[int, ...]
    texts_per_s: tuple[float, ...]
    cap: int
    share: float

    def as_dict(self) -> dict:
        """JSON-ready form (``GET /health``)."""
        return {
            "texts_per_s": {
                str(size): round(rate, 1)
                for size, rate in zip(self.sizes, self.texts_per_s)
            },
            "cap": self.cap,
            "share": self.share,
        }


def choose_cap(sizes: Sequence[int], rates: Sequence[float], share: float) -> int:
    """The smallest size whose throughput is at least ``share`` of the best.

    Raises:
        ValueError: Empty or mismatched inputs, or ``share`` outside (0, 1].
    """
    if not sizes or len(sizes) != len(rates):
        raise ValueError("choose_cap needs one throughput per batch size")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    best = max(rates)
    return min(size for size, rate in zip(sizes, rates) if rate >= share * best)


def measure(
    score: Callable[[list[str]], object],
    max_size: int,
    repeats: int = 3,
    share: float = 0.9,
    clock: Callable[[], float] | None = None,
) -> BatchCurve:
    """Time ``score`` at batch sizes 1, 2, 4, ... ``max_size`` (the median of
    ``repeats`` calls each, after one untimed warm-up call per size) and choose the cap.

    Raises:
        ValueError: ``max_size`` or ``repeats`` < 1.
    """
    clock = clock or time.perf_counter
    if max_size < 1 or repeats < 1:
        raise ValueError(
            f"max_size and repeats must be >= 1, got {max_size}, {repeats}"
        )
    sizes = [1]
    while sizes[-1] * 2 <= max_size:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != max_size:
        sizes.append(max_size)
    texts = probe_texts(max_size)
    rates = []
    for size in sizes:
        batch = texts[:size]
        score(batch)
        times = []
        for _ in range(repeats):
            start = clock()
            score(batch)
            times.append(clock() - start)
        rates.append(size / max(statistics.median(times), 1e-9))
    curve = BatchCurve(
        tuple(sizes), tuple(rates), choose_cap(sizes, rates, share), share
    )
    logger.info(
        "Batch curve (texts/s by batch size): %s; micro-batch cap %d (the smallest "
        "size within %.0f %% of the best)",
        ", ".join(f"{s}: {r:.0f}" for s, r in zip(sizes, rates)),
        curve.cap,
        share * 100,
    )
    return curve
