"""Format ``openvino``: an OpenVINO IR (``model.xml`` + ``model.bin``) with its tokenizer.

Writers, both from the same ONNX export as the ONNX Runtime variants
(:func:`quant_sentiment.formats.onnx.export_onnx`), read by OpenVINO's ONNX frontend:

- :func:`write_int8`: ``nncf.quantize`` with ``ModelType.TRANSFORMER``: static INT8
  (``FakeQuantize`` on activations and weights, calibrated on a seeded sample of
  training texts). Weights and embeddings are stored as INT8.
- :func:`write_int4`: ``nncf.compress_weights`` (data-free, round to nearest): 4-bit
  weights in groups along the input dimension, embeddings included with
  ``all_layers``.

Loader: :func:`load`, the IR compiled for the CPU plugin with the caller's thread
count, ``PERFORMANCE_HINT: LATENCY`` and the manifest's ``inference_precision``
(``f32``, or ``bf16`` on CPUs with AVX512-BF16 / AMX; OpenVINO's own default there is
``bf16``, so the project sets it explicitly).

optimum-intel, the usual wrapper, pins transformers < 5.6; these are the ``openvino``
and ``nncf`` APIs called directly.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quant_sentiment.manifest import package_version

from . import onnx as onnx_format
from ._base import (
    TokenizedGraphClassifier,
    id2label_of,
    load_config_and_tokenizer,
    save_config_and_tokenizer,
)

FORMAT = "openvino"
WEIGHTS_FILE = "model.xml"
PRECISIONS = ("f32", "bf16")
INT4_MODES = {"int4_sym": "INT4_SYM", "int4_asym": "INT4_ASYM"}
PRESETS = {"mixed": "MIXED", "performance": "PERFORMANCE"}


def _check_precision(options: dict[str, Any]) -> str:
    precision = str(options["inference_precision"])
    if precision not in PRECISIONS:
        raise ValueError(
            f"inference_precision must be one of {PRECISIONS}, got {precision!r}"
        )
    return precision


def _read_onnx(model, tokenizer, options: dict[str, Any], tmp: Path):
    """Export to ONNX (checked against PyTorch) and read it into an ``ov.Model``."""
    import openvino as ov

    path = tmp / "fp32.onnx"
    export = onnx_format.export_onnx(
        model, tokenizer, path, int(options["opset"]), options["exporter"]
    )
    return ov.Core().read_model(str(path)), export


def _op_types(ov_model) -> dict[str, int]:
    counts = Counter(op.get_type_name() for op in ov_model.get_ops())
    return dict(sorted(counts.items()))


def _finish(
    model, tokenizer, folder: Path, ov_model, fields: dict[str, Any]
) -> dict[str, Any]:
    """Save the IR (constants as they are: no FP16 compression of the FP32 rest),
    config and tokenizer; the manifest fields every OpenVINO variant shares."""
    import openvino as ov

    ov.save_model(ov_model, str(folder / WEIGHTS_FILE), compress_to_fp16=False)
    save_config_and_tokenizer(model, tokenizer, folder, FORMAT)
    return {
        "format": FORMAT,
        "library": "openvino + nncf",
        "library_version": f"openvino {package_version('openvino')}, "
        f"nncf {package_version('nncf')}",
        "weights_file": WEIGHTS_FILE,
        # The constants alone (model.bin), without the graph's XML: the part that
        # shrinks with quantization (for a tiny test model the XML outweighs it).
        "initializer_bytes": (folder / WEIGHTS_FILE).with_suffix(".bin").stat().st_size,
        "op_types": _op_types(ov_model),
        "batch_invariance": "batched: static (calibrated) activation scales or "
        "weight-only compression; padding masked",
        **fields,
    }


def write_int8(
    model,
    tokenizer,
    folder: Path,
    options: dict[str, Any],
    calibration_texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """ONNX export + ``nncf.quantize`` (static INT8, transformer scheme).

    Args:
        options: ``exporter``, ``opset``, ``preset`` (``mixed``: asymmetric
            activations, symmetric weights | ``performance``: symmetric both),
            ``fast_bias_correction``, ``inference_precision`` (``f32`` | ``bf16``:
            what the non-quantized ops run in), ``calibration`` (``n_texts``,
            ``seed``: the sample the producer draws).
        calibration_texts: Texts whose activation ranges set the INT8 scales (the
            producer draws them from ``clean_train``).

    Raises:
        ValueError: Without calibration texts, or with an unknown preset/precision.
    """
    import nncf

    precision = _check_precision(options)
    preset = str(options["preset"])
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    texts = list(calibration_texts or [])
    if not texts:
        raise ValueError("ov_int8 needs calibration texts (a sample of clean_train)")
    max_length = int(tokenizer.model_max_length)

    def encode(text: str) -> dict[str, np.ndarray]:
        enc = tokenizer([text], truncation=True, max_length=max_length)
        return {k: np.asarray(v, dtype=np.int64) for k, v in enc.items()}

    with tempfile.TemporaryDirectory() as tmp:
        ov_model, export = _read_onnx(model, tokenizer, options, Path(tmp))
        names = {i.get_any_name() for i in ov_model.inputs}
        quantized = nncf.quantize(
            ov_model,
            nncf.Dataset(
                texts, lambda t: {k: v for k, v in encode(t).items() if k in names}
            ),
            model_type=nncf.ModelType.TRANSFORMER,
            preset=getattr(nncf.QuantizationPreset, PRESETS[preset]),
            subset_size=len(texts),
            fast_bias_correction=bool(options["fast_bias_correction"]),
        )
        fields = _finish(
            model,
            tokenizer,
            folder,
            quantized,
            {
                "method": "nncf.quantize (static INT8, ModelType.TRANSFORMER, preset "
                f"{preset}, {len(texts)} calibration texts), OpenVINO CPU "
                f"({precision} for the non-quantized ops)",
                "quantized_modules": sorted(
                    op.get_friendly_name()
                    for op in quantized.get_ops()
                    if op.get_type_name() == "FakeQuantize"
                ),
                "bits": 8,
                "group_size": None,
                "inference_precision": precision,
                "calibration_texts": len(texts),
                "export": export,
            },
        )
    return fields


def write_int4(
    model, tokenizer, folder: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """ONNX export + ``nncf.compress_weights`` (data-free 4-bit weights).

    Args:
        options: ``exporter``, ``opset``, ``mode`` (``int4_sym`` | ``int4_asym``),
            ``group_size`` (a power of two >= 16), ``ratio`` (share of the layers in
            4 bit; the rest 8 bit), ``all_layers`` (embeddings and the last layer 4
            bit too, not NNCF's 8-bit default), ``inference_precision``.
    """
    import nncf

    precision = _check_precision(options)
    mode = str(options["mode"])
    if mode not in INT4_MODES:
        raise ValueError(f"mode must be one of {sorted(INT4_MODES)}, got {mode!r}")
    group_size = int(options["group_size"])
    if group_size < onnx_format.MIN_BLOCK_SIZE or group_size & (group_size - 1):
        raise ValueError(f"group_size must be a power of two >= 16, got {group_size}")
    ratio = float(options["ratio"])
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    # NNCF prints a bit-width table per call: INFO noise in a pipeline log.
    logging.getLogger("nncf").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ov_model, export = _read_onnx(model, tokenizer, options, Path(tmp))
        compressed = nncf.compress_weights(
            ov_model,
            mode=getattr(nncf.CompressWeightsMode, INT4_MODES[mode]),
            group_size=group_size,
            ratio=ratio,
            all_layers=bool(options["all_layers"]),
        )
        return _finish(
            model,
            tokenizer,
            folder,
            compressed,
            {
                "method": f"nncf.compress_weights ({mode}, group {group_size}, ratio "
                f"{ratio:g}, all_layers {bool(options['all_layers'])}), OpenVINO CPU "
                f"({precision} compute)",
                "quantized_modules": [],
                "bits": 4,
                "group_size": group_size,
                "inference_precision": precision,
                "export": export,
            },
        )


class OpenVINOClassifier(TokenizedGraphClassifier):
    """A compiled OpenVINO model (first output: logits) plus its tokenizer."""

    def __init__(
        self,
        xml: Path,
        tokenizer,
        id2label: dict[int, str],
        max_length: int,
        precision: str,
        threads: int | None = None,
    ) -> None:
        """Compile for the CPU plugin: latency hint, ``threads`` inference threads
        (``None``: OpenVINO's default), ``precision`` for the non-quantized ops."""
        import openvino as ov

        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = ov.Core().compile_model(str(xml), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.id2label = id2label

    def _logits(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.request.infer(feed)[self.compiled.output(0)]


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> OpenVINOClassifier:
    """Compile ``model.xml`` for the CPU with ``threads`` inference threads."""
    from quant_sentiment.integrity import inside  # the path stays in the folder

    config, tokenizer = load_config_and_tokenizer(folder)
    return OpenVINOClassifier(
        inside(folder, manifest["weights_file"]),
        tokenizer,
        id2label_of(config),
        max_length=manifest["max_length"],
        precision=manifest["inference_precision"],
        threads=threads,
    )
