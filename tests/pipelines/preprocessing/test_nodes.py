"""Unit tests of the preprocessing nodes and the raw-lines dataset."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from quant_sentiment.datasets import RawLinesDataset
from quant_sentiment.pipelines.preprocessing.nodes import (
    DataValidationError,
    build_quality_report,
    deduplicate_and_check_leakage,
    normalise_texts,
    validate_rows,
)

from .conf_params import base_parameters

LABELS = {"positive": 0, "neutral": 1, "negative": 2}


def raw_frame(lines: list[bytes], source: str = "data/x.tsv") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": source,
            "line": range(1, len(lines) + 1),
            "raw": pd.Series(lines, dtype=object),
        }
    )


GOOD = [b"enak sekali\tpositive", b"biasa saja\tneutral", b"buruk\tnegative"]


def test_validate_accepts_good_rows():
    rows, invalid = validate_rows(
        raw_frame(GOOD), LABELS, base_parameters("preprocessing", "validation")
    )
    assert rows["text"].tolist() == ["enak sekali", "biasa saja", "buruk"]
    assert rows["line"].tolist() == [1, 2, 3]
    assert invalid.empty


@pytest.mark.parametrize(
    "bad, check, fragment",
    [
        (
            b"caf\xe9 enak\tpositive",
            "undecodable",
            "undecodable bytes b'\\xe9' at byte 3",
        ),
        (b"satu\tdua\tpositive", "column_count", "found 3"),
        (b"tanpa label", "column_count", "found 1"),
        (b"", "blank_line", "blank line"),
        (b"   \tpositive", "empty_text", "empty text"),
        (b"mantap\tpositif", "unknown_label", "unknown label 'positif'"),
    ],
)
def test_validate_names_file_line_and_problem(bad, check, fragment):
    lines = [*GOOD, bad]
    with pytest.raises(DataValidationError) as err:
        validate_rows(
            raw_frame(lines, "data/01_raw/smsa/train.tsv"),
            LABELS,
            base_parameters("preprocessing", "validation", on_invalid="error"),
        )
    message = str(err.value)
    assert "data/01_raw/smsa/train.tsv, line 4:" in message
    assert fragment in message
    rows, invalid = validate_rows(
        raw_frame(lines),
        LABELS,
        base_parameters(
            "preprocessing",
            "validation",
            **{"on_invalid": "drop", "max_drop_share": 0.5},
        ),
    )
    assert len(rows) == 3
    assert invalid[["line", "check"]].values.tolist() == [[4, check]]


def test_validate_rejects_unknown_mode():
    with pytest.raises(ValueError, match="on_invalid"):
        validate_rows(
            raw_frame(GOOD),
            LABELS,
            base_parameters("preprocessing", "validation", on_invalid="ignore"),
        )


def frame(texts, labels=None):
    labels = labels or ["positive"] * len(texts)
    return pd.DataFrame(
        {
            "source": "f.tsv",
            "line": range(1, len(texts) + 1),
            "text": texts,
            "label": labels,
        }
    )


def normalisation(**overrides):
    """``preprocessing.normalisation`` as shipped, with ``overrides``."""
    return base_parameters("preprocessing", "normalisation", **overrides)


def test_normalise_counts_changes_per_step():
    rows = frame(["Enak  SEKALI !!", "harga 50 ribu , murah", "oke"])
    clean, stats, emptied = normalise_texts(
        rows, LABELS, normalisation(strip_non_letters=True)
    )
    assert clean["text"].tolist() == ["enak sekali", "harga ribu murah", "oke"]
    assert stats["steps"]["lowercase"]["rows_changed"] == 1
    assert stats["steps"]["strip_non_letters"]["rows_changed"] == 2
    assert stats["steps"]["collapse_whitespace"] == {
        "rows_changed": 2,
        "tokens_before": 6,
        "tokens_after": 6,
    }
    assert clean["label_id"].tolist() == [0, 0, 0]
    assert emptied.empty


def test_stopwords_keep_negation_and_stemming():
    rows = frame(["saya tidak suka makanannya", "yang dan di"])
    clean, stats, emptied = normalise_texts(
        rows,
        LABELS,
        normalisation(remove_stopwords=True, stopwords_keep=["tidak"]),
    )
    assert clean["text"].tolist() == ["tidak suka makanannya"]
    assert emptied[["line", "check"]].values.tolist() == [
        [2, "empty_after_normalisation"]
    ]
    assert stats["rows_emptied"] == 1
    stemmed, _, _ = normalise_texts(
        frame(["pelayanannya mengecewakan"]), LABELS, normalisation(stem=True)
    )
    assert stemmed["text"].tolist() == ["layan kecewa"]


def test_duplicates_and_leakage_report_and_optional_drops():
    train = frame(
        ["a", "a", "b", "c", "c"],
        ["positive", "positive", "neutral", "negative", "positive"],
    )
    valid = frame(["b", "x"], ["neutral", "neutral"])
    test = frame(["c", "y"], ["negative", "negative"])
    keep = {**base_parameters("preprocessing", "deduplicate"), "conflicting": "keep"}
    tr, _, _, report, dropped = deduplicate_and_check_leakage(train, valid, test, keep)
    assert len(tr) == 5 and dropped.empty
    within = report["within_split"]["train"]
    assert within == {
        "duplicate_rows": 1,
        "duplicate_texts": 2,
        "distinct_duplicated_texts": 2,
        "texts_with_conflicting_labels": 1,
    }
    assert report["cross_split"]["train_valid"]["shared_texts"] == 1
    assert report["cross_split"]["train_test"]["label_disagreements"] == 1
    tr, _, _, report, dropped = deduplicate_and_check_leakage(
        train, valid, test, {"within_train": True, "leaked_from_train": True}
    )
    assert tr["text"].tolist() == ["a"]
    assert sorted(dropped["check"]) == [
        "duplicate_in_train",
        "duplicate_in_train",
        "train_text_in_valid_or_test",
        "train_text_in_valid_or_test",
    ]
    assert report["dropped_from_train"] == 4


def test_quality_report_collects_every_dropped_row():
    invalid = pd.DataFrame(
        [["f", 3, None, None, "undecodable", "bad bytes"]],
        columns=["source", "line", "text", "label", "check", "reason"],
    )
    none = invalid.iloc[0:0]
    stats = {"rows_in": 2, "steps": {}, "rows_emptied": 0, "rows_out": 2}
    clean = frame(["a", "b"]).assign(label_id=0)
    dedup = frame(["a"]).assign(check="duplicate_in_train", reason="r")
    per_split = {
        f"{split}_{kind}": value
        for split in ("train", "valid", "test")
        for kind, value in (
            ("invalid", invalid if split == "train" else none),
            ("stats", stats),
            ("emptied", none),
            ("clean", clean),
        )
    }
    subsample = {"max_train_rows": None, "subsampled": False}
    report, dropped = build_quality_report(
        {"x": 1}, dedup, subsample, dedup.iloc[0:0], {}, dedup.iloc[0:0], **per_split
    )
    assert list(report["splits"]) == ["train", "valid", "test"]
    assert report["rows_dropped_total"] == 2
    assert report["splits"]["train"]["invalid_by_check"] == {"undecodable": 1}
    assert dropped["split"].tolist() == ["train", "train"]
    assert list(dropped.columns)[:3] == ["split", "source", "line"]


def test_raw_lines_dataset_reads_lines(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_bytes(b"x\tpositive\ny\tneutral\n")
    data = RawLinesDataset(str(path)).load()
    assert data["raw"].tolist() == [b"x\tpositive", b"y\tneutral"]
    assert data["line"].tolist() == [1, 2]


def test_raw_lines_dataset_copies_from_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.tsv").write_bytes(b"x\tpositive\n")
    target = tmp_path / "raw" / "a.tsv"
    assert len(RawLinesDataset(str(target), mirror_dirs=[str(mirror)]).load()) == 1
    assert target.read_bytes() == b"x\tpositive\n"


def test_raw_lines_dataset_missing_file_says_where_to_put_it(tmp_path):
    target = tmp_path / "raw" / "train_preprocess.tsv"
    ds = RawLinesDataset(
        str(target), source_url="http://127.0.0.1:9/train.tsv", download_timeout=2
    )
    with pytest.raises(DatasetError) as err:
        ds.load()
    assert "downloading http://127.0.0.1:9/train.tsv failed" in str(err.value)
    assert f"Put the file at '{target}'" in str(err.value)
    with pytest.raises(DatasetError, match="read-only"):
        ds.save("anything")
