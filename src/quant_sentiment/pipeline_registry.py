"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The classifier chain that `kedro run` runs: raw TSV -> clean splits -> fine-tuned
# model -> quantized variants -> comparison. `embed_finetune` is independent (it
# trains a sentence encoder on NusaX / a JSONL corpus) and runs on request only.
DEFAULT_CHAIN = ("preprocessing", "eda", "finetune", "quantize_ptq", "evaluate")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects; ``__default__`` is the
        classifier chain of ``DEFAULT_CHAIN`` (those of its pipelines that exist).
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_CHAIN if name in pipelines), Pipeline([])
    )
    return pipelines
