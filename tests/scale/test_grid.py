"""The study grid: resume, failures reported, and a 2-worker LocalCluster (one worker
killed mid-cell) giving the same tables as the cells run one after another."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from quant_sentiment.scale.cells import Cell, read_marker, write_marker
from quant_sentiment.scale.grid import check_selection, run_grid
from tests.scale.helpers import tiny_cell_params

METRICS = ["macro_f1_mean", "macro_f1_std", "accuracy_mean", "n_seeds"]


def fake_runner(project_path, cell, spec, markers, calls):
    """A cell without Kedro: records the call and writes a marker with two rows."""
    calls.append(cell.id)
    f1 = 0.5 + cell.seed / 100
    rows = [
        {
            "dataset": cell.dataset,
            "model": cell.model,
            "seed": cell.seed,
            "run_version": "v",
            "variant": v,
            "status": "ok",
            "macro_f1": f1 - d,
            "accuracy": f1 + 0.1,
        }
        for v, d in (("fp32", 0.0), ("int8_ort", 0.01))
    ]
    payload = {"run_version": "v", "rows": rows}
    write_marker(markers, cell, payload)
    return payload


def failing_runner(project_path, cell, spec, markers, calls):
    calls.append(cell.id)
    if cell.seed == 2:  # noqa: PLR2004
        raise RuntimeError("out of memory (simulated)")
    return fake_runner(project_path, cell, spec, markers, [])


def test_selection_errors_name_the_setting():
    grid = {"datasets": {"sample": {}}}
    with pytest.raises(
        ValueError, match=r"grid\.datasets: unknown dataset\(s\) \['x'\]"
    ):
        check_selection(grid, ["x"], ["offline"], [1])
    with pytest.raises(ValueError, match=r"grid: duplicate seeds"):
        check_selection(grid, ["sample"], ["offline"], [1, 1])
    with pytest.raises(ValueError, match=r"grid: no models chosen"):
        check_selection(grid, ["sample"], [], [1])


def test_marker_is_written_atomically(tmp_path):
    cell = Cell("sample", "offline", 1)
    assert read_marker(tmp_path, cell) is None
    write_marker(tmp_path, cell, {"run_version": "a", "rows": []})
    write_marker(tmp_path, cell, {"run_version": "b", "rows": []})
    assert read_marker(tmp_path, cell)["run_version"] == "b"
    assert [p.name for p in tmp_path.iterdir()] == ["sample__offline__seed1.json"]


def test_rerun_skips_done_cells_and_reports_failures(kedro_project):
    calls: list[str] = []
    run = functools.partial(
        run_grid,
        kedro_project,
        ["sample"],
        ["offline"],
        workers=0,
        name="g",
        extra={"tracking": {"enabled": False}},
        retries=1,
    )
    first = run([1, 2, 3], runner=functools.partial(failing_runner, calls=calls))
    # seed 2 failed twice (1 retry), the others ran once; the failure is reported
    assert sorted(calls) == sorted(
        [
            "sample__offline__seed1",
            "sample__offline__seed2",
            "sample__offline__seed2",
            "sample__offline__seed3",
        ]
    )
    assert list(first.failed) == ["sample__offline__seed2"]
    assert "out of memory" in first.failed["sample__offline__seed2"]
    assert sorted(first.runs["seed"].unique()) == [1, 3]
    md = sorted((kedro_project / "data/08_reporting/grid/g/summary.md").glob("*/*.md"))
    assert "Failed cells: 1" in md[-1].read_text()

    calls.clear()
    second = run([1, 2, 3], runner=functools.partial(fake_runner, calls=calls))
    assert calls == ["sample__offline__seed2"]  # only the unfinished cell ran
    assert sorted(second.skipped) == [
        "sample__offline__seed1",
        "sample__offline__seed3",
    ]
    assert second.failed == {}
    assert len(second.runs) == 6  # 3 cells x 2 variants, no duplicates
    int8 = second.summary.set_index("variant").loc["int8_ort"]
    assert int8["n_seeds"] == 3  # noqa: PLR2004
    assert int8["delta_macro_f1_mean"] == pytest.approx(-0.01)


def dying_runner(project_path, cell, spec, markers, flag):
    """The first attempt of seed 2 runs the fine-tune (its versions are written),
    then its worker process dies before the cell is done."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.scale.cells import execute_cell

    flag = Path(flag)
    if cell.seed == 2 and not flag.exists():  # noqa: PLR2004
        os.chdir(project_path)
        bootstrap_project(project_path)
        with KedroSession.create(
            project_path, env=cell.model, runtime_params=spec.params
        ) as session:
            session.run(pipeline_names=["preprocessing", "finetune"])
            flag.write_text(
                json.dumps({"pid": os.getpid(), "version": session.session_id})
            )
        os._exit(1)
    return execute_cell(project_path, cell, spec, markers)


@pytest.mark.long
@pytest.mark.slow  # 4 tiny cells twice (+ half a cell): 20 min on 2 cores at load ~10
def test_two_workers_give_the_sequential_tables_despite_a_killed_worker(
    kedro_project, tmp_path
):
    extra = tiny_cell_params()
    extra["grid"] = {"datasets": {"sample_b": {"dataset": "sample"}}}
    choice = (["sample", "sample_b"], ["offline"], [1, 2])
    seq = run_grid(
        kedro_project, *choice, workers=0, threads=1, extra=extra, name="seq"
    )
    flag = tmp_path / "killed.json"
    par = run_grid(
        kedro_project,
        *choice,
        workers=2,
        threads=1,
        extra=extra,
        name="par",
        runner=functools.partial(dying_runner, flag=str(flag)),
    )
    assert seq.failed == {} and par.failed == {}
    killed = json.loads(flag.read_text())  # a worker really died mid-cell
    assert len(par.runs) == len(seq.runs) == 4  # noqa: PLR2004 - 4 cells x fp32, no duplicates
    key = ["dataset", "model", "variant"]
    pd.testing.assert_frame_equal(
        seq.summary.sort_values(key)[key + METRICS].reset_index(drop=True),
        par.summary.sort_values(key)[key + METRICS].reset_index(drop=True),
    )
    # the retried cell ran in another process, and its rows come from its own version:
    markers = kedro_project / "data/09_tracking/grid/par"
    retried = json.loads((markers / "sample__offline__seed2.json").read_text())
    assert retried["pid"] != killed["pid"]
    assert retried["run_version"] != killed["version"]
    models = (
        kedro_project / "data/06_models/grid/par/sample/offline/seed_2/finetuned_model"
    )
    versions = sorted(p.name for p in models.iterdir())
    assert killed["version"] in versions and retried["run_version"] in versions
    pids = {json.loads(p.read_text())["pid"] for p in markers.glob("*.json")}
    assert len(pids) >= 2  # noqa: PLR2004 - the cells ran on several workers
