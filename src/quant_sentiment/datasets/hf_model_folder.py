"""Versioned dataset for a Hugging Face ``save_pretrained`` model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import Version

from quant_sentiment.datasets._folder import FolderDataset
from quant_sentiment.formats import hf, multitask
from quant_sentiment.manifest import verified_manifest, write_manifest
from quant_sentiment.modeling import ModelBundle


class HFModelFolderDataset(FolderDataset):
    """Save/load a :class:`~quant_sentiment.modeling.ModelBundle` as a model folder.

    The folder holds what ``save_pretrained`` writes for the model and the tokenizer
    (so ``transformers.pipeline("text-classification", model=<folder>)`` works and
    returns label names) plus ``manifest.json``: the bundle's metadata (label map,
    training configuration, data fingerprint, ``max_length``) with the format fields
    every model folder has (``format: hf``, dtype, bits, size on disk).

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
        """Load the model, tokenizer and manifest from the (newest) folder, once its
        files match the manifest's record (``manifest.verified_manifest``)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = self._load_folder()
        metadata = verified_manifest(path)  # before from_pretrained reads a file
        if metadata.get("format") == multitask.FORMAT_HF:  # docs/multitask.md
            return self._load_multitask(path, metadata)
        load_args = dict(self._load_args)
        if isinstance(load_args.get("dtype"), str):
            import torch

            load_args["dtype"] = getattr(torch, load_args["dtype"])
        model = AutoModelForSequenceClassification.from_pretrained(
            path, use_safetensors=True, **load_args
        )
        tokenizer = AutoTokenizer.from_pretrained(path)
        return ModelBundle(
            model=model, tokenizer=tokenizer, metadata=metadata, path=path
        )

    def _load_multitask(self, path: Path, metadata: dict[str, Any]) -> ModelBundle:
        """An ``hf_multitask`` folder (the ``finetune`` of a multi-task entry)."""
        from transformers import AutoTokenizer

        from quant_sentiment.multitask import MultiTaskModel

        model = MultiTaskModel.from_pretrained(path, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return ModelBundle(
            model=model.eval(), tokenizer=tokenizer, metadata=metadata, path=path
        )

    def save(self, data: ModelBundle) -> None:
        """Write model, tokenizer and ``manifest.json`` to a temporary folder, then
        move it into place (a multi-task model as ``hf_multitask``)."""

        def write(folder: Path) -> None:
            if multitask.is_multitask_model(data.model):
                max_length = int(data.metadata["max_length"])
                fields = multitask.write_hf(
                    data.model, data.tokenizer, folder, max_length
                )
                write_manifest(folder, {**data.metadata, **fields})
                return
            hf.write_pretrained(data.model, data.tokenizer, folder)
            write_manifest(
                folder, {**data.metadata, **hf.pretrained_fields(data.model)}
            )

        self._write_folder(write)
