"""Common base of the versioned model-folder datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from quant_sentiment.atomic import atomic_folder, clean_leftovers


class FolderDataset(AbstractVersionedDataset):
    """A versioned folder written in one piece: ``<filepath>/<timestamp>/<name>/``.

    Subclasses set ``marker`` (a file whose presence marks a complete folder, or
    ``None`` for any folder) and implement ``load``/``save`` with
    :meth:`_load_folder` and :meth:`_write_folder`.
    """

    marker: str | None = None

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _is_complete(self, path: Path) -> bool:
        return (path / self.marker).is_file() if self.marker else path.is_dir()

    def _exists(self) -> bool:
        try:
            path = Path(str(self._get_load_path()))
        except DatasetError:
            return False
        return self._is_complete(path)

    def _load_folder(self) -> Path:
        """The newest (or pinned) folder; raises if it is missing or incomplete."""
        path = Path(str(self._get_load_path()))
        if not self._is_complete(path):
            what = f"({self.marker})" if self.marker else ""
            raise DatasetError(f"No {type(self).__name__} folder {what} at '{path}'.")
        return path

    def _write_folder(self, write: Callable[[Path], None]) -> None:
        """Let ``write`` fill a staging folder, then move it into place in one rename.

        The staging folder (``<name>.partial-<pid>-<id>``, :mod:`quant_sentiment.atomic`)
        is never read: a writer killed mid-save leaves no readable version, and the
        next run removes the leftover (``AtomicSavesHook``).
        """
        atomic_folder(Path(str(self._get_save_path())), write)
        self._cached_load_version = None  # the next load sees the version just saved

    def clean_leftovers(self) -> list[Path]:
        """Remove staging folders of this dataset's writers that were killed."""
        base = Path(str(self._filepath))
        if self._version is not None:  # <base>/<version>/<name>.partial-…
            return clean_leftovers(base, depth=2)
        return clean_leftovers(base.parent, depth=1)  # <parent>/<name>.partial-…
