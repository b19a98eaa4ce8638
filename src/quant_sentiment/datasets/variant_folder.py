"""Versioned dataset for a model-variant folder (any format ``variants`` can load)."""

from __future__ import annotations

from quant_sentiment.datasets._folder import FolderDataset
from quant_sentiment.variants import VariantArtifact, VariantHandle, read_manifest


class VariantFolderDataset(FolderDataset):
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

    def load(self) -> VariantHandle:
        """Return the newest (or pinned) folder with its manifest."""
        path = self._load_folder()
        return VariantHandle(path=path, manifest=read_manifest(path))

    def save(self, data: VariantArtifact) -> None:
        """Write through ``data.save(tmp)`` into a temporary folder, then move it."""
        self._write_folder(data.save)
