"""CPU inference routes for one fine-tuned model, timed in one process, interleaved.

Builds every route from the catalog's ``finetuned_model`` into a temporary folder
with the project's own writers (and a few settings the variants do not ship), then
times them in interleaved rounds (route A, B, C, A, B, C, ...) on the same texts:

- batch 1: mean ms per text over ``--n`` test texts, once per round;
- batch 32: ms per text over the same texts, length-sorted batches of 32.

Prints one Markdown table: folder size, ms per text (median over rounds),
speed-up against PyTorch FP32 eager and against ONNX Runtime FP32 (geometric mean
of the per-round ratios with its 95 % t-interval, as ``evaluate`` computes it:
:func:`quant_sentiment.benchmark.speedup_interval`), and argmax agreement with FP32.
The routes use the environment's ``quantize_ptq`` options (``ov_int8`` calibrates on
its own calibration sample, which the static QDQ route shares).
The CPU model, flags and thread count head the output.

    python -m quant_sentiment.bench.routes --env offline \\
        --texts ../shared/data/smsa/test_preprocess.tsv --n 150 --rounds 5

This is the exploration behind ``docs/performance.md``: every route in one process,
so each one's share of the machine is alike. The ``evaluate`` benchmark times the
shipped variants one process each. Only meaningful on an idle machine.
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _compiled(model, dtype):
    """``torch.compile`` (inductor, dynamic shapes) of a copy cast to ``dtype``."""
    import torch

    return torch.compile(copy.deepcopy(model).to(dtype).eval(), dynamic=True)


def _int8_static(model, tokenizer, folder: Path, calibration: list[str]) -> None:
    """ONNX Runtime ``quantize_static`` (QDQ, per-channel INT8 weights, UINT8
    activations calibrated with MinMax on training texts)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from quant_sentiment.formats import onnx as onnx_format

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self):
            text = next(self.items, None)
            if text is None:
                return None
            # truncates at model_max_length, which build_routes set to max_length
            enc = tokenizer([text], truncation=True, return_tensors="np")
            return {k: v.astype(np.int64) for k, v in enc.items()}

    fp32 = folder / "fp32.onnx"
    onnx_format.export_onnx(model, tokenizer, fp32, 17, "torchscript")
    quantize_static(
        str(fp32),
        str(folder / onnx_format.WEIGHTS_FILE),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gemm"],
    )
    fp32.unlink()


def build_routes(
    bundle,
    root: Path,
    calibration: list[str],
    threads: int,
    options: dict[str, dict[str, Any]],
) -> dict:
    """Every route as ``name -> (classifier, folder or None)``."""
    import torch

    from quant_sentiment.formats import load_classifier, onnx, openvino
    from quant_sentiment.formats._base import (
        HFClassifier,
        id2label_of,
        save_config_and_tokenizer,
    )
    from quant_sentiment.formats.onnx import OnnxClassifier
    from quant_sentiment.manifest import write_manifest

    model, tokenizer = bundle.model.eval(), copy.deepcopy(bundle.tokenizer)
    max_length = int(bundle.metadata["max_length"])
    tokenizer.model_max_length = max_length
    routes: dict[str, tuple[Any, Path | None]] = {
        "fp32 eager": (HFClassifier(model, tokenizer, max_length), bundle.path),
        "bf16 eager": (
            HFClassifier(
                copy.deepcopy(model).to(torch.bfloat16), tokenizer, max_length
            ),
            None,
        ),
        "fp32 torch.compile": (
            HFClassifier(_compiled(model, torch.float32), tokenizer, max_length),
            None,
        ),
        "bf16 torch.compile": (
            HFClassifier(_compiled(model, torch.bfloat16), tokenizer, max_length),
            None,
        ),
    }
    writers: dict[str, tuple[Callable, dict[str, Any], dict[str, Any]]] = {
        "fp32_ort": (onnx.write_fp32, options["fp32_ort"], {}),
        "int8_ort (dynamic)": (onnx.write_int8, options["int8_ort"], {}),
        "int4_ort (accuracy_level default)": (onnx.write_int4, options["int4"], {}),
        "int4_ort (accuracy_level 4)": (
            onnx.write_int4,
            {**options["int4"], "accuracy_level": 4},
            {},
        ),
        "ov_int8 (f32 rest)": (
            openvino.write_int8,
            options["ov_int8"],
            {"calibration_texts": calibration},
        ),
        "ov_int4 (f32 compute)": (openvino.write_int4, options["ov_int4"], {}),
    }
    for name, (writer, opts, extra) in writers.items():
        folder = root / name.split()[0].replace("(", "") / str(len(routes))
        folder.mkdir(parents=True)
        fields = writer(model, tokenizer, folder, opts, **extra)
        write_manifest(folder, {**fields, "max_length": max_length, "status": "ok"})
        routes[name] = (load_classifier(folder, threads=threads), folder)
        if writer is openvino.write_int8:  # the same IR, non-quantized ops in BF16
            manifest = {
                **fields,
                "max_length": max_length,
                "inference_precision": "bf16",
            }
            routes["ov_int8 (bf16 rest)"] = (
                openvino.load(folder, manifest, threads),
                folder,
            )
    folder = root / "int8_ort_static"
    folder.mkdir()
    _int8_static(model, tokenizer, folder, calibration)
    save_config_and_tokenizer(model, tokenizer, folder, onnx.FORMAT)
    routes["int8_ort (static QDQ)"] = (
        OnnxClassifier(
            folder / onnx.WEIGHTS_FILE,
            tokenizer,
            id2label_of(model.config),
            max_length,
            threads,
        ),
        folder,
    )
    return routes


def time_routes(
    routes: dict, texts: list[str], rounds: int
) -> tuple[dict[str, list], dict[str, list]]:
    """Per round and route: mean ms per text at batch 1 and at batch 32."""
    # Warm-up: every text once at both batch sizes, so that compilation and each
    # input shape's first run (torch.compile, OpenVINO's dynamic shapes) are not timed.
    for clf, _ in routes.values():
        for text in texts:
            clf.predict_logits([text], batch_size=1)
        clf.predict_logits(texts, batch_size=32)
    b1: dict[str, list] = {name: [] for name in routes}
    b32: dict[str, list] = {name: [] for name in routes}
    for _ in range(rounds):
        for name, (clf, _) in routes.items():
            start = time.perf_counter()
            for text in texts:
                clf.predict_logits([text], batch_size=1)
            b1[name].append((time.perf_counter() - start) * 1e3 / len(texts))
            start = time.perf_counter()
            clf.predict_logits(texts, batch_size=32)
            b32[name].append((time.perf_counter() - start) * 1e3 / len(texts))
    return b1, b32


def _speedup(times: dict[str, list], name: str, ref: str) -> str:
    """``evaluate``'s speed-up with its 95 % t-interval over the paired rounds."""
    from quant_sentiment.benchmark import speedup_interval

    up = speedup_interval(times[name], times[ref], 0.95)
    return (
        f"{up['speedup_p50_vs_ref']:.2f} "
        f"[{up['speedup_ci_low']:.2f}, {up['speedup_ci_high']:.2f}]"
    )


def table(routes: dict, b1: dict, b32: dict, agreement: dict) -> pd.DataFrame:
    """One row per route: size, ms per text, speed-ups, agreement."""
    from quant_sentiment.manifest import folder_size

    rows = []
    for name, (_, folder) in routes.items():
        rows.append(
            {
                "route": name,
                "size_mb": folder_size(folder) / 1e6 if folder else None,
                "b1_ms": float(np.median(b1[name])),
                "b1_x_eager": _speedup(b1, name, "fp32 eager"),
                "b1_x_fp32_ort": _speedup(b1, name, "fp32_ort"),
                "b32_ms_per_text": float(np.median(b32[name])),
                "b32_x_eager": _speedup(b32, name, "fp32 eager"),
                "agreement": agreement[name],
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    """Parse arguments, build, time, print."""
    import torch
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.benchmark import cpu_flags, cpu_model
    from quant_sentiment.pipelines.quantize_ptq.nodes import calibration_sample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="offline")
    parser.add_argument("--texts", required=True, help="a text<TAB>label TSV")
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("nncf").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    bootstrap_project(Path.cwd())
    with KedroSession.create(env=args.env) as session:
        context = session.load_context()
        bundle = context.catalog.load("finetuned_model")
        train = context.catalog.load("clean_train")
        options = context.params["quantize_ptq"]["variants"]
    data = pd.read_csv(args.texts, sep="\t", header=None, names=["text", "label"])
    texts = data["text"].sample(args.n, random_state=0).tolist()
    # ov_int8's own calibration sample (also used by the static QDQ route)
    calibration = calibration_sample(train, options["ov_int8"], "ov_int8")
    with tempfile.TemporaryDirectory() as tmp:
        routes = build_routes(bundle, Path(tmp), calibration, args.threads, options)
        preds = {n: c.predict_logits(texts).argmax(1) for n, (c, _) in routes.items()}
        agreement = {
            n: float((p == preds["fp32 eager"]).mean()) for n, p in preds.items()
        }
        b1, b32 = time_routes(routes, texts, args.rounds)
        result = table(routes, b1, b32, agreement)
    print(
        f"CPU: {cpu_model()}; flags: {' '.join(cpu_flags())}; threads {args.threads}; "
        f"{args.n} texts, {args.rounds} interleaved rounds"
    )
    print(result.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
