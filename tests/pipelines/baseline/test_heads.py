"""The TF-IDF baseline of a multi-task entry: one head per task (pipelines/baseline/
heads.py), saved beside the primary pipeline and scored for every head by evaluate."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import Version

from quant_sentiment.datasets import VariantFolderDataset
from quant_sentiment.pipelines.baseline.nodes import train_tfidf_logreg
from quant_sentiment.pipelines.evaluate.tasks import build_task_table, task_predictions
from tests.conftest import LABEL_MAP, base_normalisation
from tests.test_multitask import TASKS, _frame

SPEC = {"name": "tiny_mt", "tasks": TASKS}
MODEL = {"label_map": dict(LABEL_MAP), "max_length": 64, "threads": 1}
PARAMS = {
    "word_ngram_range": [1, 2],
    "char_ngram_range": [2, 4],
    "min_df": 1,
    "sublinear_tf": True,
    "max_features": None,
    "C": 1.0,
    "class_weight": "balanced",
    "max_iter": 500,
    "seed": 0,
}
BOOT = {"n_resamples": 200, "seed": 0, "confidence": 0.95, "method": "percentile"}


@pytest.fixture(scope="module")
def tfidf(sample_splits, tmp_path_factory):
    train = _frame(sample_splits["train"])
    artifact = train_tfidf_logreg(train, MODEL, PARAMS, base_normalisation(), SPEC)
    folder = tmp_path_factory.mktemp("tfidf_heads")
    dataset = VariantFolderDataset(str(folder), version=Version(None, None))
    dataset.save(artifact)
    return train, dataset.load()


def test_every_head_is_trained_on_its_labelled_rows(tfidf, sample_splits):
    train, handle = tfidf
    assert handle.manifest["heads_file"] == "heads.skops"
    assert [t["name"] for t in handle.manifest["tasks"]] == [
        "sentiment",
        "long",
        "words",
    ]
    classifier = handle.load()
    texts = sample_splits["test"]["text"].tolist()
    logits = classifier.predict_task_logits(texts)
    assert {k: v.shape for k, v in logits.items()} == {
        "sentiment": (len(texts), 3),
        "long": (len(texts), 2),
        "words": (len(texts), 3),
    }
    # the primary head is the usual pipeline's classifier
    np.testing.assert_allclose(
        classifier.predict_logits(texts), logits["sentiment"], atol=1e-6
    )
    # the masked rows of `long` (every third) were left out of its head
    long_head = classifier.heads["long"]
    features = classifier.pipeline.named_steps["tfidf"].transform(
        train["text"].tolist()
    )
    kept = train["label_id__long"] != -100
    refit = type(long_head)(**long_head.get_params()).fit(
        features[kept.to_numpy()], train.loc[kept, "label_id__long"]
    )
    np.testing.assert_allclose(refit.coef_, long_head.coef_, rtol=1e-6, atol=1e-8)
    # the multi-label head is one binary classifier per class; > 0 = predicted
    words = classifier.heads["words"]
    assert len(words) == 3
    has_saya = np.array(["saya" in t for t in texts])
    predicted = logits["words"][:, 2] > 0
    assert (predicted == has_saya).mean() > 0.9


def test_evaluate_scores_every_head_of_the_tfidf_baseline(tfidf, sample_splits):
    _, handle = tfidf
    test = _frame(sample_splits["test"])
    primary = test[["text"]].assign(pred_id=0)  # evaluate's primary-head columns
    heads = task_predictions(
        handle, primary, test, SPEC, {"batch_size": 16}, "tfidf_logreg"
    )
    assert list(heads.columns) == [
        "pred_id__sentiment",
        "pred_id__long",
        "pred__words__tidak",
        "pred__words__yang",
        "pred__words__saya",
    ]
    table = build_task_table(
        test,
        SPEC,
        BOOT,
        heads,
        heads,
        variants=["fp32", "tfidf_logreg"],
        reference="fp32",
    )
    rows = table[table["variant"] == "tfidf_logreg"].set_index("task")
    assert (rows["status"] == "ok").all()
    assert rows.loc["long", "n"] == (test["label_id__long"] != -100).sum()
    assert rows.loc["words", "macro_f1"] > 0.5


def test_a_head_without_a_class_in_train_is_named(sample_splits):
    train = _frame(sample_splits["train"])
    train["label__words__saya"] = 0
    with pytest.raises(ValueError, match="task 'words', class 'saya' is 0 on every"):
        train_tfidf_logreg(train, MODEL, PARAMS, base_normalisation(), SPEC)
    train = _frame(sample_splits["train"])
    train["label_id__long"] = train["label_id__long"].replace(1, 0)
    with pytest.raises(ValueError, match=r"class\(es\) \['yes'\] of task 'long'"):
        train_tfidf_logreg(train, MODEL, PARAMS, base_normalisation(), SPEC)
