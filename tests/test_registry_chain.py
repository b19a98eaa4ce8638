"""Tiny slices of built-in registry entries with 2, 3 and 4 classes through the
default chain (``kedro run --env=offline --params dataset=<name>``, SequentialRunner),
then ``explain``, the ``predict`` pipeline and the HTTP service on the result; and
``hpsearch`` and ``quant-sentiment seeds`` on the 4-class entry.

The entries read their real files from ``../shared/data`` (their own readers, derived
labels and one-file split; skipped where the folder is absent); train is cut by
``preprocessing.subsample.max_train_rows`` (valid and test stay whole: no setting
cuts them), the model is the tiny scratch BERT and most PTQ routes are switched off
(recorded as skipped). Busy 2-core AMD EPYC (load 5-7): 4.5 min (severity) to 13 min
(nusax_all, 4,800 test rows) per entry, 7.4 CPU-minutes for the three.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT, SHARED_DATA, run_session
from tests.scale.helpers import tiny_cell_params

pytestmark = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent"
)

#: entry -> its labels in id order (conf/base/datasets.yml)
ENTRIES = {
    "id_hatespeech_hs": ["not_hs", "hs"],
    "nusax_all": ["positive", "neutral", "negative"],
    "id_hatespeech_severity": ["none", "weak", "moderate", "strong"],
}
TRAIN_ROWS = 240
PTQ_OFF = (
    "fp16",
    "bf16",
    "int8_torchao",
    "fp32_ort",
    "quanto_int8",
    "quanto_int4",
    "ov_int8",
    "ov_int4",
)


def chain_params(dataset: str) -> dict:
    """Runtime parameters of a tiny default chain on ``dataset``: the scratch BERT,
    one short QAT epoch, a few mixed-precision candidates on a small validation
    sample, a minimal benchmark and bootstrap, tracking off."""
    params = tiny_cell_params(epochs=1)
    params.pop("multiseed")
    params["dataset"] = dataset
    params["preprocessing"] = {"subsample": {"max_train_rows": TRAIN_ROWS}}
    params["quantize_qat"] = {
        "training_args": {
            "num_train_epochs": 1,
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 32,
            "disable_tqdm": True,
        },
        "max_train_samples": 64,
    }
    params["quantize_mixed"] = {"validation": {"max_texts": 40}, "scan": {"step": 8}}
    # one INT8 and one INT4 route of each producer; the others are recorded as
    # skipped (their evaluate templates still run)
    params["quantize_ptq"] = {
        "variants": {name: {"enabled": False} for name in PTQ_OFF}
    }
    params["quantize_qat"]["variants"] = {"qat_int4": {"enabled": False}}
    params["explain"] = {
        "sample": {"n_texts": 4},
        "attribution": {
            "variants": ["fp32", "int8_ort"],
            "integrated_gradients": {"n_steps": 4, "internal_batch_size": 8},
            "lime": {"num_samples": 20},
        },
    }
    return params


def _newest(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


@pytest.fixture()
def registry_project(kedro_project, tmp_path) -> Path:
    """The project copy with ``../shared`` beside it, so that every entry's files
    are fetched from their mirror folders as in the real checkout."""
    (tmp_path / "shared").symlink_to(PROJECT_ROOT.parent / "shared")
    return kedro_project


# CI runs the 4-class entry (~5 min on 2 cores); the 2-class and pooled 3-class ones
# (and hpsearch + seeds) are 'long': `pytest -m long tests/test_registry_chain.py`.
@pytest.mark.slow  # a tiny default chain + explain + predict + serve per entry
@pytest.mark.parametrize(
    "dataset",
    [
        name
        if name == "id_hatespeech_severity"
        else pytest.param(name, marks=pytest.mark.long)
        for name in ENTRIES
    ],
)
def test_default_chain_on_registry_entry(registry_project, dataset):
    labels = ENTRIES[dataset]
    params = chain_params(dataset)
    run_session(registry_project, runtime_params=params)  # __default__
    run = f"{dataset}_minilm"
    reporting = registry_project / "data" / "08_reporting" / run

    report = json.loads(
        _newest(reporting, "preprocessing_report.json/*/*.json").read_text()
    )
    assert report["splits"]["train"]["rows_out"] == TRAIN_ROWS
    assert set(report["splits"]["train"]["label_counts"]) == set(labels)
    clean_test = pd.read_csv(
        _newest(registry_project / "data", f"*/{run}/clean_test.csv/*/*.csv")
    )

    comparison = pd.read_csv(_newest(reporting, "evaluate/comparison.csv/*/*.csv"))
    ok = comparison[comparison["status"] == "ok"]
    assert {"fp32", "int8_ort", "tfidf_logreg"} <= set(ok["variant"])
    assert (ok["n_test"] == len(clean_test)).all()
    assert {f"f1_{label}" for label in labels} <= set(comparison.columns)
    assert ok["macro_f1"].between(0, 1).all()
    page = _newest(reporting, "report/report.html/*/report.html").read_text()
    assert "fp32" in page

    # explain (on request) and the predict pipeline on the same run
    run_session(registry_project, pipeline="explain", runtime_params=params)
    drift = pd.read_csv(_newest(reporting, "explain/drift.csv/*/*.csv"))
    assert len(drift) > 0
    inputs = registry_project / "data" / "01_raw" / "predict"
    inputs.mkdir(parents=True, exist_ok=True)
    (inputs / "texts.txt").write_text(
        "\n".join(clean_test["text"].head(5).astype(str)) + "\n"
    )
    run_session(registry_project, pipeline="predict", runtime_params=params)
    predictions = pd.read_csv(
        _newest(
            registry_project / "data",
            f"07_model_output/{run}/predict_predictions.csv/*/*.csv",
        )
    )
    assert len(predictions) == 5 and set(predictions["label"]) <= set(labels)
    _serve_int8(registry_project / "data" / "06_models" / run, labels)


def _serve_int8(models: Path, labels: list[str]) -> None:
    """The service answers with the entry's labels (the int8_ort folder)."""
    from fastapi.testclient import TestClient

    from quant_sentiment.scoring.model import Predictor
    from quant_sentiment.scoring.service import create_app

    folder = _newest(models, "ptq_int8_ort_model/*/ptq_int8_ort_model")
    with TestClient(create_app(Predictor(folder))) as client:
        answer = client.post("/predict", json={"texts": ["bagus sekali", "jelek"]})
    assert answer.status_code == 200, answer.text
    for prediction in answer.json()["predictions"]:
        assert set(prediction["probabilities"]) == set(labels)
        assert prediction["label"] in labels


@pytest.mark.long
@pytest.mark.slow  # preprocessing + 2 tiny trials, then 2 seeds of finetune + int8_ort
def test_hpsearch_and_seeds_on_registry_entry(registry_project):
    dataset = "id_hatespeech_severity"  # 4 classes, one file + split
    params = chain_params(dataset)
    run_session(registry_project, pipeline="preprocessing", runtime_params=params)
    search = {
        "n_trials": 2,
        "max_train_samples": 80,
        "space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True}
        },
        "pruner": {"kind": "none"},
    }
    run_session(
        registry_project,
        pipeline="hpsearch",
        runtime_params={**params, "hpsearch": search},
    )
    out = registry_project / "data/08_reporting" / f"{dataset}_minilm"
    summary = json.loads(_newest(out, "hpsearch/summary.json/*/*.json").read_text())
    assert sum(summary["trials"].values()) == 2
    assert 0 <= summary["best_valid_macro_f1"] <= 1

    from click.testing import CliRunner

    from quant_sentiment.experiments import cli

    scratch = params["finetune"]["model"]["scratch"]
    dotlist = [
        f"dataset={dataset}",
        f"preprocessing.subsample.max_train_rows={TRAIN_ROWS}",
        "finetune.model.source=scratch",
        *(f"finetune.model.scratch.{k}={v}" for k, v in scratch.items()),
        *(
            f"finetune.training_args.{k}={v}"
            for k, v in params["finetune"]["training_args"].items()
        ),
        "model.max_length=64",
        *(
            f"evaluate.benchmark.{k}={v}"
            for k, v in params["evaluate"]["benchmark"].items()
        ),
        "evaluate.bootstrap.n_resamples=100",
        "tracking.enabled=false",
        *(f"quantize_ptq.variants.{v}.enabled=false" for v in (*PTQ_OFF, "int4")),
        "multiseed.variants=[int8_ort]",
    ]
    result = CliRunner().invoke(
        cli,
        ["seeds", "--env", "offline", "--seeds", "1,2", "--params", ",".join(dotlist)],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    seeds = pd.read_csv(_newest(out, "multiseed/summary.csv/*/*.csv"))
    assert set(seeds["variant"]) == {"fp32", "int8_ort"}
    assert (seeds["n_seeds"] == 2).all()
