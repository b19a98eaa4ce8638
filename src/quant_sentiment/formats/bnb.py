"""Format ``bnb``: bitsandbytes LLM.int8 / NF4 through ``transformers`` (CUDA path).

The folder is a ``save_pretrained`` folder with a bitsandbytes quantization config;
it reopens with ``from_pretrained`` on a CUDA device. Without bitsandbytes installed
the writer raises :class:`~quant_sentiment.formats.VariantUnavailable`; the
producer skips the variants on machines without CUDA (``on_cpu: false``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from quant_sentiment.manifest import package_version

from ._base import HFClassifier
from .errors import VariantUnavailable

FORMAT = "bnb"
MODES = ("int8", "nf4")
#: dtypes the non-quantized rest (embeddings, LayerNorms, skipped modules) may keep.
REST_DTYPES = ("float16", "bfloat16", "float32")
#: bitsandbytes' 4-bit block size.
NF4_BLOCK = 64


def unavailable_reason() -> str | None:
    """Why bitsandbytes cannot run here, or ``None`` when it can."""
    if package_version("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install -e .[gpu])"
    return None


def _config(options: dict[str, Any]):
    import torch
    from transformers import BitsAndBytesConfig

    skip = list(options["skip_modules"])
    if options["mode"] == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=options["quant_type"],
        bnb_4bit_compute_dtype=getattr(torch, options["compute_dtype"]),
        bnb_4bit_use_double_quant=bool(options["double_quant"]),
        llm_int8_skip_modules=skip,
    )


def write(model, tokenizer, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    """bitsandbytes LLM.int8 (``mode: int8``) or NF4/FP4 (``mode: nf4``).

    The model is reloaded from a temporary FP32 folder with a ``BitsAndBytesConfig``
    (that is how transformers applies bitsandbytes) and saved with
    ``save_pretrained``. Modules in ``skip_modules`` (the 3-output classifier, whose
    size NF4 kernels reject) are not quantized. The non-quantized rest (embeddings,
    LayerNorms, biases, skipped modules) is kept in ``rest_dtype``: 16 bit by
    default, which LLM.int8 (FP16 activations) and NF4 (its compute dtype) run in
    anyway, so FP32 storage only cost space.

    Raises:
        VariantUnavailable: Without bitsandbytes.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    if options["mode"] not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {options['mode']!r}")
    rest_dtype = options["rest_dtype"]
    if rest_dtype not in REST_DTYPES:
        raise ValueError(f"rest_dtype must be one of {REST_DTYPES}, got {rest_dtype!r}")
    reason = unavailable_reason()
    if reason:
        raise VariantUnavailable(reason)
    config = _config(options)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        quantized = AutoModelForSequenceClassification.from_pretrained(
            tmp,
            use_safetensors=True,
            quantization_config=config,
            device_map=device,
            dtype=getattr(torch, rest_dtype),
        )
    quantized.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    int8 = options["mode"] == "int8"
    return {
        "format": FORMAT,
        "method": f"bitsandbytes {'LLM.int8' if int8 else options['quant_type']}"
        " via transformers BitsAndBytesConfig",
        # LLM.int8 keeps in 16 bit the feature columns where any row of the batch
        # exceeds its outlier threshold: not batch-invariant (a CUDA route, not fixed).
        "batch_invariance": "batch-dependent: outlier columns chosen over the batch"
        if int8
        else "batched: weight-only 4-bit",
        "library": "bitsandbytes",
        "library_version": package_version("bitsandbytes"),
        "quantized_modules": sorted(
            name
            for name, module in quantized.named_modules()
            if type(module).__name__ in {"Linear8bitLt", "Linear4bit"}
        ),
        "skipped_modules": list(options["skip_modules"]),
        "rest_dtype": rest_dtype,
        "bits": 8 if int8 else 4,
        "group_size": None if int8 else NF4_BLOCK,
        "device": device,
        "weights_file": "model.safetensors",
    }


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> HFClassifier:
    """Reopen with ``from_pretrained`` on CUDA when present (CPU otherwise).

    The non-quantized rest comes back in the dtype it was saved in (the manifest's
    ``rest_dtype``; FP32 for folders written before it was recorded).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForSequenceClassification.from_pretrained(
        folder,
        use_safetensors=True,
        device_map=device,
        dtype=getattr(torch, manifest.get("rest_dtype", "float32")),
    )
    return HFClassifier(
        model, AutoTokenizer.from_pretrained(folder), max_length=manifest["max_length"]
    )
