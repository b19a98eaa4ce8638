"""One cell of the study grid: a dataset x a model environment x a seed.

A cell is the ``quant-sentiment seeds`` recipe for one seed (``multiseed.prepare``,
then ``multiseed.pipelines`` with the seed keys set and only the chosen variants),
run as ordinary Kedro sessions **in the process that executes it** (a Dask worker, or
this process when the grid runs sequentially), with:

- its own run folder ``grid/<name>/<dataset>/<model>/seed_<s>`` (``--params run=...``,
  :mod:`quant_sentiment.config`), so cells never read each other's versions;
- the dataset's runtime parameters (``grid.datasets.<dataset>``: raw files, labels);
- ``model.threads`` set to the worker's share of the cores (torch / OpenMP), so
  parallel cells do not oversubscribe the CPU.

When the cell's sessions have finished, a done-marker ``<cell id>.json`` (the cell, its
run version and its ``evaluate.<V>.summary`` rows) is written atomically (a temporary
file renamed over the target): a cell killed before that has no marker and runs again;
one with a marker is skipped on a rerun (resume). The rows are loaded at the session's
own version, so a half-written version of a killed attempt is never the one read.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

#: Environment variables that cap the OpenMP / MKL / OpenBLAS pools of a worker.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Cell:
    """A grid cell: ``dataset`` (a key of ``grid.datasets``), ``model`` (a Kedro
    environment, e.g. ``offline``, ``minilm``) and ``seed``."""

    dataset: str
    model: str
    seed: int

    @property
    def id(self) -> str:
        """A file-name-safe identifier, unique within a grid."""
        return f"{self.dataset}__{self.model}__seed{self.seed}"

    def run_folder(self, grid_name: str) -> str:
        """The cell's ``globals.run`` (data sub-folder of every artifact)."""
        return f"grid/{grid_name}/{self.dataset}/{self.model}/seed_{self.seed}"


@dataclass
class CellSpec:
    """What a worker needs to run a cell, computed once by the driver.

    Attributes:
        params: The cell's runtime parameters (run folder, dataset, seed, threads).
        prepare: Pipelines run first (``multiseed.prepare``).
        pipelines: Pipelines run per seed (``multiseed.pipelines``).
        nodes: The node selection of the chosen variants (``experiments.node_selection``).
        variants: The variants whose ``evaluate.<V>.summary`` rows are collected.
        threads: torch / OpenMP threads of the cell.
    """

    params: dict[str, Any]
    prepare: list[str]
    pipelines: list[str]
    nodes: list[str]
    variants: list[str]
    threads: int
    settings: dict[str, Any] = field(default_factory=dict)


def marker_path(marker_dir: Path, cell: Cell) -> Path:
    """The done-marker of ``cell``."""
    return Path(marker_dir) / f"{cell.id}.json"


def read_marker(marker_dir: Path, cell: Cell) -> dict[str, Any] | None:
    """The cell's done-marker, or ``None`` when the cell has not finished."""
    path = marker_path(marker_dir, cell)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_marker(marker_dir: Path, cell: Cell, payload: dict[str, Any]) -> Path:
    """Write the done-marker atomically: a temporary file renamed over the target."""
    path = marker_path(marker_dir, cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def set_cell_threads(threads: int) -> None:
    """Cap torch and the OpenMP / MKL pools of this process at ``threads``."""
    from quant_sentiment.hooks import set_threads

    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    set_threads(threads)


def run_cell(project_path: Path, cell: Cell, spec: CellSpec) -> pd.DataFrame:
    """Run the cell's Kedro sessions in this process; one row per chosen variant."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.experiments import run_one_seed

    set_cell_threads(spec.threads)
    os.chdir(project_path)  # catalog paths are relative to the project root
    bootstrap_project(project_path)
    if spec.prepare:
        with KedroSession.create(
            project_path, env=cell.model, runtime_params=spec.params
        ) as session:
            session.run(pipeline_names=list(spec.prepare))
    settings = {**spec.settings, "pipelines": list(spec.pipelines)}
    table = run_one_seed(
        project_path,
        cell.model,
        spec.params,
        settings,
        spec.nodes,
        spec.variants,
        cell.seed,
    )
    table.insert(0, "dataset", cell.dataset)
    table.insert(1, "model", cell.model)
    return table


def execute_cell(
    project_path: str | Path, cell: Cell, spec: CellSpec, marker_dir: str | Path
) -> dict[str, Any]:
    """The grid's task: run the cell (unless already done) and write its marker.

    Returns the marker's content: the cell, ``run_version``, the rows, seconds, host.
    """
    project_path, marker_dir = Path(project_path), Path(marker_dir)
    done = read_marker(marker_dir, cell)
    if done is not None:
        logger.info("Cell %s already done (version %s)", cell.id, done["run_version"])
        return done
    start = time.perf_counter()
    table = run_cell(project_path, cell, spec)
    payload = {
        "cell": asdict(cell),
        "run_folder": spec.params.get("run"),
        "run_version": str(table["run_version"].iloc[0]),
        "seconds": round(time.perf_counter() - start, 2),
        "threads": spec.threads,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "rows": json.loads(table.to_json(orient="records")),
    }
    write_marker(marker_dir, cell, payload)
    return payload
