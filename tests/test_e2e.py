"""End-to-end runs through ``KedroSession`` on a throw-away copy of the project."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import run_session, tiny_finetune_params


def newest(root, pattern):
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


def test_offline_env_preprocessing_and_finetune(kedro_project):
    run_session(kedro_project, pipeline="preprocessing")
    run_session(
        kedro_project, pipeline="finetune", runtime_params=tiny_finetune_params()
    )
    data = kedro_project / "data"
    report = json.loads(
        newest(
            data, "08_reporting/sample_minilm/preprocessing_report.json/*/*.json"
        ).read_text()
    )
    assert report["splits"]["train"]["rows_out"] == 720
    metrics = json.loads(
        newest(
            data, "08_reporting/sample_minilm/finetune_test_metrics.json/*/*.json"
        ).read_text()
    )
    assert metrics["n"] == 180 and set(metrics["per_class"]) == {
        "positive",
        "neutral",
        "negative",
    }
    history = pd.read_csv(
        newest(data, "08_reporting/sample_minilm/finetune_history.csv/*/*.csv")
    )
    assert len(history) == 1
    png = newest(
        data, "08_reporting/sample_minilm/finetune_confusion_matrix.png/*/*.png"
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model_dir = newest(
        data, "06_models/sample_minilm/finetuned_model/*/finetuned_model"
    )
    meta = json.loads((model_dir / "manifest.json").read_text())
    assert meta["model_source"] == "scratch" and meta["max_length"] == 64
    assert meta["format"] == "hf" and meta["size_bytes"] > 0
    assert meta["training"]["training_args"]["num_train_epochs"] == 1

    from transformers import pipeline

    out = pipeline("text-classification", model=str(model_dir))("filmnya bagus sekali")
    assert out[0]["label"] in {"positive", "neutral", "negative"}


def test_missing_raw_file_stops_with_a_clear_message(kedro_project):
    (kedro_project / "data/01_raw/sample/valid.tsv").unlink()
    with pytest.raises(Exception, match="data/01_raw/sample/valid.tsv' is missing"):
        run_session(kedro_project, pipeline="preprocessing")


def test_invalid_row_is_reported_with_file_and_line(kedro_project):
    path = kedro_project / "data/01_raw/sample/test.tsv"
    path.write_bytes(path.read_bytes() + b"ulasan tanpa label\n")
    with pytest.raises(Exception, match=r"test.tsv, line 181: expected 2 columns"):
        run_session(kedro_project, pipeline="preprocessing")
    run_session(
        kedro_project,
        pipeline="preprocessing",
        runtime_params={"preprocessing": {"validation": {"on_invalid": "drop"}}},
    )
    dropped = pd.read_csv(
        newest(
            kedro_project / "data",
            "08_reporting/sample_minilm/preprocessing_dropped_rows.csv/*/*.csv",
        )
    )
    assert dropped[["split", "line", "check"]].values.tolist() == [
        ["test", 181, "column_count"]
    ]
