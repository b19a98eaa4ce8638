"""``finetune_per_task``: the same encoder as one single-task model per head
(single_label through fit_classifier, multi_label as a one-task MultiTaskModel), and
the ``single_task`` rows of evaluate's task table (Δ = multi-task FP32 − single)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.runner import SequentialRunner
from sklearn.metrics import f1_score

from quant_sentiment.datasets import ModelSetFolderDataset
from quant_sentiment.pipelines.evaluate.single_task import (
    build_task_table_with_baselines,
)
from quant_sentiment.pipelines.evaluate.tasks import task_table_markdown
from quant_sentiment.pipelines.finetune_per_task import create_pipeline
from quant_sentiment.pipelines.finetune_per_task.nodes import chosen_tasks
from tests.test_multitask import TASKS, _frame

from .conftest import finetune_params
from .test_pipeline import KeptDataset

SPEC = {"name": "tiny_mt", "tasks": TASKS}
OUTPUTS = ("single_task_models", "single_task_test_predictions", "single_task_history")
BOOT = {"n_resamples": 200, "seed": 0, "confidence": 0.95, "method": "percentile"}


@pytest.fixture(scope="module")
def per_task_run(sample_splits, model_params, tmp_path_factory):
    """The real pipeline once: three tiny scratch BERTs, one epoch each."""
    tmp = tmp_path_factory.mktemp("per_task")
    splits = {
        "train": _frame(sample_splits["train"].head(96)),
        "valid": _frame(sample_splits["valid"].head(40)),
        "test": _frame(sample_splits["test"].head(45)),
    }
    catalog = DataCatalog(
        {
            **{f"clean_{s}": MemoryDataset(frame) for s, frame in splits.items()},
            "params:model": MemoryDataset(model_params),
            "params:dataset_spec": MemoryDataset(SPEC),
            "params:finetune": MemoryDataset(finetune_params(tmp / "ckpt")),
            "params:finetune_per_task": MemoryDataset({"tasks": None}),
            "single_task_models": ModelSetFolderDataset(
                str(tmp / "models"), version=Version(None, None)
            ),
            **{name: KeptDataset(copy_mode="assign") for name in OUTPUTS[1:]},
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return splits, {name: catalog.load(name) for name in OUTPUTS}


def test_one_model_per_head_is_trained_and_saved(per_task_run):
    splits, out = per_task_run
    handle = out["single_task_models"]
    assert set(handle.manifest["tasks"]) == {"sentiment", "long", "words"}
    sub = {
        name: json.loads((handle.path / name / "manifest.json").read_text())
        for name in ("sentiment", "long", "words")
    }
    assert sub["sentiment"]["format"] == "hf"
    assert sub["words"]["format"] == "hf_multitask"
    assert sub["long"]["label_map"] == {"no": 0, "yes": 1}
    # `long` is masked on every third train row: its model saw the others only
    kept = (splits["train"]["label_id__long"] != -100).sum()
    assert handle.manifest["tasks"]["long"]["train_rows"] == kept
    assert sub["long"]["data"]["train_rows"] == kept
    history = out["single_task_history"]
    assert set(history["task"]) == {"sentiment", "long", "words"}
    preds = out["single_task_test_predictions"]
    assert preds["text"].tolist() == splits["test"]["text"].tolist()
    assert preds["pred_id__long"].isin([0, 1]).all()
    assert (
        preds[[f"pred__words__{w}" for w in ("tidak", "yang", "saya")]]
        .isin([0, 1])
        .all(axis=None)
    )
    probs = preds[[f"prob__sentiment__{c}" for c in TASKS[0]["labels"]]]
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_the_task_table_gains_single_task_rows_with_the_paired_delta(per_task_run):
    splits, out = per_task_run
    test, single = splits["test"], out["single_task_test_predictions"]
    # the "multi-task FP32" of this test: every head right
    fp32 = pd.DataFrame(
        {
            "pred_id__sentiment": test["label_id__sentiment"],
            "pred_id__long": test["label_id__long"].clip(lower=0),
            **{
                f"pred__words__{w}": test[f"label__words__{w}"]
                for w in ("tidak", "yang", "saya")
            },
        }
    )
    table = build_task_table_with_baselines(
        test, SPEC, BOOT, single, fp32, variants=["fp32"], reference="fp32"
    )
    assert table["variant"].tolist() == ["fp32", "single_task"] * 3
    rows = table[table["variant"] == "single_task"].set_index("task")
    assert (rows["status"] == "ok").all()
    assert (rows["delta_of"] == "fp32 - single_task").all()
    kept = test["label_id__long"] != -100
    want = f1_score(
        test.loc[kept, "label_id__long"],
        single.loc[kept, "pred_id__long"],
        average="macro",
        labels=[0, 1],
        zero_division=0,
    )
    long = rows.loc["long"]
    assert long["n"] == kept.sum()
    assert long["macro_f1"] == pytest.approx(want)
    assert long["delta"] == pytest.approx(1 - want)
    assert long["delta_low"] <= long["delta"] <= long["delta_high"]
    assert long["delta_high"] <= 1 - long["macro_f1_low"] + 1e-9
    md = task_table_markdown(table)
    assert "single_task (Δ = fp32 - single_task)" in md
    # predictions of another test split are refused, naming the pipeline to rerun
    with pytest.raises(ValueError, match="rerun `kedro run --pipelines=finetune_per"):
        build_task_table_with_baselines(
            test, SPEC, BOOT, single.iloc[1:], fp32, variants=["fp32"], reference="fp32"
        )
    # without them, the table is the usual one
    plain = build_task_table_with_baselines(
        test, SPEC, BOOT, None, fp32, variants=["fp32"], reference="fp32"
    )
    assert plain["variant"].tolist() == ["fp32"] * 3


def test_chosen_tasks_and_an_unknown_task_named():
    assert [t["name"] for t in chosen_tasks(SPEC, {"tasks": ["words"]})] == ["words"]
    with pytest.raises(ValueError, match=r"finetune_per_task\.tasks names \['nope'\]"):
        chosen_tasks(SPEC, {"tasks": ["nope"]})
