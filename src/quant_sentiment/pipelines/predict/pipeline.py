"""Wiring of ``predict``: files in ``predict_inputs`` → versioned predictions."""

from kedro.pipeline import Node, Pipeline

from .nodes import score_partitions


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``predict`` pipeline (namespace ``predict`` in kedro-viz).

    Not part of the default chain: run it on request,
    ``kedro run --pipelines=predict --params=predict.variant=int8_ort``.
    """
    return Pipeline(
        [
            Node(
                score_partitions,
                inputs=["predict_inputs", "params:predict", "params:model"],
                outputs=[
                    "predict_predictions",
                    "predict_skipped_rows",
                    "predict_summary",
                ],
                name="score_partitions",
            )
        ],
        namespace="predict",
        prefix_datasets_with_namespace=False,
        tags=["predict"],
    )
