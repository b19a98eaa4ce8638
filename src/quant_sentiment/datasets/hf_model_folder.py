"""Versioned dataset for a Hugging Face ``save_pretrained`` model folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import Version

from quant_sentiment.datasets._folder import FolderDataset
from quant_sentiment.modeling import METADATA_FILE, ModelBundle


class HFModelFolderDataset(FolderDataset):
    """Save/load a :class:`~quant_sentiment.modeling.ModelBundle` as a model folder.

    The folder holds what ``save_pretrained`` writes for the model and the tokenizer
    (so ``transformers.pipeline("text-classification", model=<folder>)`` works and
    returns label names) plus ``quant_sentiment.json`` with the bundle's metadata
    (label map, training configuration, data fingerprint).

    With ``versioned: true`` each save goes to ``<filepath>/<timestamp>/<name>/``
    and a load takes the newest version unless ``--load-versions`` pins one.

    Example catalog entry::

        finetuned_model:
          type: quant_sentiment.datasets.HFModelFolderDataset
          filepath: data/06_models/finetuned_model
          versioned: true
    """

    marker = "config.json"

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            filepath: Folder path (the versioned base path when versioned).
            load_args: Extra keyword arguments for
                ``AutoModelForSequenceClassification.from_pretrained`` (e.g.
                ``dtype: bfloat16``).
            version: Kedro version (set by the catalog for ``versioned: true``).
            metadata: Free-form metadata (ignored by Kedro).
        """
        super().__init__(filepath, version, metadata)
        self._load_args = dict(load_args or {})

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "load_args": self._load_args}

    def load(self) -> ModelBundle:
        """Load the model, tokenizer and metadata from the (newest) folder."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = self._load_folder()
        load_args = dict(self._load_args)
        if isinstance(load_args.get("dtype"), str):
            import torch

            load_args["dtype"] = getattr(torch, load_args["dtype"])
        model = AutoModelForSequenceClassification.from_pretrained(path, **load_args)
        tokenizer = AutoTokenizer.from_pretrained(path)
        meta_file = path / METADATA_FILE
        metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        return ModelBundle(
            model=model, tokenizer=tokenizer, metadata=metadata, path=path
        )

    def save(self, data: ModelBundle) -> None:
        """Write model, tokenizer and metadata to a temporary folder, then move it."""

        def write(folder: Path) -> None:
            data.model.save_pretrained(folder)
            data.tokenizer.save_pretrained(folder)
            (folder / METADATA_FILE).write_text(
                json.dumps(data.metadata, indent=2, sort_keys=True, default=str)
            )

        self._write_folder(write)
