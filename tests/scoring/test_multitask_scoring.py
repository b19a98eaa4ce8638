"""``predict`` (CLI, pipeline node) and ``serve`` on a multi-task folder: every head in
one answer, from one model call per batch; a single-task answer unchanged."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from scipy.special import expit, softmax

from quant_sentiment.scoring.cli import cli
from quant_sentiment.scoring.limits import ServiceLimits
from quant_sentiment.scoring.service import create_app
from tests.test_multitask import TASKS

TEXTS = ["Makanannya ENAK sekali!", "pelayanan   lambat", "biasa saja tidak buruk"]
#: finetune_test_predictions' per-head columns of a multi-task run, without the ids.
HEAD_COLUMNS = [
    "pred_label__sentiment",
    "prob__sentiment__positive",
    "prob__sentiment__neutral",
    "prob__sentiment__negative",
    "pred_label__long",
    "prob__long__no",
    "prob__long__yes",
    "pred__words__tidak",
    "pred__words__yang",
    "pred__words__saya",
    "prob__words__tidak",
    "prob__words__yang",
    "prob__words__saya",
]


def _expected(predictor, texts):
    """Each head's probabilities from the classifier itself (softmax / sigmoid)."""
    logits = predictor.classifier.predict_task_logits(predictor.prep.many(texts))
    out = {}
    for task in TASKS:
        z = logits[task["name"]].astype(np.float64)
        out[task["name"]] = (
            softmax(z, axis=1) if task["kind"] == "single_label" else expit(z)
        )
    return out


def test_predictor_answers_every_head(multitask_predictor):
    rows = multitask_predictor.predict_raw(TEXTS)
    expected = _expected(multitask_predictor, TEXTS)
    for i, row in enumerate(rows):
        assert list(row["tasks"]) == ["sentiment", "long", "words"]
        sentiment, long, words = (
            row["tasks"][t] for t in ("sentiment", "long", "words")
        )
        # the answer's label / probabilities are the primary head's, as before
        assert row["label"] == sentiment["label"]
        assert row["probabilities"] == sentiment["probabilities"]
        for name, answer in (("sentiment", sentiment), ("long", long)):
            labels = next(t["labels"] for t in TASKS if t["name"] == name)
            assert set(answer) == {"label", "probabilities"}
            assert list(answer["probabilities"]) == labels
            np.testing.assert_allclose(
                list(answer["probabilities"].values()), expected[name][i], atol=1e-6
            )
            assert answer["label"] == labels[int(expected[name][i].argmax())]
        assert set(words) == {"labels", "probabilities"}
        assert words["labels"] == ["tidak"]  # the bias: only "tidak" is over 0.5
        np.testing.assert_allclose(
            list(words["probabilities"].values()), expected["words"][i], atol=1e-6
        )


def test_single_task_answer_has_no_tasks(predictor):
    assert predictor.task_heads == []
    [row] = predictor.predict_raw(TEXTS[:1])
    assert set(row) == {"label", "probabilities"}


def test_predict_cli_csv_and_jsonl_carry_every_head(multitask_folder, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    base = ["predict", "--model", str(multitask_folder), str(path)]
    result = CliRunner().invoke(cli, base)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(StringIO(result.stdout), keep_default_na=False)
    primary = ["label", "prob_positive", "prob_neutral", "prob_negative"]
    assert list(frame.columns) == ["source", "line", "row_id", *primary, *HEAD_COLUMNS]
    assert (frame["label"] == frame["pred_label__sentiment"]).all()
    assert frame["pred__words__tidak"].tolist() == [1, 1, 1]
    assert frame[["pred__words__yang", "pred__words__saya"]].to_numpy().sum() == 0
    np.testing.assert_allclose(
        frame[["prob__long__no", "prob__long__yes"]].sum(axis=1), 1.0, atol=1e-5
    )
    result = CliRunner().invoke(cli, [*base, "--output-format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["tasks"]["words"]["labels"] for r in rows] == [["tidak"]] * 3
    assert rows[0]["tasks"]["long"]["label"] == frame["pred_label__long"][0]


def test_predict_pipeline_node_gives_every_head(multitask_folder, multitask_predictor):
    from quant_sentiment.pipelines.predict.nodes import score_partitions
    from tests.pipelines.predict.test_nodes import MODEL, params, partition

    data = ("text\n" + "\n".join(TEXTS) + "\n").encode()
    parts = {"a.csv": lambda: partition("a.csv", data)}
    models_dir = multitask_folder.parents[2]
    predictions, skipped, _ = score_partitions(parts, params(models_dir), MODEL)
    assert skipped.empty
    assert list(predictions.columns[-len(HEAD_COLUMNS) :]) == HEAD_COLUMNS
    expected = multitask_predictor.predict_raw(TEXTS)
    assert predictions["label"].tolist() == [e["label"] for e in expected]
    assert predictions["pred_label__long"].tolist() == [
        e["tasks"]["long"]["label"] for e in expected
    ]
    assert predictions["pred__words__tidak"].tolist() == [1, 1, 1]
    assert predictions["prob__words__yang"].tolist() == pytest.approx(
        [e["tasks"]["words"]["probabilities"]["yang"] for e in expected], abs=1e-6
    )


def test_service_answers_every_head_in_one_model_call(multitask_predictor, monkeypatch):
    classifier = multitask_predictor.classifier
    calls = []
    original = classifier.predict_task_logits

    def counted(texts, batch_size=64):
        calls.append(len(texts))
        return original(texts, batch_size)

    monkeypatch.setattr(classifier, "predict_task_logits", counted)
    limits = ServiceLimits(max_texts=8, max_pending=4)
    with TestClient(create_app(multitask_predictor, limits)) as client:
        response = client.post("/predict", json={"texts": TEXTS})
        schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert response.status_code == 200, response.text
    assert calls == [len(TEXTS)]  # every head of the batch from one call
    predictions = response.json()["predictions"]
    assert predictions == multitask_predictor.predict_raw(TEXTS)
    first = predictions[0]
    assert set(first["tasks"]["sentiment"]) == {"label", "probabilities"}
    assert set(first["tasks"]["words"]) == {"labels", "probabilities"}
    assert first["tasks"]["words"]["labels"] == ["tidak"]
    assert "tasks" in schema["Prediction"]["properties"]
    assert set(schema["TaskPrediction"]["properties"]) == {
        "label",
        "labels",
        "probabilities",
    }


def test_service_single_task_answer_unchanged(predictor):
    with TestClient(create_app(predictor, ServiceLimits())) as client:
        [pred] = client.post("/predict", json={"text": TEXTS[0]}).json()["predictions"]
    assert set(pred) == {"label", "probabilities"}


def test_an_int8_onnx_multitask_folder_answers_every_head(multitask_folder, tmp_path):
    """The INT8 graph (each text run alone) through the same code."""
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
    from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant
    from quant_sentiment.scoring.model import Predictor
    from tests.pipelines.quantize_ptq.test_quantize_ptq import MODEL, PARAMS

    root = multitask_folder.parents[1]
    bundle = HFModelFolderDataset(str(root), version=Version(None, None)).load()
    dataset = VariantFolderDataset(str(tmp_path / "int8"))
    dataset.save(quantize_variant(bundle, PARAMS, MODEL, "int8_ort"))
    predictor = Predictor(dataset.load().path)
    assert predictor.manifest["format"] == "onnx_multitask"
    rows = predictor.predict_raw(TEXTS)
    assert [list(r["tasks"]) for r in rows] == [["sentiment", "long", "words"]] * 3
    assert [r["tasks"]["words"]["labels"] for r in rows] == [["tidak"]] * 3
    assert all(r["label"] == r["tasks"]["sentiment"]["label"] for r in rows)
