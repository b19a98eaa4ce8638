"""Format ``hf``: a Hugging Face ``save_pretrained`` folder (FP32, FP16, BF16).

The folder loads with plain ``transformers`` (``AutoModelForSequenceClassification``,
``transformers.pipeline``) as well as with :func:`load`; the manifest's
``torch_dtype`` reopens a cast model in its dtype, and ``torch_compile`` predicts
through ``torch.compile`` (the first call of each new batch shape compiles, ~11 s for
MiniLM on 2 cores; later calls are faster than eager: docs/performance.md).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ._base import HFClassifier

FORMAT = "hf"
WEIGHTS_FILE = "model.safetensors"
CAST_DTYPES = ("float16", "bfloat16")


def write_pretrained(model, tokenizer, folder: Path) -> None:
    """``save_pretrained`` of the model and its tokenizer into ``folder``."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def pretrained_fields(model) -> dict[str, Any]:
    """Manifest fields of a model saved as it is (the fine-tuned FP32 model)."""
    import torch
    import transformers

    dtype = str(model.dtype).removeprefix("torch.")
    return {
        "format": FORMAT,
        "status": "ok",
        "torch_dtype": None if model.dtype == torch.float32 else dtype,
        "method": f"{dtype} eager (transformers)",
        "batch_invariance": "batched: float compute, padding masked",
        "library": "transformers",
        "library_version": transformers.__version__,
        "quantized_modules": [],
        "bits": torch.finfo(model.dtype).bits,
        "group_size": None,
        "weights_file": WEIGHTS_FILE,
    }


def write_cast(
    model, tokenizer, folder: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """Cast every floating-point parameter to ``options["dtype"]`` and save.

    Args:
        options: ``dtype``: ``float16`` or ``bfloat16``; ``torch_compile`` (optional,
            default false): the loader predicts through ``torch.compile`` (inductor,
            dynamic shapes). Recorded in the manifest; the weights are the same.

    Returns:
        The manifest fields of the variant.
    """
    import torch

    dtype = options["dtype"]
    if dtype not in CAST_DTYPES:
        raise ValueError(f"dtype must be one of {CAST_DTYPES}, got {dtype!r}")
    write_pretrained(
        copy.deepcopy(model).to(getattr(torch, dtype)).eval(), tokenizer, folder
    )
    compiled = bool(options.get("torch_compile", False))
    return {
        "format": FORMAT,
        "torch_dtype": dtype,
        "torch_compile": compiled,
        "method": f"cast to {dtype}" + (", torch.compile at load" * compiled),
        "batch_invariance": "batched: float compute, padding masked",
        "library": "torch",
        "library_version": torch.__version__,
        "quantized_modules": ["<all floating-point parameters>"],
        "bits": 16,
        "group_size": None,
        "weights_file": WEIGHTS_FILE,
    }


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> HFClassifier:
    """Open the folder with ``transformers`` (in the manifest's ``torch_dtype``)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dtype = manifest.get("torch_dtype")
    kwargs = {"dtype": getattr(torch, dtype)} if dtype else {}
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, use_safetensors=True, **kwargs
    )
    # A folder saved by hand has no manifest: None = the tokenizer's own limit.
    max_length = manifest.get("max_length")
    return HFClassifier(
        model,
        AutoTokenizer.from_pretrained(folder),
        max_length=max_length,
        compiled=bool(manifest.get("torch_compile", False)),
    )
