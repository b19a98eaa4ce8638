"""Nodes of the ``quantize_ptq`` pipeline: one versioned folder per registered variant.

Which variants exist and which format writer builds each is declared once, in
:data:`quant_sentiment.variants.VARIANTS` (``producer="quantize_ptq"``); their options
are the ``quantize_ptq.variants.<name>`` blocks of ``parameters_quantize_ptq.yml``.
Scoring the variants (test predictions, agreement with FP32, speed) is
``evaluate``'s job, on the folders as saved.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from quant_sentiment.formats import VariantUnavailable
from quant_sentiment.formats.multitask import is_multitask_model
from quant_sentiment.manifest import size_columns, write_manifest
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.training import limit_rows, native_bf16
from quant_sentiment.variants import (
    StagedFolder,
    VariantHandle,
    base_manifest,
    get_variant,
    multitask_writer,
)

logger = logging.getLogger(__name__)
PRODUCER = "quantize_ptq"


def _not_here(variant: str, options: dict[str, Any]) -> str | None:
    """Why the variant is not built in this run, or ``None``."""
    import torch

    setting = f"quantize_ptq.variants.{variant}"
    if not options["enabled"]:
        return f"disabled in parameters ({setting}.enabled)"
    on_cpu = options["on_cpu"]
    if on_cpu not in (True, False, "native"):
        raise ValueError(
            f"{setting}.on_cpu must be true, false or native, got {on_cpu!r}"
        )
    if torch.cuda.is_available() or on_cpu is True:
        return None
    if on_cpu is False:
        return (
            f"built only where CUDA is available ({setting}.on_cpu: false; "
            "docs/quantize_ptq.md says why)"
        )
    if not native_bf16():
        return (
            f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native "
            f"bfloat16 (AVX512_BF16/AMX) and only emulates it, several times slower "
            f"than FP32 ({setting}.on_cpu: native; true builds it anyway)"
        )
    return None


def calibration_sample(
    train: pd.DataFrame, options: dict[str, Any], variant: str
) -> list[str]:
    """The seeded sample of training texts a static quantizer calibrates on.

    Args:
        train: ``clean_train`` (column ``text``).
        options: The variant's options; ``calibration.n_texts`` (all texts when the
            split is smaller) and ``calibration.seed``.
        variant: For the error message.

    Raises:
        ValueError: ``n_texts`` < 1, or an empty split.
    """
    setting = f"quantize_ptq.variants.{variant}.calibration"
    n = int(options["calibration"]["n_texts"])
    if n < 1:
        raise ValueError(f"{setting}.n_texts must be >= 1, got {n}")
    if train.empty:
        raise ValueError(f"{variant}: clean_train is empty, nothing to calibrate on")
    sample = limit_rows(train, n, int(options["calibration"]["seed"]))
    return sample["text"].astype(str).tolist()


def quantize_variant(
    bundle: ModelBundle,
    params: dict[str, Any],
    model: dict[str, Any],
    variant: str,
    calibration: pd.DataFrame | None = None,
) -> StagedFolder:
    """Build one PTQ variant folder with its ``manifest.json``.

    Args:
        bundle: The fine-tuned FP32 model (``finetuned_model``).
        params: The ``quantize_ptq`` parameters; ``variants.<variant>`` configures it.
        model: Model-level settings (``params:model``): ``max_length`` is recorded
            in the manifest, so every loader truncates as the model was trained;
            the FP32 manifest's ``normalisation`` is copied, so raw text is
            normalised as for training (:mod:`quant_sentiment.textprep`).
        variant: A registered variant of this producer.
        calibration: ``clean_train``, for variants registered with
            ``calibration=True`` (static quantization); a seeded sample of it
            (:func:`calibration_sample`) goes to the writer.

    Returns:
        The staged folder. A variant disabled in the parameters or unable to run
        here (bitsandbytes without CUDA) gets a manifest with ``status: skipped`` and
        its ``reason``; so does a variant without a multi-task writer
        (``variants.MULTITASK_WRITERS``) when ``bundle`` is a multi-task model.
    """
    spec = get_variant(variant)
    if spec.producer != PRODUCER:
        raise ValueError(f"Variant {variant!r} is produced by {spec.producer!r}")
    options = params["variants"][variant]
    base = base_manifest(bundle, variant, PRODUCER, model, options)
    reason = _not_here(variant, options)
    if reason:
        return StagedFolder.skipped(base, reason)
    writer = spec.writer
    if is_multitask_model(bundle.model):  # one ONNX output per task
        writer = multitask_writer(variant, int(model["max_length"]))
        if writer is None:
            return StagedFolder.skipped(
                base,
                f"multi-task models: not supported by {variant} yet "
                "(docs/multitask.md)",
            )
    staged = StagedFolder()
    # Every variant's saved tokenizer truncates (``truncation=True``) as trained.
    tokenizer = copy.deepcopy(bundle.tokenizer)
    tokenizer.model_max_length = int(model["max_length"])
    extra = {}
    if spec.calibration:
        if calibration is None:
            raise ValueError(
                f"Variant {variant!r} needs calibration data (clean_train)"
            )
        extra["calibration_texts"] = calibration_sample(calibration, options, variant)
    try:
        fields = writer(bundle.model, tokenizer, staged.folder, options, **extra)
    except VariantUnavailable as exc:
        return StagedFolder.skipped(base, str(exc))
    manifest = write_manifest(staged.folder, {**base, **fields, "status": "ok"})
    logger.info("PTQ %-12s %7.2f MB", variant, manifest["size_bytes"] / 1e6)
    return staged


def make_variant_node_func(variant: str) -> Callable[..., StagedFolder]:
    """:func:`quantize_variant` bound to one variant, named ``quantize_<variant>``."""

    if get_variant(variant).calibration:

        def quantize(
            bundle: ModelBundle,
            params: dict[str, Any],
            model: dict[str, Any],
            train: pd.DataFrame,
        ) -> StagedFolder:
            return quantize_variant(bundle, params, model, variant, train)

    else:

        def quantize(
            bundle: ModelBundle, params: dict[str, Any], model: dict[str, Any]
        ) -> StagedFolder:
            return quantize_variant(bundle, params, model, variant)

    quantize.__name__ = quantize.__qualname__ = f"quantize_{variant}"
    quantize.__doc__ = f"Build the ``{variant}`` PTQ variant folder."
    return quantize


def summarize_variants(*handles: VariantHandle) -> pd.DataFrame:
    """One row per variant, from the saved manifests: status, format, bits, size."""
    rows = []
    for handle in handles:
        m = handle.manifest
        ok = m["status"] == "ok"
        rows.append(
            {
                "variant": m["variant"],
                "status": m["status"],
                "format": m["format"],
                "method": m.get("method") if ok else m.get("reason"),
                "bits": m.get("bits"),
                "group_size": m.get("group_size"),
                **size_columns(m),
            }
        )
    return pd.DataFrame(rows)


def render_summary(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table."""
    return "# Post-training quantization\n\n" + summary.to_markdown(index=False) + "\n"
