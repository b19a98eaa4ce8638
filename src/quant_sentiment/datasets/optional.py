"""A dataset wrapper whose load gives ``None`` when nothing was saved yet."""

from __future__ import annotations

import logging
from typing import Any

from kedro.io.core import VERSIONED_FLAG_KEY, AbstractDataset, DatasetError, Version

logger = logging.getLogger(__name__)


class OptionalDataset(AbstractDataset):
    """Wrap a dataset; ``load`` returns ``None`` when the wrapped one does not exist.

    For artifacts that a consumer can do without (the ``report`` pipeline reads the
    explain, multi-seed, QAT-recovery and mixed-precision tables when those pipelines
    ran): the producer saves through the wrapper exactly as through the wrapped
    dataset, and the consumer gets ``None`` instead of an error when no version (or no
    file) is there. Versioning is declared on the wrapper, as for ``CachedDataset``::

        explain_drift_table:
          type: quant_sentiment.datasets.OptionalDataset
          versioned: true
          dataset:
            type: pandas.CSVDataset
            filepath: data/08_reporting/${globals:run}/explain/drift.csv
    """

    def __init__(
        self,
        dataset: dict[str, Any],
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(dataset, dict) or "type" not in dataset:
            raise DatasetError(
                "OptionalDataset: 'dataset' must be a dataset definition with a 'type'"
            )
        config = dict(dataset)
        if VERSIONED_FLAG_KEY in config:
            raise DatasetError(
                "OptionalDataset: declare 'versioned: true' on the wrapper, not in "
                "its 'dataset'"
            )
        if version is not None:
            config[VERSIONED_FLAG_KEY] = True
            self._dataset = AbstractDataset.from_config(
                "_optional", config, version.load, version.save
            )
        else:
            self._dataset = AbstractDataset.from_config("_optional", config)
        self.metadata = metadata

    @property
    def _filepath(self):
        """The wrapped dataset's path (for code that inspects catalog entries)."""
        return self._dataset._filepath

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe(), "optional": True}

    def load(self) -> Any:
        """The wrapped dataset's data, or ``None`` when it has no version / file."""
        if not self._dataset.exists():
            logger.info("OptionalDataset: %s has nothing saved; loading None", self)
            return None
        return self._dataset.load()

    def save(self, data: Any) -> None:
        """Save through the wrapped dataset."""
        self._dataset.save(data)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _release(self) -> None:
        self._dataset.release()
