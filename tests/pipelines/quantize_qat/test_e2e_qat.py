"""Offline end-to-end through ``KedroSession``: preprocessing → finetune → quantize_qat."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import run_session, tiny_finetune_params


def _newest(root, pattern):
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


@pytest.mark.slow  # three Kedro sessions, two tiny trainings and ONNX exports: ~1-2 min
def test_offline_env_through_quantize_qat(kedro_project):
    tiny = tiny_finetune_params()
    run_session(kedro_project, pipeline="preprocessing")
    run_session(kedro_project, pipeline="finetune", runtime_params=tiny)
    qat = {
        "training_args": {
            "num_train_epochs": 1,
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 32,
            "disable_tqdm": True,
        },
        # 8 steps of 32: with conf/offline's 160 texts (5 steps) the tiny scratch model's
        # logits stay near-tied and ONNX Runtime's arithmetic flips argmax on ~half
        "max_train_samples": 240,
    }
    run_session(
        kedro_project,
        pipeline="quantize_qat",
        runtime_params={"quantize_qat": qat, "model": tiny["model"]},
    )
    data = kedro_project / "data"
    for variant, bits in (("qat_int8", 8), ("qat_int4", 4)):
        folder = _newest(
            data, f"06_models/sample_minilm/{variant}_model/*/{variant}_model"
        )
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["status"] == "ok" and manifest["bits"] == bits
        assert manifest["fake_vs_artifact"]["argmax_agreement"] >= 0.995
        assert manifest["qat"]["epochs_run"] == 1
        preds = pd.read_csv(
            _newest(
                data,
                f"07_model_output/sample_minilm/{variant}_test_predictions.csv/*/*.csv",
            )
        )
        assert len(preds) == 180
    summary = pd.read_csv(
        _newest(data, "08_reporting/sample_minilm/qat_summary.csv/*/*.csv")
    )
    assert summary["variant"].tolist() == ["qat_int8", "qat_int4"]
