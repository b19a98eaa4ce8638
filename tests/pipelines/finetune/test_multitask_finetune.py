"""The ``finetune`` pipeline on a multi-task entry (params:dataset_spec with tasks):
a MultiTaskModel saved as ``hf_multitask`` under the same outputs, per-task
prediction columns and metrics; single-task runs ignore the ``multitask`` block."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.runner import SequentialRunner

from quant_sentiment.datasets import HFModelFolderDataset
from quant_sentiment.formats import load_classifier
from quant_sentiment.pipelines.finetune import create_pipeline
from quant_sentiment.pipelines.finetune.multitask_nodes import (
    multitask_tasks,
    single_task_params,
)
from tests.conftest import base_normalisation
from tests.test_multitask import TASKS, _frame

from .conftest import finetune_params
from .test_pipeline import OUTPUTS, KeptDataset, finetune_run  # noqa: F401

SPEC = {"name": "tiny_mt", "tasks": TASKS}


@pytest.fixture(scope="module")
def multitask_run(sample_splits, model_params, tmp_path_factory):
    """The real pipeline once on the three-task frame (2 epochs, tiny scratch BERT)."""
    tmp = tmp_path_factory.mktemp("finetune_mt")
    splits = {
        "train": _frame(sample_splits["train"].head(96)),
        "valid": _frame(sample_splits["valid"].head(40)),
        "test": _frame(sample_splits["test"].head(45)),
    }
    params = finetune_params(tmp / "ckpt", {"num_train_epochs": 2})
    params["multitask"] = {
        **params["multitask"],
        "tasks": {"sentiment": {"class_weights": "balanced"}},
    }
    catalog = DataCatalog(
        {
            **{f"clean_{s}": MemoryDataset(frame) for s, frame in splits.items()},
            "params:model": MemoryDataset(model_params),
            "params:preprocessing.normalisation": MemoryDataset(base_normalisation()),
            "params:dataset_spec": MemoryDataset(SPEC),
            "params:finetune": MemoryDataset(params),
            **{name: KeptDataset(copy_mode="assign") for name in OUTPUTS},
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return splits, {name: catalog.load(name) for name in OUTPUTS}, tmp


def test_a_multi_task_entry_trains_one_head_per_task(multitask_run, model_params):
    _, out, _ = multitask_run
    bundle = out["finetuned_model"]
    assert [t["name"] for t in bundle.model.config.tasks] == [
        "sentiment",
        "long",
        "words",
    ]
    meta = bundle.metadata
    assert meta["label_maps"]["words"] == {"tidak": 0, "yang": 1, "saya": 2}
    assert meta["label_map"] == model_params["label_map"]
    assert meta["training"]["multitask"]["weighting"] == "uncertainty"
    assert set(meta["loss_weights"]) == {"sentiment", "long", "words"}
    history = out["finetune_history"]
    assert history["epoch"].tolist() == [1.0, 2.0]
    for name in ("sentiment", "long", "words"):
        assert history[f"eval_macro_f1__{name}"].between(0, 1).all()
    assert meta["best_valid_macro_f1"] == history["eval_macro_f1"].max()


def test_predictions_keep_the_primary_columns_and_add_every_head(
    multitask_run, model_params
):
    splits, out, _ = multitask_run
    preds = out["finetune_test_predictions"]
    assert preds["text"].tolist() == splits["test"]["text"].tolist()
    probs = preds[[f"prob_{name}" for name in model_params["label_map"]]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (preds["pred_id"] == preds["pred_id__sentiment"]).all()
    long = preds[["prob__long__no", "prob__long__yes"]].to_numpy()
    assert (preds["pred_id__long"] == long.argmax(axis=1)).all()
    words = preds[[f"prob__words__{w}" for w in ("tidak", "yang", "saya")]]
    flags = preds[[f"pred__words__{w}" for w in ("tidak", "yang", "saya")]]
    assert ((words.to_numpy() > 0.5) == flags.to_numpy().astype(bool)).all()


def test_metrics_have_a_block_per_task_on_unmasked_rows(multitask_run):
    splits, out, _ = multitask_run
    metrics = out["finetune_test_metrics"]
    preds = out["finetune_test_predictions"]
    assert metrics["accuracy"] == pytest.approx(
        (preds["pred_id"] == preds["label_id"]).mean()
    )
    tasks = metrics["tasks"]
    assert set(tasks) == {"sentiment", "long", "words"}
    masked = int((splits["test"]["label_id__long"] == -100).sum())
    assert masked > 0
    assert tasks["long"]["n_masked"] == masked
    assert tasks["long"]["n"] == len(preds) - masked
    kept = preds[preds["label_id__long"] != -100]
    assert tasks["long"]["accuracy"] == pytest.approx(
        (kept["pred_id__long"] == kept["label_id__long"]).mean()
    )
    assert tasks["sentiment"]["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert set(tasks["words"]["per_class"]) == {"tidak", "yang", "saya"}
    assert 0 <= tasks["words"]["score"] <= 1


def test_the_folder_saves_and_reloads_as_hf_multitask(multitask_run, tmp_path):
    splits, out, _ = multitask_run
    bundle = out["finetuned_model"]
    dataset = HFModelFolderDataset(
        str(tmp_path / "finetuned_model"), version=Version(None, None)
    )
    dataset.save(bundle)
    loaded = dataset.load()
    assert loaded.metadata["format"] == "hf_multitask"
    assert loaded.metadata["tasks"][2]["kind"] == "multi_label"
    texts = splits["test"]["text"].tolist()[:8]
    heads = load_classifier(loaded.path).predict_task_logits(texts)
    preds = out["finetune_test_predictions"].head(8)
    for i, word in enumerate(("tidak", "yang", "saya")):
        np.testing.assert_allclose(
            1 / (1 + np.exp(-heads["words"][:, i])),
            preds[f"prob__words__{word}"],
            atol=1e-5,
        )


def test_single_task_entries_stay_single_task():
    one = {"name": "x", "tasks": TASKS[:1]}
    assert multitask_tasks(one) == [] and multitask_tasks(None) == []
    assert [t["name"] for t in multitask_tasks(SPEC)] == ["sentiment", "long", "words"]
    assert "multitask" not in single_task_params({"multitask": {}, "loss": {}})


def test_a_single_task_run_records_no_multitask_block(finetune_run):  # noqa: F811
    """The base YAML's ``multitask`` block stays out of a single-task manifest (its
    training record and checkpoint fingerprint are as before the block existed)."""
    _, out, _ = finetune_run
    meta = out["finetuned_model"].metadata
    assert "multitask" not in meta["training"]
    assert "tasks" not in meta and "tasks" not in out["finetune_test_metrics"]
    assert not any("__" in c for c in out["finetune_test_predictions"].columns)
