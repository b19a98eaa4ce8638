"""Unit tests of the finetune nodes with the tiny scratch BERT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import Version

from quant_sentiment.datasets import HFModelFolderDataset
from quant_sentiment.pipelines.finetune.nodes import (
    compute_test_metrics,
    plot_confusion_matrix,
    predict_split,
    train_classifier,
)
from tests.conftest import base_normalisation

from .conftest import finetune_params

NORM = base_normalisation()


def params(tmp_path, training_args=None, **overrides):
    return finetune_params(tmp_path / "ckpt", training_args, **overrides)


def test_train_save_load_pipeline_labels(small_splits, model_params, tmp_path):
    train, valid = small_splits
    label_map = model_params["label_map"]
    p = params(
        tmp_path,
        {"num_train_epochs": 2},
        loss={"kind": "focal", "focal_gamma": 2.0, "class_weights": "balanced"},
    )
    bundle, history = train_classifier(train, valid, model_params, p, NORM)
    assert history["epoch"].tolist() == [1.0, 2.0]
    assert (
        history[["train_loss", "eval_macro_f1", "train_samples_per_second"]]
        .notna()
        .all()
        .all()
    )
    assert bundle.metadata["label_map"] == label_map
    assert bundle.metadata["max_length"] == 64
    assert bundle.metadata["normalisation"] == NORM
    assert bundle.metadata["model_source"] == "scratch"
    assert bundle.metadata["data"]["train_rows"] == 96
    assert 0 <= bundle.metadata["best_valid_macro_f1"] <= 1
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir())

    ds = HFModelFolderDataset(str(tmp_path / "model"), version=Version(None, None))
    ds.save(bundle)
    reloaded = ds.load()
    assert reloaded.metadata["training"]["loss"]["kind"] == "focal"
    assert reloaded.metadata["max_length"] == 64
    assert reloaded.metadata["normalisation"]["lowercase"] is True
    folder = next((tmp_path / "model").glob("*/model"))
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(folder))
    assert clf("pelayanannya ramah sekali")[0]["label"] in label_map
    # The saved tokenizer carries params:model.max_length, so truncation=True cuts a
    # 2,000-token text to the trained length (the scratch tokenizer has no limit of
    # its own: without it the text overruns the 128 position embeddings).
    assert clf.tokenizer.model_max_length == 64
    long_text = " ".join(["pelayanannya ramah sekali"] * 700)
    assert len(clf.tokenizer(long_text)["input_ids"]) > 2000
    (result,) = clf(long_text, truncation=True)
    assert result["label"] in label_map

    preds = predict_split(reloaded, valid, model_params, p)
    direct = predict_split(bundle, valid, model_params, p)
    np.testing.assert_allclose(
        preds["prob_positive"], direct["prob_positive"], atol=1e-5
    )
    metrics = compute_test_metrics(preds, model_params)
    assert metrics["n"] == 30
    assert set(metrics["per_class"]) == set(label_map)
    assert 0 <= metrics["macro_f1"] <= 1
    fig = plot_confusion_matrix(preds, model_params)
    assert fig.axes[0].get_title() == "Fine-tuned model, test split"


def test_same_seed_gives_identical_results(small_splits, model_params, tmp_path):
    train, valid = small_splits
    runs = []
    for i in range(2):
        p = params(tmp_path / str(i), {"seed": 7})
        bundle, history = train_classifier(train, valid, model_params, p, NORM)
        runs.append((history, predict_split(bundle, valid, model_params, p)))
    cols = ["train_loss", "eval_loss", "eval_macro_f1"]
    pd.testing.assert_frame_equal(runs[0][0][cols], runs[1][0][cols])
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])


def test_resume_from_last_checkpoint(small_splits, model_params, tmp_path):
    train, valid = small_splits
    p = params(tmp_path, keep_checkpoints=True)
    first, _ = train_classifier(train, valid, model_params, p, NORM)
    assert first.metadata["resumed_from"] is None
    assert list((tmp_path / "ckpt").glob("*/checkpoint-*"))
    second, _ = train_classifier(train, valid, model_params, p, NORM)
    assert "checkpoint-" in second.metadata["resumed_from"]
    other, _ = train_classifier(
        train,
        valid,
        model_params,
        params(tmp_path, {"seed": 1}, keep_checkpoints=True),
        NORM,
    )
    assert other.metadata["resumed_from"] is None


def test_max_train_samples_and_fixed_padding(small_splits, model_params, tmp_path):
    train, valid = small_splits
    p = params(tmp_path, max_train_samples=40, padding="max_length")
    bundle, history = train_classifier(train, valid, model_params, p, NORM)
    assert bundle.metadata["data"]["train_rows"] == 40
    assert len(history) == 1


def test_bad_padding_mode(small_splits, model_params, tmp_path):
    train, valid = small_splits
    with pytest.raises(ValueError, match="finetune.padding"):
        train_classifier(
            train, valid, model_params, params(tmp_path, padding="fixed"), NORM
        )
