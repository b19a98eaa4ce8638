"""A run whose inputs have no version yet stops with one line naming what to run first."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset

from quant_sentiment.prerequisites import (
    MissingInputsError,
    message,
    missing_inputs,
    prerequisites,
)
from tests.conftest import run_session


def _identity(*args):
    return args[0]


def _registered():
    prep = Pipeline([node(_identity, "raw", "clean", name="prep")])
    train = Pipeline([node(_identity, ["clean", "params:x"], "model", name="train")])
    evaluate = Pipeline([node(_identity, ["model", "clean"], "table", name="eval")])
    return {
        "preprocessing": prep,
        "finetune": train,
        "evaluate": evaluate,
        "__default__": prep + train + evaluate,
    }


def _catalog(tmp_path, have_clean: bool):
    catalog = DataCatalog(
        {
            "raw": MemoryDataset(1),
            "clean": CSVDataset(filepath=str(tmp_path / "c.csv"), version=None),
            "model": CSVDataset(filepath=str(tmp_path / "m.csv"), version=None),
        }
    )
    versioned = DataCatalog(
        {
            "raw": MemoryDataset(1),
            "clean": CSVDataset(
                filepath=str(tmp_path / "c.csv"),
                version=Version(None, None),
            ),
            "model": CSVDataset(
                filepath=str(tmp_path / "m.csv"),
                version=Version(None, None),
            ),
        }
    )
    if have_clean:
        import pandas as pd

        versioned.save("clean", pd.DataFrame({"a": [1]}))
    return catalog, versioned


def test_free_versioned_inputs_without_version_map_to_smallest_producer(tmp_path):
    registered = _registered()
    plain, versioned = _catalog(tmp_path, have_clean=False)
    # Unversioned datasets (raw files, user inputs) are left to the run.
    assert missing_inputs(registered["evaluate"], plain) == []
    missing, first = prerequisites(registered["evaluate"], versioned, registered)
    assert missing == ["model", "clean"]
    # Closed over finetune's own missing input and in run order, never __default__.
    assert first == ["preprocessing", "finetune"]
    assert message("evaluate", missing, first) == (
        "evaluate needs model, clean, which have no version yet: run "
        "`kedro run --pipelines=preprocessing,finetune` first (same --env/--params)."
    )


def test_nothing_reported_when_inputs_exist(tmp_path):
    registered = _registered()
    _, versioned = _catalog(tmp_path, have_clean=True)
    assert prerequisites(registered["finetune"], versioned, registered) == ([], [])


@pytest.mark.slow
def test_session_on_a_fresh_data_folder_stops_with_one_line(kedro_project):
    with pytest.raises(MissingInputsError) as err:
        run_session(kedro_project, pipeline="finetune")
    assert err.value.message == (
        "finetune needs clean_train, clean_valid, clean_test, which have no version "
        "yet: run `kedro run --pipelines=preprocessing` first (same --env/--params)."
    )


@pytest.mark.slow
def test_kedro_run_prints_one_line_and_fails(kedro_project):
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env=offline", "--pipelines=finetune"],
        cwd=kedro_project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert (
        "Error: finetune needs clean_train, clean_valid, clean_test, which have no "
        "version yet: run `kedro run --pipelines=preprocessing` first"
    ) in done.stderr


def test_run_order_puts_a_pipeline_after_those_it_reads():
    from quant_sentiment.prerequisites import run_order

    registered = _registered()
    # One node needs only clean (sorted early), another reads finetune's model.
    registered["mixed"] = Pipeline(
        [
            node(_identity, "clean", "sens", name="a_sens"),
            node(_identity, ["model", "sens"], "mixed_model", name="mix"),
        ]
    )
    assert run_order(["mixed", "finetune", "preprocessing"], registered) == [
        "preprocessing",
        "finetune",
        "mixed",
    ]
