"""Builders of the exploratory INT8 routes of :mod:`~quant_sentiment.bench.int8_routes`:
an ONNX graph with one activation scale per row (:func:`per_row_scales`) and PyTorch 2
export quantization with ``X86InductorQuantizer`` compiled by inductor (:func:`pt2e`).
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np

MATRIX_RANK = 2


def per_row_scales(src: Path, dst: Path) -> int:
    """Quantize an FP32 graph with one activation scale per row (token).

    Every ``MatMul`` with a constant weight ``W`` becomes: ``s = max|x| / 127`` over
    the last axis, ``q = round(x / s) + 128`` as uint8 (zero point 128),
    ``MatMulInteger(q, W8, 128)`` with ``W8`` symmetric per-column INT8, and the
    int32 result times ``s`` and the column scales. A row's rounding depends on that
    row alone, so the graph is batch-invariant when batched. Embeddings stay FP32.
    Returns the number of rewritten ``MatMul`` nodes.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load(str(src))
    graph = proto.graph
    inits = {i.name: i for i in graph.initializer}
    consts = {
        "pr_127": np.array(127.0, np.float32),
        "pr_m127": np.array(-127.0, np.float32),
        "pr_128": np.array(128.0, np.float32),
        "pr_eps": np.array(1e-12, np.float32),
        "pr_zp": np.array(128, np.uint8),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    nodes, rewritten = [], 0
    for node in graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != MATRIX_RANK:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weight).astype(np.float32)
        w_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        w8 = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        p, x = f"pr{rewritten}", node.input[0]
        graph.initializer.extend(
            [
                numpy_helper.from_array(w8, f"{p}_w8"),
                numpy_helper.from_array(w_scale.astype(np.float32), f"{p}_ws"),
            ]
        )
        nodes += [
            helper.make_node("Abs", [x], [f"{p}_abs"]),
            # opset 17: axes as an attribute (an input from opset 18)
            helper.make_node("ReduceMax", [f"{p}_abs"], [f"{p}_max"], axes=[-1]),
            helper.make_node("Max", [f"{p}_max", "pr_eps"], [f"{p}_m"]),
            helper.make_node("Div", [f"{p}_m", "pr_127"], [f"{p}_s"]),
            helper.make_node("Div", [x, f"{p}_s"], [f"{p}_xs"]),
            helper.make_node("Round", [f"{p}_xs"], [f"{p}_r"]),
            helper.make_node("Add", [f"{p}_r", "pr_128"], [f"{p}_u"]),
            helper.make_node("Cast", [f"{p}_u"], [f"{p}_q"], to=TensorProto.UINT8),
            helper.make_node(
                "MatMulInteger", [f"{p}_q", f"{p}_w8", "pr_zp"], [f"{p}_i"]
            ),
            helper.make_node("Cast", [f"{p}_i"], [f"{p}_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}_f", f"{p}_s"], [f"{p}_fs"]),
            helper.make_node("Mul", [f"{p}_fs", f"{p}_ws"], list(node.output)),
        ]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for n in graph.node for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.save(proto, str(dst))
    return rewritten


class TorchPerText:
    """A compiled PyTorch ``(input_ids, attention_mask) -> logits`` callable run
    per text, unpadded (dynamic per-tensor activation scales: as ``int8_ort``)."""

    def __init__(self, forward, tokenizer, id2label, max_length) -> None:
        self.forward, self.tokenizer = forward, tokenizer
        self.id2label, self.max_length = id2label, max_length

    def predict_logits(self, texts, batch_size: int = 64) -> np.ndarray:
        """Logits per text."""
        import torch

        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        with torch.no_grad():
            for i, text in enumerate(texts):
                enc = self.tokenizer(
                    [text],
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = self.forward(enc["input_ids"], enc["attention_mask"])
                out[i] = logits.float().numpy()[0]
        return out


def pt2e(model, tokenizer, texts: list[str], timeout_s: int) -> TorchPerText:
    """``X86InductorQuantizer`` dynamic INT8 (PT2E) + ``torch.compile`` with freezing,
    warmed up on every text within ``timeout_s`` (raises ``TimeoutError``)."""
    import torch
    import torch._inductor.config as inductor
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from quant_sentiment.formats.onnx import logits_only

    def expire(*_):
        raise TimeoutError(f"PT2E export/compile/warm-up took over {timeout_s} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(timeout_s)
    try:
        wrapped = logits_only(model)
        sample = tokenizer(
            ["a short text", "a somewhat longer text with more words"],
            padding=True,
            return_tensors="pt",
        )
        args = (sample["input_ids"], sample["attention_mask"])
        batch = torch.export.Dim("batch", min=1, max=64)
        seq = torch.export.Dim("seq", min=2, max=int(tokenizer.model_max_length))
        shapes = ({0: batch, 1: seq}, {0: batch, 1: seq})
        exported = torch.export.export(wrapped, args, dynamic_shapes=shapes).module()
        quantizer = xiq.X86InductorQuantizer()
        quantizer.set_global(
            xiq.get_default_x86_inductor_quantization_config(is_dynamic=True)
        )
        prepared = prepare_pt2e(exported, quantizer)
        with torch.no_grad():
            prepared(*args)
        converted = convert_pt2e(prepared)
        inductor.freezing = True
        clf = TorchPerText(
            torch.compile(converted, dynamic=True),
            tokenizer,
            {int(k): v for k, v in model.config.id2label.items()},
            int(tokenizer.model_max_length),
        )
        clf.predict_logits(texts)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return clf
