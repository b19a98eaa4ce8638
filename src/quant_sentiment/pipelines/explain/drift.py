"""Drift of a variant's word attributions from the reference's, text by text.

For one text and one method, :func:`text_drift` compares two score vectors over the
same words: Spearman rank correlation, top-k overlap (Jaccard of the k words with the
largest absolute scores) and the sign-flip rate (share of words, among those both
score non-zero, whose sign differs). :func:`mean_with_ci` summarises a metric over
texts with a bootstrap confidence interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Fewest words a rank correlation is defined for.
MIN_WORDS = 2


def spearman(reference: np.ndarray, other: np.ndarray) -> float:
    """Spearman's rho; ``nan`` when either vector is constant or has < 2 words."""
    from scipy.stats import spearmanr

    if len(reference) < MIN_WORDS or np.ptp(reference) == 0 or np.ptp(other) == 0:
        return float("nan")
    return float(spearmanr(reference, other).statistic)


def top_k(scores: np.ndarray, k: int) -> set[int]:
    """Indices of the ``k`` largest absolute scores (ties: earlier words first)."""
    order = np.argsort(-np.abs(scores), kind="stable")
    return set(order[: min(k, len(scores))].tolist())


def jaccard(a: set[int], b: set[int]) -> float:
    """``|a ∩ b| / |a ∪ b|`` (``1`` for two empty sets)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def sign_flip_rate(reference: np.ndarray, other: np.ndarray) -> float:
    """Share of words scored non-zero by both whose signs differ (``nan``: none)."""
    both = (reference != 0) & (other != 0)
    if not both.any():
        return float("nan")
    return float(np.mean(np.sign(reference[both]) != np.sign(other[both])))


def text_drift(
    reference: np.ndarray, other: np.ndarray, ks: Sequence[int]
) -> dict[str, float]:
    """All drift metrics of one text: ``spearman``, ``jaccard@k``, ``sign_flip``."""
    reference, other = np.asarray(reference, float), np.asarray(other, float)
    if reference.shape != other.shape:
        raise ValueError(
            f"Attribution vectors differ in length: {reference.shape} vs {other.shape}"
        )
    row = {"spearman": spearman(reference, other)}
    for k in ks:
        row[f"jaccard@{k}"] = jaccard(top_k(reference, k), top_k(other, k))
    row["sign_flip"] = sign_flip_rate(reference, other)
    return row


def mean_with_ci(values: Sequence[float], params: dict[str, Any]) -> dict[str, float]:
    """Mean over texts with a bootstrap CI (``scipy.stats.bootstrap``).

    Texts where the metric is undefined (``nan``) are left out and counted: ``n`` is
    the number of texts the mean is over.

    Args:
        params: ``explain.drift.bootstrap``: ``n_resamples``, ``seed``,
            ``confidence``, ``method``.
    """
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0}
    mean = float(x.mean())
    if x.size == 1 or np.ptp(x) == 0:  # no spread: the interval is the point
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": int(x.size)}
    ci = bootstrap(
        (x,),
        np.mean,
        n_resamples=int(params["n_resamples"]),
        confidence_level=float(params["confidence"]),
        method=params["method"],
        rng=np.random.default_rng(int(params["seed"])),
    ).confidence_interval
    return {
        "mean": mean,
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "n": int(x.size),
    }
