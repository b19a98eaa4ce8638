"""The ``quantize_mixed`` pipeline run with the project's catalog on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from quant_sentiment.config import ProjectConfigLoader
from quant_sentiment.datasets import VariantFolderDataset
from quant_sentiment.pipelines.quantize_mixed import create_pipeline
from quant_sentiment.settings import CONFIG_LOADER_ARGS
from quant_sentiment.variants import produced_by

from .conftest import FRAGILE, MODEL

PROJECT_ROOT = Path(__file__).resolve().parents[3]
VARIANTS = [v.name for v in produced_by("quantize_mixed")]
N_GROUPS = 17


@pytest.fixture(scope="module")
def config() -> ProjectConfigLoader:
    return ProjectConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": "offline"},
    )


def test_parameters_cover_exactly_the_registered_variants(mixed_params):
    assert set(mixed_params["variants"]) == set(VARIANTS)
    assert VARIANTS == ["mixed_k2", "mixed_k4", "mixed_k8", "mixed_budget"]


def test_catalog_factory_resolves_every_variant(config):
    catalog = DataCatalog.from_config(config["catalog"])
    for variant in VARIANTS:
        model = catalog.get(f"{variant}_model")
        assert isinstance(model, VariantFolderDataset)
        assert model._describe()["filepath"] == (
            f"data/06_models/sample_minilm/{variant}_model"
        )


@pytest.fixture(scope="module")
def run(config, fragile_bundle, sample_splits, tmp_path_factory):
    """The whole pipeline on the fragile tiny model; the budget is 100 MB."""
    import os

    root = tmp_path_factory.mktemp("mixed_run")
    cwd = Path.cwd()
    os.chdir(root)  # relative catalog paths (data/...) land in root
    try:
        catalog = DataCatalog.from_config(config["catalog"])
        params = yaml.safe_load(yaml.safe_dump(config["parameters"]["quantize_mixed"]))
        params["scan"]["step"] = 1  # every k (the offline env scans every eighth)
        params["variants"]["mixed_budget"]["budget"] = {
            "max_f1_drop": None,
            "max_size_mb": 100,
        }
        catalog["finetuned_model"] = fragile_bundle
        catalog["clean_valid"] = sample_splits["valid"]
        catalog["params:quantize_mixed"] = params
        catalog["params:model"] = MODEL
        SequentialRunner().run(create_pipeline(), catalog)
        yield catalog, root
    finally:
        os.chdir(cwd)


def test_pipeline_writes_ranking_candidates_and_variants(run):
    catalog, root = run
    sensitivity = catalog.load("mixed_sensitivity")
    assert sensitivity["group"].iloc[0] == FRAGILE
    assert len(sensitivity) == N_GROUPS
    assert "# INT4 sensitivity" in catalog.load("mixed_sensitivity_md")
    assert (root / "data/08_reporting/sample_minilm/quantize_mixed").is_dir()
    candidates = catalog.load("mixed_candidates")
    assert candidates["k"].tolist() == list(range(N_GROUPS + 1))
    assert candidates["size_bytes"].is_monotonic_increasing
    # keeping the fragile group at INT8 repairs what INT4 broke
    assert candidates.loc[1, "mean_kl"] < candidates.loc[0, "mean_kl"] / 100
    assert "| int8_added" in catalog.load("mixed_candidates_md")
    order = sensitivity["group"].tolist()
    for variant, k in (("mixed_k2", 2), ("mixed_k4", 4), ("mixed_k8", 8)):
        manifest = catalog.load(f"{variant}_model").manifest
        assert manifest["status"] == "ok"
        assert manifest["selection"]["rule"] == "k"
        assert manifest["selection"]["k"] == k
        assert sorted(manifest["groups"]["int8"]) == sorted(order[:k])
        assert sorted(manifest["groups"]["int4"]) == sorted(order[k:])
        assert manifest["size_bytes"] > 0
        assert manifest["selection"]["valid"]["macro_f1"] == pytest.approx(
            candidates.loc[k, "macro_f1"]
        )


def test_budget_variant_is_the_best_candidate_under_the_size(run):
    catalog, _ = run
    candidates = catalog.load("mixed_candidates")
    manifest = catalog.load("mixed_budget_model").manifest
    assert manifest["selection"]["rule"] == "max_size_mb"
    assert manifest["selection"]["budget"] == {"max_size_mb": 100.0}
    # every candidate fits; the untrained model's F1 ties, so the closest to FP32 wins
    best = candidates.sort_values(["macro_f1", "mean_kl"], ascending=[False, True])
    assert manifest["selection"]["k"] == int(best.iloc[0]["k"])
    assert FRAGILE in manifest["groups"]["int8"]


def test_nodes_are_grouped_under_the_pipeline_namespace():
    pipe = create_pipeline()
    assert {n.name.split(".")[0] for n in pipe.nodes} == {"quantize_mixed"}
    assert {f"{v}_model" for v in VARIANTS} <= pipe.all_outputs()


def test_scan_step_keeps_both_ends_and_every_variant_k():
    from quant_sentiment.pipelines.quantize_mixed.nodes import scanned_ks

    params = {
        "scan": {"step": 4},
        "variants": {"a": {"k": 2}, "b": {"k": 7}, "c": {"budget": {}}},
    }
    assert scanned_ks(params, 10) == [0, 2, 4, 7, 8, 10]
    assert scanned_ks({**params, "scan": {"step": 1}}, 3) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="quantize_mixed.scan.step"):
        scanned_ks({**params, "scan": {"step": 0}}, 10)
