"""``quantize_qat`` on a multi-task FP32 folder (``hf_multitask``): fake-quantized
training through ``fit_multitask`` (every head's loss, the FP32 heads distilled),
then ``onnx_multitask`` folders with one output per task."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
from quant_sentiment.formats.multitask import MultiTaskClassifier
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.multitask import MultiTaskModel
from quant_sentiment.pipelines.quantize_qat import create_pipeline, fake_quant
from quant_sentiment.pipelines.quantize_qat.distillation import (
    attach_multitask_teacher,
)
from quant_sentiment.pipelines.quantize_qat.nodes import qat_variant
from tests.test_multitask import TASKS, _frame

from .conftest import VARIANTS

#: The FP32 model's training block (its manifest) that QAT trains the heads with.
BLOCK = {
    "weighting": "uncertainty",
    "log_var_lr": 0.05,
    "aggregate": "mean",
    "tasks": {"words": {"kind": "focal"}},
}
HEADS = [t["name"] for t in TASKS]


def _multitask_model(tiny_bundle) -> MultiTaskModel:
    torch.manual_seed(0)
    model = MultiTaskModel.from_encoder(tiny_bundle.model.bert, TASKS).eval()
    with torch.no_grad():  # multi-label decisions away from 0 (logit > 0)
        model.heads["words"].bias.copy_(torch.tensor([2.0, -2.0, 2.0]))
    model.config.id2label = dict(enumerate(TASKS[0]["labels"]))
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    return model


@pytest.fixture(scope="module")
def fp32_multitask(tiny_bundle, tmp_path_factory):
    """A three-head model saved and reloaded like ``finetuned_model``."""
    bundle = ModelBundle(
        model=_multitask_model(tiny_bundle),
        tokenizer=tiny_bundle.tokenizer,
        metadata={
            "max_length": 64,
            "model_source": "scratch",
            "training": {"multitask": BLOCK},
        },
    )
    dataset = HFModelFolderDataset(str(tmp_path_factory.mktemp("mt") / "m"))
    dataset.save(bundle)
    return dataset.load()


@pytest.fixture(scope="module")
def splits(sample_splits):
    return {
        "train": _frame(sample_splits["train"]).head(96),
        "valid": _frame(sample_splits["valid"]).head(48),
        "test": _frame(sample_splits["test"]).head(40),
    }


def test_fake_quantization_covers_the_encoder_not_the_heads(tiny_bundle):
    model = _multitask_model(tiny_bundle)
    targets = fake_quant.quantized_targets(model)
    assert "encoder.encoder.layer.0.attention.self.query" in targets
    assert "encoder.embeddings.word_embeddings" in targets
    assert not any(name.startswith("heads") for name in targets)
    # the heads export as Gemm, which ONNX Runtime's INT8 (not INT4) quantizes
    assert sorted(fake_quant.gemm_targets(model)) == [
        f"heads.{h}" for h in sorted(HEADS)
    ]
    int8 = fake_quant.prepare(copy.deepcopy(model), fake_quant.Scheme(bits=8))
    int4 = fake_quant.prepare(
        copy.deepcopy(model), fake_quant.Scheme(bits=4, block_size=16)
    )
    assert "heads.words" in fake_quant.fake_quantized_names(int8)
    assert "heads.words" not in fake_quant.fake_quantized_names(int4)
    single = fake_quant.quantized_targets(copy.deepcopy(tiny_bundle.model))
    # the same modules as the sequence classifier's encoder
    assert sorted(n.split(".", 1)[1] for n in targets) == sorted(
        n.split(".", 1)[1] for n in single
    )


def test_multitask_distillation_mixes_every_head_in_training_only(
    tiny_bundle, sample_splits
):
    student = _multitask_model(tiny_bundle).train()
    frame = _frame(sample_splits["train"]).head(8)
    enc = tiny_bundle.tokenizer(
        frame["text"].tolist(), padding=True, return_tensors="pt"
    )
    labels = {
        "labels__sentiment": torch.tensor(frame["label_id__sentiment"].to_numpy()),
        "labels__long": torch.tensor(frame["label_id__long"].to_numpy()),
        "labels__words": torch.tensor(
            frame[[f"label__words__{w}" for w in TASKS[2]["labels"]]].to_numpy(),
            dtype=torch.float32,
        ),
    }
    for module in student.modules():  # the same logits with and without the hook
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    own = student(**enc, **labels)["loss"]
    same = copy.deepcopy(student)
    hook = attach_multitask_teacher(student, same, temperature=2.0, alpha=0.9)
    # teacher == student: every KL is 0, the loss is (1 - alpha) * the heads' loss
    torch.testing.assert_close(student(**enc, **labels)["loss"], 0.1 * own)
    hook.remove()
    other = _multitask_model(tiny_bundle)
    with torch.no_grad():
        other.heads["words"].weight.mul_(-1)  # disagrees on the multi-label head
    hook = attach_multitask_teacher(student, other, temperature=2.0, alpha=0.9)
    mixed = student(**enc, **labels)["loss"]
    assert mixed > 0.1 * own
    mixed.backward()  # the soft targets train the student
    assert student.heads["words"].weight.grad.abs().sum() > 0
    student.eval()  # evaluation: the model's own loss, no teacher
    torch.testing.assert_close(student(**enc, **labels)["loss"], own)
    hook.remove()


def _qat_params(qat_params):
    params = copy.deepcopy(qat_params)
    params["training_args"]["per_device_train_batch_size"] = 16
    params["max_train_samples"] = None
    return params


@pytest.mark.parametrize("variant", VARIANTS)
def test_qat_writes_multi_task_folders_with_every_head(
    fp32_multitask, splits, qat_params, model_settings, tmp_path, variant
):
    staged, history, preds = qat_variant(
        fp32_multitask,
        splits["train"],
        splits["valid"],
        splits["test"],
        _qat_params(qat_params),
        model_settings,
        variant,
    )
    dataset = VariantFolderDataset(str(tmp_path / variant))
    dataset.save(staged)
    handle = dataset.load()
    m = handle.manifest
    assert m["status"] == "ok" and m["format"] == "onnx_multitask"
    assert [t["name"] for t in m["tasks"]] == HEADS
    assert m["outputs"] == [f"logits__{h}" for h in HEADS]
    assert m["id2label"] == {"0": "positive", "1": "neutral", "2": "negative"}
    assert m["multitask"] == BLOCK  # the FP32 model's heads' losses
    assert m["qat"]["epochs_run"] == 1 and m["qat"]["distillation"]["enabled"]
    assert m["bits"] == {"qat_int8": 8, "qat_int4": 4}[variant]
    check = m["fake_vs_artifact"]
    assert set(check["tasks"]) == set(HEADS)
    assert check["n"] == len(splits["test"])
    assert check["meets_threshold"] is True, check
    # INT4 is weight-only: the artifact computes what was trained, to float
    # rounding; INT8's dynamic activation levels amplify float-level differences
    # (docs/quantize_qat.md, "INT8 and the runtime's own variation")
    tolerance = {"qat_int8": 0.05, "qat_int4": 1e-4}[variant]
    assert check["max_abs_logit_diff"] < tolerance, check
    assert any(
        n.startswith("encoder.encoder.layer") for n in m["fake_quantized_modules"]
    )
    # trained through fit_multitask: every head's validation score and loss weight
    assert len(history) == 1
    for head in HEADS:
        assert history[f"eval_macro_f1__{head}"].between(0, 1).all()
        assert np.isfinite(history[f"loss_weight__{head}"]).all()
    classifier = handle.load()
    assert isinstance(classifier, MultiTaskClassifier)
    texts = splits["test"]["text"].tolist()
    heads = classifier.predict_task_logits(texts)
    assert {h: z.shape for h, z in heads.items()} == {
        "sentiment": (len(texts), 3),
        "long": (len(texts), 2),
        "words": (len(texts), 3),
    }
    # the predictions carry every head's columns (evaluate's per-task table reads them)
    np.testing.assert_array_equal(preds["pred_id"], heads["sentiment"].argmax(1))
    np.testing.assert_array_equal(preds["pred_id__long"], heads["long"].argmax(1))
    np.testing.assert_array_equal(
        preds["pred__words__yang"], (heads["words"][:, 1] > 0).astype(int)
    )
    # QAT moved the weights: the heads differ from the FP32 model's
    with torch.no_grad():
        enc = fp32_multitask.tokenizer(texts, padding=True, return_tensors="pt")
        fp32 = fp32_multitask.model.task_logits(**enc)
    assert np.abs(heads["sentiment"] - fp32["sentiment"].numpy()).max() > 1e-3


@pytest.mark.slow
def test_pipeline_runs_on_a_multi_task_model(
    config, qat_params, model_settings, fp32_multitask, splits, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(config["catalog"])
    catalog["finetuned_model"] = fp32_multitask
    for split in ("train", "valid", "test"):
        catalog[f"clean_{split}"] = splits[split]
    catalog["params:quantize_qat"] = _qat_params(qat_params)
    catalog["params:model"] = model_settings
    SequentialRunner().run(create_pipeline(), catalog)
    summary = catalog.load("qat_summary").set_index("variant")
    assert summary["status"].tolist() == ["ok", "ok"]
    for variant in VARIANTS:
        handle = catalog.load(f"{variant}_model")
        assert Path(handle.path, "model.onnx").is_file()
        heads = handle.load().predict_task_logits(splits["test"]["text"].tolist())
        assert list(heads) == HEADS
