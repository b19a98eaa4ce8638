"""Every variant format loads for predicting, with the FP32 normalisation copied."""

from __future__ import annotations

import pytest
import yaml
from fastapi.testclient import TestClient
from kedro.io import Version

from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
from quant_sentiment.pipelines.baseline.nodes import train_tfidf_logreg
from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant
from quant_sentiment.scoring.model import Predictor
from quant_sentiment.scoring.service import create_app
from tests.conftest import PROJECT_ROOT, base_normalisation

PTQ = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
)["quantize_ptq"]
for _options in PTQ["variants"].values():  # also the routes shipped CUDA-only
    _options["on_cpu"] = True
BASELINE = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_baseline.yml").read_text()
)["baseline"]["tfidf_logreg"]
MODEL = {"label_map": {"positive": 0, "neutral": 1, "negative": 2}, "max_length": 64}
RAW = ["Makanannya ENAK sekali!", "  pelayanan   lambat ", "biasa"]


@pytest.fixture(scope="module")
def fp32_bundle(model_folder):
    """The FP32 folder loaded as ``quantize_ptq`` receives it."""
    return HFModelFolderDataset(
        str(model_folder.parents[1]), version=Version(None, None)
    ).load()


def _check(folder, fmt: str) -> None:
    predictor = Predictor(folder)
    assert predictor.manifest["format"] == fmt
    assert predictor.manifest["normalisation"] == base_normalisation()
    rows = predictor.predict_raw(RAW)
    assert [set(r["probabilities"]) for r in rows] == [set(predictor.labels)] * 3
    for row in rows:
        assert sum(row["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    with TestClient(create_app(predictor)) as client:
        response = client.post("/predict", json={"texts": RAW})
    assert response.status_code == 200
    assert [p["label"] for p in response.json()["predictions"]] == [
        r["label"] for r in rows
    ]


@pytest.mark.parametrize(
    ("variant", "fmt"),
    [
        ("bf16", "hf"),
        ("int8_torchao", "torchao"),
        ("int8_ort", "onnx"),
        ("int4", "onnx"),
    ],
)
def test_ptq_variants_carry_the_normalisation(fp32_bundle, tmp_path, variant, fmt):
    staged = quantize_variant(fp32_bundle, PTQ, MODEL, variant)
    dataset = VariantFolderDataset(str(tmp_path / variant))
    dataset.save(staged)
    _check(dataset.load().path, fmt)


def test_tfidf_baseline_carries_the_normalisation(sample_splits, tmp_path):
    staged = train_tfidf_logreg(
        sample_splits["train"], MODEL, BASELINE, base_normalisation()
    )
    dataset = VariantFolderDataset(str(tmp_path / "tfidf"))
    dataset.save(staged)
    _check(dataset.load().path, "sklearn")
