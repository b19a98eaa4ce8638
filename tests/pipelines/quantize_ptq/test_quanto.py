"""The optimum-quanto variants: built, saved with their quantization map, reloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
from quant_sentiment.inference import predict_logits
from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PARAMS = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
)["quantize_ptq"]
MODEL = {"label_map": {"positive": 0, "neutral": 1, "negative": 2}, "max_length": 64}


@pytest.fixture(scope="module")
def fp32(tiny_bundle, tmp_path_factory):
    dataset = HFModelFolderDataset(str(tmp_path_factory.mktemp("fp32") / "m"))
    dataset.save(tiny_bundle)
    return dataset.load()


@pytest.mark.parametrize(("variant", "bits"), [("quanto_int8", 8), ("quanto_int4", 4)])
def test_quanto_variant_reloads_and_predicts_like_fp32(
    fp32, sample_splits, tmp_path, variant, bits
):
    dataset = VariantFolderDataset(str(tmp_path / variant))
    dataset.save(quantize_variant(fp32, PARAMS, MODEL, variant))
    handle = dataset.load()
    m = handle.manifest
    assert m["status"] == "ok" and m["format"] == "quanto" and m["bits"] == bits
    assert m["library"] == "optimum-quanto" and m["library_version"] == "0.2.7"
    assert "bert.encoder.layer.0.attention.self.query" in m["quantized_modules"]
    assert "classifier" not in m["quantized_modules"]
    assert m["group_size"] is None  # in_features 32 / 64 < 128: per output channel
    assert {"quanto_model.safetensors", "quanto_qmap.json"} <= {
        p.name for p in handle.path.iterdir()
    }
    texts = sample_splits["test"]["text"].tolist()
    logits = handle.load().predict_logits(texts)
    ref = predict_logits(fp32.model, fp32.tokenizer, texts, max_length=64)
    assert logits.shape == ref.shape
    diff = np.abs(logits - ref).max()
    assert 0 < diff < (0.05 if bits == 8 else 0.5)
