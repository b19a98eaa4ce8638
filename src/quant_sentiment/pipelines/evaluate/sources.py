"""One consistent set of variants: every variant made from the FP32 model evaluated.

Each variant folder records the FP32 save it was made from (manifest
``source_version``, see :func:`quant_sentiment.variants.base_manifest`). A
``quantize_*`` run that was interrupted, or a ``finetune`` rerun without the
quantizers, leaves variants of two FP32 models side by side; comparing them with
today's FP32 predictions would be silently wrong. The first node of each
``evaluate.<V>`` template (:func:`check_source`) passes the variant on only when its
``source_version`` is the FP32 reference's; otherwise it stops the run naming both
versions, unless ``evaluate.sources.allow_mixed: true``, in which case the variant is
evaluated and its record (``evaluate.<V>.source``, and the ``fp32_version`` column of
the comparison table) names the mix.
"""

from __future__ import annotations

import logging
from typing import Any

from quant_sentiment.manifest import folder_version
from quant_sentiment.variants import REFERENCE

logger = logging.getLogger(__name__)

SETTING = "evaluate.sources.allow_mixed"


class MixedSourcesError(RuntimeError):
    """A variant was made from another FP32 model than the one evaluated."""


def reference_source(bundle: Any, variant: str) -> tuple[Any, dict[str, Any]]:
    """The FP32 reference, passed on, and its record (``source_version``: the FP32
    folder's own version, which every variant must have been made from)."""
    version = folder_version(getattr(bundle, "path", None), bundle.manifest)
    record = {
        "variant": variant,
        "path": str(getattr(bundle, "path", None)),
        "source_version": version,
        "reference_version": version,
        "mixed": False,
    }
    return bundle, record


def check_source(
    handle: Any, reference: dict[str, Any], sources: dict[str, Any], variant: str
) -> tuple[Any, dict[str, Any]]:
    """Pass ``handle`` on if it was made from the FP32 version being evaluated.

    Args:
        handle: The variant folder (``VariantHandle``).
        reference: The FP32 reference's record (:func:`reference_source`).
        sources: ``params:evaluate.sources`` (``allow_mixed``).
        variant: The variant's name.

    Returns:
        ``(handle, record)``; the record names the variant's FP32 version and
        whether it differs (``mixed``).

    Raises:
        MixedSourcesError: The versions differ and ``allow_mixed`` is false.
    """
    ref_version = reference["source_version"]
    version = handle.manifest.get("source_version")
    record = {
        "variant": variant,
        "path": str(handle.path),
        "source_version": version,
        "reference_version": ref_version,
        "mixed": False,
    }
    if "source_model" in handle.manifest and "source_version" not in handle.manifest:
        logger.warning(
            "%s (%s) does not record the FP32 version it was made from (written "
            "before source_version was recorded): its consistency is not checked",
            variant,
            handle.path,
        )
        return handle, record
    if version is None or version == ref_version:  # not made from FP32 (TF-IDF)
        return handle, record
    message = (
        f"evaluate would mix variants of different FP32 models: {variant} "
        f"({handle.path}) was made from FP32 version {version}, the FP32 model "
        f"evaluated is version {ref_version} ({reference['path']}). Rerun its "
        f"producer ({handle.manifest.get('producer')}), pin the FP32 version it was "
        f"made from (--load-versions finetuned_model:{version},"
        f"finetune_test_predictions:{version}), or set {SETTING}: "
        f"true to evaluate the mix"
    )
    if not bool(sources["allow_mixed"]):
        raise MixedSourcesError(message)
    logger.warning("%s (%s: true)", message, SETTING)
    return handle, {**record, "mixed": True}


def fp32_version(handle: Any, variant: str) -> str:
    """The comparison table's ``fp32_version``: the FP32 save a variant was made from
    (the reference's own version for ``fp32``; ``-`` for a model not made from it,
    e.g. TF-IDF, or a folder written before it was recorded)."""
    if variant == REFERENCE:
        return folder_version(getattr(handle, "path", None), handle.manifest) or "-"
    return handle.manifest.get("source_version") or "-"
