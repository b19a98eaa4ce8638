"""Project hooks: threads from params:model, outputs saved by rank 0 only."""

from __future__ import annotations

import os

import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Node, Pipeline

from quant_sentiment.hooks import (
    AtomicSavesHook,
    BenchmarkReferencesHook,
    MainProcessOutputsHook,
    ThreadsHook,
)
from quant_sentiment.settings import HOOKS


def _catalog(threads):
    return DataCatalog(
        {"params:model": MemoryDataset({"max_length": 64, "threads": threads})}
    )


def test_hooks_are_registered():
    from quant_sentiment.prerequisites import PrerequisitesHook
    from quant_sentiment.runinfo import RunInfoHook
    from quant_sentiment.settings import DISABLE_HOOKS_FOR_PLUGINS
    from quant_sentiment.tracking import TrackingHook

    assert {type(h) for h in HOOKS} == {
        ThreadsHook,
        MainProcessOutputsHook,
        BenchmarkReferencesHook,
        RunInfoHook,
        TrackingHook,
        AtomicSavesHook,
        PrerequisitesHook,
    }
    # The project's TrackingHook replaces kedro-mlflow's own instance.
    assert "kedro-mlflow" in DISABLE_HOOKS_FOR_PLUGINS


def test_threads_hook_sets_torch_threads_once(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")  # restored after the test
    ThreadsHook().before_pipeline_run({}, Pipeline([]), _catalog(3))
    assert calls == [3]
    assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "3"
    ThreadsHook().before_pipeline_run({}, Pipeline([]), _catalog(None))
    ThreadsHook().before_pipeline_run({}, Pipeline([]), DataCatalog())
    assert calls == [3]  # null threads (or no params:model): library defaults


@pytest.mark.parametrize("rank", ["0", "1"])
def test_only_rank_zero_keeps_file_outputs(monkeypatch, tmp_path, rank):
    from kedro_datasets.json import JSONDataset

    monkeypatch.setenv("RANK", rank)
    catalog = DataCatalog(
        {"x": MemoryDataset(1), "y": JSONDataset(filepath=str(tmp_path / "y.json"))}
    )
    pipeline = Pipeline([Node(lambda x: {"x": x}, "x", "y", name="n")])
    MainProcessOutputsHook().before_pipeline_run({}, pipeline, catalog)
    assert isinstance(catalog.get("y"), MemoryDataset) == (rank == "1")
    assert isinstance(catalog.get("x"), MemoryDataset)  # inputs untouched


@pytest.mark.parametrize("rank", ["0", "1"])
def test_other_ranks_write_round_trip_outputs_to_scratch(monkeypatch, tmp_path, rank):
    """A variant folder saves a staged folder and loads a VariantHandle: rank 1 gets
    an unversioned copy in its scratch folder, never the catalog's path."""
    from quant_sentiment.datasets import VariantFolderDataset
    from quant_sentiment.variants import StagedFolder, VariantHandle

    monkeypatch.setenv("RANK", rank)
    real = tmp_path / "data" / "m"
    catalog = DataCatalog(
        {"m": VariantFolderDataset(filepath=str(real), version=Version(None, None))}
    )
    pipeline = Pipeline([Node(StagedFolder.skipped, ["a", "b"], "m", name="n")])
    MainProcessOutputsHook().before_pipeline_run({}, pipeline, catalog)
    dataset = catalog.get("m")
    assert isinstance(dataset, VariantFolderDataset)
    staged = StagedFolder.skipped({"variant": "v"}, "test")
    dataset.save(staged)
    assert isinstance(dataset.load(), VariantHandle)
    assert real.exists() == (rank == "0")


def test_benchmark_references_end_with_the_run(monkeypatch):
    from quant_sentiment import benchmark

    closed = []

    class Child:
        def close(self):
            closed.append(self)

    for hook_call in (
        lambda h: h.after_pipeline_run({}, {}, Pipeline([])),
        lambda h: h.on_pipeline_error(RuntimeError("x"), {}, Pipeline([]), None),
    ):
        monkeypatch.setitem(benchmark._REFERENCES, ("ref", 1), Child())
        hook_call(BenchmarkReferencesHook())
        assert not benchmark._REFERENCES
    assert len(closed) == 2
