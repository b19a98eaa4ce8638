"""The slang benchmark's severity label and split (hand-made rows)."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_sentiment.bench.slang import severity, split


def test_severity_label_from_the_columns():
    frame = pd.DataFrame(
        {
            "HS": [0, 1, 1, 1],
            "HS_Weak": [0, 1, 0, 0],
            "HS_Moderate": [0, 0, 1, 0],
            "HS_Strong": [0, 0, 0, 1],
        }
    )
    assert severity(frame).tolist() == ["none", "weak", "moderate", "strong"]
    frame.loc[0, "HS_Strong"] = 1  # HS = 0 with a level set
    with pytest.raises(ValueError, match=r"rows \[0\]"):
        severity(frame)


def test_split_is_seeded_and_stratified():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)]}).assign(
        label=["a"] * 80 + ["b"] * 20
    )
    parts = split(frame, 7)
    assert [len(p) for p in parts.values()] == [80, 10, 10]
    assert parts["test"]["label"].value_counts().to_dict() == {"a": 8, "b": 2}
    assert split(frame, 7)["test"].index.equals(parts["test"].index)
