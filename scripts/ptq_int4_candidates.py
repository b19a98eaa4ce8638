"""Compare 4-bit routes on a fine-tuned model: size on disk, CPU latency, agreement.

Usage (from the project root; the model folder is a ``finetuned_model`` version)::

    PYTHONPATH=src python scripts/ptq_int4_candidates.py \
        data/06_models/smsa_minilm/finetuned_model/<version>/finetuned_model \
        data/03_primary/smsa_minilm/clean_test.csv/<version>/clean_test.csv

Candidates: ONNX Runtime ``MatMulNBits`` (block 32/128, with and without 4-bit
embeddings) as written by the pipeline's ``int4`` route, and optimum-quanto
``qint4`` weights (Linear layers only). Latency: batch 1, the first 64 test texts,
median over 3 passes, torch/ORT threads = 2 (only meaningful on an otherwise idle
machine).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quant_sentiment.formats import HFClassifier, load_classifier, onnx
from quant_sentiment.inference import predict_logits
from quant_sentiment.manifest import folder_size, write_manifest

MAX_LENGTH = 128
#: The pipeline's int4 options; each candidate overrides some of them.
INT4 = {
    "exporter": "torchscript",
    "opset": 17,
    "bits": 4,
    "block_size": 32,
    "symmetric": True,
    "accuracy_level": None,
    "quantize_embeddings": True,
}


def latency_ms(classifier, texts: list[str]) -> float:
    """Median per-text latency (ms) at batch size 1 over three passes."""
    passes = []
    for _ in range(3):
        start = time.perf_counter()
        for text in texts:
            classifier.predict_logits([text], batch_size=1)
        passes.append(1000 * (time.perf_counter() - start) / len(texts))
    return statistics.median(passes)


def main(model_dir: str, test_csv: str) -> None:
    """Print one JSON line per candidate, then a Markdown table."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(2)
    texts = pd.read_csv(test_csv)["text"].tolist()
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, use_safetensors=True
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    fp32_logits = predict_logits(
        model, tokenizer, texts, max_length=MAX_LENGTH, show_progress=False
    )
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        fp32_size = folder_size(Path(tmp))
    rows = [
        {
            "candidate": "FP32 (reference)",
            "mb": fp32_size / 1e6,
            "pct": 100.0,
            "ms": latency_ms(HFClassifier(model, tokenizer, MAX_LENGTH), texts[:64]),
            "agreement": 100.0,
        }
    ]
    configs = {
        "ORT MatMulNBits b32 sym + 4-bit emb": {"block_size": 32},
        "ORT MatMulNBits b64 sym + 4-bit emb": {"block_size": 64},
        "ORT MatMulNBits b128 sym + 4-bit emb": {"block_size": 128},
        "ORT MatMulNBits b32 asym + 4-bit emb": {"block_size": 32, "symmetric": False},
        "ORT MatMulNBits b32 sym, FP32 emb": {
            "block_size": 32,
            "quantize_embeddings": False,
        },
    }
    for name, params in configs.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            fields = onnx.write_int4(model, tokenizer, folder, {**INT4, **params})
            write_manifest(folder, {**fields, "status": "ok", "max_length": MAX_LENGTH})
            classifier = load_classifier(folder)
            logits = classifier.predict_logits(texts)
            rows.append(
                {
                    "candidate": name,
                    "mb": folder_size(folder) / 1e6,
                    "ms": latency_ms(classifier, texts[:64]),
                    "agreement": 100
                    * float((logits.argmax(1) == fp32_logits.argmax(1)).mean()),
                }
            )
    rows.append(quanto_qint4(model, tokenizer, texts, fp32_logits))
    for row in rows:
        row["pct"] = 100 * row["mb"] * 1e6 / fp32_size
        print(json.dumps(row))
    print(pd.DataFrame(rows).round(2).to_markdown(index=False))


def quanto_qint4(model, tokenizer, texts, fp32_logits) -> dict:
    """optimum-quanto qint4 weights on the Linear layers (classifier excluded)."""
    import copy

    from optimum.quanto import freeze, qint4, quantization_map, quantize
    from safetensors.torch import save_file

    quantized = copy.deepcopy(model)
    quantize(quantized, weights=qint4, exclude=["classifier"])
    freeze(quantized)
    with tempfile.TemporaryDirectory() as tmp:
        save_file(quantized.state_dict(), f"{tmp}/model.safetensors")
        Path(tmp, "quantization_map.json").write_text(
            json.dumps(quantization_map(quantized))
        )
        quantized.config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        size = folder_size(Path(tmp))
    # quanto qint4 fails under torch.inference_mode(); predict under no_grad.
    with torch.no_grad():
        logits = predict_with_no_grad(quantized, tokenizer, texts)
        ms = statistics.median(
            _time_no_grad(quantized, tokenizer, texts[:64]) for _ in range(3)
        )
    return {
        "candidate": "quanto qint4 (Linear only)",
        "mb": size / 1e6,
        "ms": ms,
        "agreement": 100 * float((logits.argmax(1) == fp32_logits.argmax(1)).mean()),
    }


def predict_with_no_grad(model, tokenizer, texts, batch_size: int = 64) -> np.ndarray:
    """Logits under ``torch.no_grad`` (quanto cannot run under inference_mode)."""
    out = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        out.append(model(**enc).logits.float().numpy())
    return np.concatenate(out)


def _time_no_grad(model, tokenizer, texts) -> float:
    start = time.perf_counter()
    for text in texts:
        model(**tokenizer([text], truncation=True, max_length=128, return_tensors="pt"))
    return 1000 * (time.perf_counter() - start) / len(texts)


if __name__ == "__main__":
    main(*sys.argv[1:3])
