"""Nodes of the ``quantize_ptq`` pipeline."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.inference import predict_logits, predictions_frame
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.variants import MANIFEST_FILE, load_classifier

from . import methods

logger = logging.getLogger(__name__)

VARIANTS = ("fp16", "bf16", "int8_torchao", "int8_ort", "int4", "bnb_int8", "bnb_nf4")

Builder = Callable[[Any, Any, Path, dict[str, Any]], dict[str, Any]]
BUILDERS: dict[str, Builder] = {
    "fp16": lambda m, t, f, p: methods.write_cast(m, t, f, "float16"),
    "bf16": lambda m, t, f, p: methods.write_cast(m, t, f, "bfloat16"),
    "int8_torchao": methods.write_torchao,
    "int8_ort": methods.write_ort_int8,
    "int4": methods.write_ort_int4,
    "bnb_int8": lambda m, t, f, p: methods.write_bnb(m, t, f, p, mode="int8"),
    "bnb_nf4": lambda m, t, f, p: methods.write_bnb(m, t, f, p, mode="nf4"),
}


class StagedVariant:
    """A variant folder built in a temporary directory (a ``VariantArtifact``).

    The node builds, measures and reloads the variant here; ``VariantFolderDataset``
    then copies it into the versioned catalog path with :meth:`save`.
    """

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="ptq_")
        self.folder = Path(self._tmp.name)

    def save(self, folder: Path) -> None:
        """Copy the staged files (weights, tokenizer, ``manifest.json``) into ``folder``."""
        if not (self.folder / MANIFEST_FILE).is_file():
            raise RuntimeError(f"staged variant '{self.folder}' has no {MANIFEST_FILE}")
        shutil.copytree(self.folder, folder, dirs_exist_ok=True)

    def cleanup(self) -> None:
        """Delete the staging folder."""
        self._tmp.cleanup()


def _set_threads(params: dict[str, Any]) -> None:
    if params.get("threads"):
        import torch

        torch.set_num_threads(int(params["threads"]))


def _empty_predictions(test: pd.DataFrame, id2label: dict[int, str]) -> pd.DataFrame:
    """Zero rows with the columns of ``finetune_test_predictions``."""
    logits = np.zeros((0, len(id2label)), dtype=np.float32)
    return predictions_frame(test.iloc[0:0], logits, id2label)


def measure_fp32_reference(
    bundle: ModelBundle, test: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Size on disk and test-split predictions of the FP32 model, to compare variants with.

    The size is that of a fresh ``save_pretrained`` folder (weights + config +
    tokenizer), i.e. the same files the variants carry.

    Returns:
        ``{"size_bytes", "weights_bytes", "pred_id"}``.
    """
    _set_threads(params)
    with tempfile.TemporaryDirectory() as tmp:
        bundle.model.save_pretrained(tmp)
        bundle.tokenizer.save_pretrained(tmp)
        size = methods.folder_size(Path(tmp))
        weights = sum(p.stat().st_size for p in Path(tmp).glob("*.safetensors"))
    logits = predict_logits(
        bundle.model,
        bundle.tokenizer,
        test["text"].tolist(),
        batch_size=int(params.get("batch_size", 64)),
        max_length=int(params.get("max_length", 128)),
    )
    logger.info("FP32 reference: %.1f MB on disk, %d test rows", size / 1e6, len(test))
    return {
        "size_bytes": size,
        "weights_bytes": weights,
        "pred_id": logits.argmax(axis=1).tolist(),
    }


def _skipped(
    variant: str,
    reason: str,
    base: dict[str, Any],
    test: pd.DataFrame,
    id2label: dict[int, str],
) -> tuple[StagedVariant, dict[str, Any], pd.DataFrame]:
    logger.warning("Skipping PTQ variant %s: %s", variant, reason)
    staged = StagedVariant()
    manifest = methods.finalize_manifest(
        staged.folder,
        {
            **base,
            "status": "skipped",
            "reason": reason,
            "format": "skipped",
            "method": None,
            "library": None,
            "library_version": None,
            "quantized_modules": [],
            "bits": None,
            "group_size": None,
        },
    )
    return staged, manifest, _empty_predictions(test, id2label)


def quantize_variant(
    bundle: ModelBundle,
    test: pd.DataFrame,
    reference: dict[str, Any],
    params: dict[str, Any],
    variant: str,
) -> tuple[StagedVariant, dict[str, Any], pd.DataFrame]:
    """Build one PTQ variant, reload it from disk and predict the test split with it.

    Args:
        bundle: The fine-tuned FP32 model.
        test: Clean test split (``text``, ``label``, ``label_id``, ...).
        reference: Output of :func:`measure_fp32_reference`.
        params: The ``quantize_ptq`` parameters; ``variants.<variant>`` configures it.
        variant: One of :data:`VARIANTS`.

    Returns:
        ``(artifact, manifest, predictions)``. A variant disabled in the parameters or
        unable to run here (bitsandbytes without CUDA) gives a folder holding only a
        manifest with ``status: skipped`` and its ``reason``, and zero predictions.
    """
    if variant not in BUILDERS:
        raise ValueError(f"Unknown PTQ variant {variant!r}; known: {list(VARIANTS)}")
    _set_threads(params)
    vparams = dict((params.get("variants") or {}).get(variant) or {})
    id2label = {int(k): v for k, v in bundle.model.config.id2label.items()}
    base = {
        "variant": variant,
        "created_at": methods.now_utc(),
        "fp32_size_bytes": reference["size_bytes"],
        "source_model": bundle.metadata.get("model_source"),
        "parameters": vparams,
    }
    if not vparams.get("enabled", True):
        return _skipped(
            variant,
            f"disabled in parameters (quantize_ptq.variants.{variant}.enabled: false)",
            base,
            test,
            id2label,
        )
    if variant.startswith("bnb_"):
        reason = methods.bnb_unavailable_reason(vparams)
        if reason:
            return _skipped(variant, reason, base, test, id2label)

    staged = StagedVariant()
    fields = BUILDERS[variant](bundle.model, bundle.tokenizer, staged.folder, vparams)
    manifest = methods.finalize_manifest(
        staged.folder, {**base, **fields, "status": "ok"}
    )
    classifier = load_classifier(
        staged.folder, max_length=int(params.get("max_length", 128))
    )
    logits = classifier.predict_logits(
        test["text"].tolist(), batch_size=int(params.get("batch_size", 64))
    )
    predictions = predictions_frame(test, logits, classifier.id2label)
    fp32 = np.asarray(reference["pred_id"])
    agreement = (
        float((predictions["pred_id"].to_numpy() == fp32).mean()) if len(fp32) else None
    )
    manifest = methods.finalize_manifest(
        staged.folder,
        {
            **manifest,
            "size_ratio_to_fp32": round(
                manifest["size_bytes"] / reference["size_bytes"], 4
            ),
            "test_rows": len(test),
            "test_argmax_agreement_with_fp32": agreement,
        },
    )
    logger.info(
        "PTQ %-12s %7.2f MB (%5.1f %% of FP32), test argmax agreement with FP32 %s",
        variant,
        manifest["size_bytes"] / 1e6,
        100 * manifest["size_ratio_to_fp32"],
        "n/a" if agreement is None else f"{100 * agreement:.1f} %",
    )
    return staged, manifest, predictions


def make_variant_node_func(variant: str) -> Callable[..., tuple]:
    """``quantize_variant`` bound to one variant, named ``quantize_<variant>``."""

    def quantize(
        bundle: ModelBundle,
        test: pd.DataFrame,
        reference: dict[str, Any],
        params: dict[str, Any],
    ) -> tuple[StagedVariant, dict[str, Any], pd.DataFrame]:
        return quantize_variant(bundle, test, reference, params, variant)

    quantize.__name__ = quantize.__qualname__ = f"quantize_{variant}"
    quantize.__doc__ = f"Build, reload and predict the ``{variant}`` PTQ variant."
    return quantize


def summarize_variants(*manifests: dict[str, Any]) -> pd.DataFrame:
    """One row per variant: status, format, bits, size (MB, % of FP32), agreement."""
    rows = []
    for m in manifests:
        rows.append(
            {
                "variant": m["variant"],
                "status": m["status"],
                "format": m["format"],
                "method": m.get("method") or m.get("reason"),
                "bits": m.get("bits"),
                "group_size": m.get("group_size"),
                "size_mb": round(m["size_bytes"] / 1e6, 2)
                if m["status"] == "ok"
                else None,
                "pct_of_fp32": (
                    round(100 * m["size_bytes"] / m["fp32_size_bytes"], 1)
                    if m["status"] == "ok"
                    else None
                ),
                "test_agreement_pct": (
                    round(100 * m["test_argmax_agreement_with_fp32"], 1)
                    if m.get("test_argmax_agreement_with_fp32") is not None
                    else None
                ),
            }
        )
    return pd.DataFrame(rows)


def render_summary(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table."""
    return "# Post-training quantization\n\n" + summary.to_markdown(index=False) + "\n"
