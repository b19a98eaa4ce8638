"""``quantize_qat`` on a multi-task FP32 model (docs/multitask.md).

The same nodes and recipe as a sequence classifier (:mod:`.nodes`): the model is
copied, its encoder's ``Linear`` layers and embeddings fake-quantized
(:mod:`.fake_quant`; the heads export as ``Gemm`` and stay FP32, as a classifier's
head) and trained through the one Trainer builder, here by
:func:`~quant_sentiment.multitask_training.fit_multitask`: every head's own masked,
weighted loss, with the FP32 model's ``multitask`` block (weighting, per-head
losses, aggregate; its manifest's ``training.multitask``) and ``quantize_qat.loss``
as the per-head default. Distillation mixes in the FP32 heads' soft targets
(:func:`.distillation.attach_multitask_teacher`). The trained weights go through
the multi-task writers (``variants.MULTITASK_WRITERS``: one ONNX output per task),
and every head of the artifact is compared with the fake-quantized model's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.tasks import SINGLE


def multitask_block(bundle) -> dict[str, Any]:
    """The FP32 model's ``multitask`` training block (its manifest), else its
    config's weighting: the heads' losses QAT trains with."""
    training = (bundle.metadata or {}).get("training") or {}
    if training.get("multitask") is not None:
        return copy.deepcopy(dict(training["multitask"]))
    loss = bundle.model.config.loss or {}
    return {
        "weighting": loss.get("weighting", "fixed"),
        "task_weights": dict(loss.get("task_weights") or {}),
    }


def multitask_fit(
    bundle, params: dict[str, Any], variant: str, block: dict[str, Any]
) -> Callable:
    """``fit_multitask`` with ``block`` (``fit_params``'s) turned multi-task: the
    plain ``quantize_qat.loss`` as every head's default (distillation is the
    teacher hook's, not a loss kind) and the FP32 model's ``multitask`` block."""
    from quant_sentiment.multitask_training import fit_multitask

    fit_block = {
        **block,
        "loss": params["loss"],
        "multitask": multitask_block(bundle),
    }

    def fit(model, tokenizer, train, valid, max_length, prepare_model, setting):
        return fit_multitask(
            model,
            tokenizer,
            train,
            valid,
            fit_block,
            max_length,
            setting=setting,
            prepare_model=prepare_model,
        )

    return fit


def multitask_export_and_compare(run, bundle, test, params, model, variant: str):
    """:func:`.nodes.export_and_compare` for a multi-task model: the artifact's and
    the fake-quantized model's heads on the test texts, each in the artifact's
    batching, compared head by head (``fake_vs_artifact``)."""
    from quant_sentiment.formats.multitask import (
        ONNX_FILE,
        graph_classifier,
        in_memory,
    )
    from quant_sentiment.variants import StagedFolder, multitask_writer

    from . import fake_quant
    from .agreement import fake_vs_artifact

    check = params["agreement"]
    texts = test["text"].astype(str).tolist()
    batch, max_length = int(check["batch_size"]), int(model["max_length"])
    tokenizer = copy.deepcopy(bundle.tokenizer)
    tokenizer.model_max_length = max_length
    quantized = fake_quant.fake_quantized_names(run.model)
    plain = fake_quant.strip(copy.deepcopy(run.model))
    staged = StagedFolder()
    writer = multitask_writer(variant, max_length)
    fields = writer(plain, tokenizer, staged.folder, params["variants"][variant])
    tasks = run.model.config.tasks
    artifact, unoptimized = (
        graph_classifier(
            staged.folder / ONNX_FILE,
            tokenizer,
            tasks,
            max_length,
            threads=model["threads"],
            optimize=optimize,
        )
        for optimize in (True, False)
    )
    fake = in_memory(run.model, tokenizer, max_length, artifact.mode)
    heads = {
        name: c.predict_task_logits(texts, batch_size=batch)
        for name, c in (("fake", fake), ("artifact", artifact), ("raw", unoptimized))
    }
    fields["fake_vs_artifact"] = fake_vs_artifact(
        heads["fake"],
        heads["artifact"],
        float(check["min_agreement"]),
        heads["raw"],
        kinds={t["name"]: t["kind"] for t in tasks},
    )
    fields["fake_quantized_modules"] = quantized
    fields["multitask"] = multitask_block(bundle)
    return staged, fields, heads["artifact"]


def task_predictions_frame(
    test: pd.DataFrame, logits: dict[str, np.ndarray], tasks: list[dict[str, Any]]
) -> pd.DataFrame:
    """The artifact's test predictions: the primary head's usual columns
    (``pred_id``, ``pred_label``, ``prob_<label>``) and every head's
    ``pred_id__<task>`` (single_label) or ``pred__<task>__<class>`` (multi_label,
    ``logit > 0``), the columns ``evaluate``'s per-task table reads."""
    from quant_sentiment.formats.multitask import primary_task
    from quant_sentiment.inference import predictions_frame

    primary = primary_task(tasks)
    out = predictions_frame(
        test, logits[primary["name"]], dict(enumerate(primary["labels"]))
    )
    extra = {}
    for task in tasks:
        name, z = task["name"], logits[task["name"]]
        if task["kind"] == SINGLE:
            extra[f"pred_id__{name}"] = z.argmax(axis=1)
        else:
            for i, label in enumerate(task["labels"]):
                extra[f"pred__{name}__{label}"] = (z[:, i] > 0).astype(int)
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)
