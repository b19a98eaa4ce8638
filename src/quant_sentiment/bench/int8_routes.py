"""INT8 routes not measured before, and per-call overhead, timed in one process.

The exploration behind issue 24 ("INT8 fast on every CPU, the same whatever the
batch"): beside FP32 eager, ONNX Runtime FP32 and the shipped ``int8_ort`` (dynamic
INT8 run per text, the batch-invariant way), it builds

- ``int8_ort batched``: the same graph run in padded batches (what was shipped
  before; batch-dependent), to price per-text execution at batch 32;
- ``int8_ort per-row scales``: the graph rewritten so that every token gets its own
  activation scale (:func:`per_row_scales`), batch-invariant even when batched;
- ``int8_ort fused->quantized`` / ``quantized->fused``: ONNX Runtime's transformer
  optimizer (``optimize_model(model_type="bert")``) before or after
  ``quantize_dynamic``;
- session options of the shipped graph: no thread spinning, 1 intra-op thread,
  ``ORT_ENABLE_EXTENDED`` instead of ``ORT_ENABLE_ALL``;
- ``int8_ort graph only``: the shipped session fed pre-tokenized inputs (what the
  tokenizer and Python cost per call is the difference);
- OpenVINO ``ov_int8`` with the ``THROUGHPUT`` hint and 2 streams, and with 1 thread,
  beside its shipped ``LATENCY`` setting;
- PyTorch 2 export quantization (``X86InductorQuantizer``, dynamic INT8) compiled with
  ``torch.compile`` and freezing (oneDNN; AMX where present). Its compilation is
  bounded by ``--compile-timeout``; past it the route is reported as not finished.

Timing, speed-ups and the table are :mod:`quant_sentiment.bench.routes`'s
(interleaved rounds, geometric mean of per-round ratios with a 95 % interval).

    python -m quant_sentiment.bench.int8_routes --model <hf classifier folder> \\
        --texts ../shared/data/smsa/test_preprocess.tsv --n 80 --rounds 5

``--model`` is any Hugging Face sequence-classification folder; without it the
``finetuned_model`` of ``--env`` is used. Only meaningful on an idle machine.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.bench.int8_builders import per_row_scales, pt2e
from quant_sentiment.bench.routes import table, time_routes

logger = logging.getLogger(__name__)


class PreTokenized:
    """A classifier's graph fed inputs tokenized once (per-call overhead removed)."""

    def __init__(self, clf) -> None:
        self.clf, self.cache = clf, {}
        self.id2label = clf.id2label

    def predict_logits(self, texts, batch_size: int = 64) -> np.ndarray:
        """Logits per text, each from a cached ``[1, length]`` feed."""
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        for i, text in enumerate(texts):
            feed = self.cache.get(text)
            if feed is None:
                enc = self.clf.tokenizer(
                    [text], truncation=True, max_length=self.clf.max_length
                )
                feed = {n: np.asarray(enc[n], dtype=np.int64) for n in enc}
                feed = {n: feed[n] for n in self.clf.input_names}
                self.cache[text] = feed
            out[i] = self.clf._logits(feed)[0]
        return out


class Context:
    """What every builder needs: the model, its tokenizer, a scratch folder and the
    two ONNX graphs (FP32 export, shipped dynamic INT8) written once."""

    def __init__(self, model, tokenizer, root: Path, threads: int, options) -> None:
        from quant_sentiment.formats import onnx

        self.model, self.tokenizer, self.root = model, tokenizer, root
        self.threads, self.options = threads, options
        self.max_length = int(tokenizer.model_max_length)
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}
        self.fp32 = self.graph("fp32")
        onnx.export_onnx(model, tokenizer, self.fp32, 17, "torchscript")
        self.int8 = self.graph("int8")
        onnx.quantize_int8_file(self.fp32, self.int8, options["int8_ort"])

    def graph(self, name: str) -> Path:
        """``<root>/<name>/model.onnx`` (one folder per graph, for its size)."""
        (self.root / name).mkdir()
        return self.root / name / "model.onnx"

    def ort(self, path: Path, mode: str | None = None, **session: Any):
        """An :class:`OnnxClassifier` of ``path``; ``session``: ``spinning``
        (bool), ``threads`` (int), ``level`` (``extended`` | ``basic``)."""
        import onnxruntime as ort

        from quant_sentiment.formats.onnx import OnnxClassifier

        threads = session.get("threads", self.threads)
        clf = OnnxClassifier(
            path, self.tokenizer, self.id2label, self.max_length, threads, mode=mode
        )
        if session:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            if not session.get("spinning", True):
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            levels = {
                "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            }
            if "level" in session:
                opts.graph_optimization_level = levels[session["level"]]
            clf.session = ort.InferenceSession(
                str(path), opts, providers=["CPUExecutionProvider"]
            )
        return clf


def _fusion(ctx: Context, src: Path, dst: Path) -> None:
    """ONNX Runtime's transformer optimizer (``model_type="bert"``) on ``src``."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = ctx.model.config
    fused = optimize_model(
        str(src),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    fused.save_model_to_file(str(dst))


def _fused_then_quantized(ctx: Context) -> Path:
    from quant_sentiment.formats import onnx

    fused, out = ctx.graph("fused"), ctx.graph("fused_int8")
    _fusion(ctx, ctx.fp32, fused)
    onnx.quantize_int8_file(fused, out, ctx.options["int8_ort"])
    return out


def _quantized_then_fused(ctx: Context) -> Path:
    out = ctx.graph("int8_fused")
    _fusion(ctx, ctx.int8, out)
    return out


def _ov_int8(ctx: Context, calibration: list[str], config: dict[str, Any]):
    """The shipped ``ov_int8`` IR compiled with ``config`` (OpenVINO CPU plugin)."""
    import openvino as ov

    from quant_sentiment.formats import openvino

    folder = ctx.root / "ov_int8"
    if not folder.is_dir():
        folder.mkdir()
        openvino.write_int8(
            ctx.model,
            ctx.tokenizer,
            folder,
            ctx.options["ov_int8"],
            calibration_texts=calibration,
        )
    clf = openvino.OpenVINOClassifier(
        folder / openvino.WEIGHTS_FILE,
        ctx.tokenizer,
        ctx.id2label,
        ctx.max_length,
        precision=ctx.options["ov_int8"]["inference_precision"],
        threads=ctx.threads,
    )
    full = {"INFERENCE_PRECISION_HINT": "f32", **config}
    clf.compiled = ov.Core().compile_model(
        str(folder / openvino.WEIGHTS_FILE), "CPU", full
    )
    clf.request = clf.compiled.create_infer_request()
    return clf, folder


def build_routes(ctx: Context, texts, calibration, names, timeout_s: int) -> dict:
    """The chosen routes as ``name -> (classifier, folder)`` (``bench.routes``'s
    shape); the two references always come first."""
    from quant_sentiment.formats._base import HFClassifier
    from quant_sentiment.formats.onnx import BATCHED, PER_TEXT

    def per_row():
        out = ctx.graph("per_row")
        logger.info(
            "per-row scales: %d MatMuls rewritten", per_row_scales(ctx.fp32, out)
        )
        return ctx.ort(out, mode=BATCHED), out.parent

    builders = {
        "int8_ort per_text (shipped)": lambda: (ctx.ort(ctx.int8), ctx.int8.parent),
        "int8_ort batched (batch-dependent)": lambda: (
            ctx.ort(ctx.int8, mode=BATCHED),
            ctx.int8.parent,
        ),
        "int8_ort per-row scales (batched)": per_row,
        "int8_ort graph only (pre-tokenized)": lambda: (
            PreTokenized(ctx.ort(ctx.int8)),
            ctx.int8.parent,
        ),
        "int8_ort no spinning": lambda: (
            ctx.ort(ctx.int8, spinning=False),
            ctx.int8.parent,
        ),
        "int8_ort 1 thread": lambda: (ctx.ort(ctx.int8, threads=1), ctx.int8.parent),
        "int8_ort ORT_ENABLE_EXTENDED": lambda: (
            ctx.ort(ctx.int8, level="extended"),
            ctx.int8.parent,
        ),
        "int8_ort fused->quantized": lambda: (
            ctx.ort(_fused_then_quantized(ctx), mode=PER_TEXT),
            ctx.root / "fused_int8",
        ),
        "int8_ort quantized->fused": lambda: (
            ctx.ort(_quantized_then_fused(ctx), mode=PER_TEXT),
            ctx.root / "int8_fused",
        ),
        "ov_int8 LATENCY (shipped)": lambda: _ov_int8(
            ctx, calibration, {"PERFORMANCE_HINT": "LATENCY"}
        ),
        "ov_int8 THROUGHPUT 2 streams": lambda: _ov_int8(
            ctx, calibration, {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2}
        ),
        "ov_int8 LATENCY 1 thread": lambda: _ov_int8(
            ctx,
            calibration,
            {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1},
        ),
        "pt2e x86inductor + compile(freezing)": lambda: (
            pt2e(ctx.model, ctx.tokenizer, texts, timeout_s),
            None,
        ),
    }
    unknown = set(names) - set(builders)
    if unknown:
        raise ValueError(f"unknown routes {sorted(unknown)}; known: {list(builders)}")
    routes = {
        "fp32 eager": (
            HFClassifier(ctx.model, ctx.tokenizer, ctx.max_length),
            None,
        ),
        "fp32_ort": (ctx.ort(ctx.fp32), ctx.fp32.parent),
    }
    for name in names or builders:
        start = time.perf_counter()
        try:
            routes[name] = builders[name]()
        except Exception as exc:  # a route that cannot run here is reported, not fatal
            print(f"route {name!r} not measured: {type(exc).__name__}: {exc}")
            continue
        logger.info("built %s in %.1f s", name, time.perf_counter() - start)
    return routes


def invariance(routes: dict, texts: list[str]) -> dict[str, str]:
    """Per route: labels changed and max |logit difference| between each text alone
    and the same texts in length-sorted batches of 32."""
    out = {}
    for name, (clf, _) in routes.items():
        alone = np.concatenate([clf.predict_logits([t], batch_size=1) for t in texts])
        batched = clf.predict_logits(texts, batch_size=32)
        changed = int((alone.argmax(1) != batched.argmax(1)).sum())
        out[name] = f"{changed} / {np.abs(alone - batched).max():.1e}"
    return out


def _load(args):
    """(model, tokenizer, quantize_ptq variant options) from ``--model`` or the
    catalog of ``--env``; options always from ``conf/<env>``'s parameters."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    bootstrap_project(Path.cwd())
    with KedroSession.create(env=args.env) as session:
        context = session.load_context()
        options = context.params["quantize_ptq"]["variants"]
        if args.model is None:
            bundle = context.catalog.load("finetuned_model")
            model, tokenizer = bundle.model, bundle.tokenizer
            tokenizer.model_max_length = int(bundle.metadata["max_length"])
            return model.eval(), tokenizer, options
        max_length = int(context.params["model"]["max_length"])
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.model_max_length = max_length
    return model, tokenizer, options


def _texts(path: Path, n: int, seed: int) -> list[str]:
    data = pd.read_csv(path, sep="\t", header=None, names=["text", "label"])
    return (
        data["text"].astype(str).sample(min(n, len(data)), random_state=seed).tolist()
    )


def main() -> None:
    """Parse arguments, build, check invariance, time, print."""
    import torch

    from quant_sentiment.benchmark import cpu_flags, cpu_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an HF classifier folder (default: catalog)")
    parser.add_argument("--env", default="offline")
    parser.add_argument("--texts", required=True, help="a text<TAB>label TSV")
    parser.add_argument("--calibration", help="TSV for ov_int8 (default: train_*)")
    parser.add_argument("--n", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--routes", default="", help="comma-separated route names")
    parser.add_argument("--compile-timeout", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer, options = _load(args)
    # Kedro's rich handler reads "[...]" in ONNX node names as markup: plain lines.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", force=True)
    logger.setLevel(logging.INFO)
    texts = _texts(Path(args.texts), args.n, 0)
    train = Path(args.calibration or Path(args.texts).with_name("train_preprocess.tsv"))
    calibration = _texts(train, options["ov_int8"]["calibration"]["n_texts"], 42)
    names = [n.strip() for n in args.routes.split(",") if n.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(model, tokenizer, Path(tmp), args.threads, options)
        routes = build_routes(ctx, texts, calibration, names, args.compile_timeout)
        preds = {n: c.predict_logits(texts).argmax(1) for n, (c, _) in routes.items()}
        agreement = {
            n: float((p == preds["fp32 eager"]).mean()) for n, p in preds.items()
        }
        changed = invariance(routes, texts)
        b1, b32 = time_routes(routes, texts, args.rounds)
        result = table(routes, b1, b32, agreement)
    result["b1 vs b32: labels changed / max |dlogit|"] = result["route"].map(changed)
    print(
        f"CPU: {cpu_model()}; flags: {' '.join(cpu_flags())}; threads {args.threads}; "
        f"{len(texts)} texts, {args.rounds} interleaved rounds"
    )
    print(result.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
