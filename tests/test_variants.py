"""The variant registry is the one list: producers, evaluate and the catalog agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
from quant_sentiment.variants import VARIANTS, produced_by

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODEL_FOLDERS = (HFModelFolderDataset, VariantFolderDataset)


@pytest.fixture(scope="module")
def registered():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    return dict(pipelines)


@pytest.fixture(scope="module")
def catalog():
    from kedro.io import DataCatalog

    from quant_sentiment.config import ProjectConfigLoader
    from quant_sentiment.settings import CONFIG_LOADER_ARGS

    loader = ProjectConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": "offline"},
    )
    return DataCatalog.from_config(loader["catalog"])


def _model_folders(names, catalog) -> set[str]:
    return {n for n in names if isinstance(catalog.get(n), MODEL_FOLDERS)}


def test_names_are_unique():
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names))
    assert len({v.dataset for v in VARIANTS}) == len(VARIANTS)


def test_each_variant_is_written_by_its_producer(registered, catalog):
    for variant in VARIANTS:
        assert variant.dataset in registered[variant.producer].all_outputs(), variant
        assert isinstance(catalog.get(variant.dataset), MODEL_FOLDERS), variant


def test_every_model_folder_written_is_evaluated_and_the_reverse(registered, catalog):
    producers = {
        name: pipe
        for name, pipe in registered.items()
        if name not in ("__default__", "evaluate")
    }
    written = set().union(
        *(_model_folders(p.all_outputs(), catalog) for p in producers.values())
    )
    evaluate = registered["evaluate"]
    evaluated = {
        node.inputs[0] for node in evaluate.nodes if node.name.endswith(".check_source")
    }
    assert written == evaluated
    assert {n.namespace for n in evaluate.nodes if n.name.endswith(".summarise")} == {
        f"evaluate.{v.name}" for v in VARIANTS
    }


def test_default_run_builds_and_evaluates_every_variant(registered):
    default = registered["__default__"]
    for variant in VARIANTS:
        assert variant.dataset in default.all_outputs()
    assert "evaluate_comparison_table" in default.all_outputs()


def test_producer_parameters_cover_exactly_their_variants():
    params = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
    )
    assert set(params["quantize_ptq"]["variants"]) == {
        v.name for v in produced_by("quantize_ptq")
    }
