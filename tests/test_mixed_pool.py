"""A pool of entries with different primary tasks (SmSA sentiment + hate speech) is
a multi-task entry: the registry rule, the reader's masked columns, and finetune on
a tiny model through the rows that carry only their own member's tasks."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from quant_sentiment.corpora import DatasetConfigError, resolve
from quant_sentiment.tasks import MASKED
from tests.conftest import PROJECT_ROOT, base_normalisation, read_sample_split
from tests.test_tasks import HEADER, HS_ROWS

REGISTRY = yaml.safe_load((PROJECT_ROOT / "conf/base/datasets.yml").read_text())
POOL = resolve("smsa_hatespeech_pool", REGISTRY)
SENTIMENT = ["positive", "neutral", "negative"]
SEVERITY = ["none", "weak", "moderate", "strong"]


def test_the_registry_pools_different_primary_tasks_as_a_multi_task_entry():
    assert [t["name"] for t in POOL["tasks"]] == [
        "sentiment",
        "severity",
        "abusive",
        "target",
        "category",
    ]
    assert POOL["labels"] == SENTIMENT + SEVERITY
    assert "label_id__sentiment" in POOL["task_columns"]
    assert "label__category__race" in POOL["task_columns"]
    assert list(POOL["parts"][0]["tasks"]) == ["sentiment"]
    assert list(POOL["parts"][1]["tasks"]) == [
        "severity",
        "abusive",
        "target",
        "category",
    ]
    assert [r["name"] for r in POOL["contradictions"]][0] == "none_but_category"


def test_a_pool_of_one_task_still_needs_one_label_list():
    registry = copy.deepcopy(REGISTRY)
    registry["mine"] = {"pool": ["smsa", "id_hatespeech_hs"]}
    registry["id_hatespeech_hs"]["task"] = "sentiment"  # same task, other labels
    with pytest.raises(
        DatasetConfigError,
        match=r"datasets\.mine\.pool: task 'sentiment' of id_hatespeech_hs is .*"
        r"\(a task shared by pooled entries has one definition\)",
    ):
        resolve("mine", registry)
    registry["mine"]["labels"] = ["neg", "pos"]  # a pool of one task: as before
    registry["id_hatespeech_hs"]["task"] = "hs"
    registry["mine"]["pool"] = ["smsa", "smsa_for_nusax"]
    with pytest.raises(DatasetConfigError, match="pooled entries share one label"):
        resolve("mine", registry)


def test_mixed_pools_refuse_shared_class_names_and_their_own_labels():
    registry = copy.deepcopy(REGISTRY)
    registry["mine"] = {"pool": ["id_hatespeech_severity", "id_hatespeech_abusive"]}
    registry["id_hatespeech_abusive"]["task"] = "abusive"
    registry["id_hatespeech_abusive"]["labels"] = ["none", "abusive"]
    registry["id_hatespeech_abusive"]["label"]["map"] = {"0": "none", "1": "abusive"}
    with pytest.raises(
        DatasetConfigError,
        match=r"datasets\.mine\.pool: the primary tasks \['hate_speech', 'abusive'\] "
        r"of its members share class name\(s\) \['none'\]",
    ):
        resolve("mine", registry)
    registry = copy.deepcopy(REGISTRY)
    registry["mine"] = {"pool": ["smsa", "id_hatespeech"], "labels": SENTIMENT}
    with pytest.raises(DatasetConfigError, match=r"datasets\.mine\.labels: a pool of"):
        resolve("mine", registry)


def _splits(tmp_path) -> dict[str, pd.DataFrame]:
    """Hand-made SmSA-like files (sample corpus texts) and a hate-speech file, read
    per split as ``preprocessing`` does, with ``label_id`` as its clean step adds."""
    from quant_sentiment.datasets import SourceLinesDataset
    from quant_sentiment.pipelines.preprocessing.sources import read_split_rows
    from tests.test_corpora import _policy

    spec = copy.deepcopy(POOL)
    sizes = {"train": 60, "valid": 20, "test": 20}
    files = {}
    for split, n in sizes.items():
        rows = read_sample_split(split).head(n)
        path = tmp_path / f"smsa_{split}.tsv"
        path.write_text("".join(f"{t}\t{y}\n" for t, y in zip(rows.text, rows.label)))
        files[split] = {"path": str(path), "mirror_dirs": []}
    spec["parts"][0]["files"] = files
    hs = tmp_path / "hs.csv"
    lines = [row % i for row in HS_ROWS for i in range(10)]
    hs.write_bytes(("\r\n".join([HEADER, *lines]) + "\r\n").encode())
    spec["parts"][1]["files"] = {"all": {"path": str(hs), "mirror_dirs": []}}
    label_map = {name: i for i, name in enumerate(spec["labels"])}
    out = {}
    for split in sizes:
        raw = SourceLinesDataset(spec["parts"], split).load()
        rows, invalid = read_split_rows(raw, label_map, _policy(), spec)
        assert invalid.empty
        out[split] = rows.assign(label_id=rows["label"].map(label_map))
    return spec, out


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    return _splits(tmp_path_factory.mktemp("mixed_pool"))


def test_each_member_s_rows_carry_only_their_own_tasks(pooled):
    spec, splits = pooled
    train = splits["train"]
    smsa = train["source"].str.endswith(".tsv")
    assert smsa.sum() == 60 and (~smsa).sum() == 32
    assert train.loc[smsa, "label__sentiment"].isin(SENTIMENT).all()
    assert (train.loc[smsa, "label__sentiment"] == train.loc[smsa, "label"]).all()
    for task in ("severity", "abusive", "target"):
        assert (train.loc[smsa, f"label_id__{task}"] == MASKED).all()
        assert (train.loc[smsa, f"label__{task}"] == "").all()
        assert (train.loc[~smsa, f"label_id__{task}"] != MASKED).all()
    assert (train.loc[smsa, "label__category__race"] == MASKED).all()
    assert (train.loc[~smsa, "label_id__sentiment"] == MASKED).all()
    assert (train.loc[~smsa, "label"] == train.loc[~smsa, "label__severity"]).all()
    assert train.loc[~smsa, "label_id"].ge(3).all()  # the severity block of labels


def test_finetune_trains_every_head_on_its_own_rows(pooled, tmp_path):
    from quant_sentiment.pipelines.finetune import create_pipeline
    from tests.pipelines.finetune.conftest import finetune_params
    from tests.pipelines.finetune.test_pipeline import OUTPUTS, KeptDataset

    spec, splits = pooled
    model = {
        "label_map": {name: i for i, name in enumerate(spec["labels"])},
        "max_length": 64,
        "threads": 1,
    }
    catalog = DataCatalog(
        {
            **{f"clean_{s}": MemoryDataset(frame) for s, frame in splits.items()},
            "params:model": MemoryDataset(model),
            "params:preprocessing.normalisation": MemoryDataset(base_normalisation()),
            "params:dataset_spec": MemoryDataset(spec),
            "params:finetune": MemoryDataset(
                finetune_params(tmp_path / "ckpt", {"num_train_epochs": 1})
            ),
            **{name: KeptDataset(copy_mode="assign") for name in OUTPUTS},
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    bundle = catalog.load("finetuned_model")
    assert [t["name"] for t in bundle.model.config.tasks] == [
        t["name"] for t in spec["tasks"]
    ]
    test = splits["test"]
    smsa = test["source"].str.endswith(".tsv")
    metrics = catalog.load("finetune_test_metrics")["tasks"]
    assert metrics["sentiment"]["n"] == smsa.sum()
    assert metrics["sentiment"]["n_masked"] == (~smsa).sum()
    assert metrics["severity"]["n"] == (~smsa).sum()
    assert metrics["category"]["n_masked"] == smsa.sum()
    preds = catalog.load("finetune_test_predictions")
    assert preds["pred_id__sentiment"].between(0, 2).all()
    assert preds["pred_id__severity"].between(0, 3).all()


def test_the_tfidf_baseline_has_every_head_on_its_own_rows(pooled, tmp_path):
    from kedro.io import Version

    from quant_sentiment.datasets import VariantFolderDataset
    from quant_sentiment.pipelines.baseline.nodes import train_tfidf_logreg
    from tests.pipelines.baseline.test_heads import PARAMS

    spec, splits = pooled
    model = {"label_map": {name: i for i, name in enumerate(spec["labels"])}}
    artifact = train_tfidf_logreg(
        splits["train"], model, PARAMS, base_normalisation(), spec
    )
    dataset = VariantFolderDataset(str(tmp_path / "tfidf"), version=Version(None, None))
    dataset.save(artifact)
    classifier = dataset.load().load()
    # the primary head is sentiment's (3 classes), not the pool's 7 labels
    assert classifier.id2label == dict(enumerate(SENTIMENT))
    texts = splits["test"]["text"].tolist()
    logits = classifier.predict_task_logits(texts)
    assert logits["sentiment"].shape == (len(texts), 3)
    assert logits["severity"].shape == (len(texts), 4)
    assert logits["category"].shape == (len(texts), 5)
    severity = classifier.heads["severity"]
    smsa = splits["train"]["source"].str.endswith(".tsv")
    assert severity.n_features_in_ > 0 and list(severity.classes_) == [0, 1, 2, 3]
    features = classifier.pipeline.named_steps["tfidf"].transform(
        splits["train"].loc[~smsa, "text"].tolist()
    )
    refit = type(severity)(**severity.get_params()).fit(
        features, splits["train"].loc[~smsa, "label_id__severity"]
    )
    assert (refit.coef_ == severity.coef_).all()  # trained on hate-speech rows only


@pytest.mark.slow  # SmSA + 13,169 hate-speech rows read, 1 tiny epoch, 2 PTQ routes
def test_the_built_in_pool_through_finetune_ptq_and_evaluate(kedro_project, tmp_path):
    """``smsa_hatespeech_pool`` from the real files (``../shared/data``) through
    preprocessing -> finetune -> quantize_ptq -> evaluate_ptq (tiny scratch BERT,
    train cut to 240 rows): every head scored on its own member's test rows."""
    from tests.conftest import SHARED_DATA, run_session
    from tests.test_multitask_chain import _newest
    from tests.test_registry_chain import chain_params

    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    (tmp_path / "shared").symlink_to(PROJECT_ROOT.parent / "shared")
    params = chain_params("smsa_hatespeech_pool")
    params["quantize_ptq"]["variants"]["fp32_ort"] = {"enabled": False}
    for pipeline in ("preprocessing", "finetune", "quantize_ptq", "evaluate_ptq"):
        run_session(kedro_project, pipeline=pipeline, runtime_params=params)
    run = "smsa_hatespeech_pool_minilm"
    data = kedro_project / "data"
    clean_test = pd.read_csv(
        _newest(data, f"*/{run}/clean_test.csv/*/*.csv"),
        keep_default_na=False,
        na_filter=False,
    )
    smsa = clean_test["label_id__sentiment"] != MASKED
    assert smsa.any() and (~smsa).any()
    assert (clean_test.loc[smsa, "label_id__severity"] == MASKED).all()
    reporting = data / "08_reporting" / run / "evaluate"
    table = pd.read_csv(_newest(reporting, "task_table.csv/*/*.csv"))
    rows = table.set_index(["variant", "task"])
    for variant in ("fp32", "int8_ort", "tfidf_logreg"):
        for task in ("sentiment", "severity", "abusive", "target", "category"):
            assert rows.loc[(variant, task), "status"] == "ok", (variant, task)
        assert rows.loc[(variant, "sentiment"), "n"] == smsa.sum()
        assert rows.loc[(variant, "severity"), "n"] == (~smsa).sum()
    contradictions = pd.read_csv(_newest(reporting, "contradictions.csv/*/*.csv"))
    labels = contradictions[contradictions["variant"] == "labels"]
    assert (labels["n"] == (~smsa).sum()).all() and (labels["count"] == 0).all()
