"""Wiring of ``transfer``: target rows → one scoring node per variant (namespace
``transfer.<V>``) → ``transfer_predictions`` → table, Markdown, heatmap."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from quant_sentiment.transfer import plot_transfer_heatmap, transfer_markdown
from quant_sentiment.variants import VARIANTS

from .nodes import (
    build_transfer_table,
    gather_predictions,
    read_transfer_targets,
    score_variant,
)

NAMESPACE = "transfer"
#: The producers whose variants can be scored (``transfer.variants`` chooses).
PRODUCERS = ("finetune", "quantize_ptq")


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``transfer`` pipeline (its inputs: the run's FP32 model and PTQ
    variant folders, and ``raw_transfer_test``, the target entry's test lines)."""
    variants = [v for v in VARIANTS if v.producer in PRODUCERS]
    read = Node(
        read_transfer_targets,
        inputs=[
            "raw_transfer_test",
            "params:model",
            "params:preprocessing.validation",
            "params:transfer_spec",
        ],
        outputs=["transfer_target_rows", "transfer_invalid_rows"],
        name="read_transfer_targets",
        namespace=NAMESPACE,
    )
    scores = [
        Node(
            _bind(score_variant, variant=v.name),
            inputs=[v.dataset, "transfer_target_rows", "params:transfer"],
            outputs=f"{NAMESPACE}.{v.name}.predictions",
            name="score_variant",
            namespace=f"{NAMESPACE}.{v.name}",
        )
        for v in variants
    ]
    report = [
        Node(
            gather_predictions,
            inputs=[f"{NAMESPACE}.{v.name}.predictions" for v in variants],
            outputs="transfer_predictions",
            name="gather_predictions",
            namespace=NAMESPACE,
        ),
        Node(
            build_transfer_table,
            inputs=[
                "transfer_predictions",
                "params:model",
                "params:transfer.bootstrap",
            ],
            outputs="transfer_table",
            name="build_transfer_table",
            namespace=NAMESPACE,
        ),
        Node(
            transfer_markdown,
            inputs="transfer_table",
            outputs="transfer_markdown",
            name="transfer_markdown",
            namespace=NAMESPACE,
        ),
        Node(
            plot_transfer_heatmap,
            inputs="transfer_table",
            outputs="transfer_heatmap",
            name="plot_transfer_heatmap",
            namespace=NAMESPACE,
        ),
    ]
    return Pipeline([read, *scores, *report], tags=[NAMESPACE])
