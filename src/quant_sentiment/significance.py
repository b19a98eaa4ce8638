"""Paired comparisons of two classifiers on the same test texts.

Argmax agreement, bootstrap confidence intervals of macro-F1 (and of a paired
difference), McNemar's exact test, and the Pareto front used by ``evaluate``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


def _as_labels(values: Sequence[int], name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr.astype(np.int64)


def _check_paired(**arrays: np.ndarray) -> None:
    sizes = {name: len(a) for name, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"Paired inputs must have the same length, got {sizes}")
    if not next(iter(sizes.values())):
        raise ValueError("Paired inputs are empty")


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """Macro-F1 over labels ``0..n_labels-1`` along the last axis (vectorised).

    Equal to ``sklearn.metrics.f1_score(average="macro", labels=range(n_labels),
    zero_division=0)``; works on ``[..., n]`` arrays so that a bootstrap can score all
    resamples in one call.
    """
    return np.mean(per_class_f1(y_true, y_pred, n_labels), axis=0)


def argmax_agreement(pred_a: Sequence[int], pred_b: Sequence[int]) -> float:
    """Share of texts on which two classifiers predict the same label."""
    a, b = _as_labels(pred_a, "pred_a"), _as_labels(pred_b, "pred_b")
    _check_paired(pred_a=a, pred_b=b)
    return float(np.mean(a == b))


def mcnemar_exact(
    y_true: Sequence[int], pred_ref: Sequence[int], pred_other: Sequence[int]
) -> dict[str, float | int]:
    """McNemar's exact test: do two classifiers differ in accuracy on paired texts?

    Only the discordant pairs count: ``b`` texts right for the reference and wrong for
    the other, ``c`` the reverse. Under the null hypothesis each discordant pair is a
    fair coin, so the two-sided p-value is ``scipy.stats.binomtest(b, b + c, 0.5)``
    (1.0 when there are no discordant pairs).

    Returns:
        ``{"ref_only_correct": b, "other_only_correct": c, "p_value": p}``.
    """
    from scipy.stats import binomtest

    t = _as_labels(y_true, "y_true")
    r, o = _as_labels(pred_ref, "pred_ref"), _as_labels(pred_other, "pred_other")
    _check_paired(y_true=t, pred_ref=r, pred_other=o)
    ref_ok, other_ok = r == t, o == t
    b = int(np.sum(ref_ok & ~other_ok))
    c = int(np.sum(~ref_ok & other_ok))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"ref_only_correct": b, "other_only_correct": c, "p_value": min(p, 1.0)}


def _paired_bootstrap(data, statistic, n_resamples, seed, confidence, method, **extra):
    """``scipy.stats.bootstrap`` over texts: paired, vectorised, seeded."""
    from scipy.stats import bootstrap

    return bootstrap(
        data,
        statistic,
        n_resamples=int(n_resamples),
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        method=method,
        rng=np.random.default_rng(seed),
        **extra,
    )


def _paired_ci(data, statistic, n_resamples, seed, confidence, method):
    """The paired bootstrap's confidence interval ``(low, high)``."""
    res = _paired_bootstrap(data, statistic, n_resamples, seed, confidence, method)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def bootstrap_macro_f1(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    n_labels: int,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    method: str = "percentile",
) -> tuple[float, float]:
    """Bootstrap confidence interval of macro-F1 (texts resampled with replacement).

    Uses ``scipy.stats.bootstrap`` (``paired=True``: truth and prediction of a text stay
    together) with a fixed seed.
    """
    t, p = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    _check_paired(y_true=t, y_pred=p)
    return _paired_ci(
        (t, p),
        lambda a, b, axis=-1: macro_f1(a, b, n_labels),
        n_resamples,
        seed,
        confidence,
        method,
    )


def bootstrap_macro_f1_difference(
    y_true: Sequence[int],
    pred_other: Sequence[int],
    pred_ref: Sequence[int],
    n_labels: int,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    method: str = "percentile",
) -> tuple[float, float]:
    """Paired bootstrap CI of ``macro_f1(other) - macro_f1(reference)``.

    Both classifiers are scored on the same resampled texts, so the interval reflects
    how much the difference varies, not each score's own spread.
    """
    t = _as_labels(y_true, "y_true")
    o, r = _as_labels(pred_other, "pred_other"), _as_labels(pred_ref, "pred_ref")
    _check_paired(y_true=t, pred_other=o, pred_ref=r)
    if np.array_equal(o, r):  # identical predictions: every resample differs by 0
        return 0.0, 0.0

    def diff(a, b, c, axis=-1):
        return macro_f1(a, b, n_labels) - macro_f1(a, c, n_labels)

    return _paired_ci((t, o, r), diff, n_resamples, seed, confidence, method)


def pareto_front(cost: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point beats (lower cost, higher quality).

    A point is dominated when another has cost <= and quality >= with at least one
    strict; NaN points are never on the front.
    """
    x, y = np.asarray(cost, dtype=float), np.asarray(quality, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"cost and quality differ in shape: {x.shape} vs {y.shape}")
    valid = ~(np.isnan(x) | np.isnan(y))
    front = np.zeros(len(x), dtype=bool)
    for i in np.flatnonzero(valid):
        others = valid & ((x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i])))
        front[i] = not others.any()
    return front


def per_class_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_labels: int,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """F1 of each label ``0..n_labels-1`` along the last axis; shape ``[n_labels, ...]``.

    ``mask`` (same shape as ``y_true``) restricts the count to some texts (a group).
    Equal to ``sklearn.metrics.f1_score(average=None, labels=range(n_labels),
    zero_division=0)`` on the masked texts.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    keep = np.ones(y_true.shape, dtype=bool) if mask is None else np.asarray(mask)
    f1s = []
    for k in range(n_labels):
        t, p = (y_true == k) & keep, (y_pred == k) & keep
        tp = np.sum(t & p, axis=-1)
        denom = np.sum(t, axis=-1) + np.sum(p, axis=-1)
        f1s.append(
            np.divide(
                2.0 * tp,
                denom,
                out=np.zeros(np.shape(tp), dtype=float),
                where=denom > 0,
            )
        )
    return np.stack(f1s, axis=0)


def bootstrap_paired_statistics(
    data: tuple[np.ndarray, ...],
    statistic,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    method: str = "percentile",
) -> dict[str, np.ndarray]:
    """Point values, paired bootstrap CIs and two-sided p-values of a vector statistic.

    ``statistic(*data, axis=-1)`` returns an array ``[k, ...]`` (k values per
    resample, e.g. a Δ per class); all values are scored on the same resampled texts
    (``scipy.stats.bootstrap``, ``paired=True``, seeded). The p-value of value ``i``
    tests "its Δ is 0": ``2 · min(share of resamples ≤ 0, share ≥ 0)`` with the
    ``+1`` correction, capped at 1. A value that is the same in every resample (e.g.
    a class on which both classifiers agree everywhere), where BCa cannot form an
    interval, gets the percentile interval.

    Returns:
        ``{"point", "low", "high", "p_value"}``, each of length ``k``.
    """
    arrays = tuple(np.asarray(a) for a in data)
    _check_paired(**{f"data_{i}": a for i, a in enumerate(arrays)})
    point = np.asarray(statistic(*arrays, axis=-1), dtype=float)
    with warnings.catch_warnings():  # degenerate (constant) values: handled below
        warnings.simplefilter("ignore")
        res = _paired_bootstrap(
            arrays,
            statistic,
            n_resamples,
            seed,
            confidence,
            method,
            batch=max(1, min(int(n_resamples), 200)),  # bounded memory
        )
    dist = np.asarray(res.bootstrap_distribution, dtype=float).reshape(len(point), -1)
    low = np.asarray(res.confidence_interval.low, dtype=float).reshape(-1)
    high = np.asarray(res.confidence_interval.high, dtype=float).reshape(-1)
    tail = (1 - confidence) / 2  # where BCa gave no interval: the percentile one
    low = np.where(np.isnan(low), np.quantile(dist, tail, axis=1), low)
    high = np.where(np.isnan(high), np.quantile(dist, 1 - tail, axis=1), high)
    n = dist.shape[1]
    below = (1 + np.sum(dist <= 0, axis=1)) / (n + 1)
    above = (1 + np.sum(dist >= 0, axis=1)) / (n + 1)
    p_value = np.minimum(1.0, 2 * np.minimum(below, above))
    return {"point": point, "low": low, "high": high, "p_value": p_value}
