"""Formats ``hf_multitask`` and ``onnx_multitask``: a saved
:class:`~quant_sentiment.multitask.MultiTaskModel` as a classifier.

=================  =============================================================
format             files
=================  =============================================================
``hf_multitask``   ``save_pretrained`` folder (encoder, heads, ``log_vars``,
                   config with the tasks) + tokenizer
``onnx_multitask`` ``model.onnx`` (one output ``logits__<task>`` per task,
                   :mod:`.onnx_multitask`) + ``model_config.json`` + tokenizer
=================  =============================================================

Both load as a :class:`MultiTaskClassifier`: :meth:`~MultiTaskClassifier.
predict_task_logits` gives every head's logits in one pass; ``predict_logits`` and
``id2label`` are the **primary** task's (the first single_label one), so the
single-task consumers (``evaluate``, ``predict``) score the primary head unchanged
until they learn about tasks. Writers return the manifest fields; the caller writes
the manifest (:func:`quant_sentiment.manifest.write_manifest`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._base import MODEL_CONFIG_FILE, not_a_transformers_folder
from .onnx import INPUT_NAMES, batch_mode

FORMAT_HF = "hf_multitask"
FORMAT_ONNX = "onnx_multitask"
ONNX_FILE = "model.onnx"
WEIGHTS_FILE = "model.safetensors"

Batch = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def primary_task(tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The first single_label task (the registry's primary task)."""
    return next(t for t in tasks if t["kind"] == "single_label")


class MultiTaskClassifier:
    """Every head's logits from one encoder pass, texts batched by length."""

    def __init__(
        self,
        run: Batch,
        tokenizer,
        tasks: list[dict[str, Any]],
        max_length: int | None,
        input_names: Sequence[str],
        mode: str = "batched",
    ) -> None:
        """``mode``: ``batched`` (length-sorted padded batches) or ``per_text``
        (each text alone, unpadded: graphs with run-time activation scales,
        ``formats.onnx.batch_mode``)."""
        self._run = run
        self.mode = mode
        self.tokenizer = tokenizer
        self.tasks = [dict(t) for t in tasks]
        self.max_length = max_length
        self.input_names = list(input_names)
        # a one-task multi_label model (finetune_per_task) has no single_label
        # task: its one head is the primary one
        primary = next((t for t in self.tasks if t["kind"] == "single_label"), None)
        primary = primary or self.tasks[0]
        self.primary = primary["name"]
        self.id2label = dict(enumerate(primary["labels"]))

    def predict_task_logits(
        self, texts: Sequence[str], batch_size: int = 64
    ) -> dict[str, np.ndarray]:
        """``{task: logits}`` (float32, ``[n, classes]``) in input order."""
        from quant_sentiment.inference import length_sorted_batches

        texts = list(texts)
        out = {
            t["name"]: np.zeros((len(texts), len(t["labels"])), dtype=np.float32)
            for t in self.tasks
        }
        batches = (
            length_sorted_batches(texts, batch_size)
            if self.mode == "batched"
            else ([i] for i in range(len(texts)))
        )
        for idx in batches:
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=self.mode == "batched",
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {n: enc[n].astype(np.int64) for n in self.input_names if n in enc}
            for name, logits in self._run(feed).items():
                out[name][idx] = logits
        return out

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The primary task's logits (the single-task contract)."""
        return self.predict_task_logits(texts, batch_size)[self.primary]


def _fields(fmt: str, model, max_length: int, method: str) -> dict[str, Any]:
    import torch

    return {
        "format": fmt,
        "status": "ok",
        "tasks": model.config.tasks,
        "max_length": int(max_length),
        "method": method,
        "batch_invariance": "batched: float compute, padding masked",
        "library": "torch",
        "library_version": torch.__version__,
        "quantized_modules": [],
        "bits": 32,
        "group_size": None,
    }


def write_hf(model, tokenizer, folder: Path, max_length: int) -> dict[str, Any]:
    """``save_pretrained`` of the model and its tokenizer; the manifest fields."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    fields = _fields(FORMAT_HF, model, max_length, "FP32 eager (transformers)")
    return {**fields, "weights_file": WEIGHTS_FILE}


def write_onnx(
    model, tokenizer, folder: Path, max_length: int, options: dict[str, Any]
) -> dict[str, Any]:
    """FP32 ONNX graph with one output per task (``options``: ``opset``,
    ``exporter``), checked against PyTorch; the manifest fields."""
    from .onnx_multitask import export_multitask_onnx

    folder = Path(folder)
    info = export_multitask_onnx(
        model,
        tokenizer,
        folder / ONNX_FILE,
        int(options.get("opset", 17)),
        options.get("exporter", "torchscript"),
    )
    model.config.to_json_file(folder / MODEL_CONFIG_FILE)
    tokenizer.save_pretrained(folder)
    (folder / "config.json").write_text(
        json.dumps(not_a_transformers_folder(FORMAT_ONNX))
    )
    method = f"torch.onnx.export ({info['exporter']}, opset {info['opset']}), FP32"
    fields = _fields(FORMAT_ONNX, model, max_length, method)
    return {**fields, "weights_file": ONNX_FILE, "outputs": info["outputs"]}


def _write_quantized(
    model, tokenizer, folder: Path, max_length: int, options, quantize, op_set
) -> dict[str, Any]:
    """Export :func:`write_onnx`'s FP32 graph to a temporary folder, write
    ``quantize(src, dst)`` of it into ``folder`` with the config and tokenizer; the
    FP32 fields plus the quantized graph's ``quantized_modules`` / ``op_types``
    (ops of ``op_set``) and ``batch_invariance``."""
    import tempfile

    import onnx

    from .onnx import batch_invariance, op_histogram

    folder = Path(folder)
    with tempfile.TemporaryDirectory() as tmp:
        fields = write_onnx(model, tokenizer, Path(tmp), max_length, options)
        quantize(Path(tmp) / ONNX_FILE, folder / ONNX_FILE)
    model.config.to_json_file(folder / MODEL_CONFIG_FILE)
    tokenizer.save_pretrained(folder)
    (folder / "config.json").write_text(
        json.dumps(not_a_transformers_folder(FORMAT_ONNX))
    )
    names, ops = op_histogram(folder / ONNX_FILE, op_set)
    if not names:
        raise RuntimeError(f"the quantizer replaced no node by one of {sorted(op_set)}")
    graph = onnx.load(str(folder / ONNX_FILE), load_external_data=False).graph
    graph_ops = {n.op_type for n in graph.node}
    return {
        **fields,
        "batch_invariance": batch_invariance(graph_ops),
        "quantized_modules": names,
        "op_types": ops,
    }


def write_onnx_int8(
    model, tokenizer, folder: Path, max_length: int, options: dict[str, Any]
) -> dict[str, Any]:
    """:func:`write_onnx`'s graph through ONNX Runtime ``quantize_dynamic`` (INT8
    weights, dynamic uint8 activations; ``formats.onnx.quantize_int8_file``), every
    head kept as its own output. ``options`` as ``int8_ort``'s: ``exporter``,
    ``opset``, ``per_channel``, ``reduce_range``, ``weight_type``,
    ``quantize_embeddings``."""
    from .onnx import INT8_OPS, quantize_int8_file

    op_types = None if options.get("quantize_embeddings", True) else ["MatMul", "Gemm"]

    def quantize(src: Path, dst: Path) -> None:
        quantize_int8_file(src, dst, options, op_types)

    fields = _write_quantized(
        model, tokenizer, folder, max_length, options, quantize, INT8_OPS
    )
    granularity = "per channel" if options.get("per_channel") else "per tensor"
    return {
        **fields,
        "method": "onnxruntime.quantization.quantize_dynamic "
        f"({granularity}, {options.get('weight_type')} weights, dynamic uint8 "
        "activations), one output per task",
        "bits": 8,
        "granularity": granularity,
    }


def write_onnx_int4(
    model, tokenizer, folder: Path, max_length: int, options: dict[str, Any]
) -> dict[str, Any]:
    """:func:`write_onnx`'s graph with ONNX Runtime ``MatMulNBits`` block-wise
    weights (``formats.onnx.quantize_int4_proto``, RTN); the heads (``Gemm``) stay
    FP32. ``options`` as ``int4``'s: ``exporter``, ``opset``, ``bits``,
    ``block_size``, ``symmetric``, ``accuracy_level``, ``quantize_embeddings``."""
    import onnx

    from .onnx import INT4_OPS, quantize_int4_proto

    op_types = ("MatMul", "Gather") if options["quantize_embeddings"] else ("MatMul",)

    def quantize(src: Path, dst: Path) -> None:
        onnx.save(quantize_int4_proto(onnx.load(str(src)), options, op_types), str(dst))

    fields = _write_quantized(
        model, tokenizer, folder, max_length, options, quantize, INT4_OPS
    )
    kind = "symmetric" if options["symmetric"] else "asymmetric"
    return {
        **fields,
        "method": f"onnxruntime MatMulNBitsQuantizer (RTN, {options['bits']}-bit, "
        f"block {options['block_size']}, {kind}), one output per task",
        "bits": int(options["bits"]),
        "group_size": int(options["block_size"]),
    }


def export_fp32_graph(model, tokenizer, options: dict[str, Any]):
    """``formats.onnx.export_fp32_graph`` of the multi-task graph (one output per
    task): the groups of a BERT classifier plus one ``head.<task>`` group per head
    (``quantize_mixed``; ``options``: ``exporter``, ``opset``)."""
    from .onnx import export_fp32_graph as export_graph

    return export_graph(model, tokenizer, options, export=_export_scoped_heads)


def _export_scoped_heads(model, tokenizer, path: Path, opset: int, exporter: str):
    """``export_multitask_onnx``, then each head's ``Gemm`` named
    ``/heads.<task>/Gemm``: the TorchScript exporter scopes a ``ModuleDict`` child
    by its key alone (``/<task>/Gemm``), which ``formats.onnx.node_group`` could not
    tell from any other module; the head is found by its weight
    (``*heads.<task>.weight``)."""
    import re

    import onnx

    from .onnx_multitask import export_multitask_onnx

    info = export_multitask_onnx(model, tokenizer, path, opset, exporter)
    proto = onnx.load(str(path))
    names = {t["name"] for t in model.config.tasks}
    for node in proto.graph.node:
        found = [re.search(r"heads\.(\w+)\.weight$", name) for name in node.input]
        tasks = {f.group(1) for f in found if f and f.group(1) in names}
        if node.op_type == "Gemm" and len(tasks) == 1:
            node.name = f"/heads.{tasks.pop()}/Gemm"
    onnx.save(proto, str(path))
    return info


def write_onnx_mixed(  # noqa: PLR0913 - the mixed writer's inputs plus max_length
    model,
    tokenizer,
    folder: Path,
    max_length: int,
    graph,
    int8_groups: Sequence[str],
    options: dict[str, Any],
) -> dict[str, Any]:
    """``formats.onnx.write_mixed`` for a multi-task model: ``int8_groups`` INT8,
    every other group of ``graph`` (:func:`export_fp32_graph`) INT4, every head
    kept as its own output; an ``onnx_multitask`` folder (config, tokenizer)."""
    import onnxruntime

    from ._base import save_config_and_tokenizer
    from .onnx import batch_invariance, mixed_graph_fields

    folder = Path(folder)
    fields = mixed_graph_fields(folder, graph, int8_groups, options)
    save_config_and_tokenizer(model, tokenizer, folder, FORMAT_ONNX)
    base = _fields(FORMAT_ONNX, model, max_length, fields["method"])
    return {
        **base,
        **fields,
        "method": f"{fields['method']}, one output per task",
        "library": "onnxruntime",
        "library_version": onnxruntime.__version__,
        "weights_file": ONNX_FILE,
        "outputs": [f"logits__{t['name']}" for t in model.config.tasks],
        "batch_invariance": batch_invariance(fields["op_types"]),
    }


def is_multitask_model(model) -> bool:
    """Whether ``model`` is a :class:`~quant_sentiment.multitask.MultiTaskModel`."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) == "quant_sentiment_multitask"


def in_memory(
    model, tokenizer, max_length: int | None, mode: str = "batched"
) -> MultiTaskClassifier:
    """A loaded :class:`~quant_sentiment.multitask.MultiTaskModel` as a classifier
    (PyTorch, batched or, ``mode: per_text``, each text alone as a graph with
    dynamic activation scales runs; the threads are the caller's)."""
    import torch

    model = model.eval()

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = {k: torch.from_numpy(v) for k, v in feed.items()}
        with torch.no_grad():
            logits = model.task_logits(**inputs)
        return {k: v.float().numpy() for k, v in logits.items()}

    classifier = MultiTaskClassifier(
        run, tokenizer, model.config.tasks, max_length, INPUT_NAMES, mode
    )
    classifier.model = model  # the PyTorch module (explain's gradients)
    return classifier


def load_hf(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> MultiTaskClassifier:
    """Open an ``hf_multitask`` folder (PyTorch threads are the caller's)."""
    from transformers import AutoTokenizer

    from quant_sentiment.multitask import MultiTaskModel

    model = MultiTaskModel.from_pretrained(folder, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return in_memory(model, tokenizer, manifest.get("max_length"))


def graph_classifier(
    graph: Path | bytes,
    tokenizer,
    tasks: list[dict[str, Any]],
    max_length: int | None,
    threads: int | None = None,
    optimize: bool = True,
) -> MultiTaskClassifier:
    """A multi-output ONNX graph (a file, or a serialized graph such as
    ``quantize_mixed``'s candidates) as a :class:`MultiTaskClassifier`; ``threads``
    intra-op threads; ``optimize: False`` runs it as written (``ORT_DISABLE_ALL``,
    the runtime's own float-level variation, as ``formats.onnx.OnnxClassifier``);
    a graph with run-time activation scales runs each text alone."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    source = graph if isinstance(graph, bytes) else str(graph)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    proto = (
        onnx.load_from_string(graph)
        if isinstance(graph, bytes)
        else onnx.load(source, load_external_data=False)
    )
    mode = batch_mode({node.op_type for node in proto.graph.node})

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = session.run(outputs, feed)
        return {
            n.removeprefix("logits__"): v for n, v in zip(outputs, values, strict=True)
        }

    return MultiTaskClassifier(
        run,
        tokenizer,
        tasks,
        max_length,
        [i.name for i in session.get_inputs()],
        mode,
    )


def load_onnx(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> MultiTaskClassifier:
    """Open an ``onnx_multitask`` folder (FP32, INT8, INT4 or mixed) with
    ``threads`` intra-op threads (:func:`graph_classifier`)."""
    from transformers import AutoTokenizer

    from quant_sentiment.integrity import inside
    from quant_sentiment.multitask import MultiTaskConfig

    config = MultiTaskConfig.from_json_file(str(Path(folder) / MODEL_CONFIG_FILE))
    # the encoder's config names the tokenizer's model type (config.json is a guard)
    tokenizer = AutoTokenizer.from_pretrained(folder, config=config.encoder_config())
    return graph_classifier(
        inside(folder, manifest["weights_file"]),
        tokenizer,
        config.tasks,
        manifest.get("max_length"),
        threads,
    )
