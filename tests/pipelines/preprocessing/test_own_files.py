"""Your own raw files: CSV/TSV with a header, named or indexed columns, own labels.

Unit tests of ``validate_rows``'s layout settings, and the documented run
(``kedro run --env=offline --params "data.raw_dir=...,data.labels=...,..."``: the
same runtime parameters) through ``KedroSession`` on a copy of the project.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from quant_sentiment.pipelines.preprocessing.nodes import (
    DataValidationError,
    validate_rows,
)
from tests.conftest import read_sample_split, run_session
from tests.pipelines.preprocessing.conf_params import base_parameters

from .test_raw_input import load

OWN_LABELS = {"positive": "good", "neutral": "meh", "negative": "bad"}
OWN_LABEL_MAP = {"bad": 0, "meh": 1, "good": 2}
CSV_LAYOUT = {
    "separator": "comma",
    "quoted": True,
    "header": True,
    "text_column": "review",
    "label_column": "rating",
}
CSV = (
    b"id,rating,review\n"
    b'1,good,"enak, murah, cepat"\n'
    b'2,bad,"kata ""buruk"" sekali"\n'
    b"3,meh,biasa saja\n"
)


def run_validate(tmp_path, payload: bytes, name="train.csv", label_map=None, **kw):
    settings = base_parameters("preprocessing", "validation", **kw)
    raw = load(tmp_path, payload, name)
    return validate_rows(raw, label_map or OWN_LABEL_MAP, settings)


def test_csv_with_header_named_columns_and_quotes(tmp_path):
    rows, invalid = run_validate(tmp_path, CSV, **CSV_LAYOUT)
    assert rows["text"].tolist() == [
        "enak, murah, cepat",
        'kata "buruk" sekali',
        "biasa saja",
    ]
    assert rows["label"].tolist() == ["good", "bad", "meh"]
    assert rows["line"].tolist() == [2, 3, 4]  # line 1 is the header
    assert invalid.empty


def test_header_with_byte_order_mark_and_indexed_columns(tmp_path):
    payload = "\ufeffrating;text\nbad;jelek\ngood;bagus\n".encode()
    rows, invalid = run_validate(
        tmp_path, payload, separator=";", header=True, text_column=1, label_column=0
    )
    assert rows[["text", "label"]].values.tolist() == [
        ["jelek", "bad"],
        ["bagus", "good"],
    ]
    assert invalid["check"].tolist() == ["byte_order_mark"]


def test_headerless_columns_by_index(tmp_path):
    payload = b"bad\tx\tjelek sekali\ngood\ty\tbagus\n"
    rows, _ = run_validate(tmp_path, payload, text_column=2, label_column=0)
    assert rows["text"].tolist() == ["jelek sekali", "bagus"]
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, b"bad\tjelek\n", text_column=2, label_column=0)
    assert "expected 3 columns (label, column 1, text) separated by '\\t', found 2" in (
        str(err.value)
    )


def test_missing_named_column_names_file_and_column(tmp_path):
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, CSV, **{**CSV_LAYOUT, "text_column": "comment"})
    assert str(err.value) == (
        f"{tmp_path / 'train.csv'}, line 1: column 'comment' "
        f"(preprocessing.validation.text_column) is not in the header "
        f"['id', 'rating', 'review']. Set preprocessing.validation.text_column to one "
        f"of these names (or a 0-based index), or fix the header line."
    )


def test_column_name_without_header_names_the_setting(tmp_path):
    with pytest.raises(ValueError, match=r"preprocessing.validation.header: true"):
        run_validate(tmp_path, CSV, **{**CSV_LAYOUT, "header": False})


def test_header_only_file_is_an_empty_split(tmp_path):
    with pytest.raises(DataValidationError, match="header line only"):
        run_validate(tmp_path, b"rating,review\n", **CSV_LAYOUT)


def test_wrong_field_count_in_csv_is_reported_with_line(tmp_path):
    payload = CSV + b"4,good,enak,murah\n"
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, payload, **CSV_LAYOUT)
    message = str(err.value)
    assert "line 5: expected 3 columns (id, rating, review) separated by ','" in message
    assert "found 4" in message


def test_unknown_labels_suggest_data_labels(tmp_path):
    with pytest.raises(DataValidationError) as err:
        run_validate(
            tmp_path, CSV, label_map={"positive": 0, "negative": 1}, **CSV_LAYOUT
        )
    assert '--params "dataset=files,data.labels=bad good meh"' in str(err.value)


# ------------------------------------------------------- the documented kedro run
def _write_own_files(folder: Path) -> None:
    """The sample corpus as CSV: header ``rating,review`` (label first), own label
    names, the validation split named ``dev.csv``."""
    folder.mkdir()
    for split, name in (
        ("train", "train.csv"),
        ("valid", "dev.csv"),
        ("test", "test.csv"),
    ):
        frame = read_sample_split(split)
        own = pd.DataFrame(
            {"rating": frame["label"].map(OWN_LABELS), "review": frame["text"]}
        )
        own.to_csv(folder / name, index=False, quoting=csv.QUOTE_NONNUMERIC)


def _own_params(folder: Path, **layout) -> dict:
    return {
        "dataset": "files",
        "data": {
            "raw_dir": str(folder),
            "raw_suffix": ".csv",
            "valid_file": "dev.csv",
            "labels": "bad meh good",
            "separator": "comma",
            "quoted": True,
            "header": True,
            "text_column": "review",
            "label_column": "rating",
            **layout,
        },
    }


def _newest(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[-1]


def test_own_csv_files_through_the_preprocessing_run(kedro_project, tmp_path):
    own = tmp_path / "mydata"
    _write_own_files(own)
    run_session(kedro_project, "preprocessing", runtime_params=_own_params(own))
    report = json.loads(
        _newest(
            kedro_project,
            "data/08_reporting/files_minilm/preprocessing_report.json/*/*",
        ).read_text()
    )
    assert {s: report["splits"][s]["rows_out"] for s in report["splits"]} == {
        "train": 720,
        "valid": 180,
        "test": 180,
    }
    assert report["splits"]["test"]["label_counts"] == {
        "bad": 60,
        "good": 60,
        "meh": 60,
    }
    clean = pd.read_csv(
        _newest(kedro_project, "data/03_primary/files_minilm/clean_valid.csv/*/*"),
        keep_default_na=False,
    )
    assert set(clean["source"]) == {str(own / "dev.csv")}
    assert clean["line"].min() == 2  # the header is line 1
    assert clean.groupby("label")["label_id"].unique().map(list).to_dict() == {
        "bad": [0],
        "meh": [1],
        "good": [2],
    }
    expected = read_sample_split("valid")["text"].str.lower().tolist()
    assert clean["text"].tolist() == expected


def test_own_files_missing_column_stops_the_run(kedro_project, tmp_path):
    own = tmp_path / "mydata"
    _write_own_files(own)
    params = _own_params(own, text_column="comment")
    with pytest.raises(DataValidationError) as err:
        run_session(kedro_project, "preprocessing", runtime_params=params)
    assert "column 'comment' (data.text_column)" in str(err.value)
    assert str(own) in str(err.value)


def test_own_files_missing_file_names_the_parameters(kedro_project, tmp_path):
    from kedro.io import DatasetError

    with pytest.raises(DatasetError) as err:
        run_session(
            kedro_project,
            "preprocessing",
            runtime_params={
                "dataset": "files",
                "data": {"raw_dir": str(tmp_path / "nope"), "labels": "a b"},
            },
        )
    message = str(err.value)
    assert f"'{tmp_path / 'nope'}/" in message
    assert "data.raw_dir" in message
    assert "SmSA" not in message and "--env=offline" not in message
