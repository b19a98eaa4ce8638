"""Preprocessing reads raw split files through the shared record reader
(``quant_sentiment.records``): quoted multi-line texts, an unclosed quote costing
one row, the shared text checks, and the real NusaX / hate-speech files (skipped
where ``../shared/data`` is absent)."""

from __future__ import annotations

import pytest

from quant_sentiment.pipelines.preprocessing.nodes import (
    DataValidationError,
    validate_rows,
)
from tests.pipelines.preprocessing.conf_params import base_parameters

from .test_raw_input import load

LABELS = {"positive": 0, "neutral": 1, "negative": 2}
CSV = {"separator": "comma", "quoted": True, "header": True}
NUSAX = {**CSV, "text_column": "text", "label_column": "label"}


def run_validate(tmp_path, payload: bytes, name="train.csv", labels=LABELS, **kw):
    settings = base_parameters("preprocessing", "validation", **kw)
    return validate_rows(load(tmp_path, payload, name), labels, settings)


def test_quoted_multiline_text_is_one_row_at_its_first_line(tmp_path):
    payload = (
        b'id,text,label\r\n1,"pelayanannya ramah\r\ndan cepat",positive\r\n'
        b'2,"biasa, saja",neutral\r\n'
    )
    rows, invalid = run_validate(tmp_path, payload, **NUSAX)
    assert rows[["line", "text", "label"]].values.tolist() == [
        [2, "pelayanannya ramah\ndan cepat", "positive"],
        [4, "biasa, saja", "neutral"],
    ]
    assert invalid.empty


def test_unclosed_quote_drops_one_row_and_reads_on(tmp_path):
    lines = [f'{i},"teks {i}",positive' for i in range(1, 11)]
    lines[2] = '3,"teks 3 tanpa tutup,positive'
    payload = ("id,text,label\n" + "\n".join(lines) + "\n").encode()
    rows, invalid = run_validate(
        tmp_path, payload, on_invalid="drop", max_drop_share=0.2, **NUSAX
    )
    assert rows["line"].tolist() == [2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert invalid[["line", "check", "action"]].values.tolist() == [
        [4, "unclosed_quote", "dropped"]
    ]
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, payload, **NUSAX)
    message = str(err.value)
    assert "unclosed quote: 1 row(s), line 4" in message
    assert "train.csv, line 4: unclosed quote" in message


def test_control_characters_are_refused_as_by_predict(tmp_path):
    payload = b"bagus\x00sekali\tpositive\nenak\tpositive\nburuk\tnegative\n"
    with pytest.raises(DataValidationError) as err:
        run_validate(tmp_path, payload, name="train.tsv")
    assert "train.tsv, line 1: text contains the control character U+0000" in str(
        err.value
    )
    rows, invalid = run_validate(
        tmp_path, payload, name="train.tsv", on_invalid="drop", max_drop_share=0.5
    )
    assert rows["line"].tolist() == [2, 3]
    assert invalid[["line", "check"]].values.tolist() == [[1, "invalid_text"]]


@pytest.mark.parametrize("language", ["indonesian", "toba_batak", "minangkabau"])
def test_real_nusax_splits(shared_data, tmp_path, language):
    folder = shared_data / "nusax_senti" / language
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    settings = base_parameters("preprocessing", "validation", **NUSAX)
    from quant_sentiment.datasets import RawLinesDataset

    for split, expected in (("train", 500), ("valid", 100), ("test", 400)):
        raw = RawLinesDataset(str(folder / f"{split}.csv")).load()
        rows, invalid = validate_rows(raw, LABELS, settings)
        assert len(rows) == expected and invalid.empty, (language, split)


def test_real_hate_speech_file(shared_data):
    path = shared_data / "id_multilabel_hate_speech" / "re_dataset.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    from quant_sentiment.datasets import RawLinesDataset

    settings = base_parameters(
        "preprocessing",
        "validation",
        **CSV,
        encoding="latin-1",
        text_column="Tweet",
        label_column="HS",
    )
    rows, invalid = validate_rows(
        RawLinesDataset(str(path)).load(), {"0": 0, "1": 1}, settings
    )
    assert len(rows) == 13_169 and invalid.empty
    assert rows["label"].value_counts().to_dict() == {"0": 7_608, "1": 5_561}
