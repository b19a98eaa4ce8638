"""Project hooks: run-wide settings applied once, not as a side effect of a node."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: OpenMP / MKL read these at start-up: for this process they only matter if torch is
#: not imported yet, but child processes (e.g. evaluate's timing processes) inherit them.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op threads (and the OpenMP/MKL variables) to ``threads``.

    ``None`` leaves the libraries' defaults; torch is imported only when a value is set.
    """
    if not threads:
        return
    threads = int(threads)
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    logger.info("torch intra-op threads: %d (params:model.threads)", threads)


class ThreadsHook:
    """Apply ``params:model.threads`` before a pipeline runs (torch only; ONNX Runtime
    sessions get the value from the nodes that create them)."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog):
        """Read ``params:model`` from the catalog (with runtime ``--params`` applied)."""
        model = catalog.load("params:model") if "params:model" in catalog else {}
        set_threads((model or {}).get("threads"))


def is_main_process() -> bool:
    """``True`` unless a distributed launcher (torchrun, accelerate) set ``RANK`` > 0."""
    return int(os.environ.get("RANK", "0")) == 0


def scratch_copy(dataset: Any, folder: str) -> Any:
    """An unversioned copy of ``dataset`` reading and writing under ``folder`` when
    its load type is not what a node returns to it (a variant folder saves a staged
    folder and loads a ``VariantHandle``; a JSON Lines dataset saves rows and loads a
    ``JSONLinesStream``), else ``None``: a ``MemoryDataset`` hands the node's own
    object downstream, which is what the next node expects."""
    import copy
    from pathlib import PurePosixPath

    from quant_sentiment.datasets import JSONLinesDataset, VariantFolderDataset

    if not isinstance(dataset, VariantFolderDataset | JSONLinesDataset):
        return None
    clone = copy.copy(dataset)
    clone._filepath = PurePosixPath(folder) / PurePosixPath(str(dataset._filepath)).name
    clone._version = None
    return clone


class MainProcessOutputsHook:
    """Under ``torchrun`` / ``accelerate launch``, only rank 0 saves the run's outputs.

    Every rank runs the pipeline (the Trainer needs all of them for DDP) and every
    node returns normally; on the other ranks each output of the pipeline is swapped
    before the run, so the catalog's files and versions are written once, by rank 0:
    for a ``MemoryDataset``, or, where a node downstream must load a type other than
    the one saved (:func:`scratch_copy`), for an unversioned copy of the dataset in a
    scratch folder of the rank (deleted at exit).
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog):
        """Swap the pipeline's outputs on non-main ranks (see the class)."""
        if is_main_process():
            return
        import atexit
        import shutil
        import tempfile

        from kedro.io import MemoryDataset

        scratch = tempfile.mkdtemp(prefix=f"rank{os.environ['RANK']}_outputs_")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        outputs = sorted(pipeline.all_outputs())
        for name in outputs:
            clone = scratch_copy(catalog.get(name), f"{scratch}/{name}")
            catalog[name] = clone or MemoryDataset(copy_mode="assign")
        logger.info(
            "Rank %s: %d outputs kept in memory or in %s (rank 0 saves them): %s",
            os.environ["RANK"],
            len(outputs),
            scratch,
            outputs,
        )


class BenchmarkReferencesHook:
    """End the FP32 reference children that ``evaluate``'s benchmarks share, when
    the run ends (they are pooled across variants; see
    :func:`quant_sentiment.benchmark.close_references`)."""

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline):
        """The run is over: no benchmark will need the reference again."""
        from quant_sentiment.benchmark import close_references

        close_references()

    @hook_impl
    def on_pipeline_error(self, error, run_params: dict[str, Any], pipeline, catalog):
        """The run failed: end the children all the same."""
        from quant_sentiment.benchmark import close_references

        close_references()


class AtomicSavesHook:
    """Before a run, remove what killed writers left behind.

    Model folders (and mirrored raw files) are written to a staging path and renamed
    into place (:mod:`quant_sentiment.atomic`); a writer killed mid-save leaves its
    staging path, which no load reads. Every dataset of the pipeline that can
    (``clean_leftovers()``) removes those of writers that are no longer alive; each
    removal is logged.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog):
        """Clean the leftovers of the pipeline's datasets."""
        for name in sorted(pipeline.datasets()):
            if name.startswith("params:") or name == "parameters":
                continue
            try:
                dataset = catalog.get(name)
            except Exception:  # noqa: BLE001 - a broken entry fails later, by name
                continue
            clean = getattr(dataset, "clean_leftovers", None)
            if callable(clean):
                clean()
