"""Every built-in registry entry through the preprocessing pipeline, on the real files
in ../shared/data (skipped where they are absent)."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.pickle import PickleDataset

from quant_sentiment.corpora import resolve
from quant_sentiment.pipelines.preprocessing import create_pipeline
from tests.conftest import PROJECT_ROOT

from .conf_params import preprocessing_inputs

SHARED = PROJECT_ROOT.parent / "shared" / "data"
REGISTRY = yaml.safe_load((PROJECT_ROOT / "conf/base/datasets.yml").read_text())
#: ``preprocessing.deduplicate`` keeping texts with conflicting labels (file counts).
KEEP_CONFLICTS = {
    **yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_preprocessing.yml").read_text()
    )["preprocessing"]["deduplicate"],
    "conflicting": "keep",
}
pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/data is not beside the project"
)


def _from_shared(spec: dict) -> dict:
    """``spec`` reading the files from their mirror folder (absolute paths)."""
    spec = copy.deepcopy(spec)
    guard = spec["leakage_guard"] or {}
    for name, other in (guard.get("references") or {}).items():
        guard["references"][name] = _from_shared(other)
    for part in spec["parts"]:
        for file in part["files"].values():
            name = Path(file["path"]).name
            mirrors = [PROJECT_ROOT / d / name for d in file["mirror_dirs"]]
            local = PROJECT_ROOT / file["path"]
            file["path"] = str(next((m for m in mirrors if m.is_file()), local))
    return spec


def _run(tmp_path, name: str, **params) -> tuple[dict, DataCatalog]:
    catalog = DataCatalog({})
    for split in ("train", "valid", "test"):
        catalog[f"clean_{split}"] = PickleDataset(filepath=str(tmp_path / split))
    preprocessing_inputs(catalog, _from_shared(resolve(name, REGISTRY)))
    for key, value in params.items():
        catalog[f"params:preprocessing.{key}"] = value
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    return outputs["preprocessing_report"].load(), catalog


@pytest.mark.parametrize(
    "name, rows, labels",
    [
        ("smsa", (11000, 1260, 500), 3),
        ("nusax_toba_batak", (500, 100, 400), 3),
        ("nusax_all", (6000, 1200, 4800), 3),
        ("id_hatespeech_severity", (10535, 1317, 1317), 4),
        ("id_hatespeech_hs", (10535, 1317, 1317), 2),
        ("id_hatespeech_abusive", (10535, 1317, 1317), 2),
    ],
)
def test_entry_rows_per_split(tmp_path, name, rows, labels):
    report, catalog = _run(tmp_path, name)
    splits = report["splits"]
    # Base drops every row of a text whose labels disagree (deduplicate.conflicting).
    conflicts = report["duplicates_and_leakage"]["conflicting_labels"]
    dropped = conflicts["rows_dropped_by_split"]
    assert sum(dropped.values()) == conflicts["rows_in_conflict"]
    assert (
        tuple(
            splits[s]["rows_out"] + dropped.get(s, 0)
            for s in ("train", "valid", "test")
        )
        == rows
    )
    assert len(splits["train"]["label_counts"]) == labels
    clean = catalog.load("clean_test")
    spec = resolve(name, REGISTRY)
    assert set(spec["meta_columns"]) <= set(clean.columns)


def test_severity_labels_match_the_file_and_the_split_is_stratified(tmp_path):
    report, catalog = _run(
        tmp_path, "id_hatespeech_severity", deduplicate=KEEP_CONFLICTS
    )
    total = Counter()
    for split in ("train", "valid", "test"):
        total.update(report["splits"][split]["label_counts"])
    # README: none 7,608; weak 3,383; moderate 1,705; strong 473
    assert total == {"none": 7608, "weak": 3383, "moderate": 1705, "strong": 473}
    test = report["splits"]["test"]["label_counts"]
    assert test["strong"] == pytest.approx(47, abs=1)


def test_pooled_nusax_keeps_the_language_and_the_parallel_id(tmp_path):
    _, catalog = _run(tmp_path, "nusax_all", deduplicate=KEEP_CONFLICTS)
    test = catalog.load("clean_test")
    assert test.groupby("language").size().to_dict() == {
        lang: 400 for lang in test["language"].unique()
    }
    assert test["language"].nunique() == 12
    per_id = test.groupby("id")["label"].nunique()
    assert (per_id == 1).all()  # the same sentence has one label in every language


def test_subsample_is_stratified_and_reported(tmp_path):
    report, catalog = _run(
        tmp_path,
        "id_hatespeech_severity",
        subsample={"max_train_rows": 1000, "seed": 3},
        deduplicate=KEEP_CONFLICTS,
    )
    train = catalog.load("clean_train")
    assert len(train) == 1000
    counts = train["label"].value_counts().to_dict()
    assert counts["strong"] == pytest.approx(1000 * 379 / 10535, abs=1)
    assert report["train_subsample"]["rows_in"] == 10535
    assert report["rows_not_sampled"] == 9535


def test_held_out_subsample_is_stratified_by_language_and_reported(tmp_path):
    subsample = {"max_train_rows": None, "max_valid_rows": 240, "max_test_rows": 600}
    report, catalog = _run(
        tmp_path,
        "nusax_all",
        subsample={**subsample, "seed": 42},
        deduplicate=KEEP_CONFLICTS,
    )
    test = catalog.load("clean_test")
    assert len(test) == 600 and len(catalog.load("clean_valid")) == 240
    # 50 texts per language (label x language strata)
    assert set(test.groupby("language").size()) == {50}
    held_out = report["held_out_subsample"]
    assert held_out["test"]["rows_in"] == 4800
    assert held_out["test"]["stratified_by"] == "label × language"
    assert held_out["valid"]["rows_out"] == 240
    dropped = catalog.load("preprocessing_dropped_rows")
    left_out = dropped[dropped["action"] == "not_sampled"]
    assert left_out.groupby("split").size().to_dict() == {"test": 4200, "valid": 960}
    assert report["rows_not_sampled"] == 4200 + 960
    assert report["splits"]["test"]["rows_out"] == 600
    # seeded: the same rows again
    (tmp_path / "again").mkdir()
    _, again = _run(
        tmp_path / "again",
        "nusax_all",
        subsample={**subsample, "seed": 42},
        deduplicate=KEEP_CONFLICTS,
    )
    assert again.load("clean_test")["text"].tolist() == test["text"].tolist()


def test_sentiment_pool_removes_near_duplicates_across_origins(tmp_path):
    report, catalog = _run(tmp_path, "sentiment_pool")
    guard = report["duplicates_and_leakage"]["leakage_guard"]
    # SmSA train rows near-duplicating NusaX Indonesian valid+test (as in
    # python -m quant_sentiment.bench.leakage), and NusaX train rows near-duplicating
    # SmSA valid+test; the sample corpus shares nothing.
    assert guard["removed_by_reference"] == {
        "nusax valid+test": 308,
        "smsa valid+test": 10,
    }
    assert guard["by_reference"]["sample valid+test"]["train_rows_matched"] == 0
    dropped = catalog.load("preprocessing_dropped_rows")
    near = dropped[dropped["check"] == "near_duplicate"]
    assert len(near) == guard["rows_removed"] == 318
    assert (near["split"] == "train").all() and near["reason"].str.contains(
        "Jaccard"
    ).all()
    train = catalog.load("clean_train")
    # (A text may stay through another row: SmSA shares texts between its own
    # train and valid, which is not this guard's business.)
    kept = set(zip(train["source"], train["line"]))
    assert not kept & set(zip(near["source"], near["line"]))
    assert len(train) == guard["rows_kept"]


def test_guard_against_another_entry(tmp_path):
    registry = copy.deepcopy(REGISTRY)
    registry["smsa_guarded"] = {
        **registry["smsa"],
        "leakage_guard": {"against": ["nusax_indonesian"]},
    }
    spec = _from_shared(resolve("smsa_guarded", registry))
    catalog = DataCatalog({})
    preprocessing_inputs(catalog, spec)
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    guard = outputs["preprocessing_report"].load()["duplicates_and_leakage"][
        "leakage_guard"
    ]
    assert guard["removed_by_reference"] == {"nusax_indonesian valid+test": 308}
    assert guard["by_reference"]["nusax_indonesian valid+test"]["reference_rows"] == 500
