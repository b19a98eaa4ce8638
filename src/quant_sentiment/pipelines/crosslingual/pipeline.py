"""Wiring of ``crosslingual``: the existing pipelines, composed (no nodes of its own)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from quant_sentiment.pipelines import finetune, preprocessing, quantize_ptq, transfer


def create_pipeline(**kwargs) -> Pipeline:
    """preprocessing + finetune + quantize_ptq + transfer.

    ``kedro run --env=offline --pipelines=crosslingual --params dataset=nusax_indonesian``
    trains on Indonesian NusaX and scores FP32 and the PTQ variants on the test split of
    ``transfer_target`` (every NusaX language by default).
    """
    return (
        preprocessing.create_pipeline()
        + finetune.create_pipeline()
        + quantize_ptq.create_pipeline()
        + transfer.create_pipeline()
    )
