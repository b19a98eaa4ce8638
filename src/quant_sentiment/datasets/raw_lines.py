"""A read-only dataset that returns the raw lines of a text file, fetched if missing."""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from quant_sentiment.atomic import clean_leftovers, copy_file_atomic, write_bytes_atomic
from quant_sentiment.records import LineReader, split_lines

__all__ = ["RawLinesDataset", "split_lines"]

logger = logging.getLogger(__name__)


class RawLinesDataset(AbstractDataset[None, pd.DataFrame]):
    """Load a line-oriented file (e.g. SmSA's ``text<TAB>label`` TSV) as raw bytes.

    Parsing and validation happen in the ``preprocessing`` pipeline (through the
    shared record reader, :mod:`quant_sentiment.records`), so that a broken line gives
    an error naming the file, the line number and the problem instead of a parser
    exception. The loaded frame has columns ``source`` (file path), ``line``
    (1-based line number) and ``raw`` (the line's bytes without the line ending), and
    ``attrs["source"]`` names the file even when it has no lines.

    Lines are split by the record reader's :class:`~quant_sentiment.records.LineReader`
    (the file is read in blocks). Lines end at ``\n`` only (one ``\r`` before it, a
    Windows line ending, is removed):
    a stray ``\r`` or another Unicode line break inside a line stays in its bytes, so
    it never splits a row nor shifts the line numbers after it; ``validate_rows``
    reports and normalises it.

    When the file is missing it is looked up, in order, in ``mirror_dirs`` (local
    copies, e.g. a shared data folder) and at ``source_url`` (e.g. the IndoNLU GitHub
    repository), and copied to ``filepath``. If neither works, loading stops with a
    message saying where to put the file.

    Example catalog entry::

        raw_train:
          type: quant_sentiment.datasets.RawLinesDataset
          filepath: data/01_raw/smsa/train_preprocess.tsv
          source_url: https://raw.githubusercontent.com/IndoNLP/indonlu/master/dataset/smsa_doc-sentiment-prosa/train_preprocess.tsv
    """

    def __init__(
        self,
        filepath: str,
        source_url: str | None = None,
        mirror_dirs: list[str] | None = None,
        download_timeout: float = 30.0,
        missing_hint: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            filepath: Local path of the file.
            source_url: Where to download the file from when it is missing.
            mirror_dirs: Local folders searched (by file name) before downloading.
            download_timeout: Seconds to wait for the download.
            missing_hint: Said after "missing" for a file with nothing to fetch
                (e.g. which runtime parameters point at it).
            metadata: Free-form metadata (ignored by Kedro).
        """
        self._filepath = Path(filepath)
        self._source_url = source_url
        self._mirror_dirs = [Path(d) for d in (mirror_dirs or [])]
        self._timeout = download_timeout
        self._missing_hint = missing_hint
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "source_url": self._source_url}

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def clean_leftovers(self) -> list[Path]:
        """Remove half-fetched copies (``<name>.partial-…``) of killed runs."""
        return clean_leftovers(self._filepath.parent, depth=1)

    def _fetch(self) -> None:
        """Copy the file from a mirror folder or download it; raise if impossible."""
        for mirror in self._mirror_dirs:
            candidate = mirror / self._filepath.name
            if candidate.is_file():
                copy_file_atomic(candidate, self._filepath)  # never half-copied
                logger.info("Copied %s from local mirror %s", self._filepath, candidate)
                return
        problem = "no source_url is configured"
        if self._source_url:
            try:
                with urllib.request.urlopen(
                    self._source_url, timeout=self._timeout
                ) as r:
                    payload = r.read()
            except OSError as exc:  # URLError, timeouts, DNS failures
                problem = f"downloading {self._source_url} failed ({exc})"
            else:
                write_bytes_atomic(self._filepath, payload)
                logger.info("Downloaded %s from %s", self._filepath, self._source_url)
                return
        if not self._source_url and not self._mirror_dirs:
            # A project's own file: nothing to fetch, only say where it was expected.
            raise DatasetError(
                f"Data file '{self._filepath}' is missing (looked for "
                f"'{self._filepath.resolve()}'). "
                + (
                    self._missing_hint
                    or "Put the file there, or point this dataset's filepath in the "
                    "catalog at the right file."
                )
            )
        searched = ", ".join(str(m) for m in self._mirror_dirs) or "none"
        raise DatasetError(
            f"Data file '{self._filepath}' is missing and could not be fetched: {problem}; "
            f"local mirrors searched: {searched}. Put the file at '{self._filepath}' "
            f"(for SmSA: the IndoNLU files from dataset/smsa_doc-sentiment-prosa/ of "
            f"https://github.com/IndoNLP/indonlu), or run offline with the tracked "
            f"sample corpus: `kedro run --env=offline`."
        )

    def load(self) -> pd.DataFrame:
        """Return one row per line: ``source``, ``line`` (1-based) and ``raw`` bytes."""
        if not self._filepath.is_file():
            self._fetch()
        with self._filepath.open("rb") as stream:
            lines = [line.data for line in LineReader(stream)]
        frame = pd.DataFrame(
            {
                "source": str(self._filepath),
                "line": range(1, len(lines) + 1),
                "raw": pd.Series(lines, dtype=object),
            }
        )
        frame.attrs["source"] = str(self._filepath)
        return frame

    def save(self, data: None) -> None:
        """Raw data is read-only."""
        raise DatasetError(f"{type(self).__name__} is read-only ({self._filepath}).")
