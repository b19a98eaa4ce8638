"""Load any saved model variant (FP32, FP16/BF16, quantized) behind one interface.

Every variant folder written by the project can be reopened with
:func:`load_classifier`, which returns an object with ``predict_logits(texts)`` and
``id2label``. ``evaluate`` uses it to score and time every variant the same way.

A variant folder either is a Hugging Face ``save_pretrained`` folder (``config.json``,
format ``hf``) or carries a ``manifest.json`` whose ``format`` names a loader
registered here with :func:`register_format`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MANIFEST_FILE = "manifest.json"


class Classifier(Protocol):
    """What every loaded variant offers."""

    id2label: dict[int, str]

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits (float32, ``[n, num_labels]``) in input order."""


@dataclass(frozen=True)
class VariantHandle:
    """A saved variant folder, not yet loaded: its path and manifest.

    ``VariantFolderDataset.load()`` returns this, so that nodes can score a variant
    in-process (:meth:`load`) or time it in a fresh process (pass :attr:`path`).
    """

    path: Path
    manifest: dict[str, Any]

    def load(self, max_length: int = 128) -> Classifier:
        """Open the variant as a :class:`Classifier`."""
        return load_classifier(self.path, max_length=max_length)


class VariantArtifact(Protocol):
    """What ``VariantFolderDataset.save`` accepts: anything that writes a folder."""

    def save(self, folder: Path) -> None:
        """Write the variant (weights, tokenizer, ``manifest.json``) into ``folder``."""


_LOADERS: dict[str, Callable[[Path, dict[str, Any]], Classifier]] = {}


def register_format(name: str):
    """Decorator registering a loader ``(folder, manifest) -> Classifier``."""

    def deco(func):
        _LOADERS[name] = func
        return func

    return deco


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The folder's ``manifest.json``, or ``{"format": "hf"}`` for a plain HF folder."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if path.is_file():
        return json.loads(path.read_text())
    if (folder / "config.json").is_file():
        return {"format": "hf"}
    raise FileNotFoundError(f"'{folder}' has neither {MANIFEST_FILE} nor config.json")


def load_classifier(folder: str | Path, max_length: int = 128) -> Classifier:
    """Open a saved variant folder as a :class:`Classifier`."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    fmt = manifest.get("format", "hf")
    if fmt not in _LOADERS:
        raise ValueError(
            f"Unknown variant format {fmt!r} in '{folder}'; known: {sorted(_LOADERS)}"
        )
    return _LOADERS[fmt](folder, {**manifest, "max_length": max_length})


class HFClassifier:
    """A ``transformers`` sequence classifier (any dtype) as a :class:`Classifier`."""

    def __init__(self, model, tokenizer, max_length: int = 128) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        from quant_sentiment.inference import predict_logits

        return predict_logits(
            self.model,
            self.tokenizer,
            texts,
            batch_size=batch_size,
            max_length=self.max_length,
            show_progress=False,
        )


@register_format("hf")
def _load_hf(folder: Path, manifest: dict[str, Any]) -> HFClassifier:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dtype = manifest.get("torch_dtype")
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, **({"dtype": getattr(torch, dtype)} if dtype else {})
    )
    return HFClassifier(
        model,
        AutoTokenizer.from_pretrained(folder),
        max_length=manifest.get("max_length", 128),
    )


# ---------------------------------------------------------------- quantized formats
# Written by the ``quantize_ptq`` pipeline; each is documented in docs/quantize_ptq.md.

ONNX_FILE = "model.onnx"
TORCHAO_FILE = "torchao_state_dict.pt"


class OnnxClassifier:
    """An ONNX Runtime ``InferenceSession`` (``logits`` output) plus its tokenizer.

    The session uses as many intra-op threads as torch does
    (``torch.get_num_threads()``), so that timing it next to the PyTorch variants
    compares like with like.
    """

    def __init__(
        self,
        model_path: Path,
        tokenizer,
        id2label: dict[int, str],
        max_length: int = 128,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.id2label = id2label

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        from quant_sentiment.inference import length_sorted_batches

        for idx in length_sorted_batches(texts, batch_size):
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {name: enc[name].astype(np.int64) for name in self.input_names}
            out[idx] = self.session.run(["logits"], feed)[0]
        return out


@register_format("onnx")
def _load_onnx(folder: Path, manifest: dict[str, Any]) -> OnnxClassifier:
    """ONNX Runtime variants (``int8_ort``, the ``MatMulNBits`` ``int4``)."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(folder)
    return OnnxClassifier(
        folder / manifest.get("weights_file", ONNX_FILE),
        AutoTokenizer.from_pretrained(folder),
        {int(k): v for k, v in config.id2label.items()},
        max_length=manifest.get("max_length", 128),
        threads=manifest.get("threads"),
    )


@register_format("torchao")
def _load_torchao(folder: Path, manifest: dict[str, Any]) -> HFClassifier:
    """torchao-quantized model: ``config.json`` + a ``torch.save``'d state dict.

    The architecture is rebuilt from the config (random init, on CPU: not on the
    ``meta`` device, which would leave non-persistent buffers such as
    ``position_ids`` empty) and the quantized tensors are assigned in place.
    """
    import torch
    import torchao.quantization  # noqa: F401  (registers the tensor subclasses)
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_config(config)
    state = torch.load(
        folder / manifest.get("weights_file", TORCHAO_FILE),
        weights_only=True,
        map_location="cpu",
    )
    model.load_state_dict(state, assign=True)
    return HFClassifier(
        model,
        AutoTokenizer.from_pretrained(folder),
        max_length=manifest.get("max_length", 128),
    )


@register_format("bnb")
def _load_bnb(folder: Path, manifest: dict[str, Any]) -> HFClassifier:
    """bitsandbytes INT8 / NF4 model saved with ``save_pretrained`` (needs CUDA)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, device_map=device
    )
    return HFClassifier(
        model,
        AutoTokenizer.from_pretrained(folder),
        max_length=manifest.get("max_length", 128),
    )


@register_format("skipped")
def _load_skipped(folder: Path, manifest: dict[str, Any]) -> Classifier:
    """A variant that was not built: loading it is an error that says why."""
    raise ValueError(
        f"Variant {manifest.get('variant')!r} in '{folder}' was skipped: "
        f"{manifest.get('reason', 'no reason recorded')}"
    )
