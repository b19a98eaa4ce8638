"""Versioned dataset for a sentence-transformers model folder."""

from __future__ import annotations

from typing import Any

from kedro.io import Version

from quant_sentiment.datasets._folder import FolderDataset

# Written by ``SentenceTransformer.save``; its presence marks a complete folder.
_MODULES_FILE = "modules.json"


class SentenceTransformerFolderDataset(FolderDataset):
    """Save/load a ``SentenceTransformer`` as the folder ``SentenceTransformer.save`` writes.

    The saved folder is self-contained: ``SentenceTransformer(<folder>)`` loads it
    with no project code (modules, tokenizer, pooling and model card included).
    With ``versioned: true`` each save goes to ``<filepath>/<timestamp>/<name>/``.

    Example catalog entry::

        embed_model:
          type: quant_sentiment.datasets.SentenceTransformerFolderDataset
          filepath: data/06_models/embed_model
          versioned: true
    """

    marker = _MODULES_FILE

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            filepath: Folder path (the versioned base path when versioned).
            load_args: Extra keyword arguments for ``SentenceTransformer(...)``
                (e.g. ``device: cpu``).
            save_args: Extra keyword arguments for ``SentenceTransformer.save``
                (e.g. ``create_model_card: false``).
            version: Kedro version (set by the catalog for ``versioned: true``).
            metadata: Free-form metadata (ignored by Kedro).
        """
        super().__init__(filepath, version, metadata)
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})

    def _describe(self) -> dict[str, Any]:
        return {
            **super()._describe(),
            "load_args": self._load_args,
            "save_args": self._save_args,
        }

    def load(self) -> Any:
        """Load the (newest) folder with ``SentenceTransformer(<folder>)``."""
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self._load_folder()), **self._load_args)

    def save(self, data: Any) -> None:
        """Write the model to a temporary folder, then move it into place."""
        self._write_folder(lambda folder: data.save(str(folder), **self._save_args))
