"""Unit tests of the finetune nodes with the tiny scratch BERT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import Version

from quant_sentiment.datasets import HFModelFolderDataset
from quant_sentiment.pipelines.finetune.nodes import (
    compute_test_metrics,
    plot_confusion_matrix,
    predict_split,
    train_classifier,
)
from quant_sentiment.pipelines.finetune.training import class_weights, make_loss
from tests.conftest import tiny_finetune_params


def params(tmp_path, **overrides):
    return tiny_finetune_params(checkpoint_dir=str(tmp_path / "ckpt"), **overrides)[
        "finetune"
    ]


@pytest.fixture(scope="module")
def small_splits(sample_splits):
    return sample_splits["train"].head(96), sample_splits["valid"].head(30)


def test_focal_loss_reduces_to_cross_entropy_at_gamma_zero():
    torch.manual_seed(0)
    logits, labels = torch.randn(8, 3), torch.randint(0, 3, (8,))
    out = {"logits": logits}
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(make_loss("focal", None, gamma=0.0)(out, labels), ce)
    focal = make_loss("focal", None, gamma=2.0)(out, labels)
    assert focal < ce
    assert make_loss("cross_entropy", None) is None
    with pytest.raises(ValueError, match="finetune.loss"):
        make_loss("hinge", None)


def test_balanced_class_weights():
    w = class_weights(pd.Series([0, 0, 0, 1, 2, 2]), 3, "balanced")
    assert torch.allclose(w, torch.tensor([6 / 9, 2.0, 1.0]))
    assert class_weights(pd.Series([0, 1, 2]), 3, "none") is None
    with pytest.raises(ValueError, match="every class"):
        class_weights(pd.Series([0, 0, 1]), 3, "balanced")


def test_train_save_load_pipeline_labels(small_splits, label_map, tmp_path):
    train, valid = small_splits
    bundle, history = train_classifier(
        train,
        valid,
        label_map,
        params(tmp_path, epochs=2, loss="focal", class_weights="balanced"),
    )
    assert history["epoch"].tolist() == [1.0, 2.0]
    assert (
        history[["train_loss", "eval_macro_f1", "train_samples_per_second"]]
        .notna()
        .all()
        .all()
    )
    assert bundle.metadata["label_map"] == label_map
    assert bundle.metadata["data"]["train_rows"] == 96
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir())

    ds = HFModelFolderDataset(str(tmp_path / "model"), version=Version(None, None))
    ds.save(bundle)
    reloaded = ds.load()
    assert reloaded.metadata["training"]["loss"] == "focal"
    folder = next((tmp_path / "model").glob("*/model"))
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(folder))
    assert clf("pelayanannya ramah sekali")[0]["label"] in label_map

    preds = predict_split(reloaded, valid, {"max_length": 64})
    direct = predict_split(bundle, valid, {"max_length": 64})
    np.testing.assert_allclose(
        preds["prob_positive"], direct["prob_positive"], atol=1e-5
    )
    metrics = compute_test_metrics(preds, label_map)
    assert metrics["n"] == 30
    assert set(metrics["per_class"]) == set(label_map)
    assert 0 <= metrics["macro_f1"] <= 1
    fig = plot_confusion_matrix(preds, label_map)
    assert fig.axes[0].get_title() == "Fine-tuned model, test split"


def test_same_seed_gives_identical_results(small_splits, label_map, tmp_path):
    train, valid = small_splits
    runs = []
    for i in range(2):
        bundle, history = train_classifier(
            train, valid, label_map, params(tmp_path / str(i), seed=7)
        )
        runs.append((history, predict_split(bundle, valid, {"max_length": 64})))
    cols = ["train_loss", "eval_loss", "eval_macro_f1"]
    pd.testing.assert_frame_equal(runs[0][0][cols], runs[1][0][cols])
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])


def test_resume_from_last_checkpoint(small_splits, label_map, tmp_path):
    train, valid = small_splits
    p = params(tmp_path, keep_checkpoints=True)
    first, _ = train_classifier(train, valid, label_map, p)
    assert first.metadata["resumed_from"] is None
    assert list((tmp_path / "ckpt").glob("*/checkpoint-*"))
    second, _ = train_classifier(train, valid, label_map, p)
    assert "checkpoint-" in second.metadata["resumed_from"]
    other, _ = train_classifier(train, valid, label_map, {**p, "seed": 1})
    assert other.metadata["resumed_from"] is None


def test_bad_padding_mode(small_splits, label_map, tmp_path):
    train, valid = small_splits
    with pytest.raises(ValueError, match="finetune.padding"):
        train_classifier(train, valid, label_map, params(tmp_path, padding="fixed"))
