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
        self.primary = primary_task(self.tasks)["name"]
        self.id2label = dict(enumerate(primary_task(self.tasks)["labels"]))

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


def is_multitask_model(model) -> bool:
    """Whether ``model`` is a :class:`~quant_sentiment.multitask.MultiTaskModel`."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) == "quant_sentiment_multitask"


def in_memory(model, tokenizer, max_length: int | None) -> MultiTaskClassifier:
    """A loaded :class:`~quant_sentiment.multitask.MultiTaskModel` as a classifier
    (PyTorch, batched; the threads are the caller's)."""
    import torch

    model = model.eval()

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = {k: torch.from_numpy(v) for k, v in feed.items()}
        with torch.no_grad():
            logits = model.task_logits(**inputs)
        return {k: v.float().numpy() for k, v in logits.items()}

    classifier = MultiTaskClassifier(
        run, tokenizer, model.config.tasks, max_length, INPUT_NAMES
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


def load_onnx(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> MultiTaskClassifier:
    """Open an ``onnx_multitask`` folder (FP32 or INT8) with ``threads`` intra-op
    threads; a graph with run-time activation scales runs each text alone."""
    import onnx
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from quant_sentiment.integrity import inside
    from quant_sentiment.multitask import MultiTaskConfig

    config = MultiTaskConfig.from_json_file(str(Path(folder) / MODEL_CONFIG_FILE))
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(inside(folder, manifest["weights_file"])),
        options,
        providers=["CPUExecutionProvider"],
    )
    outputs = [o.name for o in session.get_outputs()]
    graph = onnx.load(
        str(inside(folder, manifest["weights_file"])), load_external_data=False
    )
    mode = batch_mode({node.op_type for node in graph.graph.node})

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = session.run(outputs, feed)
        return {
            n.removeprefix("logits__"): v for n, v in zip(outputs, values, strict=True)
        }

    # the encoder's config names the tokenizer's model type (config.json is a guard)
    tokenizer = AutoTokenizer.from_pretrained(folder, config=config.encoder_config())
    return MultiTaskClassifier(
        run,
        tokenizer,
        config.tasks,
        manifest.get("max_length"),
        [i.name for i in session.get_inputs()],
        mode,
    )
