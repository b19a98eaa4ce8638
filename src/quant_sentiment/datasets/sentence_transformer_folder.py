"""Versioned dataset for a sentence-transformers model folder."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

# Written by ``SentenceTransformer.save``; its presence marks a complete folder.
_MODULES_FILE = "modules.json"


class SentenceTransformerFolderDataset(AbstractVersionedDataset[Any, Any]):
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
        super().__init__(PurePosixPath(filepath), version)
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args,
                "save_args": self._save_args, "version": self._version}

    def _exists(self) -> bool:
        try:
            path = Path(str(self._get_load_path()))
        except DatasetError:
            return False
        return (path / _MODULES_FILE).is_file()

    def load(self) -> Any:
        """Load the (newest) folder with ``SentenceTransformer(<folder>)``."""
        from sentence_transformers import SentenceTransformer

        path = Path(str(self._get_load_path()))
        if not (path / _MODULES_FILE).is_file():
            raise DatasetError(f"No sentence-transformers folder ({_MODULES_FILE}) at '{path}'.")
        return SentenceTransformer(str(path), **self._load_args)

    def save(self, data: Any) -> None:
        """Write the model to a temporary folder, then move it into place."""
        path = Path(str(self._get_save_path()))
        tmp = path.with_name(path.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        data.save(str(tmp), **self._save_args)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
