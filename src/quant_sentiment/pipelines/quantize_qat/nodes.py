"""Nodes of the ``quantize_qat`` pipeline: quantization-aware training, then the
same ONNX Runtime writers as the PTQ variants.

For each variant registered with ``producer="quantize_qat"`` (``qat_int8``,
``qat_int4``) the fine-tuned FP32 model is copied, its encoder ``Linear`` layers and
embeddings are swapped for fake-quantized ones that reproduce the deployed ONNX
Runtime scheme exactly (:mod:`.fake_quant`), and it is trained with the shared
Trainer builder (:func:`quant_sentiment.training.fit_classifier`), optionally
distilled from the FP32 model (:mod:`.distillation`). The fake quantizers are then
removed and the trained weights go through the variant's ONNX Runtime writer
(``onnx.write_int8`` / ``onnx.write_int4``). The manifest records how closely the
artifact follows the fake-quantized model on the test split.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.formats import onnx
from quant_sentiment.formats.multitask import is_multitask_model
from quant_sentiment.inference import predictions_frame
from quant_sentiment.manifest import size_columns, write_manifest
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.variants import (
    REFERENCE,
    StagedFolder,
    VariantHandle,
    base_manifest,
    get_variant,
)

from .agreement import fake_vs_artifact
from .multitask import (
    multitask_export_and_compare,
    multitask_fit,
    task_predictions_frame,
)

logger = logging.getLogger(__name__)
PRODUCER = "quantize_qat"
#: The ONNX Runtime writer whose scheme each bit width mirrors.
INT8_BITS, INT4_BITS = 8, 4
WRITERS = {INT8_BITS: onnx.write_int8, INT4_BITS: onnx.write_int4}
INT8_SUPPORTED = {"per_channel": True, "reduce_range": False, "weight_type": "qint8"}


def check_variant_options(options: dict[str, Any], variant: str) -> int:
    """Validate a variant block against what the fake quantizer mirrors; its bits.

    Raises:
        ValueError: Naming the parameter: ``bits`` not 4/8 or not the registered
            writer's, a ``block_size`` that is not a power of two >= 16, INT8
            options other than per-channel symmetric QInt8 without reduce_range,
            or an INT4 scheme that is asymmetric or quantizes activations.
    """
    where = f"{PRODUCER}.variants.{variant}"
    bits = options["bits"]
    if bits not in WRITERS:
        raise ValueError(f"{where}.bits must be 4 or 8, got {bits!r}")
    if WRITERS[bits] is not get_variant(variant).writer:
        raise ValueError(
            f"{where}.bits is {bits}, but the variant is registered with writer "
            f"{get_variant(variant).writer.__name__}"
        )
    if bits == INT8_BITS:
        for key, want in INT8_SUPPORTED.items():
            if str(options[key]).lower() != str(want).lower():
                raise ValueError(
                    f"{where}.{key} must be {want!r} (the scheme fake quantization "
                    f"mirrors), got {options[key]!r}"
                )
        return bits
    block = options["block_size"]
    if not isinstance(block, int) or block < onnx.MIN_BLOCK_SIZE or block & (block - 1):
        raise ValueError(
            f"{where}.block_size must be a power of two >= 16, got {block!r}"
        )
    if not options["symmetric"]:
        raise ValueError(f"{where}.symmetric must be true (symmetric MatMulNBits)")
    if options["accuracy_level"] not in (None, 0, 1):
        raise ValueError(
            f"{where}.accuracy_level must be null, 0 or 1 (FP32 activations), "
            f"got {options['accuracy_level']!r}"
        )
    return bits


def check_training(params: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming ``training_args.num_train_epochs`` if not > 0, or
    ``training_args.bf16`` if set (bf16 autocast would break the exact scheme)."""
    epochs = params["training_args"]["num_train_epochs"]
    if not isinstance(epochs, int | float) or epochs <= 0:
        raise ValueError(
            f"{PRODUCER}.training_args.num_train_epochs must be > 0, got {epochs!r}"
        )
    if params["training_args"].get("bf16") or params["training_args"].get("fp16"):
        raise ValueError(
            f"{PRODUCER}.training_args.bf16/fp16 must be false: fake quantization "
            "mirrors FP32 arithmetic"
        )


def load_teacher(bundle: ModelBundle, distillation: dict[str, Any]):
    """The distillation teacher, or ``None`` when distillation is off.

    ``teacher: fp32`` is the fine-tuned model itself; otherwise a Hugging Face
    folder path (an ``hf_multitask`` folder for a multi-task model).

    Raises:
        ValueError: Naming ``distillation.teacher`` when it is empty or not a folder.
    """
    if not distillation["enabled"]:
        return None
    teacher = distillation["teacher"]
    setting = f"{PRODUCER}.distillation.teacher"
    if not teacher:
        raise ValueError(f"{setting} is empty but distillation is enabled")
    if teacher == REFERENCE:
        return copy.deepcopy(bundle.model).float()
    if not Path(str(teacher)).is_dir():
        raise ValueError(
            f"{setting}: teacher folder '{teacher}' does not exist "
            f"(use '{REFERENCE}' for the fine-tuned model)"
        )
    if is_multitask_model(bundle.model):
        from quant_sentiment.multitask import MultiTaskModel

        return MultiTaskModel.from_pretrained(
            str(teacher), use_safetensors=True
        ).float()
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        str(teacher), use_safetensors=True
    ).float()


def fit_params(params: dict[str, Any], variant: str) -> dict[str, Any]:
    """The ``fit_classifier`` block: the shared training keys, the loss (wrapped in
    ``distillation`` when enabled) and the variant (so each variant has its own
    checkpoint folder)."""
    shared = (
        "training_args",
        "padding",
        "early_stopping_patience",
        "resume",
        "keep_checkpoints",
    )
    out = {key: params[key] for key in shared}
    if "oversample" in params:  # the finetune-shaped block (sampling.oversample)
        out["oversample"] = params["oversample"]
    out["checkpoint_dir"] = str(Path(params["checkpoint_dir"]) / variant)
    out["variant"] = {"name": variant, "options": params["variants"][variant]}
    distillation = params["distillation"]
    loss = params["loss"]
    if distillation["enabled"]:
        loss = {
            "kind": "distillation",
            "class_weights": loss["class_weights"],
            "temperature": distillation["temperature"],
            "alpha": distillation["alpha"],
            "label": loss,
        }
    out["loss"] = loss
    return out


def scheme_of(options: dict[str, Any], bits: int):
    """The :class:`~.fake_quant.Scheme` of a variant block."""
    from .fake_quant import Scheme

    return Scheme(
        bits=bits,
        block_size=options["block_size"] if bits == INT4_BITS else None,
        quantize_embeddings=bool(options["quantize_embeddings"]),
        quantize_activations=bits == INT8_BITS,
    )


def train_fake_quantized(
    bundle: ModelBundle,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: dict[str, Any],
    max_length: int,
    variant: str,
    scheme,
):
    """QAT with the shared Trainer builder (``fit_classifier``, or for a multi-task
    model ``fit_multitask``); the best checkpoint, still fake-quantized."""
    from transformers import set_seed

    from quant_sentiment.training import fit_classifier, limit_rows

    from . import distillation as kd
    from . import fake_quant

    seed = int(params["training_args"]["seed"])
    set_seed(seed)
    train = limit_rows(train, params["max_train_samples"], seed)
    valid = limit_rows(valid, params["max_eval_samples"], seed)
    teacher = load_teacher(bundle, params["distillation"])
    hooks = []
    several = is_multitask_model(bundle.model)

    def prepare(model):
        model = fake_quant.prepare(model, scheme)
        if teacher is not None and several:
            cfg = params["distillation"]
            hooks.append(
                kd.attach_multitask_teacher(
                    model, teacher, cfg["temperature"], cfg["alpha"]
                )
            )
        elif teacher is not None:
            hooks.append(kd.attach_teacher(model, teacher))
        return model

    student = copy.deepcopy(bundle.model).float()
    if several:  # every head's own masked, weighted loss (+ the teacher's heads)
        fit = multitask_fit(bundle, params, variant, fit_params(params, variant))
    else:
        fit = partial(fit_classifier, params=fit_params(params, variant))
    run = fit(
        student,
        bundle.tokenizer,
        train,
        valid,
        max_length=max_length,
        prepare_model=prepare,
        setting=PRODUCER,
    )
    for hook in hooks:
        hook.remove()
    return run


def _skipped(base: dict[str, Any], test: pd.DataFrame, reason: str):
    staged = StagedFolder.skipped(base, reason)
    id2label = {int(k): v for k, v in base["id2label"].items()}
    empty = predictions_frame(test.iloc[0:0], np.zeros((0, len(id2label))), id2label)
    return staged, pd.DataFrame(), empty


def export_and_compare(
    run, bundle: ModelBundle, test: pd.DataFrame, params, model, variant: str
) -> tuple[StagedFolder, dict[str, Any], np.ndarray]:
    """Strip the fake quantizers, write the artifact, compare it with the fake model.

    Returns:
        The staged folder (no manifest yet), the writer's manifest fields plus the
        ``fake_vs_artifact`` record, and the artifact's test logits.
    """
    from quant_sentiment.inference import predict_logits

    from . import fake_quant

    if is_multitask_model(run.model):
        return multitask_export_and_compare(run, bundle, test, params, model, variant)
    check = params["agreement"]
    texts = test["text"].astype(str).tolist()
    batch, max_length = int(check["batch_size"]), int(model["max_length"])
    quantized = fake_quant.fake_quantized_names(run.model)
    fake = predict_logits(
        run.model,
        bundle.tokenizer,
        texts,
        batch_size=batch,
        max_length=max_length,
        show_progress=False,
    )
    plain = fake_quant.strip(run.model)
    staged = StagedFolder()
    options = params["variants"][variant]
    fields = get_variant(variant).writer(
        plain, bundle.tokenizer, staged.folder, options
    )
    artifact, unoptimized = (
        onnx.OnnxClassifier(
            staged.folder / onnx.WEIGHTS_FILE,
            bundle.tokenizer,
            {int(k): v for k, v in plain.config.id2label.items()},
            max_length,
            threads=model["threads"],
            optimize=optimize,
        ).predict_logits(texts, batch_size=batch)
        for optimize in (True, False)
    )
    fields["fake_vs_artifact"] = fake_vs_artifact(
        fake, artifact, float(check["min_agreement"]), unoptimized
    )
    fields["fake_quantized_modules"] = quantized
    return staged, fields, artifact


def qat_record(run, params: dict[str, Any], bits: int, options) -> dict[str, Any]:
    """The manifest's ``qat`` block: method, library, bits, epochs, distillation."""
    import torch

    epochs = run.history["epoch"].tolist() if len(run.history) else []
    return {
        "method": "quantization-aware training, straight-through estimator, fake "
        "quantization mirroring the ONNX Runtime artifact's scheme",
        "library": "quant_sentiment.pipelines.quantize_qat.fake_quant on torch "
        f"{torch.__version__} (torchao's IntxFakeQuantizeConfig cannot express "
        "ONNX Runtime's scales; see docs/quantize_qat.md)",
        "bits": bits,
        "group_size": options["block_size"] if bits == INT4_BITS else None,
        "epochs_configured": params["training_args"]["num_train_epochs"],
        "epochs_run": max(epochs) if epochs else 0,
        "best_valid_macro_f1": run.best_metric,
        "train_runtime_s": run.train_runtime,
        "resumed_from": run.resumed_from,
        "data_fingerprint": run.data_fingerprint,
        "training_args": params["training_args"],
        "loss": params["loss"],
        "distillation": params["distillation"],
    }


def write_qat_manifest(
    staged: StagedFolder, fields: dict[str, Any], qat: dict[str, Any]
) -> dict[str, Any]:
    """Write the manifest (writer fields, ``qat`` block, QAT-prefixed ``method``);
    warn when the artifact does not follow the fake-quantized model."""
    variant, record = fields["variant"], fields["fake_vs_artifact"]
    self_agreement = record.get("runtime_self", {}).get("argmax_agreement")
    if not record["meets_threshold"]:
        logger.warning(
            "%s: the ONNX artifact agrees with the fake-quantized model on only "
            "%.2f %% of the test texts (< %.1f %%, and below the runtime's agreement "
            "with itself, %s): the scheme does not match",
            variant,
            100 * record["argmax_agreement"],
            100 * record["min_agreement"],
            "n/a" if self_agreement is None else f"{100 * self_agreement:.2f} %",
        )
    elif record["argmax_agreement"] < record["min_agreement"]:
        logger.info(
            "%s: fake-vs-artifact agreement %.2f %% < %.1f %%, but ONNX Runtime's "
            "optimized and unoptimized runs of the artifact agree on only %.2f %%: "
            "float-level variation of the runtime, not a scheme mismatch",
            variant,
            100 * record["argmax_agreement"],
            100 * record["min_agreement"],
            100 * self_agreement,
        )
    method = f"QAT ({qat['epochs_run']:g} epochs"
    method += ", distilled from FP32)" if qat["distillation"]["enabled"] else ")"
    manifest = write_manifest(
        staged.folder,
        {
            **fields,
            "method": f"{method} + {fields['method']}",
            "qat": qat,
            "status": "ok",
        },
    )
    logger.info(
        "QAT %-9s %7.2f MB, fake-vs-artifact agreement %.4f",
        variant,
        manifest["size_bytes"] / 1e6,
        record["argmax_agreement"],
    )
    return manifest


def qat_variant(
    bundle: ModelBundle,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    params: dict[str, Any],
    model: dict[str, Any],
    variant: str,
) -> tuple[StagedFolder, pd.DataFrame, pd.DataFrame]:
    """Train, convert and record one QAT variant.

    Args:
        bundle: The fine-tuned FP32 model (``finetuned_model``): student start and,
            with ``distillation.teacher: fp32``, the teacher.
        train, valid, test: Clean splits.
        params: ``params:quantize_qat``; ``variants.<variant>`` holds the writer
            options (as ``quantize_ptq``'s) plus ``bits`` and ``enabled``.
        model: ``params:model`` (``max_length``, ``threads``).
        variant: A variant registered with ``producer="quantize_qat"``.

    Returns:
        ``(folder, history, test predictions of the artifact)``; a disabled variant
        gets a ``skipped`` manifest, an empty history and empty predictions.
    """
    spec = get_variant(variant)
    if spec.producer != PRODUCER:
        raise ValueError(f"Variant {variant!r} is produced by {spec.producer!r}")
    options = params["variants"][variant]
    base = base_manifest(bundle, variant, PRODUCER, model, options)
    if not options["enabled"]:
        reason = f"disabled in parameters ({PRODUCER}.variants.{variant}.enabled)"
        return _skipped(base, test, reason)
    bits = check_variant_options(options, variant)
    check_training(params)
    run = train_fake_quantized(
        bundle,
        train,
        valid,
        params,
        int(model["max_length"]),
        variant,
        scheme_of(options, bits),
    )
    staged, fields, logits = export_and_compare(
        run, bundle, test, params, model, variant
    )
    write_qat_manifest(
        staged, {**base, **fields}, qat_record(run, params, bits, options)
    )
    id2label = {int(k): v for k, v in base["id2label"].items()}
    if isinstance(logits, dict):  # every head's columns, as finetune's
        tasks = bundle.model.config.tasks
        return staged, run.history, task_predictions_frame(test, logits, tasks)
    return staged, run.history, predictions_frame(test, logits, id2label)


def make_variant_node_func(variant: str) -> Callable[..., tuple]:
    """:func:`qat_variant` bound to one variant, named ``train_<variant>``."""

    def train(bundle, train_split, valid_split, test_split, params, model):
        return qat_variant(
            bundle, train_split, valid_split, test_split, params, model, variant
        )

    train.__name__ = train.__qualname__ = f"train_{variant}"
    train.__doc__ = f"Train, convert and record the ``{variant}`` QAT variant."
    return train


def summarize_variants(*handles: VariantHandle) -> pd.DataFrame:
    """One row per QAT variant from its manifest: bits, size, epochs, agreement."""
    rows = []
    for handle in handles:
        m = handle.manifest
        ok = m["status"] == "ok"
        qat = m.get("qat", {})
        check = m.get("fake_vs_artifact", {})
        rows.append(
            {
                "variant": m["variant"],
                "status": m["status"] if ok else f"skipped: {m.get('reason')}",
                "bits": m.get("bits"),
                "group_size": m.get("group_size"),
                "epochs_run": qat.get("epochs_run"),
                "best_valid_macro_f1": qat.get("best_valid_macro_f1"),
                "distillation": (qat.get("distillation") or {}).get("enabled"),
                "fake_vs_artifact_agreement": check.get("argmax_agreement"),
                "max_abs_logit_diff": check.get("max_abs_logit_diff"),
                # ONNX Runtime's optimized vs unoptimized run of the same artifact
                "runtime_self_agreement": check.get("runtime_self", {}).get(
                    "argmax_agreement"
                ),
                **size_columns(m),
            }
        )
    return pd.DataFrame(rows)


def render_summary(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table."""
    return "# Quantization-aware training\n\n" + summary.to_markdown(index=False) + "\n"
