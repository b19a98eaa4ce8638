"""Versioned dataset for a model-variant folder (any format ``variants`` can load)."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from quant_sentiment.variants import VariantArtifact, VariantHandle, read_manifest


class VariantFolderDataset(AbstractVersionedDataset[VariantArtifact, VariantHandle]):
    """Save a variant by calling its ``save(folder)``; load a lazy :class:`VariantHandle`.

    Loading returns the folder path and manifest without reading weights, so a node
    can time the variant in a fresh process or open it with ``handle.load()``. It
    also reads plain Hugging Face folders (e.g. ``finetuned_model``'s path), whose
    format is ``hf``.

    Example catalog entry::

        ptq_int8_ort_model:
          type: quant_sentiment.datasets.VariantFolderDataset
          filepath: data/06_models/${globals:run}/ptq_int8_ort_model
          versioned: true
    """

    def __init__(self, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        """Create the dataset.

        Args:
            filepath: Folder path (the versioned base path when versioned).
            version: Kedro version (set by the catalog for ``versioned: true``).
            metadata: Free-form metadata (ignored by Kedro).
        """
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _exists(self) -> bool:
        try:
            path = Path(str(self._get_load_path()))
        except DatasetError:
            return False
        return path.is_dir()

    def load(self) -> VariantHandle:
        """Return the newest (or pinned) folder with its manifest."""
        path = Path(str(self._get_load_path()))
        if not path.is_dir():
            raise DatasetError(f"No variant folder at '{path}'.")
        return VariantHandle(path=path, manifest=read_manifest(path))

    def save(self, data: VariantArtifact) -> None:
        """Write through ``data.save(tmp)`` into a temporary folder, then move it."""
        path = Path(str(self._get_save_path()))
        tmp = path.with_name(path.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        data.save(tmp)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
        self._cached_load_version = None
