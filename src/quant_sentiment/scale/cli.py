"""``quant-sentiment grid`` and ``quant-sentiment hpsearch --workers N`` (docs/scale.md)."""

from __future__ import annotations

import re
from pathlib import Path

import click


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _seeds(value: str | None) -> list[int] | None:
    try:
        return None if value is None else [int(v) for v in _names(value)]
    except ValueError as err:
        raise click.BadParameter(f"--seeds: integers separated by commas ({err})")


def _params(value: str) -> dict:
    from omegaconf import OmegaConf

    if not value:
        return {}
    # Commas inside [...] belong to a list value: "a=[x,y],b=1".
    items = re.split(r",(?![^\[]*\])", value)
    return OmegaConf.to_container(OmegaConf.from_dotlist(items))


@click.group()
def cli() -> None:
    """quant-sentiment scale-out commands."""


@cli.command("grid")
@click.option("--datasets", default=None, help="Comma-separated grid.datasets keys.")
@click.option("--models", default=None, help="Comma-separated Kedro envs (models).")
@click.option("--seeds", default=None, help="Comma-separated seeds.")
@click.option(
    "--workers", type=int, default=None, help="LocalCluster workers (0: here)."
)
@click.option("--scheduler", default=None, help="Dask scheduler, e.g. tcp://host:8786.")
@click.option("--threads", type=int, default=None, help="torch threads per cell.")
@click.option("--retries", type=int, default=None, help="Extra attempts per cell.")
@click.option("--name", default=None, help="Grid name (folder; resume key).")
@click.option(
    "--params", default="", help='Runtime parameters of every cell ("a.b=1").'
)
def grid_command(  # noqa: PLR0913 - the command's options
    datasets, models, seeds, workers, scheduler, threads, retries, name, params
) -> None:
    """Run datasets x models x seeds, one Kedro session per cell, on Dask."""
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.scale.grid import load_params, run_grid

    project = Path.cwd()
    bootstrap_project(project)
    extra = _params(params)
    model_list = _names(models)
    grid = load_params(project, (model_list or [None])[0], extra)["grid"]
    result = run_grid(
        project,
        datasets=_names(datasets) or list(grid["default_datasets"]),
        models=model_list or list(grid["default_models"]),
        seeds=_seeds(seeds) or list(grid["default_seeds"]),
        workers=grid["workers"] if workers is None else workers,
        scheduler=scheduler,
        threads=threads,
        extra=extra,
        name=name or grid["name"],
        retries=grid["retries"] if retries is None else retries,
    )
    click.echo(
        f"grid {name or grid['name']}: {len(result.runs)} rows, "
        f"{len(result.skipped)} cell(s) resumed, {len(result.failed)} failed, "
        f"{result.seconds:.0f} s; tables at version {result.version}"
    )
    for cell_id, error in sorted(result.failed.items()):
        click.echo(f"  failed {cell_id}: {error}", err=True)
    if result.failed:
        raise SystemExit(1)


@cli.command("hpsearch")
@click.option("--env", "-e", default=None, help="Kedro environment (conf/<env>).")
@click.option("--workers", type=int, default=2, help="Worker processes on one study.")
@click.option("--storage", default=None, help="journal:<file> or an RDB URL.")
@click.option("--threads", type=int, default=None, help="torch threads per worker.")
@click.option("--params", default="", help='Runtime parameters ("a.b=1,c=x").')
def hpsearch_command(env, workers, storage, threads, params) -> None:
    """Run the hpsearch study in several processes sharing one Optuna storage."""
    from quant_sentiment.scale.search import run_search

    if workers < 1:
        raise click.BadParameter("--workers must be >= 1")
    out = run_search(Path.cwd(), env, workers, storage, threads, _params(params))
    click.echo(
        f"hpsearch: {out['trials']} trial(s) in the study, {workers} worker(s), "
        f"{out['seconds']:.0f} s; outputs at version {out['version']}"
    )
