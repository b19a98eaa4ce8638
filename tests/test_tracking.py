"""MLflow tracking (kedro-mlflow + the project's TrackingHook)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from quant_sentiment.tracking import (
    metric_batch,
    resolve_store_uri,
    tracking_settings,
)
from tests.conftest import run_session, tiny_finetune_params


def test_settings_errors_name_the_setting():
    with pytest.raises(ValueError, match=r"tracking: unknown key\(s\) \['enabeld'\]"):
        tracking_settings({"tracking": {"enabeld": False}})
    with pytest.raises(ValueError, match="tracking.enabled must be true or false"):
        tracking_settings({"tracking": {"enabled": "maybe"}})
    with pytest.raises(ValueError, match="tracking.metrics must be a list"):
        tracking_settings({"tracking": {"metrics": "finetune_test_metrics"}})
    assert tracking_settings({"tracking": {"enabled": "false"}})["enabled"] is False


def test_unwritable_store_names_the_setting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(
        ValueError, match=r"server\.mlflow_tracking_uri .*cannot create"
    ):
        resolve_store_uri("sqlite:///file/sub/mlflow.db", tmp_path)
    uri = resolve_store_uri("sqlite:///data/09_tracking/mlflow.db", tmp_path)
    assert uri == f"sqlite:///{tmp_path}/data/09_tracking/mlflow.db"
    assert (tmp_path / "data" / "09_tracking").is_dir()
    assert resolve_store_uri(uri, tmp_path) == uri  # absolute paths stay


def test_metric_batch_dict_and_history():
    flat = metric_batch("m", {"macro_f1": 0.5, "per_class": {"a": {"f1": 1}}, "x": "s"})
    assert flat == [("m.macro_f1", 0.5, 0), ("m.per_class.a.f1", 1.0, 0)]
    history = pd.DataFrame({"epoch": [1.0, 2.0], "eval_macro_f1": [0.4, 0.6]})
    assert metric_batch("h", history) == [
        ("h.eval_macro_f1", 0.4, 1),
        ("h.eval_macro_f1", 0.6, 2),
    ]
    table = pd.DataFrame({"variant": ["fp32", "int4"], "macro_f1_mean": [0.7, None]})
    assert metric_batch("s", table) == [("s.fp32.macro_f1_mean", 0.7, 0)]


def test_run_logs_params_metrics_and_artifacts(kedro_project):
    from mlflow import MlflowClient

    store = kedro_project / "data" / "09_tracking" / "mlflow.db"
    # The switch: no MLflow run, and the store is not even created.
    run_session(
        kedro_project,
        pipeline="preprocessing",
        runtime_params={"tracking": {"enabled": False}},
    )
    assert not store.exists()
    # Two tracked sessions in one process: two runs (the first is not reused).
    run_session(kedro_project, pipeline="preprocessing")
    run_session(
        kedro_project,
        pipeline="finetune",
        runtime_params={
            **tiny_finetune_params(),
            "tracking": {"tags": {"purpose": "test"}},
        },
    )
    assert store.exists()
    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("quant_sentiment")
    first, run = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time ASC"]
    )
    assert (first.info.run_name, run.info.run_name) == (
        "offline:preprocessing",
        "offline:finetune",
    )
    assert first.info.status == run.info.status == "FINISHED"
    assert "finetune.training_args.learning_rate" not in first.data.params
    assert run.data.tags["env"] == "offline" and run.data.tags["purpose"] == "test"
    params = run.data.params
    assert params["finetune.training_args.learning_rate"] == "0.001"
    assert params["model.max_length"] == "64"

    saved = json.loads(
        sorted(
            (kedro_project / "data/08_reporting/sample_minilm").glob(
                "finetune_test_metrics.json/*/*.json"
            )
        )[-1].read_text()
    )
    metrics = run.data.metrics
    assert metrics["finetune_test_metrics.macro_f1"] == pytest.approx(saved["macro_f1"])
    history = client.get_metric_history(
        run.info.run_id, "finetune_history.eval_macro_f1"
    )
    assert [m.step for m in history] == [1]

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "finetune_confusion_matrix.png",
        "finetune_history.csv",
        "finetune_test_metrics.json",
    } <= artifacts
