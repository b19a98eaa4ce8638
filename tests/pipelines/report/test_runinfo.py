"""RunInfoHook: the run's description saved before a run that evaluates, not before
a report-only run; registered before the tracking hook."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Node, Pipeline

from quant_sentiment.runinfo import DATASET, RunInfoHook, git_state
from quant_sentiment.settings import HOOKS
from quant_sentiment.tracking import TrackingHook
from tests.conftest import PROJECT_ROOT


def _catalog() -> DataCatalog:
    return DataCatalog(
        {
            DATASET: MemoryDataset(),
            "params:report": MemoryDataset(
                {"run": "r1", "run_info_for": ["evaluate_comparison_table"]}
            ),
            "params:model": MemoryDataset(
                {"label_map": {"a": 0, "b": 1}, "max_length": 64, "threads": 1}
            ),
            "params:finetune": MemoryDataset({"model": {"source": "/enc"}}),
        }
    )


def _pipeline(output: str) -> Pipeline:
    return Pipeline([Node(lambda: 1, None, output, name="n")])


def test_description_saved_before_an_evaluation():
    catalog = _catalog()
    run_params = {
        "session_id": "2026-12-03T07.00.00.000Z",
        "env": "offline",
        "pipeline_names": ["evaluate"],
        "project_path": str(PROJECT_ROOT),
    }
    RunInfoHook().before_pipeline_run(
        run_params, _pipeline("evaluate_comparison_table"), catalog
    )
    info = catalog.load(DATASET)
    assert info["run"] == "r1" and info["encoder"] == "/enc"
    assert info["labels"] == ["a", "b"] and info["env"] == "offline"
    assert info["machine"]["cpu_model"] and "torch" in info["machine"]["versions"]
    assert info["session_id"] == "2026-12-03T07.00.00.000Z"
    assert info["git"] == git_state(PROJECT_ROOT)


def test_report_only_run_keeps_the_description():
    catalog = _catalog()
    RunInfoHook().before_pipeline_run({}, _pipeline("report_page"), catalog)
    with pytest.raises(DatasetError):  # nothing saved
        catalog.load(DATASET)


def test_registered_before_the_tracking_hook():
    kinds = [type(h) for h in HOOKS]
    assert kinds.index(RunInfoHook) < kinds.index(TrackingHook)


def test_git_state_outside_a_work_tree(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
