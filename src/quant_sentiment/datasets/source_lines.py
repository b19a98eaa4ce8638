"""The raw lines of one split of a registry dataset (:mod:`quant_sentiment.corpora`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from quant_sentiment.atomic import clean_leftovers
from quant_sentiment.corpora import OWN_FILES, SPLITS

from .raw_lines import RawLinesDataset

#: Columns of the loaded frame.
COLUMNS = ["part", "split", "source", "line", "raw"]


def _hint(entry: str) -> str:
    """What to do about a missing file of the registry entry ``entry``."""
    if entry == OWN_FILES:
        return (
            "Put the file there, or point --params data.raw_dir (and "
            "data.raw_suffix, or data.train_file / data.valid_file / data.test_file) "
            'at your files; see docs/preprocessing.md, "Your own files".'
        )
    return (
        f"It is a file of the dataset '{entry}' (conf/base/datasets.yml); put it "
        f"there, or choose another dataset with --params dataset=<name>."
    )


class SourceLinesDataset(AbstractDataset[None, pd.DataFrame]):
    """Load the raw lines of one split of the chosen dataset, every part's file.

    ``parts`` is the resolved registry entry's ``parts`` (``${globals:dataset_spec.
    parts}``): for each part, the file of this ``split`` (three split files) or its one
    file (``all``: the seeded stratified split happens in ``preprocessing`` after
    parsing, so each split's load reads the whole file). Each file is read, and fetched
    when missing, by :class:`RawLinesDataset` (local mirror folders, then the source
    URL). The frame has ``part`` (index into ``parts``), ``split`` (the split being
    loaded), ``source`` (file path), ``line`` (1-based) and ``raw`` (bytes);
    ``attrs["sources"]`` lists the files, also when they are empty.

    Example catalog entry::

        raw_train:
          type: quant_sentiment.datasets.SourceLinesDataset
          parts: ${globals:dataset_spec.parts}
          split: train
    """

    def __init__(
        self,
        parts: list[dict[str, Any]],
        split: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            parts: The resolved registry entry's ``parts``.
            split: ``train``, ``valid`` or ``test``.
            metadata: Free-form metadata (ignored by Kedro).
        """
        if split not in SPLITS:
            raise DatasetError(f"split must be one of {SPLITS}, got {split!r}")
        self._parts = list(parts)
        self._split = split
        self.metadata = metadata

    def _files(self) -> list[tuple[int, RawLinesDataset]]:
        out = []
        for index, part in enumerate(self._parts):
            file = part["files"].get(self._split) or part["files"]["all"]
            out.append(
                (
                    index,
                    RawLinesDataset(
                        file["path"],
                        source_url=file.get("source_url"),
                        mirror_dirs=file.get("mirror_dirs"),
                        missing_hint=_hint(part["entry"]),
                    ),
                )
            )
        return out

    def _describe(self) -> dict[str, Any]:
        return {
            "split": self._split,
            "files": [d._describe()["filepath"] for _, d in self._files()],
        }

    def _exists(self) -> bool:
        return all(Path(d._describe()["filepath"]).is_file() for _, d in self._files())

    def clean_leftovers(self) -> list[Path]:
        """Remove half-fetched copies (``<name>.partial-…``) of killed runs."""
        removed: list[Path] = []
        for _, data in self._files():
            removed += clean_leftovers(
                Path(data._describe()["filepath"]).parent, depth=1
            )
        return removed

    def load(self) -> pd.DataFrame:
        """Every part's lines for this split (see the class docstring)."""
        frames = []
        for index, data in self._files():
            frame = data.load()
            frames.append(frame.assign(part=index, split=self._split))
        frame = pd.concat(frames, ignore_index=True)[COLUMNS]
        frame.attrs["sources"] = [d._describe()["filepath"] for _, d in self._files()]
        frame.attrs["source"] = ", ".join(frame.attrs["sources"])
        return frame

    def save(self, data: None) -> None:
        """Raw data is read-only."""
        raise DatasetError(f"{type(self).__name__} is read-only.")
