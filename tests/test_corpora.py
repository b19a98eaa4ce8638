"""The dataset registry (quant_sentiment.corpora) and the ``dataset`` switch."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from quant_sentiment.corpora import (
    DatasetConfigError,
    assign_splits,
    expand,
    label_of,
    names,
    resolve,
)
from quant_sentiment.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
from tests.conftest import PROJECT_ROOT

REGISTRY = yaml.safe_load((PROJECT_ROOT / "conf/base/datasets.yml").read_text())
LANGUAGES = REGISTRY["nusax_{language}"]["expand"]["language"]
SEVERITY = resolve("id_hatespeech_severity", REGISTRY)["parts"][0]["label"]


def test_every_built_in_entry_resolves():
    expected = {
        "smsa",
        "sample",
        "files",
        "nusax_all",
        "sentiment_pool",
        "smsa_for_nusax",
        "id_hatespeech_severity",
        "id_hatespeech_hs",
        "id_hatespeech_abusive",
        "id_hatespeech",
        "smsa_hatespeech_pool",
        *(f"nusax_{lang}" for lang in LANGUAGES),
    }
    assert set(names(REGISTRY)) == expected
    for name in expected - {"files"}:
        spec = resolve(name, REGISTRY)
        assert spec["name"] == name and len(spec["labels"]) in (2, 3, 4, 7)
    pooled = resolve("nusax_all", REGISTRY)
    assert pooled["group"] == "language" and len(pooled["parts"]) == 12
    assert [p["meta"]["language"] for p in pooled["parts"]] == LANGUAGES
    assert resolve("sentiment_pool", REGISTRY)["leakage_guard"]["across_parts"]


def test_template_expansion_fills_every_string():
    entries = expand(REGISTRY)
    java = entries["nusax_javanese"]
    assert java["files"]["test"] == "data/01_raw/nusax_senti/javanese/test.csv"
    assert java["meta"]["language"] == "javanese"
    part = resolve("nusax_javanese", REGISTRY)["parts"][0]
    assert part["files"]["test"]["source_url"].endswith(
        "datasets/sentiment/javanese/test.csv"
    )


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"HS": "0", "HS_Weak": "0", "HS_Moderate": "0", "HS_Strong": "0"}, "none"),
        ({"HS": "1", "HS_Weak": "1", "HS_Moderate": "0", "HS_Strong": "0"}, "weak"),
        ({"HS": "1", "HS_Weak": "0", "HS_Moderate": "1", "HS_Strong": "0"}, "moderate"),
        ({"HS": "1", "HS_Weak": "0", "HS_Moderate": "0", "HS_Strong": "1"}, "strong"),
    ],
)
def test_derived_severity_label(row, expected):
    assert label_of(row, SEVERITY) == (expected, "")


@pytest.mark.parametrize(
    "row, problem",
    [
        (
            {"HS": "1", "HS_Weak": "0", "HS_Moderate": "0", "HS_Strong": "0"},
            "HS is 1 but none of HS_Weak, HS_Moderate, HS_Strong is set",
        ),
        (
            {"HS": "1", "HS_Weak": "1", "HS_Moderate": "0", "HS_Strong": "1"},
            "several label columns set (HS_Weak, HS_Strong)",
        ),
        (
            {"HS": "0", "HS_Weak": "0", "HS_Moderate": "1", "HS_Strong": "0"},
            "HS is 0 but HS_Moderate set",
        ),
        (
            {"HS": "yes", "HS_Weak": "0", "HS_Moderate": "0", "HS_Strong": "0"},
            "column(s) HS not 0 or 1",
        ),
    ],
)
def test_inconsistent_severity_rows_are_named(row, problem):
    assert label_of(row, SEVERITY) == ("", problem)


def test_binary_label_maps_raw_values():
    rule = resolve("id_hatespeech_hs", REGISTRY)["parts"][0]["label"]
    assert label_of({"HS": "1"}, rule) == ("hs", "")
    assert label_of({"HS": "0"}, rule) == ("not_hs", "")
    assert label_of({"HS": "2"}, rule) == ("2", "")  # then refused as unknown


def test_split_is_seeded_stratified_and_deterministic():
    labels = ["a"] * 700 + ["b"] * 250 + ["c"] * 50
    rule = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 7}
    first = assign_splits(labels, rule, "datasets.x.split")
    assert first == assign_splits(labels, rule, "datasets.x.split")
    assert first != assign_splits(labels, {**rule, "seed": 8}, "datasets.x.split")
    counts = Counter(zip(first, labels, strict=True))
    assert Counter(first) == {"train": 800, "valid": 100, "test": 100}
    for label, n in (("a", 700), ("b", 250), ("c", 50)):
        assert counts[("test", label)] == pytest.approx(n / 10, abs=1)
        assert counts[("valid", label)] == pytest.approx(n / 10, abs=1)


def test_too_few_rows_to_stratify_names_the_setting():
    with pytest.raises(DatasetConfigError, match=r"datasets\.x\.split: class\(es\)"):
        assign_splits(
            ["a"] * 50 + ["b"] * 2,
            {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 1},
            "datasets.x.split",
        )


def _entry(**changes):
    entry = {
        "labels": ["neg", "pos"],
        "files": {"all": "x.csv"},
        "split": {"train": 0.8, "valid": 0.1, "test": 0.1},
        "text": "t",
        "label": {"column": "y"},
    }
    entry.update(changes)
    return {"mine": entry}


@pytest.mark.parametrize(
    "registry, name, message",
    [
        (_entry(), "nope", r"--params dataset=nope: no such dataset .* known: "),
        (
            _entry(split={"train": 0.8, "valid": 0.1, "test": 0.2}),
            "mine",
            r"datasets\.mine\.split: the ratios .* must be positive and sum to 1 "
            r"\(they sum to 1\.1\)",
        ),
        (_entry(split=None), "mine", r"datasets\.mine\.split is needed"),
        (
            _entry(label={"one_hot": {"pos": "P"}, "otherwise": "other"}),
            "mine",
            r"datasets\.mine\.label: one_hot labels \['pos'\] plus otherwise 'other'",
        ),
        (_entry(labels=["a"]), "mine", r"datasets\.mine\.labels must list"),
        (_entry(colour="red"), "mine", r"datasets\.mine: unknown setting\(s\)"),
        (
            _entry(meta={"source": "x"}),
            "mine",
            r"datasets\.mine: meta / columns \['source'\] clash",
        ),
        (_entry(group="language"), "mine", r"datasets\.mine\.group is 'language'"),
        (
            {**_entry(), "pool": {"pool": ["mine", "other"]}},
            "pool",
            r"datasets\.pool\.pool: 'other' is not a single",
        ),
    ],
)
def test_bad_settings_stop_naming_the_setting(registry, name, message):
    with pytest.raises(DatasetConfigError, match=message):
        resolve(name, registry)


def test_own_files_need_a_folder_and_labels():
    with pytest.raises(DatasetConfigError, match=r"needs data\.raw_dir"):
        resolve("files", REGISTRY, {"data": {}})
    with pytest.raises(DatasetConfigError, match=r"data\.labels must name"):
        resolve("files", REGISTRY, {"data": {"raw_dir": "x", "labels": "one"}})


def _loader(env="offline", **runtime):
    return CONFIG_LOADER_CLASS(
        conf_source=str(PROJECT_ROOT / "conf"),
        runtime_params=runtime,
        **{**CONFIG_LOADER_ARGS, "default_run_env": env},
    )


def test_switch_sets_run_folder_label_map_and_spec():
    config = _loader(dataset="id_hatespeech_severity")
    params = config["parameters"]
    assert config["globals"]["run"] == "id_hatespeech_severity_minilm"
    assert params["model"]["label_map"] == {
        "none": 0,
        "weak": 1,
        "moderate": 2,
        "strong": 3,
    }
    assert params["dataset"] == "id_hatespeech_severity"
    assert params["dataset_spec"]["parts"][0]["reader"]["encoding"] == "latin-1"
    assert _loader("base")["globals"]["run"] == "smsa_indobert"
    merged = _loader(dataset="nusax_all", model={"max_length": 64})["parameters"]
    assert merged["model"]["max_length"] == 64  # --params model.x merges in
    assert merged["model"]["label_map"] == {"positive": 0, "neutral": 1, "negative": 2}


def test_unknown_dataset_stops_the_config_loader():
    with pytest.raises(DatasetConfigError, match="no such dataset"):
        _loader(dataset="smsaa")


def _raw(tmp_path, payload: bytes, split: str = "train"):
    from quant_sentiment.datasets import SourceLinesDataset

    path = tmp_path / "hs.csv"
    path.write_bytes(payload)
    spec = resolve("id_hatespeech_severity", REGISTRY)
    spec["parts"][0]["files"] = {"all": {"path": str(path), "mirror_dirs": []}}
    return SourceLinesDataset(spec["parts"], split).load(), spec


def _policy(**changes):
    policy = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_preprocessing.yml").read_text()
    )["preprocessing"]["validation"]
    return {**policy, **changes}


HS_HEADER = b"Tweet,HS,Abusive,HS_Weak,HS_Moderate,HS_Strong\r\n"


def test_derived_label_rows_are_checked_and_reported(tmp_path):
    from quant_sentiment.pipelines.preprocessing.sources import read_split_rows

    rows = [b"ok %d,0,0,0,0,0\r\n" % i for i in range(12)]
    rows += [b"weak %d,1,0,1,0,0\r\n" % i for i in range(12)]
    rows += [b"strong %d,1,1,0,0,1\r\n" % i for i in range(12)]
    rows += [b"moderate %d,1,0,0,1,0\r\n" % i for i in range(12)]
    rows.append(b"bad,1,0,0,0,0\r\n")  # HS with no level: refused, named
    raw, spec = _raw(tmp_path, HS_HEADER + b"".join(rows))
    label_map = {name: i for i, name in enumerate(spec["labels"])}
    kept, invalid = read_split_rows(raw, label_map, _policy(on_invalid="drop"), spec)
    assert invalid[["line", "check", "reason"]].values.tolist() == [
        [50, "label_rule", "HS is 1 but none of HS_Weak, HS_Moderate, HS_Strong is set"]
    ]
    assert sorted(kept["label"].unique()) == ["moderate", "none", "strong", "weak"]
    # the other splits of the one file: disjoint, together all 48 valid rows
    others = [
        read_split_rows(
            _raw(tmp_path, HS_HEADER + b"".join(rows), s)[0],
            label_map,
            _policy(on_invalid="drop"),
            spec,
        )
        for s in ("valid", "test")
    ]
    texts = [set(kept["text"]), *(set(r[0]["text"]) for r in others)]
    assert sum(map(len, texts)) == 48 and len(set.union(*texts)) == 48
    assert all(r[1].empty for r in others)  # invalid rows are reported once, in train


def test_missing_derived_label_column_names_the_setting(tmp_path):
    from quant_sentiment.pipelines.preprocessing.nodes import DataValidationError
    from quant_sentiment.pipelines.preprocessing.sources import read_split_rows

    raw, spec = _raw(tmp_path, b"Tweet,HS,HS_Weak,HS_Moderate\r\nx,0,0,0\r\n")
    with pytest.raises(DataValidationError) as err:
        read_split_rows(raw, {"none": 0}, _policy(), spec)
    assert "column 'HS_Strong' (datasets.id_hatespeech_severity.label) is not in" in (
        str(err.value)
    )
