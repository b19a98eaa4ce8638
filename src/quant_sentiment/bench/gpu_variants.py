"""bitsandbytes variants on a CUDA GPU: size, agreement, macro-F1, batch-1 latency.

Builds ``bnb_int8`` and ``bnb_nf4`` from a fine-tuned FP32 folder through the
``quantize_ptq`` node (:func:`quantize_variant`, with the shipped options of
``conf/base/parameters_quantize_ptq.yml``), saves and reopens each through
:class:`~quant_sentiment.datasets.VariantFolderDataset`, and measures against the
FP32 model on the same GPU:

- folder size as a share of the FP32 folder,
- argmax agreement with FP32, the largest logit difference, and macro-F1 and
  accuracy against the labels of a clean test split,
- p50 / p95 batch-1 latency, models interleaved text by text (``torch.cuda``
  synchronised), so a slow phase of the machine hits every model alike.

Each variant is built twice: with the shipped ``rest_dtype`` (16-bit embeddings,
LayerNorms and classifier) and with ``rest_dtype: float32`` (how the folders were
stored before), so the table shows what the 16-bit rest saves and costs.

    python -m quant_sentiment.bench.gpu_variants \\
        --fp32 data/06_models/smsa_scratch/finetuned_model \\
        --test data/03_primary/smsa_scratch/clean_test.csv/<version>/clean_test.csv \\
        --out bnb_gpu.json

Needs CUDA and ``pip install -e .[gpu]`` (bitsandbytes); it stops with that message
otherwise. Nothing is written to the catalog.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PTQ_PARAMETERS = PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml"
VARIANTS = ("bnb_int8", "bnb_nf4")


def _shipped_options() -> dict[str, dict[str, Any]]:
    params = yaml.safe_load(PTQ_PARAMETERS.read_text())["quantize_ptq"]["variants"]
    # on_cpu: the --device cpu check builds them on bitsandbytes' CPU backend.
    return {name: dict(params[name], enabled=True, on_cpu=True) for name in VARIANTS}


def _latencies(classifiers: dict[str, Any], texts: list[str]) -> dict[str, list]:
    """Batch-1 seconds per text for every model, interleaved text by text."""
    import torch

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for clf in classifiers.values():  # warm-up: CUDA context, kernels, allocator
        clf.predict_logits(texts[:8], batch_size=1)
    times: dict[str, list] = {name: [] for name in classifiers}
    for text in texts:
        for name, clf in classifiers.items():
            sync()
            start = time.perf_counter()
            clf.predict_logits([text], batch_size=1)
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def run(
    fp32_path: str, test_path: str, n_latency: int = 200, device: str = "cuda"
) -> tuple[pd.DataFrame, dict]:
    """Build, reopen and measure both variants (two ``rest_dtype`` each) and FP32.

    Returns:
        The table (one row per model) and the machine description.
    """
    import torch
    from kedro.io.core import Version
    from sklearn.metrics import accuracy_score, f1_score

    from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
    from quant_sentiment.formats._base import HFClassifier
    from quant_sentiment.formats.bnb import unavailable_reason
    from quant_sentiment.manifest import folder_size
    from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bitsandbytes variants need a CUDA GPU; none is visible.")
    reason = unavailable_reason()
    if reason:
        raise SystemExit(reason)
    # The newest version of a versioned finetuned_model path.
    bundle = HFModelFolderDataset(fp32_path, version=Version(None, None)).load()
    test = pd.read_csv(test_path)
    texts, labels = test["text"].astype(str).tolist(), test["label_id"].to_numpy()
    model_params = {
        "label_map": dict(bundle.metadata["label_map"]),
        "max_length": int(bundle.metadata["max_length"]),
        "threads": None,
    }
    shipped = _shipped_options()
    classifiers = {
        "fp32": HFClassifier(
            bundle.model.to(device), bundle.tokenizer, model_params["max_length"]
        )
    }
    sizes = {"fp32": folder_size(bundle.path)}
    rows: dict[str, dict] = {"fp32": {"variant": "fp32", "rest_dtype": "float32"}}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            for rest in (shipped[variant]["rest_dtype"], "float32"):
                name = f"{variant} ({rest} rest)"
                options = {**shipped[variant], "rest_dtype": rest}
                staged = quantize_variant(
                    bundle, {"variants": {variant: options}}, model_params, variant
                )
                dataset = VariantFolderDataset(str(Path(tmp) / name.replace(" ", "_")))
                dataset.save(staged)
                handle = dataset.load()
                classifiers[name] = handle.load()
                sizes[name] = handle.manifest["size_bytes"]
                rows[name] = {"variant": variant, "rest_dtype": rest}
        logits = {n: c.predict_logits(texts) for n, c in classifiers.items()}
        lat = _latencies(classifiers, texts[:n_latency])
    ref = logits["fp32"]
    table = []
    for name, row in rows.items():
        pred = logits[name].argmax(1)
        ms = np.asarray(lat[name]) * 1e3
        table.append(
            {
                "model": name,
                **row,
                "size_mb": sizes[name] / 1e6,
                "pct_of_fp32": 100 * sizes[name] / sizes["fp32"],
                "agreement_pct": 100 * float((pred == ref.argmax(1)).mean()),
                "max_abs_logit_diff": float(np.abs(logits[name] - ref).max()),
                "macro_f1": f1_score(labels, pred, average="macro"),
                "accuracy": accuracy_score(labels, pred),
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
            }
        )
    machine = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "n_test": len(texts),
        "n_latency": min(n_latency, len(texts)),
    }
    return pd.DataFrame(table), machine


def main() -> None:
    """Parse arguments, run, print a Markdown table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fp32", required=True, help="finetuned_model's filepath")
    parser.add_argument("--test", required=True, help="a clean_test.csv file")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    parser.add_argument(
        "--device",
        choices=["cuda", "cpu"],
        default="cuda",
        help="cpu: bitsandbytes' CPU backend (a functional check; slow)",
    )
    args = parser.parse_args()
    table, machine = run(args.fp32, args.test, args.latency_texts, args.device)
    print(json.dumps(machine))
    print(table.to_markdown(index=False, floatfmt=".4g"))
    if args.out:
        Path(args.out).write_text(
            json.dumps({"machine": machine, "rows": table.to_dict("records")}, indent=1)
        )


if __name__ == "__main__":
    main()
