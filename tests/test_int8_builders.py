"""The per-row-scale INT8 rewrite of ``bench.int8_builders``: every text's rounding
depends on its own rows only, so batched scoring equals scoring alone."""

from __future__ import annotations

import copy

import numpy as np

from quant_sentiment.bench.int8_builders import per_row_scales
from quant_sentiment.formats import onnx


def test_per_row_scales_graph_is_batch_invariant_and_close_to_fp32(
    tiny_bundle, sample_splits, tmp_path
):
    tokenizer = copy.deepcopy(tiny_bundle.tokenizer)
    tokenizer.model_max_length = 64
    fp32, rows = tmp_path / "fp32.onnx", tmp_path / "rows.onnx"
    onnx.export_onnx(tiny_bundle.model, tokenizer, fp32, 17, "torchscript")
    assert per_row_scales(fp32, rows) == 12  # 2 layers x (Q, K, V, out, FFN in/out)
    _, ops = onnx.op_histogram(rows, set())
    assert ops["MatMulInteger"] == 12 and "DynamicQuantizeLinear" not in ops
    id2label = {0: "positive", 1: "neutral", 2: "negative"}
    clf = onnx.OnnxClassifier(rows, tokenizer, id2label, 64, threads=1)
    ref = onnx.OnnxClassifier(fp32, tokenizer, id2label, 64, threads=1)
    assert clf.mode == onnx.BATCHED
    texts = sample_splits["test"]["text"].astype(str).tolist()[:40]
    alone = np.concatenate([clf.predict_logits([t], batch_size=1) for t in texts])
    batched = clf.predict_logits(texts, batch_size=len(texts))
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    np.testing.assert_allclose(alone, ref.predict_logits(texts), atol=5e-3)
