"""Common base of the versioned model-folder datasets."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version


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
        """Let ``write`` fill a temporary folder, then move it into place."""
        path = Path(str(self._get_save_path()))
        tmp = path.with_name(path.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
        self._cached_load_version = None  # the next load sees the version just saved
