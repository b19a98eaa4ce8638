"""The leakage guard node of preprocessing (pipelines/preprocessing/guard.py)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from quant_sentiment.corpora import DatasetConfigError, resolve
from quant_sentiment.pipelines.preprocessing.guard import guard_near_duplicates
from quant_sentiment.pipelines.preprocessing.nodes import DataValidationError
from tests.conftest import PROJECT_ROOT

REGISTRY = yaml.safe_load((PROJECT_ROOT / "conf/base/datasets.yml").read_text())
SPEC = resolve("sentiment_pool", REGISTRY)
SMSA = "data/01_raw/smsa/{}_preprocess.tsv"
NUSAX = "data/01_raw/nusax_senti/indonesian/{}.csv"


def _rows(source: str, texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": source,
            "line": range(1, len(texts) + 1),
            "text": texts,
            "label": "neutral",
            "corpus": "x",
        }
    )


def _splits():
    train = pd.concat(
        [
            _rows(SMSA.format("train"), ["saya suka makan nasi goreng", "cuaca cerah"]),
            _rows(NUSAX.format("train"), ["jalan di sini rusak lagi"]),
        ],
        ignore_index=True,
    )
    valid = _rows(NUSAX.format("valid"), ["Saya suka makan nasi goreng!"])
    test = _rows(SMSA.format("test"), ["jalan di sini rusak parah"])
    return train, valid, test


def test_removed_rows_join_the_dropped_rows_and_the_report():
    train, valid, test = _splits()
    earlier = _rows(SMSA.format("train"), ["dup"]).assign(
        check="duplicate_in_train", reason="r", action="dropped"
    )
    kept, report, dropped = guard_near_duplicates(
        train, valid, test, {"within_split": {}}, earlier, SPEC, {}
    )
    assert kept["text"].tolist() == ["cuaca cerah"]
    assert list(kept.columns) == list(train.columns)  # no origin column left
    guard = report["leakage_guard"]
    assert report["within_split"] == {}
    # nusax train "jalan di sini rusak lagi" vs smsa test: 2 of 4 trigrams → 0.5.
    assert guard["removed_by_reference"] == {
        "nusax valid+test": 1,
        "smsa valid+test": 1,
    }
    assert dropped["check"].tolist() == [
        "duplicate_in_train",
        "near_duplicate",
        "near_duplicate",
    ]
    assert set(dropped["action"]) == {"dropped"}
    assert dropped["line"].tolist() == [1, 1, 1]


def test_no_guard_passes_train_through_and_all_removed_stops():
    train, valid, test = _splits()
    plain = {**SPEC, "leakage_guard": None}
    none = train.iloc[0:0].assign(check="", reason="", action="")
    kept, report, dropped = guard_near_duplicates(
        train, valid, test, {}, none, plain, {}
    )
    pd.testing.assert_frame_equal(kept, train)
    assert report["leakage_guard"] == {"enabled": False} and dropped.empty
    strict = {**SPEC, "leakage_guard": {**SPEC["leakage_guard"], "threshold": 0.01}}
    # Every train row shares a trigram with a held-out row of the other origin.
    leaky = train.iloc[[0, 2]].reset_index(drop=True)
    with pytest.raises(DataValidationError, match="sentiment_pool.leakage_guard"):
        guard_near_duplicates(leaky, valid, test, {}, none, strict, {})


def test_rows_of_an_unknown_file_are_named():
    train, valid, test = _splits()
    train.loc[0, "source"] = "elsewhere.tsv"
    with pytest.raises(ValueError, match="elsewhere.tsv"):
        guard_near_duplicates(train, valid, test, {}, train[:0], SPEC, {})


def test_against_resolves_its_entries_and_rejects_unknown_ones():
    registry = {
        **REGISTRY,
        "guarded": {**REGISTRY["smsa"], "leakage_guard": {"against": ["nusax_ngaju"]}},
    }
    guard = resolve("guarded", registry)["leakage_guard"]
    assert guard["against"] == ["nusax_ngaju"]
    assert guard["references"]["nusax_ngaju"]["name"] == "nusax_ngaju"
    registry["guarded"]["leakage_guard"] = {"against": ["nusax_klingon"]}
    with pytest.raises(DatasetConfigError, match="guarded.leakage_guard.against"):
        resolve("guarded", registry)


def test_reference_lines_dataset(tmp_path):
    from quant_sentiment.datasets.guard_references import GuardReferencesDataset

    assert GuardReferencesDataset(None).load() == {}
    spec = resolve("sample", REGISTRY)
    for file in spec["parts"][0]["files"].values():
        file["path"] = str(PROJECT_ROOT / file["path"])
    data = GuardReferencesDataset({"sample": spec})
    assert data.exists()
    lines = data.load()
    assert set(lines) == {"sample"} and set(lines["sample"]) == {"valid", "test"}
    assert len(lines["sample"]["test"]) == 180
    spec["parts"][0]["files"]["test"]["path"] = str(tmp_path / "absent.tsv")
    assert not GuardReferencesDataset({"sample": spec}).exists()
