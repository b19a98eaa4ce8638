"""Post-training quantization routes: each writes one loadable variant folder.

Every ``write_*`` function takes the FP32 model and tokenizer, writes the weights,
the tokenizer and ``config.json`` into a folder and returns the manifest fields it
knows (format, method, library, quantized modules, bits, group size). The node adds
the common fields and the size on disk (see :func:`finalize_manifest`).

The folders reopen through :func:`quant_sentiment.variants.load_classifier`:

=============  ===========  =====================================================
variant        format       files
=============  ===========  =====================================================
fp16, bf16     ``hf``       ``model.safetensors`` in that dtype (``torch_dtype``)
int8_torchao   ``torchao``  ``config.json`` + ``torchao_state_dict.pt``
int8_ort       ``onnx``     ``model.onnx`` (MatMulInteger / DynamicQuantizeLinear)
int4           ``onnx``     ``model.onnx`` (MatMulNBits + GatherBlockQuantized)
bnb_*          ``bnb``      ``save_pretrained`` folder with a bitsandbytes config
=============  ===========  =====================================================
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from quant_sentiment.variants import MANIFEST_FILE, ONNX_FILE, TORCHAO_FILE

logger = logging.getLogger(__name__)

ALL_PARAMETERS = "<all floating-point parameters>"


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or ``None`` when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def folder_size(folder: Path) -> int:
    """Bytes of all regular files below ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def finalize_manifest(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json`` with ``size_bytes`` = the whole folder, manifest included.

    The manifest's own length depends on the number it contains, so it is rewritten
    until the recorded size equals the folder size (two or three passes).
    """
    folder = Path(folder)
    manifest = dict(manifest)
    path = folder / MANIFEST_FILE
    manifest["size_bytes"] = folder_size(folder)
    for _ in range(5):
        path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        actual = folder_size(folder)
        if actual == manifest["size_bytes"]:
            return manifest
        manifest["size_bytes"] = actual
    raise RuntimeError(f"size of '{folder}' does not settle")  # pragma: no cover


def now_utc() -> str:
    """ISO-8601 UTC timestamp for manifests."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _save_config_and_tokenizer(model, tokenizer, folder: Path) -> None:
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


# ---------------------------------------------------------------- fp16 / bf16
def write_cast(model, tokenizer, folder: Path, dtype_name: str) -> dict[str, Any]:
    """Cast every floating-point parameter to ``float16`` / ``bfloat16`` and save.

    The folder is a plain Hugging Face folder; the manifest's ``torch_dtype`` tells
    the ``hf`` loader to reopen it in that dtype.
    """
    import torch

    if dtype_name not in {"float16", "bfloat16"}:
        raise ValueError(f"dtype must be float16 or bfloat16, got {dtype_name!r}")
    cast = copy.deepcopy(model).to(getattr(torch, dtype_name)).eval()
    cast.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "format": "hf",
        "torch_dtype": dtype_name,
        "method": f"cast to {dtype_name}",
        "library": "torch",
        "library_version": torch.__version__,
        "quantized_modules": [ALL_PARAMETERS],
        "bits": 16,
        "group_size": None,
        "weights_file": "model.safetensors",
    }


# ---------------------------------------------------------------- torchao
def _module_filter(skip_modules: list[str]) -> Callable[[Any, str], bool]:
    import torch

    def keep(module, fqn: str) -> bool:
        return isinstance(module, torch.nn.Linear) and not any(
            fqn == s or fqn.startswith(s + ".") or fqn.endswith("." + s)
            for s in skip_modules
        )

    return keep


def _torchao_quantized_names(model) -> list[str]:
    from torchao.utils import TorchAOBaseTensor

    return sorted(
        name
        for name, module in model.named_modules()
        if isinstance(getattr(module, "weight", None), TorchAOBaseTensor)
    )


def write_torchao(
    model, tokenizer, folder: Path, params: dict[str, Any]
) -> dict[str, Any]:
    """torchao ``quantize_`` INT8 (dynamic activations + weights, or weight-only).

    Linear layers get ``Int8DynamicActivationInt8WeightConfig`` (``method:
    dynamic``) or ``Int8WeightOnlyConfig`` (``method: weight_only``), both per
    row; modules named in ``skip_modules`` (the classifier head) stay FP32. With
    ``quantize_embeddings`` the embedding tables are stored as INT8 per row
    (``IntxWeightOnlyConfig``), which linear-only quantization leaves in FP32.

    Saved as ``torch.save(state_dict)`` of torchao tensor subclasses (reloadable with
    ``weights_only=True``) next to ``config.json``.
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

    method = params.get("method", "dynamic")
    configs = {
        "dynamic": Int8DynamicActivationInt8WeightConfig,
        "weight_only": Int8WeightOnlyConfig,
    }
    if method not in configs:
        raise ValueError(
            f"int8_torchao.method must be one of {sorted(configs)}, got {method!r}"
        )
    skip = list(params.get("skip_modules", ["classifier"]))
    quantized = copy.deepcopy(model).eval()
    quantize_(quantized, configs[method](), filter_fn=_module_filter(skip))
    steps = [f"{configs[method].__name__} on Linear (per row)"]
    if params.get("quantize_embeddings", True):
        quantize_(
            quantized,
            IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0)),
            filter_fn=lambda m, fqn: isinstance(m, torch.nn.Embedding),
        )
        steps.append("IntxWeightOnlyConfig(int8, PerAxis(0)) on Embedding")
    names = _torchao_quantized_names(quantized)
    if not names:
        raise RuntimeError("torchao quantized no module; check skip_modules")
    torch.save(quantized.state_dict(), folder / TORCHAO_FILE)
    _save_config_and_tokenizer(quantized, tokenizer, folder)
    return {
        "format": "torchao",
        "method": "torchao quantize_: " + "; ".join(steps),
        "library": "torchao",
        "library_version": torchao.__version__,
        "quantized_modules": names,
        "skipped_modules": skip,
        "bits": 8,
        "group_size": None,
        "granularity": "per row (output channel)",
        "weights_file": TORCHAO_FILE,
    }


# ---------------------------------------------------------------- ONNX export
def logits_only(model):
    """Wrap a classifier so that it returns only the logits (one clean ONNX output)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            return self.inner(**kwargs).logits

    return LogitsOnly(model).eval()


def export_onnx(
    model, tokenizer, path: Path, opset: int = 17, exporter: str = "torchscript"
) -> dict[str, Any]:
    """Export the FP32 classifier to ONNX with dynamic batch and sequence axes.

    ``exporter: torchscript`` uses the legacy TorchScript exporter (``dynamo=False``,
    ~2 s for MiniLM); ``dynamo`` uses ``torch.export`` (~30 s for MiniLM). Both were
    verified to give the same logits as PyTorch on padded batches. The export is
    checked against PyTorch on a padded two-text batch before it is returned.

    Returns:
        ``{"exporter", "opset", "inputs", "export_max_abs_diff"}``.
    """
    import warnings

    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    if exporter not in {"torchscript", "dynamo"}:
        raise ValueError(
            f"exporter must be 'torchscript' or 'dynamo', got {exporter!r}"
        )
    model = copy.deepcopy(model).float().eval()
    sample = tokenizer(
        ["a short text", "a somewhat longer text to make padding appear"],
        padding=True,
        return_tensors="pt",
    )
    names = [
        n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample
    ]
    args = tuple(sample[n] for n in names)
    wrapped = logits_only(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(
                wrapped,
                args,
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_axes={
                    **{n: {0: "batch", 1: "sequence"} for n in names},
                    "logits": {0: "batch"},
                },
                opset_version=opset,
                dynamo=False,
            )
        else:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
            torch.onnx.export(
                wrapped,
                args,
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_shapes={n: {0: batch, 1: seq} for n in names},
                opset_version=opset,
                dynamo=True,
                external_data=False,
            )
            # quantize_dynamic's shape inference rejects the dynamo graph's stale
            # value_info (ShapeInferenceError (384) vs (3)); it is recomputed anyway.
            proto = onnx.load(str(path))
            del proto.graph.value_info[:]
            onnx.save(proto, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(
        ["logits"], {n: sample[n].numpy().astype(np.int64) for n in names}
    )[0]
    with torch.no_grad():
        want = wrapped(*args).numpy()
    diff = float(np.abs(got - want).max())
    if diff > 1e-3:
        raise RuntimeError(f"ONNX export differs from PyTorch by {diff:.2e} (> 1e-3)")
    return {
        "exporter": exporter,
        "opset": opset,
        "inputs": names,
        "export_max_abs_diff": diff,
    }


def _quantized_nodes(
    path: Path, op_types: set[str]
) -> tuple[list[str], dict[str, int]]:
    """Names of the nodes of the given op types, and the op-type histogram."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    counts = Counter(node.op_type for node in graph.node)
    names = sorted(node.name for node in graph.node if node.op_type in op_types)
    return names, dict(sorted(counts.items()))


def initializer_bytes(path: Path) -> int:
    """Bytes of the weights (initializers) in an ONNX file, without the graph itself.

    For a tiny test model the graph's node definitions outweigh the weights; this is
    the part that shrinks with quantization.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    packed = {onnx.TensorProto.INT4, onnx.TensorProto.UINT4}
    total = 0
    for init in onnx.load(str(path)).graph.initializer:
        if init.data_type in packed:  # to_array unpacks 4-bit values into bytes
            total += (int(np.prod(init.dims)) + 1) // 2
        else:
            total += numpy_helper.to_array(init).nbytes
    return int(total)


# ---------------------------------------------------------------- ORT INT8
def write_ort_int8(
    model, tokenizer, folder: Path, params: dict[str, Any]
) -> dict[str, Any]:
    """ONNX export + ONNX Runtime ``quantize_dynamic`` (INT8 weights, per channel).

    With ``quantize_embeddings`` (default) the embedding ``Gather`` ops are quantized
    as well; otherwise only ``MatMul`` / ``Gemm``.
    """
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_types = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
    weight_type = str(params.get("weight_type", "qint8")).lower()
    if weight_type not in weight_types:
        raise ValueError(f"int8_ort.weight_type must be one of {sorted(weight_types)}")
    op_types = None if params.get("quantize_embeddings", True) else ["MatMul", "Gemm"]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export = export_onnx(
            model,
            tokenizer,
            fp32,
            opset=int(params.get("opset", 17)),
            exporter=params.get("exporter", "torchscript"),
        )
        quantize_dynamic(
            str(fp32),
            str(folder / ONNX_FILE),
            per_channel=bool(params.get("per_channel", True)),
            reduce_range=bool(params.get("reduce_range", False)),
            weight_type=weight_types[weight_type],
            op_types_to_quantize=op_types,
        )
    names, ops = _quantized_nodes(
        folder / ONNX_FILE,
        {
            "MatMulInteger",
            "DynamicQuantizeMatMul",
            "QGemm",
            "QAttention",
            "DynamicQuantizeLSTM",
        },
    )
    gathers = [
        i
        for i in _initializer_names(folder / ONNX_FILE)
        if i.endswith("_quantized") and "embeddings" in i
    ]
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "format": "onnx",
        "method": "onnxruntime.quantization.quantize_dynamic "
        f"({'per-channel' if params.get('per_channel', True) else 'per-tensor'}"
        f", {weight_type} weights, dynamic uint8 activations)",
        "library": "onnxruntime",
        "library_version": onnxruntime.__version__,
        "quantized_modules": names + gathers,
        "bits": 8,
        "group_size": None,
        "granularity": "per channel"
        if params.get("per_channel", True)
        else "per tensor",
        "op_types": ops,
        "export": export,
        "weights_file": ONNX_FILE,
        "initializer_bytes": initializer_bytes(folder / ONNX_FILE),
    }


def _initializer_names(path: Path) -> list[str]:
    import onnx

    return [
        i.name for i in onnx.load(str(path), load_external_data=False).graph.initializer
    ]


# ---------------------------------------------------------------- ORT INT4
def write_ort_int4(
    model, tokenizer, folder: Path, params: dict[str, Any]
) -> dict[str, Any]:
    """ONNX export + ONNX Runtime ``MatMulNBits`` block-wise 4-bit weights.

    ``MatMulNBitsQuantizer`` replaces every ``MatMul`` with a constant weight by
    ``MatMulNBits`` (4-bit blocks of ``block_size`` along the input dimension, one
    scale per block, zero points when asymmetric). With ``quantize_embeddings`` the
    embedding ``Gather`` ops become ``GatherBlockQuantized`` (4-bit rows), without
    which the FP32 word embeddings alone would be ~half of MiniLM's INT4 file. The
    classifier head is exported as ``Gemm`` and is not touched (it stays FP32).
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    bits = int(params.get("bits", 4))
    block_size = int(params.get("block_size", 32))
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(
            f"int4.block_size must be a power of two >= 16, got {block_size}"
        )
    op_types = (
        ("MatMul", "Gather") if params.get("quantize_embeddings", True) else ("MatMul",)
    )
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export = export_onnx(
            model,
            tokenizer,
            fp32,
            opset=int(params.get("opset", 17)),
            exporter=params.get("exporter", "torchscript"),
        )
        accuracy_level = params.get("accuracy_level")
        quantizer = MatMulNBitsQuantizer(
            onnx.load(str(fp32)),
            bits=bits,
            block_size=block_size,
            is_symmetric=bool(params.get("symmetric", True)),
            accuracy_level=None if accuracy_level is None else int(accuracy_level),
            op_types_to_quantize=op_types,
        )
        logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(
            logging.ERROR
        )  # the forced opset-21 upgrade warning is expected
        quantizer.process()
        quantizer.model.save_model_to_file(
            str(folder / ONNX_FILE), use_external_data_format=False
        )
    names, ops = _quantized_nodes(
        folder / ONNX_FILE, {"MatMulNBits", "GatherBlockQuantized"}
    )
    if not names:
        raise RuntimeError("MatMulNBitsQuantizer quantized no node")
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "format": "onnx",
        "method": f"onnxruntime MatMulNBitsQuantizer (RTN, {bits}-bit, block {block_size}, "
        f"{'symmetric' if params.get('symmetric', True) else 'asymmetric'}"
        f"{', embeddings as GatherBlockQuantized' if 'Gather' in op_types else ''})",
        "library": "onnxruntime",
        "library_version": onnxruntime.__version__,
        "quantized_modules": names,
        "bits": bits,
        "group_size": block_size,
        "op_types": ops,
        "export": export,
        "weights_file": ONNX_FILE,
        "initializer_bytes": initializer_bytes(folder / ONNX_FILE),
    }


# ---------------------------------------------------------------- bitsandbytes
def bnb_unavailable_reason(params: dict[str, Any]) -> str | None:
    """Why the bitsandbytes variants cannot run here, or ``None`` when they can."""
    import torch

    if params.get("require_cuda", True) and not torch.cuda.is_available():
        return "bitsandbytes is the GPU path and CUDA is not available on this machine"
    if package_version("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install bitsandbytes==0.50.2)"
    return None


def write_bnb(
    model, tokenizer, folder: Path, params: dict[str, Any], mode: str
) -> dict[str, Any]:
    """bitsandbytes LLM.int8 (``mode='int8'``) or NF4/FP4 (``mode='nf4'``) via transformers.

    The model is reloaded from a temporary FP32 folder with a ``BitsAndBytesConfig``
    (that is how transformers applies bitsandbytes) and saved with
    ``save_pretrained``. Modules in ``skip_modules`` (the 3-output classifier, whose
    size NF4 kernels reject) stay in full precision.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, BitsAndBytesConfig

    skip = list(params.get("skip_modules", ["classifier"]))
    if mode == "int8":
        config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
        bits, group = 8, None
    elif mode == "nf4":
        quant_type = params.get("quant_type", "nf4")
        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant_type,
            bnb_4bit_compute_dtype=getattr(
                torch, params.get("compute_dtype", "bfloat16")
            ),
            bnb_4bit_use_double_quant=bool(params.get("double_quant", True)),
            llm_int8_skip_modules=skip,
        )
        bits, group = 4, 64  # bitsandbytes' 4-bit block size
    else:
        raise ValueError(f"mode must be 'int8' or 'nf4', got {mode!r}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        quantized = AutoModelForSequenceClassification.from_pretrained(
            tmp, quantization_config=config, device_map=device
        )
    quantized.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    names = sorted(
        name
        for name, module in quantized.named_modules()
        if type(module).__name__ in {"Linear8bitLt", "Linear4bit"}
    )
    return {
        "format": "bnb",
        "method": f"bitsandbytes {'LLM.int8' if mode == 'int8' else config.bnb_4bit_quant_type}"
        " via transformers BitsAndBytesConfig",
        "library": "bitsandbytes",
        "library_version": package_version("bitsandbytes"),
        "quantized_modules": names,
        "skipped_modules": skip,
        "bits": bits,
        "group_size": group,
        "device": device,
        "weights_file": "model.safetensors",
    }
