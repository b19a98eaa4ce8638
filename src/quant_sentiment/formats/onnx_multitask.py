"""ONNX export of a :class:`~quant_sentiment.multitask.MultiTaskModel`: one graph,
one named output per task (``logits__<task>``, in head order).

The export reuses :mod:`quant_sentiment.formats.onnx`'s input names and its two
exporters (``torchscript``, ``dynamo``) and is checked against the PyTorch heads on a
padded two-text batch before it is returned (:data:`HEAD_TOLERANCE`). Not yet wired
into the PTQ / QAT / mixed writers or ``formats.load_classifier`` (docs/multitask.md).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from quant_sentiment.formats.onnx import EXPORTERS, INPUT_NAMES, torch_export

#: Largest |ONNX - PyTorch| accepted per head logit.
HEAD_TOLERANCE = 1e-4


def output_names(model) -> list[str]:
    """The graph's outputs: ``logits__<task>`` in head order."""
    return [f"logits__{t['name']}" for t in model.config.tasks]


def heads_only(model):
    """Wrap a multi-task model so that it returns the tuple of head logits."""
    import torch

    class HeadsOnly(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            logits = self.inner.task_logits(input_ids, attention_mask, token_type_ids)
            return tuple(logits.values())

    return HeadsOnly(model).eval()


def export_multitask_onnx(
    model, tokenizer, path: Path, opset: int = 17, exporter: str = "torchscript"
) -> dict[str, Any]:
    """Export the FP32 multi-task model to ``path`` with dynamic batch and sequence
    axes and one output per task.

    Returns:
        ``{"exporter", "opset", "inputs", "outputs", "export_max_abs_diff"}``, the
        last per output.

    Raises:
        ValueError: For an unknown exporter.
        RuntimeError: If a head differs from PyTorch by more than
            :data:`HEAD_TOLERANCE`.
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
    outputs = output_names(model)
    wrapped = heads_only(model)
    torch_export(wrapped, args, names, Path(path), opset, exporter, outputs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {n: sample[n].numpy().astype(np.int64) for n in names}
    got = session.run(outputs, feed)
    with torch.no_grad():
        want = [t.numpy() for t in wrapped(*args)]
    diffs = {
        name: float(np.abs(g - w).max())
        for name, g, w in zip(outputs, got, want, strict=True)
    }
    worst = max(diffs.values())
    if worst > HEAD_TOLERANCE:
        raise RuntimeError(
            f"ONNX export differs from the PyTorch heads by {worst:.2e} "
            f"(> {HEAD_TOLERANCE:g}): {diffs}"
        )
    return {
        "exporter": exporter,
        "opset": opset,
        "inputs": names,
        "outputs": outputs,
        "export_max_abs_diff": diffs,
    }


def run_heads(path: Path, tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    """``{task: logits}`` of an exported graph on ``texts`` (ONNX Runtime, CPU)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    enc = tokenizer(texts, padding=True, return_tensors="np")
    feed = {n: enc[n].astype(np.int64) for n in INPUT_NAMES if n in inputs}
    names = [o.name for o in session.get_outputs()]
    return {
        name.removeprefix("logits__"): value
        for name, value in zip(names, session.run(names, feed), strict=True)
    }
