"""How closely a QAT artifact follows the fake-quantized model it was written
from: :func:`fake_vs_artifact` (``quantize_qat``'s manifest record), for one logits
matrix or every head of a multi-task model."""

from __future__ import annotations

from typing import Any

import numpy as np

from quant_sentiment.tasks import SINGLE

Logits = np.ndarray | dict[str, np.ndarray]


def _decisions(z: np.ndarray, kind: str) -> np.ndarray:
    """Per text, the head's decision(s): argmax, or each class's ``logit > 0``."""
    return z.argmax(1)[:, None] if kind == SINGLE else z > 0


def _agreement(a: Logits, b: Logits, kinds: dict[str, str] | None = None):
    """Texts on which every head decides alike, and the logit differences over
    every head (one array: one single_label head)."""
    if not isinstance(a, dict):
        a, b = {"logits": a}, {"logits": b}
    same, diffs = np.ones(len(next(iter(a.values()))), dtype=bool), []
    for name, z in a.items():
        kind = (kinds or {}).get(name, SINGLE)
        same &= (_decisions(z, kind) == _decisions(b[name], kind)).all(1)
        diffs.append(np.abs(z - b[name]).ravel())
    diff = np.concatenate(diffs)
    return {
        "argmax_agreement": float(same.mean()) if len(same) else 1.0,
        "max_abs_logit_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
    }


def fake_vs_artifact(
    fake: Logits,
    artifact: Logits,
    min_agreement: float,
    unoptimized: Logits | None = None,
    kinds: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Argmax agreement and logit differences between the fake-quantized PyTorch
    model and the ONNX artifact on the same texts and batches.

    Args:
        fake, artifact: Logits, or ``{task: logits}`` of a multi-task model: a
            text agrees when every head decides alike (multi_label heads: every
            class's ``logit > 0``; ``kinds``: ``{task: kind}``), and ``tasks``
            adds each head's own record.
        unoptimized: The same artifact's logits with ONNX Runtime's graph
            optimizations off. Its agreement with the optimized run is the
            runtime's own float-level variation (``runtime_self``): with dynamic
            INT8 activations, a float difference that moves a value across a
            rounding boundary changes its UINT8 level, and layers amplify it.

    ``meets_threshold`` holds when the agreement reaches ``min_agreement``, or, where
    the runtime does not reach it against itself, when the fake-quantized model
    follows the artifact at least as closely as the artifact follows itself
    (``within_runtime_variation``). Below both, the scheme does not match.
    """
    n = len(next(iter(fake.values()))) if isinstance(fake, dict) else len(fake)
    record = {"n": n, **_agreement(fake, artifact, kinds)}
    if isinstance(fake, dict):
        record["tasks"] = {
            name: _agreement({name: z}, {name: artifact[name]}, kinds)
            for name, z in fake.items()
        }
    record["min_agreement"] = min_agreement
    agreement = record["argmax_agreement"]
    if unoptimized is not None:
        record["runtime_self"] = _agreement(artifact, unoptimized, kinds)
        within = agreement >= record["runtime_self"]["argmax_agreement"]
        record["within_runtime_variation"] = within
    else:
        within = False
    record["meets_threshold"] = agreement >= min_agreement or within
    return record
