"""The ``quantize_ptq`` pipeline run with the project's catalog on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from quant_sentiment.config import ProjectConfigLoader
from quant_sentiment.datasets import VariantFolderDataset
from quant_sentiment.pipelines.quantize_ptq import create_pipeline
from quant_sentiment.settings import CONFIG_LOADER_ARGS
from quant_sentiment.variants import produced_by

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ENABLED = ("bf16", "int8_ort", "ov_int8")
VARIANTS = [v.name for v in produced_by("quantize_ptq")]


@pytest.fixture(scope="module")
def config() -> ProjectConfigLoader:
    return ProjectConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": "offline"},
    )


def test_catalog_factories_resolve_every_variant(config):
    catalog = DataCatalog.from_config(config["catalog"])
    for variant in VARIANTS:
        model = catalog.get(f"ptq_{variant}_model")
        assert isinstance(model, VariantFolderDataset)
        assert model._describe()["filepath"] == (
            f"data/06_models/sample_minilm/ptq_{variant}_model"
        )


def test_pipeline_runs_with_project_catalog(
    config, tiny_bundle, sample_splits, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # relative catalog paths (data/...) land in tmp_path
    catalog = DataCatalog.from_config(config["catalog"])
    params = config["parameters"]
    ptq = params["quantize_ptq"]
    for variant in VARIANTS:
        ptq["variants"][variant]["enabled"] = variant in ENABLED
    ptq["variants"]["bf16"]["on_cpu"] = True  # offline: native (absent on AVX2 CPUs)
    catalog["finetuned_model"] = tiny_bundle
    catalog["clean_train"] = sample_splits["train"]  # ov_int8's calibration texts
    catalog["params:quantize_ptq"] = ptq
    catalog["params:model"] = params["model"]
    SequentialRunner().run(create_pipeline(), catalog)

    summary = catalog.load("ptq_summary")
    assert summary["variant"].tolist() == VARIANTS
    assert summary.set_index("variant")["status"].to_dict() == {
        v: "ok" if v in ENABLED else "skipped" for v in VARIANTS
    }
    assert summary.set_index("variant").loc["bf16", "bits"] == 16
    assert "| variant" in catalog.load("ptq_summary_md")
    texts = sample_splits["test"]["text"].tolist()
    for variant in VARIANTS:
        handle = catalog.load(f"ptq_{variant}_model")
        assert handle.manifest["variant"] == variant
        assert handle.manifest["max_length"] == params["model"]["max_length"]
        assert handle.path.resolve().is_relative_to(
            (tmp_path / "data/06_models/sample_minilm").resolve()
        )
        if variant in ENABLED:
            assert handle.load().predict_logits(texts).shape == (len(texts), 3)


def test_nodes_are_grouped_under_the_pipeline_namespace():
    pipe = create_pipeline()
    assert {n.name.split(".")[0] for n in pipe.nodes} == {"quantize_ptq"}
    assert {f"ptq_{v}_model" for v in VARIANTS} <= pipe.all_outputs()
