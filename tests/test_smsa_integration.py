"""Integration test on the real SmSA files from ../shared/data/smsa (skips when absent)."""

from __future__ import annotations

import json
import shutil

from tests.conftest import run_session, tiny_finetune_params


def test_smsa_preprocessing_and_small_finetune(kedro_project, shared_data):
    smsa = shared_data / "smsa"
    raw = kedro_project / "data" / "01_raw" / "smsa"
    raw.mkdir(parents=True)
    for split in ("train", "valid", "test"):
        shutil.copy(smsa / f"{split}_preprocess.tsv", raw)
    run_session(kedro_project, pipeline="preprocessing", env="scratch")
    run_session(
        kedro_project,
        pipeline="finetune",
        env="scratch",
        runtime_params=tiny_finetune_params(
            max_train_samples=400, max_eval_samples=200
        ),
    )
    reporting = kedro_project / "data" / "08_reporting" / "smsa_scratch"
    report = json.loads(
        next(reporting.glob("preprocessing_report.json/*/*.json")).read_text()
    )
    # Figures from ../shared/data/README.md
    assert report["splits"]["train"]["rows_out"] == 11000
    assert report["splits"]["valid"]["label_counts"] == {
        "negative": 394,
        "neutral": 131,
        "positive": 735,
    }
    assert report["splits"]["test"]["label_counts"] == {
        "negative": 204,
        "neutral": 88,
        "positive": 208,
    }
    within = report["duplicates_and_leakage"]["within_split"]["train"]
    assert within["duplicate_rows"] == 67 and within["distinct_duplicated_texts"] == 58
    assert within["texts_with_conflicting_labels"] == 0
    assert (
        report["duplicates_and_leakage"]["cross_split"]["train_valid"]["shared_texts"]
        == 14
    )
    assert (
        report["duplicates_and_leakage"]["cross_split"]["train_test"]["shared_texts"]
        == 0
    )
    metrics = json.loads(
        next(reporting.glob("finetune_test_metrics.json/*/*.json")).read_text()
    )
    assert metrics["n"] == 500
