"""Wiring of ``baseline``: clean train split → the ``tfidf_logreg`` variant folder
(one head per task for a multi-task entry)."""

from kedro.pipeline import Node, Pipeline

from .nodes import VARIANT, train_tfidf_logreg


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``baseline`` pipeline (namespace ``baseline`` in kedro-viz)."""
    return Pipeline(
        [
            Node(
                train_tfidf_logreg,
                inputs=[
                    "clean_train",
                    "params:model",
                    "params:baseline.tfidf_logreg",
                    "params:preprocessing.normalisation",
                    "params:dataset_spec",
                ],
                outputs=f"{VARIANT}_model",
                name=f"train_{VARIANT}",
            )
        ],
        namespace="baseline",
        prefix_datasets_with_namespace=False,
        tags=["baseline"],
    )
