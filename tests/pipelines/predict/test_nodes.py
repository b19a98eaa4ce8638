"""``score_partitions`` on two small partitions with the tiny model folder."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_sentiment.datasets.raw_lines import split_lines
from quant_sentiment.pipelines.predict.nodes import score_partitions

MODEL = {"threads": 1}


def params(models_dir, **overrides) -> dict:
    base = {
        "variant": "fp32",
        "models_dir": str(models_dir),
        "input": {
            "fmt": None,
            "column": "text",
            "id_column": None,
            "header": True,
            "encoding": "utf-8",
        },
        "on_invalid": "skip",
        "chunk_size": 2,
        "batch_size": 2,
    }
    return {**base, **overrides}


def partition(name: str, data: bytes) -> pd.DataFrame:
    """What ``RawLinesDataset`` loads for a file holding ``data``."""
    lines = split_lines(data)
    return pd.DataFrame(
        {"source": name, "line": range(1, len(lines) + 1), "raw": lines}
    )


@pytest.fixture()
def partitions():
    files = {
        "a.csv": b'text,id\n"Enak, MURAH",x1\n  pelayanan   lambat  ,x2\n,x3\n',
        "b.jsonl": b'{"text": "bagus sekali"}\n\n{"text": "jelek"}\n\xff\n',
    }
    return {
        name: (lambda n=name, d=data: partition(n, d)) for name, data in files.items()
    }


def test_scores_both_partitions_and_lists_skipped(partitions, model_folder, predictor):
    models_dir = model_folder.parents[2]
    predictions, skipped, summary = score_partitions(
        partitions, params(models_dir), MODEL
    )
    assert predictions[["partition", "line", "row_id"]].values.tolist() == [
        ["a.csv", 2, "2"],
        ["a.csv", 3, "3"],
        ["b.jsonl", 1, "1"],
        ["b.jsonl", 3, "3"],
    ]
    raw = ["Enak, MURAH", "  pelayanan   lambat  ", "bagus sekali", "jelek"]
    expected = predictor.predict_raw(raw)
    assert predictions["label"].tolist() == [e["label"] for e in expected]
    assert predictions["prob_neutral"].tolist() == pytest.approx(
        [e["probabilities"]["neutral"] for e in expected], abs=1e-6
    )
    assert skipped.values.tolist() == [
        ["a.csv", 4, "4", "empty text"],
        ["b.jsonl", 2, "2", "empty line"],
        ["b.jsonl", 4, "4", "undecodable bytes b'\\xff' at byte 0"],
    ]
    assert summary["variant"] == "fp32"
    assert summary["partitions"] == {
        "a.csv": {"scored": 2, "skipped": 1},
        "b.jsonl": {"scored": 2, "skipped": 2},
    }


def test_ids_from_a_column_and_fail_mode(partitions, model_folder):
    models_dir = model_folder.parents[2]
    p = params(models_dir)
    p["input"] = {**p["input"], "id_column": "id"}
    only_a = {"a.csv": partitions["a.csv"]}
    predictions, _, _ = score_partitions(only_a, p, MODEL)
    assert predictions["row_id"].tolist() == ["x1", "x2"]
    with pytest.raises(ValueError, match=r"a.csv, line 4: empty text"):
        score_partitions(only_a, {**p, "on_invalid": "fail"}, MODEL)


def test_missing_variant_folder_and_no_files(partitions, tmp_path):
    with pytest.raises(FileNotFoundError, match="run its producer pipeline"):
        score_partitions(partitions, params(tmp_path, variant="int8_ort"), MODEL)
    with pytest.raises(KeyError, match="Unknown variant 'int9'"):
        score_partitions(partitions, params(tmp_path, variant="int9"), MODEL)
    with pytest.raises(ValueError, match="predict_inputs has no files"):
        score_partitions({}, params(tmp_path), MODEL)
