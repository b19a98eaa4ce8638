"""Task sampling of pooled multi-task train rows (quant_sentiment.task_sampling)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from quant_sentiment.task_sampling import group_shares, sample_tasks, task_groups

TASKS = [
    {"name": "sentiment", "kind": "single_label", "labels": ["p", "n"]},
    {"name": "severity", "kind": "single_label", "labels": ["a", "b"]},
    {"name": "category", "kind": "multi_label", "labels": ["x", "y"]},
]


def _pool(n_sentiment: int, n_hate: int) -> pd.DataFrame:
    """A pooled split: sentiment-only rows, then hate rows (severity + category)."""
    sent = pd.DataFrame(
        {
            "text": [f"s{i}" for i in range(n_sentiment)],
            "label_id__sentiment": [i % 2 for i in range(n_sentiment)],
            "label_id__severity": -100,
            "label__category__x": -100,
            "label__category__y": -100,
        }
    )
    hate = pd.DataFrame(
        {
            "text": [f"h{i}" for i in range(n_hate)],
            "label_id__sentiment": -100,
            "label_id__severity": [i % 2 for i in range(n_hate)],
            "label__category__x": [i % 3 == 0 for i in range(n_hate)],
            "label__category__y": 0,
        }
    ).astype({"label__category__x": int})
    return pd.concat([sent, hate], ignore_index=True)


def test_rows_are_grouped_by_the_tasks_they_carry():
    groups = task_groups(_pool(3, 2), TASKS)
    assert groups.tolist() == ["sentiment"] * 3 + ["severity+category"] * 2


def test_shares_under_each_rule():
    counts = {"a": 900, "b": 100}
    assert group_shares(counts, "proportional") == {"a": 0.9, "b": 0.1}
    assert group_shares(counts, "uniform") == {"a": 0.5, "b": 0.5}
    shares = group_shares(counts, "temperature", 2.0)  # sqrt: 30 vs 10
    assert math.isclose(shares["a"], 0.75) and math.isclose(shares["b"], 0.25)


def test_uniform_and_temperature_redraw_the_pool_seeded():
    pool = _pool(900, 100)
    assert sample_tasks(pool, TASKS, {"rule": "proportional"}) is pool
    uniform = sample_tasks(pool, TASKS, {"rule": "uniform", "seed": 1})
    counts = task_groups(uniform, TASKS).value_counts()
    assert len(uniform) == 1000 and counts.to_dict() == {
        "sentiment": 500,
        "severity+category": 500,
    }
    # the small group keeps every row; the large one is drawn without replacement
    hate = uniform[uniform["text"].str.startswith("h")]
    assert set(hate["text"]) == set(pool["text"][900:])
    assert not uniform[uniform["text"].str.startswith("s")]["text"].duplicated().any()
    again = sample_tasks(pool, TASKS, {"rule": "uniform", "seed": 1})
    assert again["text"].tolist() == uniform["text"].tolist()
    hot = sample_tasks(pool, TASKS, {"rule": "temperature", "temperature": 2.0})
    assert task_groups(hot, TASKS).value_counts()["severity+category"] == 250


def test_a_split_with_one_group_is_unchanged():
    one = _pool(10, 0)
    assert sample_tasks(one, TASKS, {"rule": "uniform"}) is one


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"rule": "balanced"}, r"x\.rule must be one of \['proportional'"),
        ({"rule": "temperature", "temperature": 0}, r"x\.temperature must be > 0"),
        ({"rule": "uniform", "alpha": 1}, r"x: unknown setting\(s\) \['alpha'\]"),
    ],
)
def test_bad_sampling_settings_are_named(cfg, message):
    with pytest.raises(ValueError, match=message):
        sample_tasks(_pool(3, 2), TASKS, cfg, setting="x")
