"""Per-head diagnostics of evaluate (pipelines/evaluate/diagnostics.py): confusion
counts per head and contradiction rows, on hand-made predictions."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.contradictions import resolve_rules
from quant_sentiment.pipelines.evaluate.diagnostics import (
    contradiction_markdown,
    contradiction_rows,
    contradiction_table,
    plot_task_confusion,
    task_confusion,
)
from quant_sentiment.pipelines.evaluate.tasks import task_predictions
from quant_sentiment.variants import VariantHandle

from .test_tasks import TASKS, Bundle, _predictions, _test_split

RULES = resolve_rules(
    "tiny",
    [
        {"name": "none_but_category", "when": {"severity": "none", "category": "any"}},
        {"name": "strong_not_abusive", "when": {"severity": "strong", "abusive": "no"}},
    ],
    TASKS,
)
SPEC = {"name": "tiny", "tasks": TASKS, "contradictions": RULES}


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(1)
    test = _test_split(rng)
    test["source"], test["line"] = "test.csv", np.arange(2, len(test) + 2)
    heads = task_predictions(
        Bundle(), _predictions(test, rng, 0.3), test, SPEC, {}, "int8_ort"
    )
    return test, heads


def test_confusion_sums_equal_the_unmasked_row_counts(split):
    test, heads = split
    table = task_confusion(Bundle(), heads, test, SPEC, "int8_ort")
    sums = table.groupby(["task", "class"], sort=False)["count"].sum()
    assert sums[("severity", "")] == len(test)
    assert sums[("abusive", "")] == (test["label_id__abusive"] != -100).sum()
    assert sums[("category", "religion")] == sums[("category", "race")] == len(test)
    sev = table[table["task"] == "severity"]
    assert len(sev) == 9  # 3 x 3
    right = sev[sev["true"] == sev["pred"]]["count"].sum()
    assert right == (test["label_id__severity"] == heads["pred_id__severity"]).sum()
    race = table[(table["task"] == "category") & (table["class"] == "race")]
    tp = race[(race["true"] == 1) & (race["pred"] == 1)]["count"].item()
    y, p = test["label__category__race"], heads["pred__category__race"]
    assert tp == ((y == 1) & (p == 1)).sum()
    figure = plot_task_confusion(table, SPEC, "int8_ort")
    assert len(figure.axes) == 3
    # as the catalog loads it back (CSV: class names and 0/1 in one column)
    saved = pd.read_csv(
        io.StringIO(table.to_csv(index=False)), keep_default_na=False, na_values=[""]
    )
    again = plot_task_confusion(saved, SPEC, "int8_ort")
    shown = [[t.get_text() for t in a.texts] for a in (figure.axes[2], again.axes[2])]
    assert shown[0] == shown[1] and len(shown[0]) == 8  # 2 classes x TN FP FN TP
    assert [a.get_title() for a in figure.axes][2] == "category (multi_label)"


def test_a_skipped_variant_has_no_confusion_rows(split, tmp_path):
    test, heads = split
    skipped = VariantHandle(tmp_path, {"status": "skipped", "reason": "off"})
    table = task_confusion(skipped, pd.DataFrame(), test, SPEC, "int4")
    assert table.empty
    assert len(plot_task_confusion(table, SPEC, "int4").axes) == 1


def test_contradiction_rows_and_counts_on_hand_made_predictions(split):
    test, heads = split
    rows, counts = contradiction_rows(Bundle(), heads, test, SPEC, "int8_ort")
    sev = heads["pred_id__severity"].to_numpy()
    cat = heads[["pred__category__religion", "pred__category__race"]].to_numpy()
    want = (sev == 0) & (cat == 1).any(axis=1)
    got = rows[rows["rule"] == "none_but_category"]
    assert got["line"].tolist() == test.loc[want, "line"].tolist()
    assert want.sum() > 0
    first = got.iloc[0]
    assert first["predicted"].startswith("severity=none; category=")
    assert first["text"] == test.loc[want, "text"].iloc[0]
    by_rule = counts.set_index("rule")
    assert by_rule.loc["none_but_category", "count"] == want.sum()
    assert by_rule.loc["none_but_category", "share"] == pytest.approx(want.mean())
    assert by_rule.loc["none_but_category", "n"] == len(test)
    strong = (sev == 2) & (heads["pred_id__abusive"].to_numpy() == 0)
    assert by_rule.loc["strong_not_abusive", "count"] == strong.sum()
    # a variant with the primary head only: the rules are not checked, and say why
    primary = heads[["pred_id__severity"]]
    _, some = contradiction_rows(Bundle(), primary, test, SPEC, "tfidf")
    assert set(some["status"]) == {"no head for category", "no head for abusive"}
    table = contradiction_table(test, SPEC, counts, some)
    assert table["variant"].tolist()[:2] == ["labels", "labels"]
    labels = table[table["variant"] == "labels"].set_index("rule")
    y_sev = test["label_id__severity"].to_numpy()
    y_cat = test[["label__category__religion", "label__category__race"]].to_numpy()
    truth = (y_sev == 0) & (y_cat == 1).any(axis=1)
    assert labels.loc["none_but_category", "count"] == truth.sum()
    kept = test["label_id__abusive"] != -100
    assert labels.loc["strong_not_abusive", "n"] == kept.sum()
    md = contradiction_markdown(table)
    assert "## none_but_category: severity in {none} and category in" in md
    assert f"{want.sum()} / {len(test)}" in md


def test_an_entry_without_rules_has_empty_tables(split):
    test, heads = split
    spec = {"name": "tiny", "tasks": TASKS}
    rows, counts = contradiction_rows(Bundle(), heads, test, spec, "fp32")
    assert rows.empty and counts.empty
    table = contradiction_table(test, spec, counts)
    assert table.empty
    assert "declares no contradictions" in contradiction_markdown(table)
