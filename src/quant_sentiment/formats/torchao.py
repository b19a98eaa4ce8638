"""Format ``torchao``: a model quantized with torchao ``quantize_``.

Files: ``model_config.json`` + tokenizer + ``torchao_state_dict.pt`` (a
``torch.save``'d state dict of torchao tensor subclasses, loadable with
``weights_only=True``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._base import HFClassifier, load_config_and_tokenizer, save_config_and_tokenizer

FORMAT = "torchao"
WEIGHTS_FILE = "torchao_state_dict.pt"


def _linear_filter(skip_modules: list[str]) -> Callable[[Any, str], bool]:
    import torch

    def keep(module, fqn: str) -> bool:
        return isinstance(module, torch.nn.Linear) and not any(
            fqn == s or fqn.startswith(s + ".") or fqn.endswith("." + s)
            for s in skip_modules
        )

    return keep


def _quantized_names(model) -> list[str]:
    from torchao.utils import TorchAOBaseTensor

    return sorted(
        name
        for name, module in model.named_modules()
        if isinstance(getattr(module, "weight", None), TorchAOBaseTensor)
    )


def write(model, tokenizer, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    """torchao ``quantize_`` INT8 (dynamic activations + weights, or weight-only).

    Linear layers get ``Int8DynamicActivationInt8WeightConfig`` (``method:
    dynamic``) or ``Int8WeightOnlyConfig`` (``method: weight_only``), both per row;
    modules named in ``skip_modules`` (the classifier head) stay FP32. With
    ``quantize_embeddings`` the embedding tables are stored as INT8 per row
    (``IntxWeightOnlyConfig``), which linear-only quantization leaves in FP32.
    """
    import torch
    import torchao
    from torchao.quantization import (
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        IntxWeightOnlyConfig,
        PerAxis,
        quantize_,
    )

    configs = {
        "dynamic": Int8DynamicActivationInt8WeightConfig,
        "weight_only": Int8WeightOnlyConfig,
    }
    method, skip = options["method"], list(options["skip_modules"])
    if method not in configs:
        raise ValueError(f"method must be one of {sorted(configs)}, got {method!r}")
    quantized = copy.deepcopy(model).eval()
    quantize_(quantized, configs[method](), filter_fn=_linear_filter(skip))
    steps = [f"{configs[method].__name__} on Linear (per row)"]
    if options["quantize_embeddings"]:
        quantize_(
            quantized,
            IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0)),
            filter_fn=lambda m, fqn: isinstance(m, torch.nn.Embedding),
        )
        steps.append("IntxWeightOnlyConfig(int8, PerAxis(0)) on Embedding")
    names = _quantized_names(quantized)
    if not names:
        raise RuntimeError("torchao quantized no module; check skip_modules")
    torch.save(quantized.state_dict(), folder / WEIGHTS_FILE)
    save_config_and_tokenizer(quantized, tokenizer, folder, FORMAT)
    return {
        "format": FORMAT,
        "method": "torchao quantize_: " + "; ".join(steps),
        "batch_invariance": "batched: activation scales per token (dynamic) or "
        "none (weight-only)",
        "library": "torchao",
        "library_version": torchao.__version__,
        "quantized_modules": names,
        "skipped_modules": skip,
        "bits": 8,
        "group_size": None,
        "granularity": "per row (output channel)",
        "weights_file": WEIGHTS_FILE,
    }


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> HFClassifier:
    """Rebuild the architecture from the config and assign the quantized tensors.

    The model is built with random weights on CPU (not on the ``meta`` device, which
    would leave non-persistent buffers such as ``position_ids`` empty), then the
    saved torchao tensors replace its parameters (``assign=True``).
    """
    import torch
    import torchao.quantization  # noqa: F401  (registers the tensor subclasses)
    from transformers import AutoModelForSequenceClassification

    config, tokenizer = load_config_and_tokenizer(folder)
    model = AutoModelForSequenceClassification.from_config(config)
    state = torch.load(folder / WEIGHTS_FILE, weights_only=True, map_location="cpu")
    model.load_state_dict(state, assign=True)
    return HFClassifier(model, tokenizer, max_length=manifest["max_length"])
