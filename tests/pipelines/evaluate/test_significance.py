"""Paired statistics against hand-computed values on tiny examples."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from quant_sentiment.significance import (
    argmax_agreement,
    bootstrap_macro_f1,
    bootstrap_macro_f1_difference,
    macro_f1,
    mcnemar_exact,
    pareto_front,
)

Y = [0, 0, 1, 1, 2, 2]
P = [0, 1, 1, 1, 2, 0]


def test_macro_f1_hand_computed_and_matches_sklearn():
    # class 0: tp 1, 2 true, 2 predicted -> 2/4; class 1: 2*2/(2+3) = 0.8; class 2: 2/3
    expected = (0.5 + 0.8 + 2 / 3) / 3
    assert macro_f1(np.array(Y), np.array(P), 3) == pytest.approx(expected)
    assert expected == pytest.approx(f1_score(Y, P, average="macro"))


def test_macro_f1_vectorised_rows_and_absent_class():
    y = np.array([[0, 0, 1], [1, 1, 1]])
    p = np.array([[0, 0, 1], [1, 1, 0]])
    got = macro_f1(y, p, 3)
    # row 2: class 0 never true, predicted once -> F1 0; class 1: 2*2/(3+2); class 2: 0
    expected = [
        f1_score(y[i], p[i], labels=[0, 1, 2], average="macro", zero_division=0)
        for i in range(2)
    ]
    np.testing.assert_allclose(got, expected)
    assert got[0] == pytest.approx(2 / 3)
    assert got[1] == pytest.approx(0.8 / 3)


def test_argmax_agreement():
    assert argmax_agreement([0, 1, 2, 0], [0, 1, 1, 0]) == 0.75
    with pytest.raises(ValueError, match="same length"):
        argmax_agreement([0, 1], [0])


def test_mcnemar_no_difference_gives_p_one():
    y = [0, 1, 2, 0, 1, 2]
    ref = [0, 1, 0, 0, 1, 2]  # wrong on text 2 only
    other = [0, 1, 2, 0, 0, 2]  # wrong on text 4 only
    result = mcnemar_exact(y, ref, other)
    assert result == {"ref_only_correct": 1, "other_only_correct": 1, "p_value": 1.0}
    identical = mcnemar_exact(y, ref, ref)
    assert identical["p_value"] == 1.0
    assert identical["ref_only_correct"] == identical["other_only_correct"] == 0


def test_mcnemar_exact_p_values():
    y = [0] * 10
    ref = [0] * 10
    other = [1] * 6 + [0] * 4  # 6 discordant pairs, all for the reference
    assert mcnemar_exact(y, ref, other)["p_value"] == pytest.approx(2 * 0.5**6)
    other = [1] * 5 + [0] * 5
    ref = [0] * 9 + [1]  # b = 5, c = 1: p = 2 * (1 + 6) / 2**6
    result = mcnemar_exact(y, ref, other)
    assert (result["ref_only_correct"], result["other_only_correct"]) == (5, 1)
    assert result["p_value"] == pytest.approx(14 / 64)


def test_bootstrap_ci_perfect_predictions_and_identical_difference():
    y = [0, 1, 2] * 10
    assert bootstrap_macro_f1(y, y, 3, n_resamples=200, seed=1) == (1.0, 1.0)
    yy = Y * 5
    assert bootstrap_macro_f1_difference(yy, P * 5, P * 5, 3) == (0.0, 0.0)


def test_bootstrap_ci_contains_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 3, 300))
    r = np.where(rng.random(300) < 0.8, y, rng.integers(0, 3, 300))
    low, high = bootstrap_macro_f1(y, p, 3, n_resamples=500, seed=7)
    assert low < f1_score(y, p, average="macro") < high
    assert (low, high) == bootstrap_macro_f1(y, p, 3, n_resamples=500, seed=7)
    d_low, d_high = bootstrap_macro_f1_difference(y, p, r, 3, n_resamples=500, seed=7)
    delta = f1_score(y, p, average="macro") - f1_score(y, r, average="macro")
    assert d_low < delta < d_high
    assert d_high - d_low < (high - low) * 2


def test_pareto_front():
    cost = [1.0, 2.0, 3.0, 4.0, 2.0, float("nan")]
    quality = [0.5, 0.7, 0.6, 0.8, 0.7, 0.99]
    # (3, 0.6) is beaten by (2, 0.7); the two (2, 0.7) points tie and both stay; NaN never
    assert pareto_front(cost, quality).tolist() == [
        True,
        True,
        False,
        True,
        True,
        False,
    ]


def test_per_class_f1_matches_sklearn_with_and_without_mask():
    from quant_sentiment.significance import per_class_f1

    y, p = np.array(Y), np.array(P)
    np.testing.assert_allclose(
        per_class_f1(y, p, 3), f1_score(y, p, average=None, labels=[0, 1, 2])
    )
    mask = np.array([True, False, True, True, False, True])
    np.testing.assert_allclose(
        per_class_f1(y, p, 3, mask),
        f1_score(y[mask], p[mask], average=None, labels=[0, 1, 2], zero_division=0),
    )
    assert per_class_f1(y, p, 3).mean() == pytest.approx(macro_f1(y, p, 3))


def test_bootstrap_paired_statistics_ci_and_p_value():
    from quant_sentiment.significance import bootstrap_paired_statistics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    worse = y.copy()
    worse[:60] = 1 - worse[:60]  # 20% more errors

    def stat(a, b, c, axis=-1):  # Δ accuracy and a Δ that is 0 on every resample
        d = np.mean(a == b, axis=-1) - np.mean(a == c, axis=-1)
        return np.stack([d, d * 0])

    out = bootstrap_paired_statistics((y, worse, y), stat, n_resamples=500, seed=1)
    assert out["point"].tolist() == pytest.approx([-0.2, 0.0])
    assert out["low"][0] < -0.2 < out["high"][0] < 0
    assert out["p_value"][0] == pytest.approx(2 / 501)  # no resample reaches 0
    assert (out["low"][1], out["high"][1], out["p_value"][1]) == (0.0, 0.0, 1.0)
    bca = bootstrap_paired_statistics(
        (y, worse, y), stat, n_resamples=500, seed=1, method="BCa"
    )
    assert not np.isnan(bca["low"]).any() and bca["high"][1] == 0.0
