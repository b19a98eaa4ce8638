"""The raw valid/test lines of the registry entries a leakage guard checks against."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from .source_lines import SourceLinesDataset

#: The splits whose texts a guarded train split must not near-duplicate.
HELD_OUT = ("valid", "test")


class GuardReferencesDataset(AbstractDataset[None, dict]):
    """Load ``{entry: {split: raw lines}}`` for ``leakage_guard.against``.

    ``references`` is the resolved entry's ``leakage_guard.references`` (entry name →
    resolved registry entry, :func:`quant_sentiment.corpora.resolve`), or ``None`` when
    the dataset has no guard: then the load is ``{}``. Each split is read, and fetched
    when missing, as :class:`SourceLinesDataset` reads the chosen dataset's files.

    Example catalog entry::

        guard_reference_lines:
          type: quant_sentiment.datasets.guard_references.GuardReferencesDataset
          references: ${globals:dataset_spec.leakage_guard.references,null}
    """

    def __init__(
        self,
        references: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset (``references``: entry name → resolved entry)."""
        self._references = dict(references or {})
        self.metadata = metadata

    def _sources(self) -> dict[str, dict[str, SourceLinesDataset]]:
        return {
            name: {s: SourceLinesDataset(spec["parts"], s) for s in HELD_OUT}
            for name, spec in self._references.items()
        }

    def _describe(self) -> dict[str, Any]:
        return {"references": sorted(self._references)}

    def _exists(self) -> bool:
        return all(
            data.exists()
            for splits in self._sources().values()
            for data in splits.values()
        )

    def load(self) -> dict[str, dict[str, pd.DataFrame]]:
        """Every referenced entry's valid and test lines (``SourceLinesDataset``)."""
        return {
            name: {split: data.load() for split, data in splits.items()}
            for name, splits in self._sources().items()
        }

    def save(self, data: None) -> None:
        """Raw data is read-only."""
        raise DatasetError(f"{type(self).__name__} is read-only.")
