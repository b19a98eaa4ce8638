"""The study grid on Dask: datasets x model environments x seeds, one task per cell.

``run_grid`` plans the cells (:mod:`quant_sentiment.scale.cells`), skips those with a
done-marker (resume), submits the others to a Dask ``distributed`` cluster (a
``LocalCluster`` of worker processes on this machine, or the scheduler of a real
cluster) with ``retries`` per cell, and gathers every finished cell's rows into

- ``grid_runs``: one row per (dataset, model, seed, variant), as ``multiseed_runs``
  with ``dataset`` and ``model`` columns;
- ``grid_summary``: the ``multiseed`` aggregation (mean, std, t-interval, paired delta
  to the reference) of each (dataset, model);
- ``grid_markdown``: the cross-dataset table (macro-F1 mean ± std per dataset) and the
  failed cells.

A worker killed mid-cell is replaced by Dask, which runs the cell again on another
worker (``distributed.scheduler.allowed-failures``); an exception inside a cell is
retried ``retries`` times. Cells that still fail are reported, not hidden.
With ``workers=0`` the cells run one after another in this process (no Dask).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from quant_sentiment.scale.cells import (
    THREAD_ENV,
    Cell,
    CellSpec,
    execute_cell,
    read_marker,
)

logger = logging.getLogger(__name__)

SETTING = "grid"
#: Environment variables every worker process gets (offline, quiet libraries).
WORKER_ENV = {
    "KEDRO_DISABLE_TELEMETRY": "true",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass
class GridResult:
    """What :func:`run_grid` did: the gathered tables' version, the runs, the
    failed cells (id -> error), the cells skipped as already done, wall seconds."""

    version: str | None
    runs: pd.DataFrame
    summary: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def check_selection(
    grid: dict[str, Any], datasets: list[str], models: list[str], seeds: list[int]
) -> None:
    """Validate the chosen datasets, models and seeds; errors name the setting."""
    known = grid.get("datasets") or {}
    unknown = sorted(set(datasets) - set(known))
    if unknown:
        raise ValueError(
            f"{SETTING}.datasets: unknown dataset(s) {unknown}; "
            f"declared in conf/base/parameters_grid.yml: {sorted(known)}"
        )
    for name, values in (("datasets", datasets), ("models", models), ("seeds", seeds)):
        if not values:
            raise ValueError(f"{SETTING}: no {name} chosen")
        if len(set(values)) != len(values):
            raise ValueError(f"{SETTING}: duplicate {name} in {values!r}")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"{SETTING}: seeds must be integers, got {seeds!r}")


def load_params(project_path: Path, env: str, extra: dict[str, Any]) -> dict:
    """The parameters of ``env`` with ``extra`` runtime parameters applied."""
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path, env=env, runtime_params=extra) as session:
        return session.load_context().params


def model_plan(project_path: Path, model: str, extra: dict[str, Any]) -> dict:
    """Per model environment: the multiseed settings, node selection and variants."""
    from kedro.framework.project import pipelines as registered

    from quant_sentiment.experiments import (
        check_settings,
        chosen_variants,
        node_selection,
    )
    from quant_sentiment.variants import VARIANTS

    params = load_params(project_path, model, extra)
    settings = dict(params["multiseed"])
    settings["seeds"] = settings.get("seeds") or [0]  # the grid's seeds are its own
    producers = {v.name: v.producer for v in VARIANTS}
    check_settings(settings, set(registered), producers)
    variants = chosen_variants(settings, producers)
    nodes = node_selection(registered, settings["pipelines"], variants, producers)
    return {"settings": settings, "variants": variants, "nodes": nodes}


def cell_spec(  # noqa: PLR0913 - one cell's inputs
    cell: Cell,
    grid: dict[str, Any],
    plan: dict[str, Any],
    extra: dict[str, Any],
    name: str,
    threads: int,
) -> CellSpec:
    """The :class:`CellSpec` of ``cell``: its runtime parameters and node selection."""
    from quant_sentiment.experiments import merge, seed_params
    from quant_sentiment.variants import produced_by

    ptq = {v.name for v in produced_by("quantize_ptq")}
    settings = plan["settings"]
    params = merge(extra, grid["datasets"][cell.dataset] or {})
    params = merge(params, seed_params(cell.seed, settings, ptq))
    params = merge(
        params,
        {
            "run": cell.run_folder(name),
            "model": {"threads": threads},
            "tracking": {
                "tags": {"grid": name, "dataset": cell.dataset, "model": cell.model}
            },
        },
    )
    return CellSpec(
        params=params,
        prepare=list(settings.get("prepare") or []),
        pipelines=list(settings["pipelines"]),
        nodes=plan["nodes"],
        variants=plan["variants"],
        threads=threads,
        settings={k: v for k, v in settings.items() if k != "seeds"},
    )


def marker_dir(project_path: Path, name: str) -> Path:
    """Where the grid ``name`` keeps its done-markers."""
    return project_path / "data" / "09_tracking" / "grid" / name


def _client(workers: int, scheduler: str | None, threads: int):
    """A Dask client: of the scheduler at ``scheduler``, or of a new ``LocalCluster``
    of ``workers`` single-task worker processes capped at ``threads`` each."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    # Dask's nanny sets these to 1 before spawning a worker; the cell's share instead.
    env = {**WORKER_ENV, **{var: str(threads) for var in THREAD_ENV}}
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONPATH"):
        if var in os.environ:
            env[var] = os.environ[var]
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,  # one cell at a time per worker process
        processes=True,
        dashboard_address=None,
        memory_limit=0,  # no memory-based pausing: a fine-tune's peak is expected
        env=env,
    )
    return Client(cluster), cluster


def _run_on_dask(  # noqa: PLR0913
    project_path: Path,
    todo: list[tuple[Cell, CellSpec]],
    markers: Path,
    client,
    retries: int,
    runner: Callable,
) -> tuple[dict[str, dict], dict[str, str]]:
    """Submit every cell, gather results as they finish; ``(done, failed)``."""
    from distributed import as_completed

    futures = {
        client.submit(
            runner,
            str(project_path),
            cell,
            spec,
            str(markers),
            key=f"cell-{cell.id}-{time.time_ns()}",
            retries=retries,
            pure=False,
        ): cell
        for cell, spec in todo
    }
    done, failed = {}, {}
    for i, future in enumerate(as_completed(futures), start=1):
        cell = futures[future]
        try:
            done[cell.id] = future.result()
            logger.info("Grid: cell %s done (%d of %d)", cell.id, i, len(futures))
        except Exception as err:  # noqa: BLE001 - reported per cell, the others go on
            failed[cell.id] = f"{type(err).__name__}: {err}"
            logger.error("Grid: cell %s failed: %s", cell.id, failed[cell.id])
    return done, failed


def _run_here(
    project_path: Path,
    todo: list[tuple[Cell, CellSpec]],
    markers: Path,
    retries: int,
    runner: Callable,
) -> tuple[dict[str, dict], dict[str, str]]:
    """The cells one after another in this process (``workers=0``)."""
    done, failed = {}, {}
    cwd = Path.cwd()
    for i, (cell, spec) in enumerate(todo, start=1):
        logger.info("Grid: cell %s (%d of %d)", cell.id, i, len(todo))
        for attempt in range(retries + 1):
            try:
                done[cell.id] = runner(project_path, cell, spec, markers)
                failed.pop(cell.id, None)
                break
            except Exception as err:  # noqa: BLE001 - reported per cell
                failed[cell.id] = f"{type(err).__name__}: {err}"
                logger.error("Cell %s attempt %d: %s", cell.id, attempt + 1, err)
            finally:
                os.chdir(cwd)
    return done, failed


def plan_cells(  # noqa: PLR0913 - the grid's choices
    project_path: Path,
    datasets: list[str],
    models: list[str],
    seeds: list[int],
    extra: dict[str, Any],
    name: str,
    threads: int,
) -> list[tuple[Cell, CellSpec]]:
    """Every cell of datasets x models x seeds with its spec (models outermost)."""
    grid = load_params(project_path, models[0], extra)[SETTING]
    check_selection(grid, datasets, models, seeds)
    cells = []
    for model in models:
        plan = model_plan(project_path, model, extra)
        for dataset in datasets:
            for seed in seeds:
                cell = Cell(dataset, model, int(seed))
                cells.append((cell, cell_spec(cell, grid, plan, extra, name, threads)))
    return cells


def run_grid(  # noqa: PLR0913 - the command's options
    project_path: Path,
    datasets: list[str],
    models: list[str],
    seeds: list[int],
    workers: int = 2,
    scheduler: str | None = None,
    threads: int | None = None,
    extra: dict[str, Any] | None = None,
    name: str = "study",
    retries: int = 2,
    runner: Callable = execute_cell,
) -> GridResult:
    """Run (or resume) the grid and gather its tables; see the module docstring.

    ``threads`` per cell defaults to the machine's cores over ``workers`` on a
    ``LocalCluster`` (all cores when sequential) and 1 on a remote scheduler (start
    its workers with ``--nthreads 1`` and pass ``--threads``). ``runner`` is the task
    (tests wrap :func:`~quant_sentiment.scale.cells.execute_cell`).
    """
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.scale.tables import save_tables

    start = time.perf_counter()
    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    extra = dict(extra or {})
    cores = os.cpu_count() or 1
    if threads is None:
        threads = 1 if scheduler else max(1, cores // max(workers, 1))
    cells = plan_cells(project_path, datasets, models, seeds, extra, name, threads)
    markers = marker_dir(project_path, name)
    skipped = [c.id for c, _ in cells if read_marker(markers, c) is not None]
    todo = [(c, s) for c, s in cells if c.id not in skipped]
    logger.info(
        "Grid %r: %d cells, %d already done, %d to run on %s (%d thread(s) each)",
        name,
        len(cells),
        len(skipped),
        len(todo),
        scheduler or (f"{workers} local workers" if workers else "this process"),
        threads,
    )
    failed: dict[str, str] = {}
    if todo and (workers or scheduler):
        client, cluster = _client(workers, scheduler, threads)
        try:
            _, failed = _run_on_dask(
                project_path, todo, markers, client, retries, runner
            )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elif todo:
        _, failed = _run_here(project_path, todo, markers, retries, runner)
    version, runs, summary = save_tables(
        project_path, [c for c, _ in cells], markers, failed, models[0], name, extra
    )
    return GridResult(
        version=version,
        runs=runs,
        summary=summary,
        failed=failed,
        skipped=skipped,
        seconds=time.perf_counter() - start,
    )
