"""The grid's tables: every finished cell's rows, aggregated per (dataset, model).

The rows come from the cells' done-markers (each holds its ``evaluate.<V>.summary``
rows, loaded at the cell's own run version). The aggregation is the ``multiseed``
pipeline's (:func:`~quant_sentiment.pipelines.multiseed.nodes.aggregate_seeds`), once
per (dataset, model); the Markdown puts the datasets side by side.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from quant_sentiment.scale.cells import Cell, read_marker

KEYS = ("dataset", "model")


def gather_runs(cells: list[Cell], markers: Path) -> pd.DataFrame:
    """One row per (cell, variant) of every cell with a done-marker."""
    rows = []
    for cell in cells:
        done = read_marker(markers, cell)
        if done is not None:
            rows.extend(done["rows"])
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame, multiseed: dict[str, Any]) -> pd.DataFrame:
    """``aggregate_seeds`` of each (dataset, model), with those two columns first."""
    from quant_sentiment.pipelines.multiseed.nodes import aggregate_seeds

    frames = []
    if runs.empty:
        return pd.DataFrame()
    for (dataset, model), group in runs.groupby(list(KEYS), sort=True):
        table = aggregate_seeds(group.drop(columns=list(KEYS)), multiseed)
        table.insert(0, "dataset", dataset)
        table.insert(1, "model", model)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def grid_markdown(
    summary: pd.DataFrame, runs: pd.DataFrame, failed: dict[str, str]
) -> str:
    """Macro-F1 (× 100, mean ± std over seeds) per (model, variant) and dataset,
    then the failed cells."""
    lines = ["# Study grid", ""]
    if not summary.empty:

        def cell(row) -> str:
            std = row["macro_f1_std"]
            mean = row["macro_f1_mean"] * 100
            return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std * 100:.2f}"

        table = summary.assign(value=summary.apply(cell, axis=1)).pivot_table(
            index=["model", "variant"],
            columns="dataset",
            values="value",
            aggfunc="first",
        )
        seeds = sorted(runs["seed"].unique())
        lines += [
            f"Test macro-F1 × 100, mean ± std over seeds {' '.join(map(str, seeds))}.",
            "",
            table.reset_index().to_markdown(index=False),
            "",
        ]
    lines.append(f"Failed cells: {len(failed)}")
    lines += [f"- `{cell_id}`: {error}" for cell_id, error in sorted(failed.items())]
    return "\n".join(lines) + "\n"


def save_tables(  # noqa: PLR0913
    project_path: Path,
    cells: list[Cell],
    markers: Path,
    failed: dict[str, str],
    env: str,
    name: str,
    extra: dict[str, Any],
) -> tuple[str | None, pd.DataFrame, pd.DataFrame]:
    """Gather, aggregate and save ``grid_runs``, ``grid_summary``, ``grid_markdown``
    under ``data/08_reporting/grid/<name>/`` (one Kedro session: one version)."""
    from kedro.framework.session import KedroSession

    runs = gather_runs(cells, markers)
    params = {**extra, "run": f"grid/{name}"}
    with KedroSession.create(project_path, env=env, runtime_params=params) as session:
        context = session.load_context()
        summary = summarise(runs, context.params["multiseed"])
        if runs.empty:
            return None, runs, summary
        catalog = context.catalog
        catalog.save("grid_runs", runs)
        catalog.save("grid_summary", summary)
        catalog.save("grid_markdown", grid_markdown(summary, runs, failed))
        return session.session_id, runs, summary
