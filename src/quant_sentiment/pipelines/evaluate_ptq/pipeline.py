"""Wiring of ``evaluate_ptq``: the same namespaced templates and datasets as
``evaluate`` (so its outputs are the ones ``report`` reads), for fewer variants."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from quant_sentiment.pipelines import baseline, evaluate
from quant_sentiment.variants import VARIANTS

# The producers whose variants `evaluate_ptq` compares.
PTQ_PRODUCERS = ("finetune", "quantize_ptq", "baseline")


def create_pipeline(**kwargs) -> Pipeline:
    """Baseline + ``evaluate`` for the variants of :data:`PTQ_PRODUCERS`.

    ``kedro run --pipelines=preprocessing,finetune,quantize_ptq,evaluate_ptq`` is the
    PTQ study without ``quantize_qat`` / ``quantize_mixed``, whose models ``evaluate``
    would otherwise need.
    """
    chosen = [v for v in VARIANTS if v.producer in PTQ_PRODUCERS]
    return baseline.create_pipeline() + evaluate.create_pipeline(chosen)
