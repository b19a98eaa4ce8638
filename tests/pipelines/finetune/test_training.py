"""The shared Trainer builder (quant_sentiment.training): arguments, hooks, losses."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from quant_sentiment import training
from quant_sentiment.training import (
    LOSSES,
    TrainerSpec,
    build_trainer,
    class_weights,
    fit_classifier,
    make_loss,
    register_loss,
    training_arguments,
)

from .conftest import base_finetune_params, finetune_params


@pytest.fixture()
def batch():
    torch.manual_seed(0)
    return {"logits": torch.randn(16, 3)}, torch.randint(0, 3, (16,))


def test_training_args_block_is_passed_through_unchanged(tiny_bundle, tmp_path):
    block = dict(
        base_finetune_params()["training_args"],
        weight_decay=0.123,
        warmup_steps=0.25,
        train_sampling_strategy="group_by_length",
        lr_scheduler_type="cosine",  # any TrainingArguments keyword, not only the YAML's
    )
    trainer = build_trainer(
        tiny_bundle.model, TrainerSpec(str(tmp_path), block, {"save_strategy": "no"})
    )
    for key, value in block.items():
        assert getattr(trainer.args, key) == value, key
    assert trainer.args.output_dir == str(tmp_path)
    assert trainer.args.report_to in ([], ["none"], "none")
    assert trainer.args.use_cpu == (not torch.cuda.is_available())


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_cpu_only_where_the_cpu_has_it(native, monkeypatch, tmp_path, caplog):
    if torch.cuda.is_available():
        pytest.skip("the CPU rule does not apply to a CUDA run")
    monkeypatch.setattr(training, "native_bf16", lambda: native)
    with caplog.at_level("WARNING", logger="quant_sentiment.training"):
        args = training_arguments(str(tmp_path), {"bf16": True})
    assert args.bf16 is native
    assert ("no native bfloat16" in caplog.text) is not native
    assert training_arguments(str(tmp_path), {"bf16": False}).bf16 is False


def test_a_fixed_setting_in_the_block_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"must not set \['eval_strategy'\]"):
        training_arguments(
            str(tmp_path), {"eval_strategy": "steps"}, {"eval_strategy": "epoch"}
        )


def test_prepare_model_is_called_once_and_its_model_is_trained(
    tiny_bundle, small_splits, model_params, tmp_path
):
    train, valid = small_splits
    calls = []

    def prepare(model):
        calls.append(model)
        return copy.deepcopy(model)  # a different object: QAT swaps modules here

    base = copy.deepcopy(tiny_bundle.model)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    run = fit_classifier(
        base,
        tiny_bundle.tokenizer,
        train,
        valid,
        finetune_params(tmp_path),
        model_params["max_length"],
        prepare_model=prepare,
    )
    assert len(calls) == 1 and calls[0] is base
    assert run.model is not base
    trained = run.model.state_dict()
    assert any(not torch.equal(trained[k], before[k]) for k in before)
    # the model handed to prepare_model was not the one trained
    assert all(torch.equal(base.state_dict()[k], before[k]) for k in before)
    assert len(run.history) == 1


def test_weighted_cross_entropy_matches_torch(batch):
    out, labels = batch
    weights = torch.tensor([0.5, 2.0, 1.0])
    cfg = {"kind": "cross_entropy", "focal_gamma": 2.0, "class_weights": "balanced"}
    loss = make_loss(cfg, weights)(out, labels)
    expected = F.cross_entropy(out["logits"], labels, weight=weights)
    torch.testing.assert_close(loss, expected)
    assert make_loss({**cfg, "class_weights": "none"}, None) is None  # model's own


def test_focal_loss_with_gamma_zero_is_cross_entropy(batch):
    out, labels = batch
    ce = F.cross_entropy(out["logits"], labels)
    cfg = {"kind": "focal", "focal_gamma": 0.0, "class_weights": "none"}
    torch.testing.assert_close(make_loss(cfg, None)(out, labels), ce)
    weights = torch.tensor([0.5, 2.0, 1.0])
    torch.testing.assert_close(
        make_loss(cfg, weights)(out, labels),
        F.cross_entropy(out["logits"], labels, weight=weights),
    )
    assert make_loss({**cfg, "focal_gamma": 2.0}, None)(out, labels) < ce


def test_unknown_loss_names_the_setting():
    with pytest.raises(ValueError, match=r"finetune\.loss\.kind must be one of"):
        make_loss({"kind": "hinge"}, None, setting="finetune.loss.kind")


def test_a_registered_loss_is_available(batch):
    @register_loss("constant")
    def _constant(cfg, weights):
        return lambda outputs, labels, num_items_in_batch=None: torch.tensor(cfg["c"])

    try:
        assert make_loss({"kind": "constant", "c": 3.0})(*batch) == 3.0
    finally:
        del LOSSES["constant"]


def test_balanced_class_weights():
    w = class_weights(pd.Series([0, 0, 0, 1, 2, 2]), 3, "balanced")
    assert torch.allclose(w, torch.tensor([6 / 9, 2.0, 1.0]))
    assert class_weights(pd.Series([0, 1, 2]), 3, "none") is None
    with pytest.raises(ValueError, match="every class"):
        class_weights(pd.Series([0, 0, 1]), 3, "balanced")
    with pytest.raises(ValueError, match="finetune.loss.class_weights"):
        class_weights(pd.Series([0, 1, 2]), 3, "inverse", "finetune.loss")
