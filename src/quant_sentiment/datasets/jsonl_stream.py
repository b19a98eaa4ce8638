"""A JSON-Lines dataset that streams: it never holds the whole file in memory."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

logger = logging.getLogger(__name__)


def iter_jsonl(
    path: str | Path, on_invalid: str = "error", stats: dict[str, int] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each JSON object in a JSON-Lines file.

    The file is read one line at a time, so memory use does not grow with its size.
    Blank lines are skipped.

    Args:
        path: The ``.jsonl`` file.
        on_invalid: ``error`` stops at the first line that is not a JSON object (the
            message names the file and line); ``skip`` drops such lines and counts them.
        stats: Optional counter dict; ``invalid_lines`` and ``blank_lines`` are
            incremented in place.

    Raises:
        FileNotFoundError: If the file does not exist.
        DatasetError: On an invalid line with ``on_invalid="error"``.
    """
    if on_invalid not in {"error", "skip"}:
        raise ValueError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"JSON-Lines file '{path}' does not exist. Point the catalog entry (or the "
            f"runtime parameter named in conf/base/catalog_embed_finetune.yml) at your corpus."
        )
    stats = stats if stats is not None else {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                stats["blank_lines"] = stats.get("blank_lines", 0) + 1
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(
                        f"expected a JSON object, got {type(record).__name__}"
                    )
            except ValueError as err:  # json.JSONDecodeError is a ValueError
                if on_invalid == "error":
                    raise DatasetError(
                        f"{path}:{number}: invalid JSON line ({err})."
                    ) from err
                stats["invalid_lines"] = stats.get("invalid_lines", 0) + 1
                continue
            yield number, record


class JSONLinesStream:
    """A re-iterable view of a JSON-Lines file: every ``iter()`` re-opens the file.

    Iterating yields the records (dicts). :meth:`records` gives line numbers and the
    choice of skipping invalid lines.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"JSONLinesStream({str(self.path)!r})"

    def exists(self) -> bool:
        """Whether the file is there."""
        return self.path.is_file()

    def records(
        self, on_invalid: str = "error", stats: dict[str, int] | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line_number, record)`` pairs; see :func:`iter_jsonl`."""
        return iter_jsonl(self.path, on_invalid=on_invalid, stats=stats)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for _, record in self.records():
            yield record


class JSONLinesDataset(
    AbstractVersionedDataset[Iterable[dict[str, Any]], JSONLinesStream]
):
    """Load a JSON-Lines file lazily and save any iterable of dicts line by line.

    ``load`` returns a :class:`JSONLinesStream` without reading the file, so a corpus of
    millions of documents costs no memory until it is iterated, and iterating reads one
    line at a time. ``save`` consumes an iterable (a generator is fine) and writes one
    JSON object per line to a temporary file that is moved into place at the end.

    Example catalog entry::

        embed_corpus:
          type: quant_sentiment.datasets.JSONLinesDataset
          filepath: data/01_raw/corpus/documents.jsonl
    """

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            filepath: Path of the ``.jsonl`` file (the versioned base path when versioned).
            version: Kedro version (set by the catalog for ``versioned: true``).
            metadata: Free-form metadata (ignored by Kedro).
        """
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).is_file()
        except DatasetError:
            return False

    def load(self) -> JSONLinesStream:
        """Return a lazy stream over the (newest) file; nothing is read yet."""
        return JSONLinesStream(Path(str(self._get_load_path())))

    def save(self, data: Iterable[dict[str, Any]]) -> None:
        """Write the records one per line, streaming from ``data``."""
        path = Path(str(self._get_save_path()))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        rows = 0
        with tmp.open("w", encoding="utf-8") as handle:
            for record in data:
                handle.write(json.dumps(record, ensure_ascii=False))
                handle.write("\n")
                rows += 1
        shutil.move(tmp, path)
        logger.info("Wrote %d records to %s", rows, path)
