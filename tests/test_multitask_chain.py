"""The registry's multi-task entry ``id_hatespeech`` (severity, abusive, target,
category) through preprocessing -> finetune -> quantize_ptq (int8_ort, int4) ->
evaluate_ptq, then quantize_qat (qat_int8) and predict, via ``KedroSession`` on the
tiny scratch BERT (docs/multitask.md):

    kedro run --env=offline --params dataset=id_hatespeech \
        --pipelines=preprocessing,finetune,quantize_ptq,evaluate_ptq

Reads the real file from ``../shared/data`` (skipped where the folder is absent);
train is cut to 240 rows, valid and test stay whole."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT, SHARED_DATA, run_session
from tests.test_registry_chain import chain_params

pytestmark = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent"
)
DATASET = "id_hatespeech"
TASKS = ["severity", "abusive", "target", "category"]
BUILT = ("int8_ort", "int4")


def _newest(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


@pytest.fixture()
def registry_project(kedro_project, tmp_path) -> Path:
    (tmp_path / "shared").symlink_to(PROJECT_ROOT.parent / "shared")
    return kedro_project


@pytest.mark.slow  # preprocessing of 13,169 rows, 1 tiny epoch, 2 PTQ routes, evaluate
def test_multi_task_entry_through_finetune_ptq_and_evaluate(registry_project):
    params = chain_params(DATASET)
    params["quantize_ptq"]["variants"]["fp32_ort"] = {"enabled": False}
    for pipeline in ("preprocessing", "finetune", "quantize_ptq", "evaluate_ptq"):
        run_session(registry_project, pipeline=pipeline, runtime_params=params)
    run = f"{DATASET}_minilm"
    data = registry_project / "data"
    reporting = data / "08_reporting" / run

    manifest = json.loads(
        _newest(data, f"06_models/{run}/finetuned_model/*/*/manifest.json").read_text()
    )
    assert manifest["format"] == "hf_multitask"
    assert [t["name"] for t in manifest["tasks"]] == TASKS
    assert manifest["label_maps"]["target"] == {"none": 0, "individual": 1, "group": 2}
    metrics = json.loads(
        _newest(reporting, "finetune_test_metrics.json/*/*.json").read_text()
    )
    assert set(metrics["tasks"]) == set(TASKS)
    assert metrics["tasks"]["severity"]["macro_f1"] == pytest.approx(
        metrics["macro_f1"]
    )
    for variant in BUILT:
        ptq = json.loads(
            _newest(
                data, f"06_models/{run}/ptq_{variant}_model/*/*/manifest.json"
            ).read_text()
        )
        assert ptq["status"] == "ok" and ptq["format"] == "onnx_multitask"
    clean_test = pd.read_csv(_newest(data, f"*/{run}/clean_test.csv/*/*.csv"))
    comparison = pd.read_csv(_newest(reporting, "evaluate/comparison.csv/*/*.csv"))
    ok = comparison[comparison["status"] == "ok"]
    assert {"fp32", *BUILT} <= set(ok["variant"])
    assert (ok["n_test"] == len(clean_test)).all()

    table = pd.read_csv(_newest(reporting, "evaluate/task_table.csv/*/*.csv"))
    scored = table[table["status"] == "ok"].set_index(["variant", "task"])
    for variant in ("fp32", *BUILT):
        for task in TASKS:
            row = scored.loc[(variant, task)]
            assert 0 <= row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"]
            assert row["delta_low"] <= row["delta"] <= row["delta_high"]
    assert scored.loc[("fp32", "severity"), "macro_f1"] == pytest.approx(
        metrics["macro_f1"]
    )
    assert (scored.loc["fp32", "delta"] == 0).all()
    status = table.set_index(["variant", "task"])["status"]
    for task in TASKS:  # the TF-IDF baseline has one head per task
        assert status[("tfidf_logreg", task)] == "ok"
    # diagnostics: each head's confusion counts sum to its labelled test rows (a
    # multi_label head: per class); the shipped rules, counted per variant, never
    # hold on the labels
    confusion = pd.read_csv(
        _newest(reporting, "evaluate/fp32/task_confusion.csv/*/*.csv")
    )
    sums = confusion.groupby("task")["count"].sum()
    assert sums["severity"] == sums["target"] == len(clean_test)
    assert sums["category"] == 5 * len(clean_test)
    contradictions = pd.read_csv(
        _newest(reporting, "evaluate/contradictions.csv/*/*.csv")
    )
    labels = contradictions[contradictions["variant"] == "labels"]
    assert len(labels) == 4 and (labels["count"] == 0).all()
    ok = contradictions[contradictions["status"] == "ok"]
    assert {"fp32", *BUILT, "tfidf_logreg"} <= set(ok["variant"])
    md = _newest(reporting, "evaluate/task_table.md/*/*.md").read_text()
    assert "## category (multi_label)" in md

    _qat_and_predict(registry_project, params, data, run)


def _qat_and_predict(
    registry_project: Path, params: dict, data: Path, run: str
) -> None:
    """QAT of the multi-task model (qat_int8 only, chain_params), then ``predict``
    with the INT8 PTQ folder: every head in one answer."""
    run_session(registry_project, pipeline="quantize_qat", runtime_params=params)
    qat = json.loads(
        _newest(data, f"06_models/{run}/qat_int8_model/*/*/manifest.json").read_text()
    )
    assert qat["status"] == "ok" and qat["format"] == "onnx_multitask"
    assert [t["name"] for t in qat["tasks"]] == TASKS
    assert set(qat["fake_vs_artifact"]["tasks"]) == set(TASKS)
    inputs = data / "01_raw" / "predict"
    inputs.mkdir(parents=True)
    (inputs / "texts.txt").write_text("dasar bodoh kau\nselamat pagi semua\n")
    predict = {**params, "predict": {"variant": "int8_ort"}}
    run_session(registry_project, pipeline="predict", runtime_params=predict)
    answers = pd.read_csv(
        _newest(data, f"07_model_output/{run}/predict_predictions.csv/*/*.csv")
    )
    assert len(answers) == 2
    for task in ("severity", "abusive", "target"):
        assert answers[f"pred_label__{task}"].notna().all()
    for cls in ("religion", "race", "physical", "gender", "other"):
        assert set(answers[f"pred__category__{cls}"]) <= {0, 1}
        assert answers[f"prob__category__{cls}"].between(0, 1).all()
