"""``--params run=<name>`` replaces globals.run (quant_sentiment.config)."""

from __future__ import annotations

import pytest

from quant_sentiment.config import ProjectConfigLoader
from quant_sentiment.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
from tests.conftest import PROJECT_ROOT


def loader(runtime_params: dict) -> ProjectConfigLoader:
    return CONFIG_LOADER_CLASS(
        conf_source=str(PROJECT_ROOT / "conf"),
        runtime_params=runtime_params,
        **{**CONFIG_LOADER_ARGS, "default_run_env": "offline"},
    )


def test_run_parameter_moves_every_catalog_path():
    assert CONFIG_LOADER_CLASS is ProjectConfigLoader
    plain = loader({})
    assert plain["globals"]["run"] == "sample_minilm"
    moved = loader({"run": "grid/g/sample/offline/seed_1"})
    assert moved["globals"]["run"] == "grid/g/sample/offline/seed_1"
    path = moved["catalog"]["finetuned_model"]["filepath"]
    assert path == "data/06_models/grid/g/sample/offline/seed_1/finetuned_model"
    assert moved["globals"]["model"] == plain["globals"]["model"]  # the rest kept


@pytest.mark.parametrize("bad", ["", "../elsewhere", "a/../../b", 3])
def test_bad_run_names_are_refused(bad):
    with pytest.raises(ValueError, match=r"--params run=\.\.\.: a relative folder"):
        loader({"run": bad})["globals"]


def test_raw_files_follow_the_dataset_parameters():
    base = CONFIG_LOADER_CLASS(
        conf_source=str(PROJECT_ROOT / "conf"),
        runtime_params={"data": {"raw_dir": "/x/nusax/javanese", "raw_suffix": ".csv"}},
        **{**CONFIG_LOADER_ARGS, "default_run_env": "base"},
    )
    assert base["catalog"]["raw_{split}"]["filepath"] == "/x/nusax/javanese/{split}.csv"
    default = CONFIG_LOADER_CLASS(
        conf_source=str(PROJECT_ROOT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": "base"},
    )
    assert (
        default["catalog"]["raw_{split}"]["filepath"]
        == "data/01_raw/smsa/{split}_preprocess.tsv"
    )
