"""Versioned dataset for a folder of several model folders (not one variant)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quant_sentiment.datasets._folder import FolderDataset
from quant_sentiment.variants import VariantArtifact, read_manifest


@dataclass(frozen=True)
class ModelSet:
    """A saved folder of model folders: its path and top ``manifest.json``."""

    path: Path
    manifest: dict[str, Any]


class ModelSetFolderDataset(FolderDataset):
    """Save a folder of model folders (e.g. ``finetune_per_task``'s one single-task
    model per head, ``<task>/``) through its ``save(folder)``, written in one piece;
    load its path and manifest (:class:`ModelSet`). It is not a variant: ``evaluate``
    reads the predictions made beside it, not the folder.

    Example catalog entry::

        single_task_models:
          type: quant_sentiment.datasets.ModelSetFolderDataset
          filepath: data/06_models/${globals:run}/single_task_models
          versioned: true
    """

    marker = "manifest.json"

    def load(self) -> ModelSet:
        """The newest (or pinned) folder with its manifest."""
        path = self._load_folder()
        return ModelSet(path=path, manifest=read_manifest(path))

    def save(self, data: VariantArtifact) -> None:
        """Write through ``data.save(tmp)`` into a temporary folder, then move it."""
        self._write_folder(data.save)
