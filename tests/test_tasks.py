"""Tasks in the dataset registry (quant_sentiment.tasks): parsing, bad settings,
derived per-task labels, masking in pools, and the reader's per-task columns."""

from __future__ import annotations

import copy

import pytest
import yaml

from quant_sentiment.corpora import DatasetConfigError, resolve
from quant_sentiment.tasks import (
    MASKED,
    TaskLabelError,
    row_labels,
)
from tests.conftest import PROJECT_ROOT

REGISTRY = yaml.safe_load((PROJECT_ROOT / "conf/base/datasets.yml").read_text())
HS = resolve("id_hatespeech", REGISTRY)
HEADER = (
    "Tweet,HS,Abusive,HS_Individual,HS_Group,HS_Religion,HS_Race,HS_Physical,"
    "HS_Gender,HS_Other,HS_Weak,HS_Moderate,HS_Strong"
)


def _values(row: str) -> dict[str, str]:
    return dict(zip(HEADER.split(","), row.split(","), strict=True))


def test_id_hatespeech_declares_four_tasks():
    assert [(t["name"], t["kind"], len(t["labels"])) for t in HS["tasks"]] == [
        ("severity", "single_label", 4),
        ("abusive", "single_label", 2),
        ("target", "single_label", 3),
        ("category", "multi_label", 5),
    ]
    assert HS["tasks"][2]["labels"] == ["none", "individual", "group"]
    # the primary task (severity) is the entry's label and stratifies the split
    assert HS["labels"] == ["none", "weak", "moderate", "strong"]
    assert HS["parts"][0]["label"] == HS["parts"][0]["tasks"]["severity"]
    assert "label__category__gender" in HS["task_columns"]
    assert "label_id__target" in HS["task_columns"]


def test_single_task_entries_are_the_one_task_case_unchanged():
    spec = resolve("id_hatespeech_severity", REGISTRY)
    assert spec["tasks"] == [
        {
            "name": "hate_speech",
            "kind": "single_label",
            "labels": ["none", "weak", "moderate", "strong"],
            "metric": "macro_f1",
        }
    ]
    assert spec["task_columns"] == []  # the rows keep their one label column
    assert resolve("nusax_all", REGISTRY)["tasks"][0]["name"] == "sentiment"


def test_derived_target_and_category_on_hand_made_rows():
    rules, tasks = HS["parts"][0]["tasks"], HS["tasks"]
    group = _values("t,1,0,0,1,1,0,0,0,1,0,1,0")
    out, problem = row_labels(group, rules, tasks)
    assert problem == ""
    assert (out["label__severity"], out["label_id__severity"]) == ("moderate", 2)
    assert (out["label__target"], out["label_id__target"]) == ("group", 2)
    assert out["label__abusive"] == "not_abusive"
    assert [out[f"label__category__{c}"] for c in tasks[3]["labels"]] == [
        1,
        0,
        0,
        0,
        1,
    ]
    clean, _ = row_labels(_values("t,0,1,0,0,0,0,0,0,0,0,0,0"), rules, tasks)
    assert clean["label__target"] == "none" and clean["label_id__abusive"] == 1
    assert clean["label__category__religion"] == 0
    both = _values("t,1,0,1,1,0,0,0,0,1,1,0,0")  # individual and group
    assert row_labels(both, rules, tasks) == (
        {},
        "task target: several label columns set (HS_Individual, HS_Group)",
    )
    bad = _values("t,1,0,1,0,0,0,2,0,1,1,0,0")
    assert row_labels(bad, rules, tasks)[1] == (
        "task category: column HS_Physical is not 0 or 1"
    )


def _registry_with(task: dict, name: str = "mine") -> dict:
    registry = copy.deepcopy(REGISTRY)
    registry[name] = {
        **{k: v for k, v in REGISTRY["id_hatespeech"].items() if k != "tasks"},
        "tasks": [copy.deepcopy(REGISTRY["id_hatespeech"]["tasks"][1]), task],
    }
    return registry


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            {"name": "x", "kind": "softmax", "labels": ["a", "b"], "label": {}},
            r"datasets\.mine\.tasks\.x\.kind must be one of \['single_label', "
            r"'multi_label'\], got 'softmax'",
        ),
        (
            {"name": "x", "labels": [], "label": {"column": "HS"}},
            r"datasets\.mine\.tasks\.x\.labels must list at least 2 distinct",
        ),
        (
            {"name": "x", "kind": "multi_label", "labels": [], "label": {}},
            r"datasets\.mine\.tasks\.x\.labels must list at least 1 distinct",
        ),
        (
            {"name": "abusive", "labels": ["a", "b"], "label": {"column": "HS"}},
            r"datasets\.mine\.tasks\[1\]\.name: duplicate task name 'abusive'",
        ),
        (
            {"name": "x", "labels": ["a", "b"], "label": {"columns": ["HS"]}},
            r"datasets\.mine\.tasks\.x\.label must be \{column: ",
        ),
        (
            {
                "name": "x",
                "kind": "multi_label",
                "labels": ["a", "b"],
                "label": {"columns": {"a": "HS"}},
            },
            r"datasets\.mine\.tasks\.x\.label\.columns names classes \['a'\], which "
            r"must be exactly datasets\.mine\.tasks\.x\.labels \['a', 'b'\]",
        ),
        (
            {"name": "x", "labels": ["a", "b"], "label": {"column": 1}, "metric": "f2"},
            r"datasets\.mine\.tasks\.x\.metric must be one of",
        ),
        (
            {"name": "x", "labels": ["a", "b"], "label": {"column": 1}, "weight": 2},
            r"datasets\.mine\.tasks\[1\]: unknown setting\(s\) \['weight'\]",
        ),
        (
            {"name": "x-y", "labels": ["a", "b"], "label": {"column": 1}},
            r"datasets\.mine\.tasks\[1\]\.name must be a name",
        ),
    ],
)
def test_bad_task_settings_are_named(task, message):
    with pytest.raises(DatasetConfigError, match=message):
        resolve("mine", _registry_with(task))


def test_empty_tasks_and_no_single_label_task_are_named():
    registry = _registry_with({})
    registry["mine"]["tasks"] = []
    with pytest.raises(DatasetConfigError, match=r"datasets\.mine\.tasks must be a"):
        resolve("mine", registry)
    registry["mine"]["tasks"] = [REGISTRY["id_hatespeech"]["tasks"][3]]
    with pytest.raises(DatasetConfigError, match="no single_label task"):
        resolve("mine", registry)


def test_pooled_rows_are_masked_for_the_tasks_their_entry_lacks():
    registry = copy.deepcopy(REGISTRY)
    registry["hs_pool"] = {"pool": ["id_hatespeech", "id_hatespeech_severity"]}
    registry["id_hatespeech_severity"]["task"] = "severity"  # the same definition
    spec = resolve("hs_pool", registry)
    assert [t["name"] for t in spec["tasks"]] == [
        "severity",
        "abusive",
        "target",
        "category",
    ]
    member = spec["parts"][1]["tasks"]  # the single-task member: severity only
    out, problem = row_labels(
        _values("t,1,0,0,1,1,0,0,0,1,0,1,0"), member, spec["tasks"]
    )
    assert problem == ""
    assert out["label_id__severity"] == 2
    assert out["label_id__abusive"] == MASKED and out["label__abusive"] == ""
    assert out["label__category__race"] == MASKED
    assert spec["task_columns"] == HS["task_columns"]


def test_pooled_entries_defining_a_task_differently_are_named():
    registry = copy.deepcopy(REGISTRY)
    registry["hs_pool"] = {"pool": ["id_hatespeech", "id_hatespeech_severity"]}
    registry["id_hatespeech_severity"]["task"] = "abusive"  # 4 classes, not 2
    with pytest.raises(
        DatasetConfigError,
        match=r"datasets\.hs_pool\.pool: task 'abusive' of id_hatespeech_severity",
    ):
        resolve("hs_pool", registry)


HS_ROWS = [
    "none %d,0,1,0,0,0,0,0,0,0,0,0,0",
    "weak %d,1,0,1,0,0,0,0,1,0,1,0,0",
    "moderate %d,1,1,0,1,1,1,0,0,0,0,1,0",
    "strong %d,1,0,1,0,0,0,1,0,1,0,0,1",
]


def _read(tmp_path, payload: str):
    """Every split's rows of a one-file payload, read as ``preprocessing`` does."""
    import pandas as pd

    from quant_sentiment.datasets import SourceLinesDataset
    from quant_sentiment.pipelines.preprocessing.sources import read_split_rows
    from tests.test_corpora import _policy

    path = tmp_path / "hs.csv"
    path.write_bytes(payload.encode())
    spec = copy.deepcopy(HS)
    spec["parts"][0]["files"] = {"all": {"path": str(path), "mirror_dirs": []}}
    label_map = {name: i for i, name in enumerate(spec["labels"])}
    found = [
        read_split_rows(
            SourceLinesDataset(spec["parts"], split).load(),
            label_map,
            _policy(on_invalid="drop"),
            spec,
        )
        for split in ("train", "valid", "test")
    ]
    return pd.concat([f[0] for f in found]), pd.concat([f[1] for f in found])


def test_the_reader_yields_per_task_columns(tmp_path):
    lines = [row % i for row in HS_ROWS for i in range(10)]
    rows, invalid = _read(tmp_path, "\r\n".join([HEADER, *lines]) + "\r\n")
    assert invalid.empty
    assert list(rows.columns) == [
        "source",
        "line",
        "text",
        "label",
        *HS["task_columns"],
    ]
    by_text = rows.set_index("text")
    assert by_text.loc["moderate 3", "label__target"] == "group"
    assert by_text.loc["weak 1", "label_id__target"] == 1
    assert by_text.loc["moderate 3", "label__category__race"] == 1
    assert by_text.loc["none 2", "label__abusive"] == "abusive"
    assert (rows["label"] == rows["label__severity"]).all()


@pytest.mark.parametrize(
    ("column", "setting"),
    [("HS_Group", "target"), ("HS_Gender", "category"), ("HS_Weak", "severity")],
)
def test_a_missing_task_column_is_named_with_the_file_and_task(
    tmp_path, column, setting
):
    from quant_sentiment.pipelines.preprocessing.nodes import DataValidationError

    at = HEADER.split(",").index(column)
    rows = [
        ",".join(x for i, x in enumerate((row % n).split(",")) if i != at)
        for row in HS_ROWS
        for n in range(10)
    ]
    header = ",".join(x for x in HEADER.split(",") if x != column)
    with pytest.raises(
        DataValidationError,
        match=rf"hs\.csv, line 1: column '{column}' "
        rf"\(datasets\.id_hatespeech\.tasks\.{setting}\.label\) is not in the header",
    ):
        _read(tmp_path, "\r\n".join([header, *rows]) + "\r\n")


def test_a_row_bad_for_one_task_stops_with_file_line_and_task(tmp_path):
    lines = [row % i for row in HS_ROWS for i in range(10)]
    lines.append("two targets,1,0,1,1,0,0,0,0,1,1,0,0")
    with pytest.raises(TaskLabelError, match=r"line 42: task target: several"):
        _read(tmp_path, "\r\n".join([HEADER, *lines]) + "\r\n")


def test_the_real_file_reads_with_every_task(shared_data, tmp_path):
    path = shared_data / "id_multilabel_hate_speech" / "re_dataset.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open("rb") as handle:
        head = b"".join(handle.readline() for _ in range(2001))
    rows, invalid = _read(tmp_path, head.decode("latin-1"))
    assert len(rows) + (invalid["action"] == "dropped").sum() == 2000
    hs = rows["label__severity"] != "none"
    assert (rows.loc[~hs, "label__target"] == "none").all()
    assert (rows.loc[hs, "label__target"] != "none").all()
    category = rows[[c for c in rows if c.startswith("label__category__")]]
    assert ((category == 0) | (category == 1)).all().all()
    assert (category[~hs] == 0).all().all()


def test_a_headerless_file_names_task_columns_by_index(tmp_path):
    from quant_sentiment.datasets import SourceLinesDataset
    from quant_sentiment.pipelines.preprocessing.sources import read_split_rows
    from tests.test_corpora import _policy

    registry = {
        "mine": {
            "files": {
                s: str(tmp_path / f"{s}.tsv") for s in ("train", "valid", "test")
            },
            "text": 0,
            "tasks": [
                {"name": "mood", "labels": ["neg", "pos"], "label": {"column": 1}},
                {
                    "name": "topic",
                    "kind": "multi_label",
                    "labels": ["food", "price"],
                    "label": {"columns": {"food": 2, "price": 3}},
                },
            ],
        }
    }
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.tsv").write_text(
            "enak sekali\tpos\t1\t0\nmahal\tneg\t0\t1\n"
        )
    spec = resolve("mine", registry)
    raw = SourceLinesDataset(spec["parts"], "train").load()
    label_map = {"neg": 0, "pos": 1}
    rows, _ = read_split_rows(raw, label_map, _policy(), spec)
    assert rows[
        ["label__mood", "label__topic__food", "label__topic__price"]
    ].values.tolist() == [
        ["pos", 1, 0],
        ["neg", 0, 1],
    ]
