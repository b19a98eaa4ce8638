"""Format ``quanto``: a model quantized with optimum-quanto (``optimum.quanto``).

Files: ``model_config.json`` + tokenizer + ``quanto_model.safetensors`` (the
state dict of the frozen quantized model) + ``quanto_qmap.json`` (its
``quantization_map``); :func:`load` rebuilds the architecture and calls
``requantize``. optimum-quanto quantizes ``Linear`` weights (embeddings stay FP32);
``qint4`` weights are grouped (128, or less to divide ``in_features``) and need
``torch.no_grad`` rather than ``torch.inference_mode`` to run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._base import HFClassifier, load_config_and_tokenizer, save_config_and_tokenizer

FORMAT = "quanto"
WEIGHTS_FILE = "quanto_model.safetensors"
QMAP_FILE = "quanto_qmap.json"
WEIGHT_BITS = {"qint8": 8, "qint4": 4}


def _quantized(model) -> dict[str, Any]:
    from optimum.quanto.nn import QModuleMixin

    return {n: m for n, m in model.named_modules() if isinstance(m, QModuleMixin)}


def _group_size(modules: dict[str, Any]) -> int | list[int | None] | None:
    """The weight group size optimum-quanto chose (128, or less to divide
    ``in_features``; ``None``: per output channel); a list if modules differ."""
    sizes = sorted(
        {m.weight_group_size for m in modules.values()}, key=lambda s: s or 0
    )
    return sizes[0] if len(sizes) == 1 else sizes


def write(model, tokenizer, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    """optimum-quanto ``quantize`` (weights only) + ``freeze``, saved with its map.

    Args:
        options: ``weights`` (``qint8`` | ``qint4``), ``skip_modules`` (module names
            left in FP32, e.g. the classifier head).
    """
    from optimum import quanto
    from safetensors.torch import save_file

    weights = str(options["weights"])
    if weights not in WEIGHT_BITS:
        raise ValueError(
            f"weights must be one of {sorted(WEIGHT_BITS)}, got {weights!r}"
        )
    skip = list(options["skip_modules"])
    quantized = copy.deepcopy(model).float().eval()
    quanto.quantize(quantized, weights=getattr(quanto, weights), exclude=skip or None)
    quanto.freeze(quantized)
    modules = _quantized(quantized)
    if not modules:
        raise RuntimeError("optimum-quanto quantized no module; check skip_modules")
    save_file(quantized.state_dict(), str(folder / WEIGHTS_FILE))
    (folder / QMAP_FILE).write_text(json.dumps(quanto.quantization_map(quantized)))
    save_config_and_tokenizer(quantized, tokenizer, folder, FORMAT)
    bits = WEIGHT_BITS[weights]
    return {
        "format": FORMAT,
        "method": f"optimum-quanto quantize(weights={weights}) + freeze on Linear "
        "(weight-only, FP32 activations; embeddings FP32)",
        "batch_invariance": "batched: weight-only, float activations",
        "library": "optimum-quanto",
        "library_version": _version(),
        "quantized_modules": sorted(modules),
        "skipped_modules": skip,
        "bits": bits,
        "group_size": _group_size(modules),
        "weights_file": WEIGHTS_FILE,
    }


def _version() -> str | None:
    from quant_sentiment.manifest import package_version

    return package_version("optimum-quanto")


class QuantoClassifier(HFClassifier):
    """An optimum-quanto model; predicts under ``torch.no_grad`` (qint4 fails under
    ``torch.inference_mode``: "Cannot set version_counter for inference tensor")."""

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits in input order, texts batched by length."""
        import torch

        from quant_sentiment.inference import length_sorted_batches

        texts = list(texts)
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        with torch.no_grad():
            for idx in length_sorted_batches(texts, batch_size):
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                out[idx] = self.model(**enc).logits.float().numpy()
        return out


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> QuantoClassifier:
    """Rebuild the architecture from the config, then ``requantize`` the saved state."""
    from optimum.quanto import requantize
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    config, tokenizer = load_config_and_tokenizer(folder)
    model = AutoModelForSequenceClassification.from_config(config)
    qmap = json.loads((folder / QMAP_FILE).read_text())
    requantize(model, load_file(str(folder / WEIGHTS_FILE)), qmap)
    return QuantoClassifier(model.eval(), tokenizer, max_length=manifest["max_length"])
