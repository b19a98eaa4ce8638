"""The OpenVINO variants (``ov_int8``: NNCF static INT8; ``ov_int4``: NNCF 4-bit
weights) on the tiny BERT classifier: built through the ``quantize_ptq`` node, saved,
reopened through the formats registry, and their bad options refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
from quant_sentiment.formats import openvino
from quant_sentiment.pipelines.quantize_ptq.nodes import (
    calibration_sample,
    make_variant_node_func,
    quantize_variant,
)
from quant_sentiment.pipelines.quantize_ptq.pipeline import create_pipeline
from quant_sentiment.variants import load_classifier

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PARAMS = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
)["quantize_ptq"]
MODEL = {
    "label_map": {"positive": 0, "neutral": 1, "negative": 2},
    "max_length": 64,
    "threads": 1,
}


def weights_bytes(folder: Path) -> int:
    return (folder / "model.safetensors").stat().st_size


@pytest.fixture(scope="module")
def fp32(tiny_bundle, tmp_path_factory):
    dataset = HFModelFolderDataset(str(tmp_path_factory.mktemp("fp32") / "m"))
    dataset.save(tiny_bundle)
    return dataset.load()


def _build(fp32, variant, folder, train=None, params=PARAMS):
    dataset = VariantFolderDataset(str(folder))
    dataset.save(quantize_variant(fp32, params, MODEL, variant, train))
    return dataset.load()


@pytest.fixture(scope="module")
def built(fp32, sample_splits, tmp_path_factory):
    root = tmp_path_factory.mktemp("ov")
    train = sample_splits["train"]
    return {
        "ov_int8": _build(fp32, "ov_int8", root / "ov_int8", train),
        "ov_int4": _build(fp32, "ov_int4", root / "ov_int4"),
    }


@pytest.fixture(scope="module")
def fp32_logits(fp32, sample_splits):
    from quant_sentiment.formats._base import HFClassifier

    texts = sample_splits["test"]["text"].tolist()
    return HFClassifier(fp32.model, fp32.tokenizer, 64).predict_logits(texts)


def test_int8_is_static_int8_calibrated_on_train(built, sample_splits):
    manifest = built["ov_int8"].manifest
    assert manifest["status"] == "ok" and manifest["format"] == openvino.FORMAT
    assert manifest["bits"] == 8 and manifest["inference_precision"] == "f32"
    # Activations and weights get FakeQuantize nodes (the INT8 points of the graph).
    assert manifest["op_types"].get("FakeQuantize", 0) > 0
    assert len(manifest["quantized_modules"]) == manifest["op_types"]["FakeQuantize"]
    n = PARAMS["variants"]["ov_int8"]["calibration"]["n_texts"]
    assert manifest["calibration_texts"] == min(n, len(sample_splits["train"]))


def test_int4_weights_are_compressed(built, fp32):
    manifest = built["ov_int4"].manifest
    assert manifest["bits"] == 4 and manifest["group_size"] == 32
    # 4-bit constants are decompressed by Convert + Multiply (the scale) at run time.
    assert manifest["op_types"].get("Convert", 0) > 0
    bins = {v: b.manifest["initializer_bytes"] for v, b in built.items()}
    assert bins["ov_int4"] < bins["ov_int8"] < 0.4 * weights_bytes(fp32.path)


@pytest.mark.parametrize("variant", ["ov_int8", "ov_int4"])
def test_reopens_through_the_registry_and_follows_fp32(
    built, variant, sample_splits, fp32_logits
):
    texts = sample_splits["test"]["text"].tolist()
    classifier = load_classifier(built[variant].path, threads=1)
    assert isinstance(classifier, openvino.OpenVINOClassifier)
    logits = classifier.predict_logits(texts, batch_size=7)
    assert logits.shape == fp32_logits.shape and np.isfinite(logits).all()
    # Batching does not change the result (padding is masked).
    one = classifier.predict_logits(texts[:5], batch_size=1)
    np.testing.assert_allclose(one, logits[:5], atol=1e-4)
    # Quantized, so not equal; but it is the same model, not noise.
    assert np.corrcoef(logits.ravel(), fp32_logits.ravel())[0, 1] > 0.9


def test_calibration_sample_is_seeded_and_capped(sample_splits):
    train = sample_splits["train"]
    options = {"calibration": {"n_texts": 25, "seed": 1}}
    first = calibration_sample(train, options, "ov_int8")
    assert first == calibration_sample(train, options, "ov_int8") and len(first) == 25
    assert set(first) <= set(train["text"])
    many = {"calibration": {"n_texts": 10**6, "seed": 1}}
    assert len(calibration_sample(train, many, "ov_int8")) == len(train)
    with pytest.raises(ValueError, match="ov_int8.calibration.n_texts"):
        calibration_sample(train, {"calibration": {"n_texts": 0, "seed": 1}}, "ov_int8")
    with pytest.raises(ValueError, match="clean_train is empty"):
        calibration_sample(train.iloc[:0], options, "ov_int8")


def test_int8_node_reads_clean_train_and_needs_it(fp32):
    node = next(n for n in create_pipeline().nodes if n.name.endswith("ov_int8"))
    assert "clean_train" in node.inputs
    other = next(n for n in create_pipeline().nodes if n.name.endswith("ov_int4"))
    assert "clean_train" not in other.inputs
    assert make_variant_node_func("ov_int8").__name__ == "quantize_ov_int8"
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_variant(fp32, PARAMS, MODEL, "ov_int8")


@pytest.mark.parametrize(
    ("variant", "option", "value", "match"),
    [
        ("ov_int8", "preset", "fastest", "preset must be one of"),
        ("ov_int8", "inference_precision", "fp16", "inference_precision must be"),
        ("ov_int4", "mode", "int3", "mode must be one of"),
        ("ov_int4", "group_size", 24, "group_size must be a power of two"),
        ("ov_int4", "ratio", 0, "ratio must be in"),
    ],
)
def test_bad_options_name_the_option(
    fp32, sample_splits, variant, option, value, match, tmp_path
):
    options = {**PARAMS["variants"][variant], option: value}
    params = {**PARAMS, "variants": {**PARAMS["variants"], variant: options}}
    with pytest.raises(ValueError, match=match):
        quantize_variant(fp32, params, MODEL, variant, sample_splits["train"])
