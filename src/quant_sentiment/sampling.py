"""Seeded row sampling of training splits: stratified subsets and class oversampling.

- :func:`stratified_limit_rows`: ``n`` rows keeping each class's share (the quick
  look's train subsample; :func:`quant_sentiment.training.limit_rows` is a plain
  random subset).
- :func:`oversample`: the ``<pipeline>.oversample`` block applied by the one Trainer
  builder (:func:`quant_sentiment.training.fit_classifier`) to the training rows only,
  never to validation or test. Deterministic for a seed; logged per class.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

STRATEGIES = ("sqrt", "balanced", "ratio")


def stratified_limit_rows(
    frame: pd.DataFrame, n: int | None, seed: int, label: str = "label_id"
) -> pd.DataFrame:
    """A seeded subset of ``n`` rows with each class's share kept (largest remainders),
    every present class keeping at least one row; all rows when ``n`` is null or large.
    """
    if not n or n >= len(frame):
        return frame
    counts = frame[label].value_counts().sort_index()
    if n < len(counts):
        raise ValueError(
            f"A stratified subset of {n} rows cannot keep all {len(counts)} classes"
        )
    exact = counts / counts.sum() * n
    take = np.maximum(np.floor(exact).astype(int), 1)
    order = (exact - np.floor(exact)).sort_values(ascending=False, kind="stable")
    for cls in order.index:
        if take.sum() >= n:
            break
        if take[cls] < counts[cls]:
            take[cls] += 1
    while take.sum() > n:  # the floor of one-row classes can overshoot
        take[take.idxmax()] -= 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(frame[label].to_numpy() == cls), k, replace=False)
        for cls, k in take.items()
    ]
    return frame.iloc[np.sort(np.concatenate(picked))].reset_index(drop=True)


def target_counts(
    counts: pd.Series, strategy: str, max_factor: float, ratio: float | None = None
) -> pd.Series:
    """Rows per class after oversampling (never fewer than today, at most
    ``max_factor`` times today).

    ``balanced``: every class up to the largest; ``sqrt``: up to
    ``sqrt(count * largest)``; ``ratio``: up to ``ratio * largest``.
    """
    largest = counts.max()
    if strategy == "balanced":
        goal = pd.Series(largest, index=counts.index, dtype=float)
    elif strategy == "sqrt":
        goal = np.sqrt(counts * largest)
    elif strategy == "ratio":
        if ratio is None or not 0 < float(ratio) <= 1:
            raise ValueError("oversample.ratio must be in (0, 1] for strategy ratio")
        goal = pd.Series(float(ratio) * largest, index=counts.index)
    else:
        raise ValueError(
            f"oversample.strategy must be one of {list(STRATEGIES)}, got {strategy!r}"
        )
    capped = np.minimum(goal, counts * float(max_factor))
    return np.maximum(np.round(capped), counts).astype(int)


def oversample(
    train: pd.DataFrame,
    cfg: dict[str, Any] | None,
    setting: str = "finetune.oversample",
    label: str = "label_id",
) -> pd.DataFrame:
    """``train`` with minority rows repeated per ``cfg`` (``enabled``, ``seed``,
    ``strategy``, ``max_factor``, ``ratio``); unchanged when disabled or absent.

    Every original row is kept once; the extra rows of a class are drawn from it
    without replacement while possible (whole copies first), seeded; the result is
    shuffled with the same seed.
    """
    if not cfg or not cfg.get("enabled"):
        return train
    max_factor = float(cfg.get("max_factor", 10))
    if max_factor < 1:
        raise ValueError(f"{setting}.max_factor must be >= 1, got {max_factor}")
    counts = train[label].value_counts().sort_index()
    goal = target_counts(counts, cfg["strategy"], max_factor, cfg.get("ratio"))
    rng = np.random.default_rng(int(cfg["seed"]))
    extra = []
    for cls, want in goal.items():
        rows = np.flatnonzero(train[label].to_numpy() == cls)
        more = int(want) - len(rows)
        copies, rest = divmod(more, len(rows))
        extra.append(np.tile(rows, copies))
        extra.append(rng.choice(rows, rest, replace=False))
    index = np.concatenate([np.arange(len(train)), *extra])
    out = train.iloc[rng.permutation(index)].reset_index(drop=True)
    logger.info(
        "%s (%s, seed %s): train rows per class %s -> %s",
        setting,
        cfg["strategy"],
        cfg["seed"],
        counts.to_dict(),
        out[label].value_counts().sort_index().to_dict(),
    )
    return out
