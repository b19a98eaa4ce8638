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


def test_raw_files_follow_the_dataset_switch():
    def raw(env, **runtime):
        config = CONFIG_LOADER_CLASS(
            conf_source=str(PROJECT_ROOT / "conf"),
            runtime_params=runtime,
            **{**CONFIG_LOADER_ARGS, "default_run_env": env},
        )
        entry = config["catalog"]["raw_valid"]
        return config["globals"]["run"], [
            p["files"]["valid"]["path"] for p in entry["parts"]
        ]

    assert raw("base") == ("smsa_indobert", ["data/01_raw/smsa/valid_preprocess.tsv"])
    assert raw("offline") == ("sample_minilm", ["data/01_raw/sample/valid.tsv"])
    run, files = raw("offline", dataset="nusax_all")
    assert run == "nusax_all_minilm" and len(files) == 12
    assert files[6] == "data/01_raw/nusax_senti/javanese/valid.csv"
    own = {"raw_dir": "/x/mine", "raw_suffix": ".csv", "labels": "a b"}
    assert raw("offline", dataset="files", data=own) == (
        "files_minilm",
        ["/x/mine/valid.csv"],
    )
