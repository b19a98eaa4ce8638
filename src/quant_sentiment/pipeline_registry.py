"""Project pipelines, composed from the variant registry.

Producers (``quantize_ptq``, ``baseline``, ...) build one node per variant they own in
:data:`quant_sentiment.variants.VARIANTS`; here the per-variant consumer
(``evaluate``, one namespaced template per variant) is composed from the same
registry, in the style of Kedro's modular-spaceflights starter.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from quant_sentiment.pipelines import baseline, evaluate, explain
from quant_sentiment.variants import VARIANTS

# The classifier chain that `kedro run` runs: raw TSV -> clean splits -> fine-tuned
# model -> quantized variants -> comparison. `embed_finetune` is independent (it
# trains a sentence encoder on NusaX / a JSONL corpus) and runs on request only.
DEFAULT_CHAIN = (
    "preprocessing",
    "eda",
    "finetune",
    "quantize_ptq",
    "quantize_qat",
    "quantize_mixed",
    "evaluate",
    "report",
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects. ``evaluate`` compares
        every registered variant and includes the ``baseline`` producer (its
        TF-IDF reference row is cheap and has no other use), so
        ``kedro run --pipelines=evaluate`` works right after ``quantize_ptq``.
        ``__default__`` is the classifier chain of :data:`DEFAULT_CHAIN`.
    """
    # Kedro 1.7 finds only the pipelines a command asks for (`--pipelines=X`), so
    # each composition below applies to what was found.
    pipelines = find_pipelines(raise_errors=True)
    if "evaluate" in pipelines:
        pipelines["evaluate"] = baseline.create_pipeline() + evaluate.create_pipeline(
            VARIANTS
        )
    if (
        "explain" in pipelines
    ):  # on request: an analysis of the variants evaluate scored
        pipelines["explain"] = explain.create_pipeline(VARIANTS)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_CHAIN if name in pipelines), Pipeline([])
    )
    return pipelines
