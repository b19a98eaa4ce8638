"""Raw-input edge cases: empty splits, stray \\r, BOM, messages, over-long texts.

Each test reproduces one reported bug: it failed before the fix and passes after it.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from kedro.io import DatasetError

from quant_sentiment.datasets import RawLinesDataset
from quant_sentiment.pipelines.preprocessing.nodes import (
    DataValidationError,
    build_quality_report,
    normalise_texts,
    validate_rows,
)
from tests.conftest import LABEL_MAP
from tests.pipelines.preprocessing.conf_params import (
    base_parameters,
    own_files_spec,
    preprocessing_inputs,
)

GOOD = b"enak sekali\tpositive\nbiasa saja\tneutral\nburuk\tnegative\n"
DEFAULTS = {"on_invalid": "error"}


def load(tmp_path, payload: bytes, name: str = "train.tsv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_bytes(payload)
    return RawLinesDataset(str(path)).load()


def run_validate(tmp_path, payload: bytes, **validation):
    settings = base_parameters("preprocessing", "validation", **validation)
    return validate_rows(load(tmp_path, payload), LABEL_MAP, settings)


# ------------------------------------------------------------------ 2. empty splits
def test_empty_file_stops_naming_the_file(tmp_path):
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, b"", on_invalid="drop")
    assert str(err.value).startswith(f"{tmp_path / 'train.tsv'}: the file is empty")


def test_split_with_every_row_dropped_stops(tmp_path):
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, b"a\t-1\nb\t0\n", on_invalid="drop", max_drop_share=1.0)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'train.tsv'}: 2 of 2 rows (100%)")
    assert "leaving an empty split" in message


def test_split_losing_more_than_max_drop_share_stops(tmp_path):
    payload = GOOD + b"tanpa label\n"  # 1 of 4 rows invalid
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, payload, on_invalid="drop", max_drop_share=0.2)
    message = str(err.value)
    assert "1 of 4 rows (25%) would be dropped" in message
    assert "more than preprocessing.validation.max_drop_share (20%)" in message
    assert "line 4" in message
    rows, invalid = run_validate(
        tmp_path, payload, on_invalid="drop", max_drop_share=0.3
    )
    assert len(rows) == 3 and invalid["line"].tolist() == [4]


def test_split_emptied_by_normalisation_stops():
    rows = pd.DataFrame(
        {"source": "f.tsv", "line": [1], "text": ["!!!"], "label": ["positive"]}
    )
    with pytest.raises(DataValidationError, match=r"^f.tsv: all 1 text\(s\) are empty"):
        normalise_texts(
            rows,
            LABEL_MAP,
            base_parameters("preprocessing", "normalisation", strip_non_letters=True),
        )


# ------------------------------------------------------------------ 3. stray \r
def test_lone_carriage_return_neither_splits_nor_shifts_lines(tmp_path):
    payload = (
        b"enak\rsekali\tpositive\r\n"  # stray \r inside a CRLF line
        b"biasa\x0bsaja\x0c \xc2\x85 \xe2\x80\xa8x\tneutral\n"  # other Unicode breaks
        b"buruk\tnegative"  # no final newline
    )
    raw = load(tmp_path, payload)
    assert raw["line"].tolist() == [1, 2, 3]
    assert raw["raw"].tolist()[0] == b"enak\rsekali\tpositive"
    rows, invalid = validate_rows(
        raw, LABEL_MAP, base_parameters("preprocessing", "validation")
    )
    assert rows[["line", "label"]].values.tolist() == [
        [1, "positive"],
        [2, "neutral"],
        [3, "negative"],
    ]
    assert rows["text"].iloc[0] == "enak sekali"
    assert invalid[["line", "check", "action"]].values.tolist() == [
        [1, "stray_carriage_return", "normalised"]
    ]


def test_error_after_a_stray_carriage_return_names_the_right_line(tmp_path):
    with pytest.raises(DataValidationError, match=r"train.tsv, line 3: unknown label"):
        run_validate(tmp_path, b"a\rb\tpositive\nc\tneutral\nd\tpositif\n")


# ------------------------------------------------------------------ 4. byte-order mark
def test_byte_order_mark_is_stripped_and_reported(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        rows, invalid = run_validate(tmp_path, b"\xef\xbb\xbf" + GOOD)
    assert rows["text"].iloc[0] == "enak sekali"
    assert invalid[["line", "check", "action"]].values.tolist() == [
        [1, "byte_order_mark", "stripped"]
    ]
    assert "byte-order mark (U+FEFF) at the start of the file removed" in caplog.text
    stats = {"rows_in": 3, "steps": {}}
    clean = rows.assign(label_id=0)
    none = invalid.iloc[0:0]
    per_split = {
        f"{split}_{kind}": value
        for split, bad in (("train", invalid), ("valid", none), ("test", none))
        for kind, value in (
            ("invalid", bad),
            ("stats", stats),
            ("emptied", none),
            ("clean", clean),
        )
    }
    subsample = {"max_train_rows": None, "subsampled": False}
    report, dropped = build_quality_report(
        {}, none, subsample, none, {}, none, **per_split
    )
    assert report["splits"]["train"]["byte_order_mark"] is True
    assert report["splits"]["train"]["modified_by_check"] == {"byte_order_mark": 1}
    assert report["rows_dropped_total"] == 0
    assert dropped["action"].tolist() == ["stripped"]


# ------------------------------------------------------------------ 5. messages
def test_unknown_labels_are_listed_with_counts_and_the_setting(tmp_path):
    payload = b"".join(
        f"teks {i}\t{label}\n".encode() for i, label in enumerate(["-1", "0", "1"] * 3)
    )
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, payload)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'train.tsv'}: 9 invalid row(s) of 9")
    assert "unknown label: 9 row(s), lines 1, 2, 3, 4, 5, ... (9 in all)" in message
    assert "labels found: '-1' (3), '0' (3), '1' (3)" in message
    assert "datasets.<name>.labels" in message


def test_undecodable_bytes_point_to_the_encoding_setting(tmp_path):
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, GOOD + b"caf\xe9\tpositive\n")
    assert "line 4" in str(err.value)
    assert "set preprocessing.validation.encoding" in str(err.value)


def test_blank_line_is_called_a_blank_line(tmp_path):
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, b"enak\tpositive\n\n   \nburuk\tnegative\n")
    assert "blank line: 2 row(s), lines 2, 3" in str(err.value)
    assert "train.tsv, line 2: blank line" in str(err.value)


def test_missing_custom_file_only_says_where_it_was_expected(tmp_path):
    target = tmp_path / "mine" / "reviews.tsv"
    with pytest.raises(DatasetError) as err:
        RawLinesDataset(str(target)).load()
    message = str(err.value)
    assert f"Data file '{target}' is missing" in message
    assert "SmSA" not in message and "offline" not in message
    assert "source_url" not in message


# ------------------------------------------------------------------ 6. long texts
LONG = b"enak\tpositive\n" + b"x" * 30 + b"\tneutral\nburuk\tnegative\n"


def test_too_long_text_is_truncated_and_reported(tmp_path):
    rows, invalid = run_validate(tmp_path, LONG, max_chars=10)
    assert rows["text"].tolist() == ["enak", "x" * 10, "buruk"]
    assert invalid[["line", "check", "action"]].values.tolist() == [
        [2, "too_long", "truncated"]
    ]
    assert "text of 30 characters is longer than" in invalid["reason"].iloc[0]


def test_too_long_text_is_dropped_or_stops_as_configured(tmp_path):
    rows, invalid = run_validate(
        tmp_path, LONG, max_chars=10, on_too_long="drop", max_drop_share=0.5
    )
    assert rows["line"].tolist() == [1, 3]
    assert invalid[["line", "check", "action"]].values.tolist() == [
        [2, "too_long", "dropped"]
    ]
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, LONG, max_chars=10, on_too_long="error")
    assert "text too long: 1 row(s), line 2" in str(err.value)
    assert "set preprocessing.validation.on_too_long" in str(err.value)


def test_default_max_chars_is_10000(tmp_path):
    payload = b"a" * 10_000 + b"\tpositive\n" + b"b" * 10_001 + b"\tneutral\n"
    rows, invalid = run_validate(tmp_path, payload)
    assert rows["text"].str.len().tolist() == [10_000, 10_000]
    assert invalid["line"].tolist() == [2]


# ------------------------------------------------------------------ whole pipeline
def test_pipeline_reports_every_change(tmp_path):
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner
    from kedro_datasets.pandas import CSVDataset

    from quant_sentiment.pipelines.preprocessing import create_pipeline

    payloads = {
        "train": b"\xef\xbb\xbfNULL\tpositive\r\nN/A\rx\tneutral\r\n"
        + b"y" * 20
        + b"\tnegative\r\nnan\tneutral\r\n",
        "valid": GOOD,
        "test": GOOD,
    }
    for split, payload in payloads.items():
        (tmp_path / f"{split}.tsv").write_bytes(payload)
    catalog = DataCatalog({})
    preprocessing_inputs(catalog, own_files_spec(tmp_path), max_chars=12)
    catalog["params:preprocessing.normalisation"] = base_parameters(
        "preprocessing", "normalisation", lowercase=False
    )
    catalog["clean_train"] = CSVDataset(
        filepath=str(tmp_path / "clean_train.csv"),
        load_args={"keep_default_na": False, "na_filter": False},
    )
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    report = outputs["preprocessing_report"].load()
    train = report["splits"]["train"]
    assert train["byte_order_mark"] is True
    assert train["modified_by_check"] == {
        "byte_order_mark": 1,
        "stray_carriage_return": 1,
        "too_long": 1,
    }
    assert train["modified_lines"]["too_long"] == [3]
    assert train["rows_out"] == 4 and report["rows_dropped_total"] == 0
    dropped = outputs["preprocessing_dropped_rows"].load()
    assert dropped[["split", "line", "check", "action"]].values.tolist() == [
        ["train", 1, "byte_order_mark", "stripped"],
        ["train", 2, "stray_carriage_return", "normalised"],
        ["train", 3, "too_long", "truncated"],
    ]
    clean = catalog.load("clean_train")
    assert clean["text"].tolist() == ["NULL", "N/A x", "y" * 12, "nan"]


def test_eda_counts_only_dropped_rows():
    """The raw view's quality table counts rows ``validate_rows`` dropped, not the
    rows it kept but changed (BOM stripped, ``\r`` normalised, truncated)."""
    from quant_sentiment.pipelines.eda.nodes import quality_counts

    raw = pd.DataFrame(
        {
            "source": "f.tsv",
            "line": [1, 2, 3],
            "raw": [b"\xef\xbb\xbfenak\tpositive", b"x\tmaybe", b"\tnegative"],
        }
    )
    settings = base_parameters(
        "preprocessing", "validation", on_invalid="drop", max_drop_share=1.0
    )
    rows, invalid = validate_rows(raw, LABEL_MAP, settings)
    assert rows["text"].tolist() == ["enak"]
    assert invalid["action"].tolist().count("dropped") == 2
    table = quality_counts(rows.assign(split="train"), invalid.assign(split="train"))
    assert table.loc[0, "dropped_upstream"] == 2
    assert "dropped_byte_order_mark" not in table
