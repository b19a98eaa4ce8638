"""Format ``onnx``: an ONNX Runtime model (``model.onnx``) with its tokenizer.

Writers: the FP32 export (:func:`export_onnx`), dynamic INT8
(:func:`write_int8`: ``MatMulInteger`` / ``DynamicQuantizeLinear``, embeddings as
quantized ``Gather``) and block-wise INT4 (:func:`write_int4`: ``MatMulNBits``,
embeddings as ``GatherBlockQuantized``). Loader: :func:`load`, an
``InferenceSession`` with the caller's intra-op thread count.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._base import id2label_of, load_config_and_tokenizer, save_config_and_tokenizer

FORMAT = "onnx"
WEIGHTS_FILE = "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
EXPORTERS = ("torchscript", "dynamo")
#: An export whose logits differ from PyTorch by more than this is rejected.
EXPORT_TOLERANCE = 1e-3
MIN_BLOCK_SIZE = 16
INT8_OPS = {"MatMulInteger", "DynamicQuantizeMatMul", "QGemm", "QAttention"}
INT4_OPS = {"MatMulNBits", "GatherBlockQuantized"}


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


def _torch_export(wrapped, args, names, path: Path, opset: int, exporter: str) -> None:
    import onnx
    import torch

    if exporter == "torchscript":
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        dynamic = {"dynamic_axes": {**axes, "logits": {0: "batch"}}, "dynamo": False}
    else:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
        dynamic = {
            "dynamic_shapes": {n: {0: batch, 1: seq} for n in names},
            "dynamo": True,
            "external_data": False,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            opset_version=opset,
            **dynamic,
        )
    if exporter == "dynamo":
        # quantize_dynamic's shape inference rejects the dynamo graph's stale
        # value_info (ShapeInferenceError (384) vs (3)); it is recomputed anyway.
        proto = onnx.load(str(path))
        del proto.graph.value_info[:]
        onnx.save(proto, str(path))


def export_onnx(
    model, tokenizer, path: Path, opset: int, exporter: str
) -> dict[str, Any]:
    """Export the FP32 classifier to ONNX with dynamic batch and sequence axes.

    ``exporter: torchscript`` uses the TorchScript exporter (``dynamo=False``, ~2 s
    for MiniLM); ``dynamo`` uses ``torch.export`` (~30 s). The export is checked
    against PyTorch on a padded two-text batch before it is returned.

    Returns:
        ``{"exporter", "opset", "inputs", "export_max_abs_diff"}``.
    """
    import onnxruntime as ort
    import torch

    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    model = copy.deepcopy(model).float().eval()
    texts = ["a short text", "a somewhat longer text to make padding appear"]
    sample = tokenizer(texts, padding=True, return_tensors="pt")
    names = [n for n in INPUT_NAMES if n in sample]
    args = tuple(sample[n] for n in names)
    wrapped = logits_only(model)
    _torch_export(wrapped, args, names, path, opset, exporter)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {n: sample[n].numpy().astype(np.int64) for n in names}
    got = session.run(["logits"], feed)[0]
    with torch.no_grad():
        want = wrapped(*args).numpy()
    diff = float(np.abs(got - want).max())
    if diff > EXPORT_TOLERANCE:
        raise RuntimeError(f"ONNX export differs from PyTorch by {diff:.2e} (> 1e-3)")
    return {
        "exporter": exporter,
        "opset": opset,
        "inputs": names,
        "export_max_abs_diff": diff,
    }


def op_histogram(path: Path, op_types: set[str]) -> tuple[list[str], dict[str, int]]:
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


def _finish(model, tokenizer, folder: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Config, tokenizer and the manifest fields every ONNX variant shares."""
    import onnxruntime

    save_config_and_tokenizer(model, tokenizer, folder, FORMAT)
    return {
        "format": FORMAT,
        "library": "onnxruntime",
        "library_version": onnxruntime.__version__,
        "weights_file": WEIGHTS_FILE,
        "initializer_bytes": initializer_bytes(folder / WEIGHTS_FILE),
        **fields,
    }


def write_fp32(
    model, tokenizer, folder: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """The FP32 model exported to ONNX, unquantized: what a user gets by exporting
    alone, the fair reference for the ONNX Runtime INT8/INT4 variants.

    Args:
        options: ``exporter``, ``opset``.
    """
    export = export_onnx(
        model,
        tokenizer,
        folder / WEIGHTS_FILE,
        int(options["opset"]),
        options["exporter"],
    )
    _, ops = op_histogram(folder / WEIGHTS_FILE, set())
    return _finish(
        model,
        tokenizer,
        folder,
        {
            "method": f"torch.onnx.export ({options['exporter']}, opset "
            f"{options['opset']}), FP32 on ONNX Runtime",
            "quantized_modules": [],
            "bits": 32,
            "group_size": None,
            "op_types": ops,
            "export": export,
        },
    )


def write_int8(
    model, tokenizer, folder: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """ONNX export + ONNX Runtime ``quantize_dynamic`` (INT8 weights).

    Args:
        options: ``exporter``, ``opset``, ``per_channel``, ``reduce_range``,
            ``weight_type`` (``qint8`` | ``quint8``), ``quantize_embeddings`` (the
            embedding ``Gather`` ops too, or only ``MatMul`` / ``Gemm``).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_types = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
    weight_type = str(options["weight_type"]).lower()
    if weight_type not in weight_types:
        raise ValueError(f"weight_type must be one of {sorted(weight_types)}")
    per_channel = bool(options["per_channel"])
    op_types = None if options["quantize_embeddings"] else ["MatMul", "Gemm"]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export = export_onnx(
            model, tokenizer, fp32, int(options["opset"]), options["exporter"]
        )
        quantize_dynamic(
            str(fp32),
            str(folder / WEIGHTS_FILE),
            per_channel=per_channel,
            reduce_range=bool(options["reduce_range"]),
            weight_type=weight_types[weight_type],
            op_types_to_quantize=op_types,
        )
    names, ops = op_histogram(folder / WEIGHTS_FILE, INT8_OPS)
    granularity = "per channel" if per_channel else "per tensor"
    return _finish(
        model,
        tokenizer,
        folder,
        {
            "method": "onnxruntime.quantization.quantize_dynamic "
            f"({granularity}, {weight_type} weights, dynamic uint8 activations)",
            "quantized_modules": names + ["<embedding Gather>"] * (op_types is None),
            "bits": 8,
            "group_size": None,
            "granularity": granularity,
            "op_types": ops,
            "export": export,
        },
    )


def write_int4(
    model, tokenizer, folder: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """ONNX export + ONNX Runtime ``MatMulNBits`` block-wise 4-bit weights.

    ``MatMulNBitsQuantizer`` replaces every ``MatMul`` with a constant weight by
    ``MatMulNBits`` (``bits``-bit blocks of ``block_size`` along the input dimension,
    one scale per block, zero points when asymmetric). With ``quantize_embeddings``
    the embedding ``Gather`` ops become ``GatherBlockQuantized``, without which the
    FP32 word embeddings alone would be ~half of MiniLM's INT4 file. The classifier
    head is exported as ``Gemm`` and stays FP32.
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    bits, block_size = int(options["bits"]), int(options["block_size"])
    if block_size < MIN_BLOCK_SIZE or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, got {block_size}")
    op_types = ("MatMul", "Gather") if options["quantize_embeddings"] else ("MatMul",)
    symmetric, level = bool(options["symmetric"]), options["accuracy_level"]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export = export_onnx(
            model, tokenizer, fp32, int(options["opset"]), options["exporter"]
        )
        quantizer = MatMulNBitsQuantizer(
            onnx.load(str(fp32)),
            bits=bits,
            block_size=block_size,
            is_symmetric=symmetric,
            op_types_to_quantize=op_types,
            accuracy_level=None if level is None else int(level),
        )
        # The forced opset-21 upgrade warning is expected.
        logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(
            logging.ERROR
        )
        quantizer.process()
        quantizer.model.save_model_to_file(str(folder / WEIGHTS_FILE), False)
    names, ops = op_histogram(folder / WEIGHTS_FILE, INT4_OPS)
    if not names:
        raise RuntimeError("MatMulNBitsQuantizer quantized no node")
    kind = "symmetric" if symmetric else "asymmetric"
    embeddings = ", embeddings as GatherBlockQuantized" if "Gather" in op_types else ""
    return _finish(
        model,
        tokenizer,
        folder,
        {
            "method": f"onnxruntime MatMulNBitsQuantizer (RTN, {bits}-bit, block "
            f"{block_size}, {kind}{embeddings})",
            "quantized_modules": names,
            "bits": bits,
            "group_size": block_size,
            "op_types": ops,
            "export": export,
        },
    )


class OnnxClassifier:
    """An ONNX Runtime ``InferenceSession`` (``logits`` output) plus its tokenizer."""

    def __init__(
        self,
        model_path: Path,
        tokenizer,
        id2label: dict[int, str],
        max_length: int,
        threads: int | None = None,
    ) -> None:
        """Open the session; ``threads`` intra-op threads (``None``: ORT's default)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.id2label = id2label

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits in input order, texts batched by length."""
        from quant_sentiment.inference import length_sorted_batches

        texts = list(texts)
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        for idx in length_sorted_batches(texts, batch_size):
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {name: enc[name].astype(np.int64) for name in self.input_names}
            out[idx] = self.session.run(["logits"], feed)[0]
        return out


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> OnnxClassifier:
    """Open ``model.onnx`` with ``threads`` intra-op threads."""
    config, tokenizer = load_config_and_tokenizer(folder)
    return OnnxClassifier(
        folder / manifest["weights_file"],
        tokenizer,
        id2label_of(config),
        max_length=manifest["max_length"],
        threads=threads,
    )
