"""Duplicate texts with conflicting labels: the three rules, within and across splits."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_sentiment.duplicates import resolve_conflicting_labels
from quant_sentiment.pipelines.preprocessing.nodes import (
    DataValidationError,
    build_quality_report,
    deduplicate_and_check_leakage,
)
from tests.pipelines.preprocessing.conf_params import base_parameters


def rows(texts, labels, split="train"):
    return pd.DataFrame(
        {
            "source": f"{split}.csv",
            "line": range(2, len(texts) + 2),
            "text": texts,
            "label": labels,
            "language": "id",
        }
    )


# "a": 2 weak + 1 strong (majority weak); "b": 1 none + 1 weak (tie);
# "c": repeated, same label (not a conflict); "d": single.
FRAME = rows(
    ["a", "b", "a", "c", "b", "a", "c", "d"],
    ["weak", "none", "strong", "none", "weak", "weak", "none", "none"],
)


def test_drop_all_drops_every_row_of_a_conflicting_text():
    kept, dropped, report = resolve_conflicting_labels(FRAME, "drop_all", split=None)
    assert kept["text"].tolist() == ["c", "c", "d"]
    assert sorted(dropped["line"]) == [2, 3, 4, 6, 7]
    assert set(dropped["check"]) == {"conflicting_label"}
    assert (dropped["action"] == "dropped").all()
    assert "language" in kept and "language" in dropped
    assert report["conflicting_texts"] == 2
    assert report["rows_in_conflict"] == 5 and report["rows_dropped"] == 5
    assert report["duplicate_rows"] == 4
    assert report["distinct_duplicated_texts"] == 3
    a = next(c for c in report["conflicts"] if c["text"] == "a")
    assert a["labels"] == {"weak": 2, "strong": 1} and a["rows_dropped"] == 3
    assert "weak: 2, strong: 1" in dropped["reason"].iloc[0]


def test_majority_keeps_the_first_majority_row_and_drops_ties():
    kept, dropped, report = resolve_conflicting_labels(FRAME, "majority", split=None)
    # "a": the first weak row (line 2) kept; "b" is a tie: both rows dropped.
    assert kept[["text", "label", "line"]].values.tolist() == [
        ["a", "weak", 2],
        ["c", "none", 5],
        ["c", "none", 8],
        ["d", "none", 9],
    ]
    assert sorted(dropped["line"]) == [3, 4, 6, 7]
    tie = dropped[dropped["text"] == "b"]["reason"]
    assert tie.str.contains("tie").all()
    assert report["rows_dropped"] == 4


def test_keep_drops_nothing_but_reports():
    kept, dropped, report = resolve_conflicting_labels(FRAME, "keep", split=None)
    assert kept.equals(FRAME) and dropped.empty
    assert report["conflicting_texts"] == 2 and report["rows_dropped"] == 0


def test_no_conflicts_and_unknown_rule():
    clean = rows(["x", "x", "y"], ["none", "none", "weak"])
    kept, dropped, report = resolve_conflicting_labels(clean)
    assert len(kept) == 3 and dropped.empty and report["conflicting_texts"] == 0
    with pytest.raises(ValueError, match="deduplicate.conflicting: 'vote'"):
        resolve_conflicting_labels(clean, "vote")


def test_conflicts_across_splits_in_the_preprocessing_node():
    train = rows(["a", "b", "c", "d"], ["weak", "none", "none", "none"])
    valid = rows(["e", "b"], ["none", "none"], "valid")
    test = rows(["a", "f"], ["strong", "none"], "test")
    params = base_parameters("preprocessing", "deduplicate")
    assert params["conflicting"] == "drop_all"
    tr, va, te, report, dropped = deduplicate_and_check_leakage(
        train, valid, test, params
    )
    # "a" is weak in train and strong in test: dropped from both; "b" agrees.
    assert tr["text"].tolist() == ["b", "c", "d"]
    assert va["text"].tolist() == ["e", "b"] and te["text"].tolist() == ["f"]
    assert sorted(zip(dropped["split"], dropped["text"])) == [
        ("test", "a"),
        ("train", "a"),
    ]
    conflicts = report["conflicting_labels"]
    assert conflicts["conflicting_across_splits"] == 1
    assert conflicts["conflicts"][0]["splits"] == {
        "train": {"weak": 1},
        "test": {"strong": 1},
    }
    assert conflicts["rows_dropped_by_split"] == {"train": 1, "test": 1}
    # The quality report keeps each dropped row's split.
    none = dropped.iloc[0:0]
    stats = {"rows_in": 1, "steps": {}, "rows_emptied": 0, "rows_out": 1}
    per_split = {
        f"{s}_{k}": v
        for s, clean in (("train", tr), ("valid", va), ("test", te))
        for k, v in (
            ("invalid", none),
            ("stats", stats),
            ("emptied", none),
            ("clean", clean),
        )
    }
    full, table = build_quality_report(report, dropped, {}, none, {}, none, **per_split)
    assert sorted(table["split"]) == ["test", "train"]
    assert full["duplicates_and_leakage"]["conflicting_labels"]["rows_dropped"] == 2


def test_a_split_emptied_by_the_rule_stops_naming_the_setting():
    train = rows(["a", "b"], ["weak", "none"])
    valid = rows(["c"], ["none"], "valid")
    test = rows(["a"], ["strong"], "test")
    with pytest.raises(DataValidationError, match="deduplicate.conflicting=drop_all"):
        deduplicate_and_check_leakage(
            train, valid, test, base_parameters("preprocessing", "deduplicate")
        )
