"""``quantize_qat`` on the tiny model through ``SequentialRunner``, and its errors."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from quant_sentiment.pipelines.quantize_qat import create_pipeline
from quant_sentiment.pipelines.quantize_qat.nodes import qat_variant
from quant_sentiment.variants import produced_by

from .conftest import VARIANTS


def test_variants_have_an_options_block(config):
    assert set(config["parameters"]["quantize_qat"]["variants"]) == set(VARIANTS)
    assert {v.compare_with for v in produced_by("quantize_qat")} == {"int8_ort", "int4"}


def test_pipeline_runs_with_project_catalog(
    config,
    qat_params,
    model_settings,
    tiny_bundle,
    sample_splits,
    tmp_path,
    monkeypatch,
):
    monkeypatch.chdir(tmp_path)  # relative catalog paths (data/...) land in tmp_path
    catalog = DataCatalog.from_config(config["catalog"])
    catalog["finetuned_model"] = tiny_bundle
    for split in ("train", "valid", "test"):
        catalog[f"clean_{split}"] = sample_splits[split]
    catalog["params:quantize_qat"] = qat_params
    catalog["params:model"] = model_settings
    SequentialRunner().run(create_pipeline(), catalog)

    summary = catalog.load("qat_summary").set_index("variant")
    assert summary.index.tolist() == VARIANTS
    assert summary["bits"].to_dict() == {"qat_int8": 8, "qat_int4": 4}
    texts = sample_splits["test"]["text"].tolist()
    for variant in VARIANTS:
        handle = catalog.load(f"{variant}_model")
        m = handle.manifest
        assert m["status"] == "ok" and m["format"] == "onnx"
        assert m["qat"]["epochs_run"] == 1
        assert m["qat"]["distillation"]["enabled"] is True
        check = m["fake_vs_artifact"]
        assert check["n"] == len(texts)
        assert check["argmax_agreement"] >= 0.995, check
        assert check["max_abs_logit_diff"] < 1e-2, check
        assert set(check["runtime_self"]) == {
            "argmax_agreement",
            "max_abs_logit_diff",
            "mean_abs_logit_diff",
        }
        assert check["meets_threshold"] is True
        assert len(catalog.load(f"{variant}_history")) == 1
        preds = catalog.load(f"{variant}_test_predictions")
        logits = handle.load().predict_logits(texts)
        assert (preds["pred_id"].to_numpy() == logits.argmax(1)).all()
    assert summary.loc["qat_int4", "group_size"] == 16
    assert "MatMulNBits" in catalog.load("qat_int4_model").manifest["op_types"]
    assert "MatMulInteger" in catalog.load("qat_int8_model").manifest["op_types"]


def test_disabled_variant_is_skipped(
    qat_params, model_settings, tiny_bundle, sample_splits
):
    qat_params["variants"]["qat_int4"]["enabled"] = False
    s = sample_splits
    staged, history, preds = qat_variant(
        tiny_bundle,
        s["train"],
        s["valid"],
        s["test"],
        qat_params,
        model_settings,
        "qat_int4",
    )
    assert history.empty and preds.empty and "prob_neutral" in preds
    assert (staged.folder / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("variant", "path", "value", "message"),
    [
        (
            "qat_int8",
            ("variants", "qat_int8", "bits"),
            6,
            "qat_int8.bits must be 4 or 8",
        ),
        ("qat_int4", ("variants", "qat_int4", "bits"), 8, "qat_int4.bits is 8"),
        ("qat_int4", ("variants", "qat_int4", "block_size"), 24, "block_size must be"),
        ("qat_int4", ("variants", "qat_int4", "block_size"), 8, "block_size must be"),
        ("qat_int8", ("training_args", "num_train_epochs"), 0, "num_train_epochs"),
        ("qat_int8", ("distillation", "teacher"), None, "distillation.teacher"),
        (
            "qat_int8",
            ("distillation", "teacher"),
            "no/such/dir",
            "distillation.teacher",
        ),
        ("qat_int8", ("variants", "qat_int8", "per_channel"), False, "per_channel"),
        ("qat_int8", ("training_args", "bf16"), True, "bf16"),
    ],
)
def test_bad_parameters_name_the_setting(
    qat_params,
    model_settings,
    tiny_bundle,
    sample_splits,
    variant,
    path,
    value,
    message,
):
    block = qat_params
    for key in path[:-1]:
        block = block[key]
    block[path[-1]] = value
    s = sample_splits
    with pytest.raises(ValueError, match=message):
        qat_variant(
            tiny_bundle,
            s["train"],
            s["valid"],
            s["test"],
            qat_params,
            model_settings,
            variant,
        )


def test_nodes_are_grouped_under_the_pipeline_namespace():
    pipe = create_pipeline()
    assert {n.name.split(".")[0] for n in pipe.nodes} == {"quantize_qat"}
    assert {f"{v}_model" for v in VARIANTS} <= pipe.all_outputs()


def test_fake_vs_artifact_judges_against_the_runtime_own_variation():
    import numpy as np

    from quant_sentiment.pipelines.quantize_qat.nodes import fake_vs_artifact

    artifact = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    fake = artifact.copy()
    fake[0] = [0.0, 1.0]  # one argmax of four differs: 75 % agreement
    # The runtime agrees with itself on 2 of 4: the gap is within its variation.
    noisy = artifact.copy()
    noisy[:2] = noisy[:2, ::-1]
    record = fake_vs_artifact(fake, artifact, 0.995, noisy)
    assert record["argmax_agreement"] == 0.75
    assert record["runtime_self"]["argmax_agreement"] == 0.5
    assert record["within_runtime_variation"] and record["meets_threshold"]
    # The runtime agrees with itself fully: 75 % is a scheme mismatch.
    record = fake_vs_artifact(fake, artifact, 0.995, artifact.copy())
    assert not record["within_runtime_variation"] and not record["meets_threshold"]
    # Without the runtime check only the threshold decides.
    assert fake_vs_artifact(fake, artifact, 0.7)["meets_threshold"]
    assert not fake_vs_artifact(fake, artifact, 0.8)["meets_threshold"]
