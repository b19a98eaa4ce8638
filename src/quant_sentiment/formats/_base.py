"""What every format shares: the ``Classifier`` interface and the folder layout.

Formats other than ``hf`` are not Hugging Face checkpoints. Their folders keep the
model's configuration as ``model_config.json`` and carry a ``config.json`` whose
``model_type`` says how to open them, so ``transformers.pipeline(model=<folder>)``
fails with a message naming :func:`quant_sentiment.variants.load_classifier`
instead of "no file named model.safetensors".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MODEL_CONFIG_FILE = "model_config.json"


class Classifier(Protocol):
    """What every loaded variant offers."""

    id2label: dict[int, str]

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits (float32, ``[n, num_labels]``) in input order."""


def not_a_transformers_folder(fmt: str) -> dict[str, str]:
    """The ``config.json`` of a non-``hf`` folder: its model type is the instruction."""
    return {
        "model_type": f"quant_sentiment {fmt} variant, not a transformers checkpoint: "
        "open it with quant_sentiment.variants.load_classifier(<folder>)"
    }


def save_config_and_tokenizer(model, tokenizer, folder: Path, fmt: str) -> None:
    """Write the model configuration, the tokenizer and the guarding ``config.json``."""
    folder = Path(folder)
    model.config.to_json_file(folder / MODEL_CONFIG_FILE)
    tokenizer.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(not_a_transformers_folder(fmt)))


def load_config_and_tokenizer(folder: Path) -> tuple[Any, Any]:
    """``(config, tokenizer)`` of a folder written by :func:`save_config_and_tokenizer`."""
    from transformers import AutoConfig, AutoTokenizer

    values = json.loads((Path(folder) / MODEL_CONFIG_FILE).read_text())
    config = AutoConfig.for_model(**values)
    return config, AutoTokenizer.from_pretrained(folder, config=config)


def id2label_of(config) -> dict[int, str]:
    """``{id: label}`` with integer keys from a ``transformers`` config."""
    return {int(k): str(v) for k, v in config.id2label.items()}


class TokenizedGraphClassifier:
    """Shared :meth:`predict_logits` of the classifiers that feed a compiled graph
    NumPy token ids (ONNX Runtime, OpenVINO): texts batched by length, each batch
    padded to its longest text and truncated at ``max_length``. A subclass sets
    ``tokenizer``, ``max_length``, ``id2label``, ``input_names`` and runs one batch
    in :meth:`_logits`."""

    tokenizer: Any
    max_length: int | None
    id2label: dict[int, str]
    input_names: list[str]

    def _logits(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The graph's logits for one batch of ``int64`` inputs."""
        raise NotImplementedError

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits in input order, texts batched by length."""
        from quant_sentiment.inference import length_sorted_batches

        texts = list(texts)
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        for idx in length_sorted_batches(texts, batch_size):
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {name: enc[name].astype(np.int64) for name in self.input_names}
            out[idx] = self._logits(feed)
        return out


class HFClassifier:
    """A ``transformers`` sequence classifier (any dtype) as a :class:`Classifier`."""

    def __init__(
        self, model, tokenizer, max_length: int | None, compiled: bool = False
    ) -> None:
        """Wrap ``model``; ``compiled``: predict through ``torch.compile(model,
        dynamic=True)`` (``.model`` stays the eager module, for gradients)."""
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.id2label = id2label_of(model.config)
        self.compiled = compiled
        self._forward = self.model
        if compiled:
            import torch

            self._forward = torch.compile(self.model, dynamic=True)

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits in input order, texts batched by length."""
        from quant_sentiment.inference import predict_logits

        return predict_logits(
            self._forward,
            self.tokenizer,
            texts,
            batch_size=batch_size,
            max_length=self.max_length,
            show_progress=False,
        )
