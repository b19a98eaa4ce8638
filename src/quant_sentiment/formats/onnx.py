"""Format ``onnx``: an ONNX Runtime model (``model.onnx``) with its tokenizer.

Writers: the FP32 export (:func:`export_onnx`), dynamic INT8
(:func:`write_int8`: ``MatMulInteger`` / ``DynamicQuantizeLinear``, embeddings as
quantized ``Gather``) and block-wise INT4 (:func:`write_int4`: ``MatMulNBits``,
embeddings as ``GatherBlockQuantized``) and mixed INT4/INT8 (:func:`write_mixed`:
chosen groups of layers through ``quantize_dynamic``, the rest ``MatMulNBits``, in one
graph). Both quantizers are wrapped once (:func:`quantize_int8_file`,
:func:`quantize_int4_proto`) and shared by the writers. :func:`node_group` maps the
exporter's node names to quantizable groups (embeddings, Q/K/V, attention output,
FFN in/out, pooler, classifier). Loader: :func:`load`, an ``InferenceSession`` with
the caller's intra-op thread count.
"""

from __future__ import annotations

import copy
import logging
import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._base import (
    TokenizedGraphClassifier,
    id2label_of,
    load_config_and_tokenizer,
    save_config_and_tokenizer,
)

FORMAT = "onnx"
WEIGHTS_FILE = "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
EXPORTERS = ("torchscript", "dynamo")
#: An export whose logits differ from PyTorch by more than this is rejected.
EXPORT_TOLERANCE = 1e-3
MIN_BLOCK_SIZE = 16
INT8_OPS = {"MatMulInteger", "DynamicQuantizeMatMul", "QGemm", "QAttention"}
INT4_OPS = {"MatMulNBits", "GatherBlockQuantized"}
#: Ops that compute activation scales at run time over the whole input tensor (every
#: text and padding position of a batch): a graph with one runs each text alone.
DYNAMIC_ACTIVATION_OPS = {
    "DynamicQuantizeLinear",
    "DynamicQuantizeMatMul",
    "QAttention",
}
PER_TEXT, BATCHED = "per_text", "batched"


def batch_mode(op_types: Collection[str]) -> str:
    """How a graph is run so that a text's answer does not depend on its batchmates.

    ``per_text`` (each text alone, unpadded) when the graph quantizes activations
    with a scale computed over the whole input tensor (ONNX Runtime's dynamic INT8:
    one scale per tensor, so a batchmate or the padding moves everyone's rounding);
    ``batched`` otherwise (float, weight-only INT4, static scales: padding is masked).
    """
    return PER_TEXT if DYNAMIC_ACTIVATION_OPS & set(op_types) else BATCHED


def batch_invariance(op_types: Collection[str]) -> str:
    """The manifest's ``batch_invariance``: how this graph achieves it."""
    if batch_mode(op_types) == PER_TEXT:
        return (
            "per_text: dynamic activation scales (DynamicQuantizeLinear) span the "
            "whole batch tensor, so each text runs alone, unpadded"
        )
    return "batched: no run-time activation scales (padding masked)"


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


def torch_export(
    wrapped,
    args,
    names,
    path: Path,
    opset: int,
    exporter: str,
    outputs: Sequence[str] = ("logits",),
) -> None:
    """``torch.onnx.export`` of ``wrapped`` with a dynamic batch and sequence length
    (TorchScript or dynamo exporter), one named graph output per entry of ``outputs``
    (``formats.onnx_multitask`` exports one per task)."""
    import onnx
    import torch

    if exporter == "torchscript":
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        axes.update({o: {0: "batch"} for o in outputs})
        dynamic: dict[str, Any] = {"dynamic_axes": axes, "dynamo": False}
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
            output_names=list(outputs),
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
    torch_export(wrapped, args, names, path, opset, exporter)
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
        "batch_invariance": batch_invariance(fields["op_types"]),
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


def quantize_int8_file(
    src: Path,
    dst: Path,
    options: dict[str, Any],
    op_types: list[str] | None = None,
    nodes: list[str] | None = None,
) -> None:
    """ONNX Runtime ``quantize_dynamic`` of ``src`` into ``dst`` (INT8 weights).

    Args:
        options: ``per_channel``, ``reduce_range``, ``weight_type`` (``qint8`` |
            ``quint8``).
        op_types: Op types to quantize (``None``: every type ORT quantizes, the
            embedding ``Gather`` included).
        nodes: Only these nodes (``None``: every node of ``op_types``).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_types = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
    weight_type = str(options["weight_type"]).lower()
    if weight_type not in weight_types:
        raise ValueError(f"weight_type must be one of {sorted(weight_types)}")
    quantize_dynamic(
        str(src),
        str(dst),
        per_channel=bool(options["per_channel"]),
        reduce_range=bool(options["reduce_range"]),
        weight_type=weight_types[weight_type],
        op_types_to_quantize=op_types,
        nodes_to_quantize=nodes,
        # Shape inference stops at contrib ops (MatMulNBits in a mixed graph); the
        # tensors it cannot type are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
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
    weight_type = str(options["weight_type"]).lower()
    per_channel = bool(options["per_channel"])
    op_types = None if options["quantize_embeddings"] else ["MatMul", "Gemm"]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export = export_onnx(
            model, tokenizer, fp32, int(options["opset"]), options["exporter"]
        )
        quantize_int8_file(fp32, folder / WEIGHTS_FILE, options, op_types=op_types)
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


def quantize_int4_proto(
    proto,
    options: dict[str, Any],
    op_types: Sequence[str],
    exclude: Collection[str] = (),
):
    """ONNX Runtime ``MatMulNBitsQuantizer`` (RTN) on a loaded graph.

    Every ``op_types`` node with a constant weight (``MatMul`` -> ``MatMulNBits``,
    ``Gather`` -> ``GatherBlockQuantized``) except the nodes named in ``exclude`` gets
    ``bits``-bit weights in blocks of ``block_size`` along the input dimension, one
    scale per block (zero points when asymmetric).

    Args:
        options: ``bits``, ``block_size`` (a power of two >= 16), ``symmetric``,
            ``accuracy_level`` (``None``: ORT's default).

    Returns:
        The quantized ``onnx.ModelProto`` (opset raised to 21 for 4-bit types).
    """
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    bits, block_size = int(options["bits"]), int(options["block_size"])
    if block_size < MIN_BLOCK_SIZE or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, got {block_size}")
    level = options["accuracy_level"]
    # The forced opset-21 upgrade warning is expected; per-node INFO lines are noise.
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(
        logging.ERROR
    )
    quantizer = MatMulNBitsQuantizer(
        proto,
        bits=bits,
        block_size=block_size,
        is_symmetric=bool(options["symmetric"]),
        op_types_to_quantize=tuple(op_types),
        nodes_to_exclude=list(exclude),
        accuracy_level=None if level is None else int(level),
    )
    # Blocks of zeros (e.g. the [PAD] embedding row) divide 0 by a 0 scale, which
    # ORT maps to 0 after numpy warns.
    with np.errstate(divide="ignore", invalid="ignore"):
        quantizer.process()
    quantizer.model.topological_sort()
    return quantizer.model.model


def write_int4(
    model, tokenizer, folder: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """ONNX export + ONNX Runtime ``MatMulNBits`` block-wise 4-bit weights.

    :func:`quantize_int4_proto` replaces every ``MatMul`` with a constant weight by
    ``MatMulNBits``. With ``quantize_embeddings`` the embedding ``Gather`` ops become
    ``GatherBlockQuantized``, without which the FP32 word embeddings alone would be
    ~half of MiniLM's INT4 file. The classifier head is exported as ``Gemm`` and
    stays FP32.
    """
    import onnx

    bits, block_size = int(options["bits"]), int(options["block_size"])
    op_types = ("MatMul", "Gather") if options["quantize_embeddings"] else ("MatMul",)
    symmetric = bool(options["symmetric"])
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export = export_onnx(
            model, tokenizer, fp32, int(options["opset"]), options["exporter"]
        )
        proto = quantize_int4_proto(onnx.load(str(fp32)), options, op_types)
        onnx.save(proto, str(folder / WEIGHTS_FILE))
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


#: Quantizable groups of a BERT classifier, by the module scope in the ONNX node
#: names of the TorchScript exporter (``/bert/encoder/layer.0/attention/self/query/
#: MatMul``; a wrapper may add a prefix such as ``/inner``).
GROUP_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"/embeddings/word_embeddings/", "embeddings.word"),
    (r"/embeddings/position_embeddings/", "embeddings.position"),
    (r"/embeddings/token_type_embeddings/", "embeddings.token_type"),
    (r"/encoder/layer\.(\d+)/attention/self/query/", "layer.{}.query"),
    (r"/encoder/layer\.(\d+)/attention/self/key/", "layer.{}.key"),
    (r"/encoder/layer\.(\d+)/attention/self/value/", "layer.{}.value"),
    (r"/encoder/layer\.(\d+)/attention/output/dense/", "layer.{}.attention_output"),
    (r"/encoder/layer\.(\d+)/intermediate/dense/", "layer.{}.ffn_in"),
    (r"/encoder/layer\.(\d+)/output/dense/", "layer.{}.ffn_out"),
    (r"/pooler/dense/", "pooler"),
    (r"/classifier/", "classifier"),
    # a multi-task model's heads (formats.multitask): /inner/heads.<task>/Gemm
    (r"/heads\.(\w+)/", "head.{}"),
)
_WEIGHT_INPUT = {"MatMul": 1, "Gather": 0, "Gemm": 1, "MatMulNBits": 1}
_WEIGHT_INPUT |= {"GatherBlockQuantized": 0, "MatMulInteger": 1}


def node_group(node_name: str) -> str | None:
    """The quantizable group an ONNX node belongs to, or ``None``.

    ``/bert/encoder/layer.3/intermediate/dense/MatMul`` -> ``layer.3.ffn_in``;
    quantized nodes keep their scope (``..._Q4``, ``..._quant``), so quantized graphs
    map the same way. Attention-score ``MatMul`` ops, LayerNorms and shape ops have
    no group.
    """
    for pattern, group in GROUP_PATTERNS:
        found = re.search(pattern, node_name)
        if found:
            return group.format(*found.groups())
    return None


def _weight_of(node, initializers: dict[str, Any]):
    """The constant weight initializer of a MatMul/Gather-like node, or ``None``."""
    index = _WEIGHT_INPUT.get(node.op_type)
    if index is None or len(node.input) <= index:
        return None
    return initializers.get(node.input[index])


def weight_nodes(proto) -> dict[str, list[str]]:
    """``{group: [node names]}`` of the nodes with a constant weight, in graph order."""
    inits = {i.name: i for i in proto.graph.initializer}
    groups: dict[str, list[str]] = {}
    for node in proto.graph.node:
        group = node_group(node.name)
        if group and _weight_of(node, inits) is not None:
            groups.setdefault(group, []).append(node.name)
    return groups


def _gemm_as_matmul(proto) -> None:
    """Rewrite ``Gemm`` heads (pooler, classifier) as ``MatMul`` + ``Add`` in place.

    ``MatMulNBitsQuantizer`` quantizes ``MatMul`` only; as ``MatMul`` the pooler and
    the classifier can be INT4 or INT8 like every other group. Same arithmetic.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    inits = {i.name: i for i in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
        if node.op_type != "Gemm" or node.input[1] not in inits or not plain:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        weight = weight.T if attrs.get("transB", 0) else weight
        scope = node.name.rsplit("/", 1)[0]
        name, out = f"{node.input[1]}.matmul", f"{scope}/MatMul_output_0"
        graph.initializer.append(numpy_helper.from_array(weight.copy(), name))
        nodes.append(
            helper.make_node("MatMul", [node.input[0], name], [out], scope + "/MatMul")
        )
        nodes.append(
            helper.make_node(
                "Add", [out, node.input[2]], list(node.output), scope + "/Add"
            )
        )
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(proto)


@dataclass(frozen=True)
class Fp32Graph:
    """An FP32 ONNX export, serialized, kept to derive every mixed graph from.

    Attributes:
        model: The serialized ``ModelProto`` (heads as ``MatMul`` + ``Add``).
        export: How it was exported (:func:`export_onnx`'s record).
        groups: ``{group: [weight node names]}`` in graph order.
        group_params: Number of weights of each group.
    """

    model: bytes
    export: dict[str, Any]
    groups: dict[str, list[str]]
    group_params: dict[str, int]


def export_fp32_graph(
    model, tokenizer, options: dict[str, Any], export: Callable | None = None
) -> Fp32Graph:
    """Export once (``exporter``, ``opset``) and find the quantizable groups.

    ``export``: the exporter function (``path``, ``opset``, ``exporter`` as
    :func:`export_onnx`, the default; ``formats.multitask`` passes its
    one-output-per-task export).

    Raises:
        ValueError: If no node name carries a known module scope (an exporter whose
            names do not, such as ``dynamo``).
    """
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fp32.onnx"
        export = (export or export_onnx)(
            model, tokenizer, path, int(options["opset"]), options["exporter"]
        )
        proto = onnx.load(str(path))
    _gemm_as_matmul(proto)
    groups = weight_nodes(proto)
    if not groups:
        raise ValueError(
            f"No ONNX node name of the {options['exporter']!r} export carries a "
            "module scope (/bert/encoder/layer.N/...); use exporter: torchscript"
        )
    inits = {i.name: i for i in proto.graph.initializer}
    by_name = {n.name: n for n in proto.graph.node}
    params = {
        group: sum(int(np.prod(_weight_of(by_name[n], inits).dims)) for n in names)
        for group, names in groups.items()
    }
    return Fp32Graph(proto.SerializeToString(), export, groups, params)


def quantize_groups(
    graph: Fp32Graph,
    int4: Collection[str],
    int8: Collection[str],
    options: dict[str, Any],
):
    """The FP32 graph with ``int4`` groups 4-bit and ``int8`` groups 8-bit; rest FP32.

    INT4 first (:func:`quantize_int4_proto` on ``MatMul`` and ``Gather``, every node
    outside the ``int4`` groups excluded), then INT8 (:func:`quantize_int8_file`
    restricted to the ``int8`` groups' nodes).

    Args:
        options: ``int4`` and ``int8`` blocks (see the two quantizers).

    Returns:
        The ``onnx.ModelProto``.
    """
    import onnx

    unknown = (set(int4) | set(int8)) - set(graph.groups)
    if unknown or set(int4) & set(int8):
        raise ValueError(
            f"groups must be known and either INT4 or INT8: unknown {sorted(unknown)}"
            f", both {sorted(set(int4) & set(int8))}; known {list(graph.groups)}"
        )
    proto = onnx.load_from_string(graph.model)
    chosen = {n for g in int4 for n in graph.groups[g]}
    if chosen:
        others = [n.name for n in proto.graph.node if n.name not in chosen]
        proto = quantize_int4_proto(
            proto, options["int4"], ("MatMul", "Gather"), exclude=others
        )
    if not int8:
        return proto
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        onnx.save(proto, str(src))
        nodes = [n for g in int8 for n in graph.groups[g]]
        quantize_int8_file(src, dst, options["int8"], nodes=nodes)
        return onnx.load(str(dst))


def group_precisions(proto) -> dict[str, str]:
    """``{group: "int4" | "int8" | "fp32"}`` as the graph holds them.

    Read from the nodes themselves: ``MatMulNBits`` / ``GatherBlockQuantized`` are
    INT4, ``MatMulInteger`` and a ``Gather`` of 8-bit data INT8, a float weight FP32
    (a group with several kinds lists them joined by ``+``).
    """
    import onnx

    eight_bit = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    inits = {i.name: i for i in proto.graph.initializer}
    found: dict[str, set[str]] = {}
    for node in proto.graph.node:
        group, weight = node_group(node.name), _weight_of(node, inits)
        if group is None or weight is None:
            continue
        if node.op_type in INT4_OPS:
            kind = "int4"
        elif node.op_type == "MatMulInteger" or weight.data_type in eight_bit:
            kind = "int8"
        else:
            kind = "fp32"
        found.setdefault(group, set()).add(kind)
    return {g: "+".join(sorted(kinds)) for g, kinds in found.items()}


def write_mixed(
    model,
    tokenizer,
    folder: Path,
    graph: Fp32Graph,
    int8_groups: Sequence[str],
    options: dict[str, Any],
) -> dict[str, Any]:
    """Mixed precision: ``int8_groups`` INT8 (per-channel ``MatMulInteger``,
    quantized ``Gather``), every other group INT4 (``MatMulNBits``,
    ``GatherBlockQuantized``), in one ONNX graph derived from ``graph``.

    Returns:
        Manifest fields; ``groups`` lists which groups the written graph holds at
        INT8, INT4 and FP32 (read back from its nodes, :func:`group_precisions`).
    """
    fields = mixed_graph_fields(folder, graph, int8_groups, options)
    return _finish(model, tokenizer, folder, fields)


def mixed_graph_fields(
    folder: Path,
    graph: Fp32Graph,
    int8_groups: Sequence[str],
    options: dict[str, Any],
) -> dict[str, Any]:
    """:func:`write_mixed`'s graph written to ``folder`` / ``model.onnx``; its
    format-independent manifest fields (``formats.multitask`` adds its own)."""
    import onnx

    int4 = [g for g in graph.groups if g not in set(int8_groups)]
    proto = quantize_groups(graph, int4, list(int8_groups), options)
    onnx.save(proto, str(folder / WEIGHTS_FILE))
    precision = group_precisions(proto)
    held = {
        p: [g for g in graph.groups if precision.get(g) == p] for p in ("int8", "int4")
    }
    held["fp32"] = [g for g in graph.groups if precision.get(g) not in ("int8", "int4")]
    names, ops = op_histogram(folder / WEIGHTS_FILE, INT4_OPS | INT8_OPS)
    q4, q8 = options["int4"], options["int8"]
    granularity = "per channel" if q8["per_channel"] else "per tensor"
    return {
        "method": f"onnxruntime mixed: {len(held['int8'])} groups INT8 "
        f"(quantize_dynamic: {granularity} MatMulInteger, per-tensor Gather), "
        f"{len(held['int4'])} INT4 (MatMulNBits / GatherBlockQuantized RTN, "
        f"block {q4['block_size']})",
        "quantized_modules": names,
        "bits": "/".join(b for b in ("4", "8") if held[f"int{b}"]) or 32,
        "group_size": int(q4["block_size"]),
        "op_types": ops,
        "groups": held,
        "export": graph.export,
    }


class OnnxClassifier(TokenizedGraphClassifier):
    """An ONNX Runtime ``InferenceSession`` (``logits`` output) plus its tokenizer.

    ``mode`` (:func:`batch_mode`, read from the graph's ops unless given): a
    ``per_text`` graph (dynamic INT8) runs each text alone without padding, so its
    answer is the same in any batch; a ``batched`` one runs length-sorted batches.
    """

    def __init__(
        self,
        model_path: Path | bytes,
        tokenizer,
        id2label: dict[int, str],
        max_length: int,
        threads: int | None = None,
        optimize: bool = True,
        mode: str | None = None,
    ) -> None:
        """Open the session (a file, or a serialized graph); ``threads`` intra-op
        threads (``None``: ORT's default); ``optimize: False`` runs the graph as
        written (``ORT_DISABLE_ALL``: no fusions), for checks of the runtime's own
        float-level variation; ``mode``: ``per_text`` | ``batched`` (``None``: from
        the graph's ops)."""
        import onnx
        import onnxruntime as ort

        if mode not in (None, PER_TEXT, BATCHED):
            raise ValueError(f"mode must be {PER_TEXT!r} or {BATCHED!r}, got {mode!r}")
        options = ort.SessionOptions()
        if not optimize:
            options.graph_optimization_level = (
                ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            )
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        model = model_path if isinstance(model_path, bytes) else str(model_path)
        self.session = ort.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.id2label = id2label
        if mode is None:
            graph = (
                onnx.load_from_string(model_path)
                if isinstance(model_path, bytes)
                else onnx.load(model, load_external_data=False)
            ).graph
            mode = batch_mode({node.op_type for node in graph.node})
        self.mode = mode

    def _logits(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], feed)[0]

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits in input order: per text (``per_text``) or in length-sorted
        batches (``batched``, ``batch_size`` texts each)."""
        if self.mode == BATCHED:
            return super().predict_logits(texts, batch_size)
        texts = list(texts)
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        if not texts:
            return out
        # One tokenizer call for all texts, no padding; each runs as a [1, length] batch.
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        for i in range(len(texts)):
            feed = {
                name: np.asarray(enc[name][i], dtype=np.int64)[None, :]
                for name in self.input_names
            }
            out[i] = self._logits(feed)[0]
        return out


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> OnnxClassifier:
    """Open ``model.onnx`` with ``threads`` intra-op threads."""
    from quant_sentiment.integrity import inside  # the path stays in the folder

    config, tokenizer = load_config_and_tokenizer(folder)
    return OnnxClassifier(
        inside(folder, manifest["weights_file"]),
        tokenizer,
        id2label_of(config),
        max_length=manifest["max_length"],
        threads=threads,
    )
