"""The model variants, declared once.

:data:`VARIANTS` lists every model variant the project builds: its name, the
pipeline that produces it, the catalog entry of its folder and, for variants that a
quantization pipeline writes, the format writer that builds it. Producers
(``quantize_ptq``, the TF-IDF ``baseline``, ``quantize_qat``) create one node per
entry they own; ``pipeline_registry`` composes one ``evaluate`` template per entry.
Adding a variant is one entry here (plus its options block in the producer's
parameters file when its writer takes options).

A saved variant folder opens with :func:`load_classifier` whatever its format.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from quant_sentiment.formats import (
    SKIPPED,
    Classifier,
    bnb,
    hf,
    load_classifier,
    multitask,
    onnx,
    openvino,
    quanto,
    torchao,
)
from quant_sentiment.manifest import (
    MANIFEST_FILE,
    folder_version,
    read_manifest,
    write_manifest,
)
from quant_sentiment.textprep import MANIFEST_KEY

#: ``(fp32 model, tokenizer, folder, options) -> manifest fields``; a writer of a
#: variant with ``calibration=True`` also takes ``calibration_texts=``.
Writer = Callable[..., dict[str, Any]]

logger = logging.getLogger(__name__)
REFERENCE = "fp32"


@dataclass(frozen=True)
class Variant:
    """One model variant.

    Attributes:
        name: Short name (``int8_ort``); evaluate's namespace is ``evaluate.<name>``.
        producer: The pipeline that writes the folder.
        dataset: Catalog entry of the folder.
        writer: For quantization producers: the format writer that builds it.
        predictions: Catalog entry of test predictions its producer already makes
            (the FP32 model's, from ``finetune``); ``None``: ``evaluate`` predicts.
        compare_with: Another variant ``evaluate`` pairs this one with, beside the
            reference (QAT vs PTQ at the same bits: the "recovery").
        calibration: The writer takes calibration texts (static quantization): its
            producer node also reads ``clean_train`` and passes a seeded sample.
    """

    name: str
    producer: str
    dataset: str
    writer: Writer | None = None
    predictions: str | None = None
    compare_with: str | None = None
    calibration: bool = False

    @property
    def test_predictions(self) -> str:
        """Catalog entry of its test predictions: its producer's, else evaluate's."""
        return self.predictions or f"eval_{self.name}_test_predictions"


def _ptq(name: str, writer: Writer, calibration: bool = False) -> Variant:
    return Variant(
        name, "quantize_ptq", f"ptq_{name}_model", writer, calibration=calibration
    )


def _qat(name: str, writer: Writer, compare_with: str) -> Variant:
    return Variant(
        name,
        "quantize_qat",
        f"{name}_model",
        writer,
        predictions=f"{name}_test_predictions",
        compare_with=compare_with,
    )


VARIANTS: tuple[Variant, ...] = (
    Variant(
        REFERENCE,
        "finetune",
        "finetuned_model",
        predictions="finetune_test_predictions",
    ),
    _ptq("fp16", hf.write_cast),
    _ptq("bf16", hf.write_cast),
    _ptq("int8_torchao", torchao.write),
    _ptq("fp32_ort", onnx.write_fp32),
    _ptq("int8_ort", onnx.write_int8),
    _ptq("int4", onnx.write_int4),
    _ptq("bnb_int8", bnb.write),
    _ptq("bnb_nf4", bnb.write),
    _ptq("quanto_int8", quanto.write),
    _ptq("quanto_int4", quanto.write),
    _ptq("ov_int8", openvino.write_int8, calibration=True),
    _ptq("ov_int4", openvino.write_int4),
    _qat("qat_int8", onnx.write_int8, compare_with="int8_ort"),
    _qat("qat_int4", onnx.write_int4, compare_with="int4"),
    Variant("tfidf_logreg", "baseline", "tfidf_logreg_model"),
    # quantize_mixed: k most INT4-sensitive groups INT8, the rest INT4 (options:
    # quantize_mixed.variants.<name>); built by formats.onnx.write_mixed from the
    # pipeline's sensitivity ranking, so no plain writer here.
    Variant("mixed_k2", "quantize_mixed", "mixed_k2_model"),
    Variant("mixed_k4", "quantize_mixed", "mixed_k4_model"),
    Variant("mixed_k8", "quantize_mixed", "mixed_k8_model"),
    Variant("mixed_budget", "quantize_mixed", "mixed_budget_model"),
)


def base_manifest(
    bundle: Any,
    variant: str,
    producer: str,
    model: dict[str, Any],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """The manifest fields every variant folder has, built or skipped: names, the
    FP32 source, its version (``source_version``) and size, ``max_length``,
    ``id2label``, the producer's parameters and the FP32 model's text normalisation
    (so every way of predicting normalises raw text as the model was trained; an FP32
    folder from before it was recorded has none, and predicting names the gap)."""
    base = {
        "variant": variant,
        "producer": producer,
        "source_model": bundle.metadata.get("model_source"),
        # Which FP32 save this variant was made from (evaluate refuses a mix).
        "source_version": folder_version(
            getattr(bundle, "path", None), bundle.metadata
        ),
        "fp32_size_bytes": bundle.metadata.get("size_bytes"),
        "max_length": model["max_length"],
        "id2label": {str(k): v for k, v in bundle.model.config.id2label.items()},
        "parameters": parameters,
    }
    if MANIFEST_KEY in bundle.metadata:
        base[MANIFEST_KEY] = bundle.metadata[MANIFEST_KEY]
    return base


def produced_by(producer: str) -> tuple[Variant, ...]:
    """The variants a pipeline writes, in declaration order."""
    return tuple(v for v in VARIANTS if v.producer == producer)


#: Variants a multi-task FP32 model (``hf_multitask``, docs/multitask.md) is built
#: as, with their multi-task writers (``formats.multitask``: one ONNX output per
#: task); every other PTQ variant of such a model is recorded as skipped. The QAT
#: variants write the trained weights with the same writers; the mixed ones use
#: ``formats.multitask.write_onnx_mixed`` (``quantize_mixed``).
MULTITASK_WRITERS: dict[str, Callable[..., dict[str, Any]]] = {
    "fp32_ort": multitask.write_onnx,
    "int8_ort": multitask.write_onnx_int8,
    "int4": multitask.write_onnx_int4,
    "qat_int8": multitask.write_onnx_int8,
    "qat_int4": multitask.write_onnx_int4,
}


def multitask_writer(variant: str, max_length: int) -> Writer | None:
    """The variant's writer for a multi-task model (the ``Writer`` signature), or
    ``None`` where the variant does not support multi-task models yet."""
    write = MULTITASK_WRITERS.get(variant)
    if write is None:
        return None

    def writer(model, tokenizer, folder: Path, options: dict[str, Any], **_):
        return write(model, tokenizer, folder, max_length, options)

    return writer


def get_variant(name: str) -> Variant:
    """The variant called ``name``.

    Raises:
        KeyError: With the known names.
    """
    for variant in VARIANTS:
        if variant.name == name:
            return variant
    raise KeyError(f"Unknown variant {name!r}; known: {[v.name for v in VARIANTS]}")


@dataclass(frozen=True)
class VariantHandle:
    """A saved variant folder, not yet loaded: its path and manifest.

    ``VariantFolderDataset.load()`` returns this, so that nodes can score a variant
    in-process (:meth:`load`) or time it in a fresh process (pass :attr:`path`).
    """

    path: Path
    manifest: dict[str, Any]

    def load(self, threads: int | None = None) -> Classifier:
        """Open the variant as a ``Classifier``."""
        return load_classifier(self.path, threads=threads)


class VariantArtifact(Protocol):
    """What ``VariantFolderDataset.save`` accepts: anything that writes a folder."""

    def save(self, folder: Path) -> None:
        """Write the variant (weights, tokenizer, ``manifest.json``) into ``folder``."""


class StagedFolder:
    """A variant folder built in a temporary directory (a :class:`VariantArtifact`).

    A producer writes the variant here; ``VariantFolderDataset`` then copies it into
    the versioned catalog path with :meth:`save`.
    """

    def __init__(self) -> None:
        """Create the temporary folder (deleted with the object)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="variant_")
        self.folder = Path(self._tmp.name)

    @classmethod
    def skipped(cls, base: dict[str, Any], reason: str, **extra: Any) -> StagedFolder:
        """A folder holding only a ``status: skipped`` manifest with its ``reason``
        (a variant not built in this run); logged as a warning."""
        logger.warning("Skipping variant %s: %s", base["variant"], reason)
        staged = cls()
        manifest = {**base, "status": SKIPPED, "format": SKIPPED, "bits": None}
        write_manifest(staged.folder, {**manifest, "reason": reason, **extra})
        return staged

    def save(self, folder: Path) -> None:
        """Copy the staged files (weights, tokenizer, ``manifest.json``) into ``folder``."""
        if not (self.folder / MANIFEST_FILE).is_file():
            raise RuntimeError(f"staged variant '{self.folder}' has no {MANIFEST_FILE}")
        shutil.copytree(self.folder, folder, dirs_exist_ok=True)


__all__ = [
    "REFERENCE",
    "VARIANTS",
    "StagedFolder",
    "Variant",
    "VariantArtifact",
    "VariantHandle",
    "get_variant",
    "load_classifier",
    "produced_by",
    "read_manifest",
]
