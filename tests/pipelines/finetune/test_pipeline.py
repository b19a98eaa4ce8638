"""The real ``finetune`` pipeline through ``SequentialRunner`` on an in-test catalog."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.runner import SequentialRunner

from quant_sentiment.datasets import HFModelFolderDataset
from quant_sentiment.inference import predict_logits
from quant_sentiment.pipelines.finetune import create_pipeline
from tests.conftest import base_normalisation

from .conftest import finetune_params

OUTPUTS = (
    "finetuned_model",
    "finetune_history",
    "finetune_test_predictions",
    "finetune_test_metrics",
    "finetune_confusion_matrix",
)


class KeptDataset(MemoryDataset):
    """A memory dataset the runner does not release after its last consumer."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def finetune_run(sample_splits, model_params, tmp_path_factory):
    """Run the pipeline once (2 epochs of the tiny scratch BERT) and load its outputs."""
    tmp = tmp_path_factory.mktemp("finetune_pipeline")
    splits = {
        "train": sample_splits["train"].head(120),
        "valid": sample_splits["valid"].head(40),
        "test": sample_splits["test"].head(45),
    }
    catalog = DataCatalog(
        {
            **{f"clean_{s}": MemoryDataset(frame) for s, frame in splits.items()},
            "params:model": MemoryDataset(model_params),
            "params:preprocessing.normalisation": MemoryDataset(base_normalisation()),
            "params:dataset_spec": MemoryDataset({"name": "sample", "tasks": []}),
            "params:finetune": MemoryDataset(
                finetune_params(tmp / "ckpt", {"num_train_epochs": 2})
            ),
            **{name: KeptDataset(copy_mode="assign") for name in OUTPUTS},
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return splits, {name: catalog.load(name) for name in OUTPUTS}, tmp


def test_the_model_trains(finetune_run):
    _, out, _ = finetune_run
    history = out["finetune_history"]
    assert history["epoch"].tolist() == [1.0, 2.0]
    assert history["train_loss"].iloc[1] < history["train_loss"].iloc[0]
    assert history["eval_macro_f1"].between(0, 1).all()
    best = out["finetuned_model"].metadata["best_valid_macro_f1"]
    assert np.isfinite(best) and best == history["eval_macro_f1"].max()


def test_test_predictions_and_metrics(finetune_run, model_params):
    splits, out, _ = finetune_run
    test = splits["test"]
    preds = out["finetune_test_predictions"]
    assert len(preds) == len(test)
    assert preds["text"].tolist() == test["text"].tolist()
    probs = preds[[f"prob_{name}" for name in model_params["label_map"]]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (preds["pred_id"] == probs.to_numpy().argmax(axis=1)).all()
    metrics = out["finetune_test_metrics"]
    assert metrics["n"] == len(test)
    accuracy = (preds["pred_id"] == preds["label_id"]).mean()
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert set(metrics["per_class"]) == set(model_params["label_map"])
    fig = out["finetune_confusion_matrix"]
    assert fig.axes[0].get_title() == "Fine-tuned model, test split"


def test_saved_folder_reloads_with_the_same_logits(finetune_run, model_params):
    splits, out, tmp = finetune_run
    bundle = out["finetuned_model"]
    meta = bundle.metadata
    assert meta["label_map"] == model_params["label_map"]
    assert meta["max_length"] == model_params["max_length"]
    assert meta["model_source"] == "scratch"
    assert meta["training"]["training_args"]["num_train_epochs"] == 2
    assert meta["data"]["train_rows"] == 120 and meta["data"]["valid_rows"] == 40
    ds = HFModelFolderDataset(str(tmp / "model"), version=Version(None, None))
    ds.save(bundle)
    reloaded = ds.load()
    texts = splits["test"]["text"].tolist()
    kwargs = {"max_length": model_params["max_length"], "show_progress": False}
    np.testing.assert_allclose(
        predict_logits(reloaded.model, reloaded.tokenizer, texts, **kwargs),
        predict_logits(bundle.model, bundle.tokenizer, texts, **kwargs),
        atol=1e-5,
    )
    assert reloaded.metadata["best_valid_macro_f1"] == meta["best_valid_macro_f1"]
