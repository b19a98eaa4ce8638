"""``explain`` on a multi-task variant: attributions, per-text rows, faithfulness and
drift per head (``task``), the multi_label head through its sigmoid; a one-head
variant's rows named after the entry's primary task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from quant_sentiment.manifest import read_manifest
from quant_sentiment.pipelines.explain.nodes import (
    explain_variant,
    variant_faithfulness,
)
from quant_sentiment.pipelines.explain.report import drift_markdown, html_report
from quant_sentiment.pipelines.explain.sample import select_sample
from quant_sentiment.pipelines.explain.tables import drift_table, faithfulness_table
from quant_sentiment.pipelines.explain.words import join_words, split_words
from quant_sentiment.variants import VariantHandle
from tests.test_multitask import TASKS

HEADS = ["sentiment", "long", "words"]
SPEC = {"name": "toy", "tasks": TASKS}
MODEL = {"label_map": {"positive": 0, "neutral": 1, "negative": 2}, "threads": 1}
SAMPLE = {
    "n_texts": 3,
    "seed": 0,
    "max_disagreement_share": 0.5,
    "disagreement_ignores": [],
}
ATTRIBUTION = {
    "variants": None,
    "methods": ["integrated_gradients", "occlusion", "lime"],
    "target": "reference",
    "batch_size": 16,
    "integrated_gradients": {
        "formats": ["hf", "hf_multitask"],
        "n_steps": 8,
        "method": "gausslegendre",
        "internal_batch_size": 8,
    },
    "lime": {"num_samples": 30, "seed": 0},
}
FAITHFULNESS = {"fractions": [0.2, 0.5], "seed": 0}
DRIFT = {
    "top_k": [1],
    "bootstrap": {
        "n_resamples": 100,
        "seed": 0,
        "confidence": 0.95,
        "method": "percentile",
    },
}


@pytest.fixture(scope="module")
def handle(multitask_folder):
    return VariantHandle(multitask_folder, read_manifest(multitask_folder))


@pytest.fixture(scope="module")
def sample(handle, sample_splits):
    """The sample drawn from the multi-task FP32's test predictions, made as
    ``finetune`` makes them (every head's columns)."""
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset
    from quant_sentiment.pipelines.finetune.multitask_nodes import predict_tasks

    root = handle.path.parents[1]
    bundle = HFModelFolderDataset(str(root), version=Version(None, None)).load()
    test = sample_splits["test"].head(12).reset_index(drop=True)
    reference = predict_tasks(bundle, test, 64, 16)
    return select_sample(SAMPLE, MODEL, reference, variants=[])


@pytest.fixture(scope="module")
def explained(handle, sample):
    return explain_variant(handle, sample, MODEL, ATTRIBUTION, SPEC, variant="fp32")


def test_sample_keeps_every_reference_head(sample):
    assert "reference_pred_id__long" in sample
    assert "reference_prob__words__saya" in sample
    assert (sample["reference_pred_id"] == sample["reference_pred_id__sentiment"]).all()


def test_every_head_is_explained_by_every_method(explained, sample):
    attributions, texts, info, cost = explained
    assert info["tasks"] == HEADS
    assert info["methods"] == ATTRIBUTION["methods"]  # IG too: hf_multitask
    assert info["not_applicable"] == []
    n_words = sum(len(split_words(t)) for t in sample["text"])
    counts = attributions.groupby(["task", "method"]).size()
    assert len(counts) == 9 and (counts == n_words).all()
    assert texts["task"].tolist() == [h for h in HEADS for _ in range(3)]
    by_task = texts.set_index(["task", "text_id"])
    for t in sample["text_id"]:
        row = sample.set_index("text_id").loc[t]
        assert by_task.loc[("sentiment", t), "target_id"] == row["reference_pred_id"]
        assert by_task.loc[("long", t), "target_id"] == row["reference_pred_id__long"]
        # multi_label: the reference's most probable class (the bias: "tidak")
        assert by_task.loc[("words", t), "target_label"] == "tidak"
    assert texts["ig_delta"].notna().all()
    assert set(cost["seconds_per_text"]) == set(ATTRIBUTION["methods"])


def test_multi_label_occlusion_is_the_sigmoid_change(explained, handle, sample):
    attributions = explained[0]
    text_id, text = sample["text_id"][0], sample["text"][0]
    words = split_words(text)
    texts = [join_words(words)] + [
        join_words(words[:i] + words[i + 1 :]) for i in range(len(words))
    ]
    logits = handle.load().predict_task_logits(texts)["words"]
    p = expit(logits.astype(np.float64))[:, 0]  # "tidak"
    mine = attributions[
        (attributions["task"] == "words")
        & (attributions["method"] == "occlusion")
        & (attributions["text_id"] == text_id)
    ].sort_values("word_index")
    np.testing.assert_allclose(mine["score"], p[0] - p[1:], atol=1e-6)


def test_faithfulness_drift_and_report_per_head(explained, handle, sample):
    attributions, texts, info, _ = explained
    faith = variant_faithfulness(
        handle,
        sample,
        attributions,
        texts,
        MODEL,
        FAITHFULNESS,
        ATTRIBUTION,
        SPEC,
        variant="fp32",
    )
    assert set(zip(faith["task"], faith["method"])) == {
        (h, m) for h in HEADS for m in [*ATTRIBUTION["methods"], "random"]
    }
    table = faithfulness_table(info, faith)
    assert len(table) == 12 and set(table["task"]) == set(HEADS)
    copy = {**info, "variant": "copy"}
    drift = drift_table(
        DRIFT,
        info,
        copy,
        attributions,
        attributions.assign(variant="copy"),
        reference="fp32",
    )
    assert len(drift) == 9 and set(drift["task"]) == set(HEADS)
    assert (drift["jaccard@1"] == 1.0).all()
    assert "| words " in drift_markdown(drift, 0.95, reference="fp32")
    page = html_report(
        MODEL,
        sample,
        drift,
        table,
        info,
        copy,
        texts,
        texts.assign(variant="copy"),
        attributions,
        attributions.assign(variant="copy"),
        reference="fp32",
    )
    assert "copy · words" in page and "<th>heads</th>" in page


def test_a_one_head_variant_is_named_after_the_primary_task(tiny_model_dir, sample):
    handle = VariantHandle(tiny_model_dir, read_manifest(tiny_model_dir))
    params = {**ATTRIBUTION, "methods": ["occlusion"]}
    attributions, texts, info, _ = explain_variant(
        handle, sample, MODEL, params, SPEC, variant="tfidf_like"
    )
    assert info["tasks"] == ["sentiment"]
    assert set(attributions["task"]) == {"sentiment"}
    assert (texts["target_id"] == sample["reference_pred_id"]).all()
    _, _, unnamed, _ = explain_variant(handle, sample, MODEL, params, None, variant="x")
    assert unnamed["tasks"] == ["classification"]


def test_reference_heads_missing_from_the_sample_are_named(handle, sample):
    thin = sample.drop(columns=["reference_pred_id__long"])
    with pytest.raises(ValueError, match=r"reference_pred_id__long.*head 'long'"):
        explain_variant(
            handle,
            thin,
            MODEL,
            {**ATTRIBUTION, "methods": ["occlusion"]},
            SPEC,
            variant="fp32",
        )
    own = {**ATTRIBUTION, "methods": ["occlusion"], "target": "prediction"}
    _, texts, _, _ = explain_variant(handle, thin, MODEL, own, SPEC, variant="fp32")
    assert (texts["target_id"] == texts["pred_id"]).all()
    assert isinstance(texts, pd.DataFrame)
