"""Read-only view of every run's report under the reporting folder (for the index)."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError


class RunReportsDataset(AbstractDataset):
    """Every run's newest report summary under ``root`` (``data/08_reporting``).

    A run is a folder ``<root>/<run>/`` with a versioned ``report/summary.json``
    (written by the ``report`` pipeline next to its page ``report/report.html``).
    ``load`` returns one entry per run, sorted by run name::

        {
            "run": "sample_minilm",
            "version": "2026-12-03T07.40.00.000Z",
            "summary": {...},
            "page": "sample_minilm/report/report.html/<v>/report.html",
        }

    ``page`` is relative to ``root`` (``None`` when the page of that version is
    missing), so an index page saved in ``root`` links to it. Read-only.
    """

    def __init__(
        self,
        root: str,
        summary: str = "report/summary.json",
        page: str = "report/report.html",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._root = Path(root)
        self._summary = PurePosixPath(summary)
        self._page = PurePosixPath(page)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"root": str(self._root), "summary": str(self._summary)}

    def _newest(self, folder: Path) -> Path | None:
        """The newest version folder holding the file (Kedro's version layout)."""
        name = folder.name
        versions = sorted(
            (v for v in folder.iterdir() if (v / name).is_file()),
            key=lambda v: v.name,
        )
        return versions[-1] if versions else None

    def load(self) -> list[dict[str, Any]]:
        """One entry per run that has a report summary (see the class docstring).

        Raises:
            DatasetError: If a summary file is not valid JSON (names the file).
        """
        runs = []
        if not self._root.is_dir():
            return runs
        for run_dir in sorted(p for p in self._root.iterdir() if p.is_dir()):
            folder = run_dir / self._summary
            if not folder.is_dir():
                continue
            newest = self._newest(folder)
            if newest is None:
                continue
            path = newest / folder.name
            try:
                summary = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise DatasetError(
                    f"{path}: not a readable JSON summary: {err}"
                ) from err
            page = run_dir / self._page / newest.name / self._page.name
            runs.append(
                {
                    "run": run_dir.name,
                    "version": newest.name,
                    "summary": summary,
                    "page": page.relative_to(self._root).as_posix()
                    if page.is_file()
                    else None,
                }
            )
        return runs

    def save(self, data: Any) -> None:
        """Read-only: each run's summary is saved by its own catalog entry."""
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return self._root.is_dir()
