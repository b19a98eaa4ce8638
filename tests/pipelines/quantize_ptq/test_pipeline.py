"""The ``quantize_ptq`` pipeline run with the project's catalog on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from quant_sentiment.datasets import VariantFolderDataset
from quant_sentiment.pipelines.quantize_ptq import create_pipeline
from quant_sentiment.pipelines.quantize_ptq.nodes import VARIANTS
from quant_sentiment.resolvers import package_path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ENABLED = ("bf16", "int8_ort")


@pytest.fixture(scope="module")
def config() -> OmegaConfigLoader:
    return OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="offline",
        custom_resolvers={"package_path": package_path},
    )


def test_catalog_factories_resolve_every_variant(config):
    catalog = DataCatalog.from_config(config["catalog"])
    for variant in VARIANTS:
        model = catalog.get(f"ptq_{variant}_model")
        assert isinstance(model, VariantFolderDataset)
        assert model._describe()["filepath"] == (
            f"data/06_models/sample_minilm/ptq_{variant}_model"
        )
        assert type(catalog.get(f"ptq_{variant}_manifest")).__name__ == "JSONDataset"
        assert (
            type(catalog.get(f"ptq_{variant}_test_predictions")).__name__
            == "CSVDataset"
        )


def test_pipeline_runs_with_project_catalog(
    config, tiny_bundle, sample_splits, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # relative catalog paths (data/...) land in tmp_path
    catalog = DataCatalog.from_config(config["catalog"])
    params = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
    )["quantize_ptq"]
    for variant in VARIANTS:
        params["variants"][variant]["enabled"] = variant in ENABLED
    catalog["finetuned_model"] = tiny_bundle
    catalog["clean_test"] = sample_splits["test"]
    catalog["params:quantize_ptq"] = params
    SequentialRunner().run(create_pipeline(), catalog)

    summary = catalog.load("ptq_summary")
    assert summary["variant"].tolist() == list(VARIANTS)
    assert summary.set_index("variant")["status"].to_dict() == {
        v: "ok" if v in ENABLED else "skipped" for v in VARIANTS
    }
    assert "| variant" in catalog.load("ptq_summary_md")
    for variant in VARIANTS:
        handle = catalog.load(f"ptq_{variant}_model")
        manifest = catalog.load(f"ptq_{variant}_manifest")
        preds = catalog.load(f"ptq_{variant}_test_predictions")
        assert handle.manifest == manifest
        assert handle.path.resolve().is_relative_to(
            (tmp_path / "data/06_models/sample_minilm").resolve()
        )
        assert isinstance(preds, pd.DataFrame)
        assert "pred_id" in preds.columns
        assert len(preds) == (len(sample_splits["test"]) if variant in ENABLED else 0)
