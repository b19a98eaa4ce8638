"""``quantize_ptq`` on a multi-task FP32 folder (``hf_multitask``): fp32_ort,
int8_ort and int4 become ``onnx_multitask`` folders with one output per task; the
other routes are recorded as skipped, named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.multitask import MultiTaskModel
from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant
from quant_sentiment.variants import MULTITASK_WRITERS
from tests.test_multitask import TASKS

from .test_quantize_ptq import MODEL, PARAMS

BUILT = ("fp32_ort", "int8_ort", "int4")


@pytest.fixture(scope="module")
def fp32_multitask(tiny_bundle, tmp_path_factory):
    """An (untrained) three-head model saved and reloaded like ``finetuned_model``."""
    torch.manual_seed(0)
    model = MultiTaskModel.from_encoder(tiny_bundle.model.bert, TASKS).eval()
    model.config.id2label = dict(enumerate(TASKS[0]["labels"]))
    bundle = ModelBundle(
        model=model,
        tokenizer=tiny_bundle.tokenizer,
        metadata={"max_length": 64, "model_source": "scratch"},
    )
    dataset = HFModelFolderDataset(str(tmp_path_factory.mktemp("mt") / "m"))
    dataset.save(bundle)
    return dataset.load()


def _build(bundle, variant, folder):
    dataset = VariantFolderDataset(str(folder))
    dataset.save(quantize_variant(bundle, PARAMS, MODEL, variant))
    return dataset.load()


@pytest.mark.parametrize("variant", BUILT)
def test_onnx_routes_write_multi_task_folders(
    fp32_multitask, sample_splits, tmp_path, variant
):
    handle = _build(fp32_multitask, variant, tmp_path / variant)
    manifest = handle.manifest
    assert manifest["status"] == "ok"
    assert manifest["format"] == "onnx_multitask"
    assert [t["name"] for t in manifest["tasks"]] == ["sentiment", "long", "words"]
    assert manifest["id2label"] == {"0": "positive", "1": "neutral", "2": "negative"}
    texts = sample_splits["test"]["text"].tolist()[:12]
    heads = handle.load().predict_task_logits(texts)
    with torch.no_grad():
        enc = fp32_multitask.tokenizer(
            texts, padding=True, truncation=True, max_length=64, return_tensors="pt"
        )
        ref = fp32_multitask.model.task_logits(**enc)
    tol = {"fp32_ort": 1e-4, "int8_ort": 0.5, "int4": 0.5}[variant]
    for name, logits in ref.items():
        assert heads[name].shape == tuple(logits.shape)
        np.testing.assert_allclose(heads[name], logits.numpy(), atol=tol)
    primary = handle.load().predict_logits(texts)
    np.testing.assert_array_equal(primary, heads["sentiment"])


@pytest.mark.parametrize("variant", ["fp16", "int8_torchao", "quanto_int8"])
def test_other_routes_are_skipped_with_the_reason(fp32_multitask, tmp_path, variant):
    assert variant not in MULTITASK_WRITERS
    handle = _build(fp32_multitask, variant, tmp_path / variant)
    assert handle.manifest["status"] == "skipped"
    assert handle.manifest["reason"].startswith(
        f"multi-task models: not supported by {variant} yet"
    )
