"""Wiring of the ``finetune`` pipeline: clean splits → model folder, history, metrics."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    compute_test_metrics,
    plot_confusion_matrix,
    predict_split,
    train_classifier,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``finetune`` pipeline."""
    return Pipeline(
        [
            Node(
                train_classifier,
                inputs=[
                    "clean_train",
                    "clean_valid",
                    "params:model",
                    "params:finetune",
                    "params:preprocessing.normalisation",
                    "params:dataset_spec",
                ],
                outputs=["finetuned_model", "finetune_history"],
                name="train_classifier",
            ),
            Node(
                predict_split,
                inputs=[
                    "finetuned_model",
                    "clean_test",
                    "params:model",
                    "params:finetune",
                ],
                outputs="finetune_test_predictions",
                name="predict_test_split",
            ),
            Node(
                compute_test_metrics,
                inputs=[
                    "finetune_test_predictions",
                    "params:model",
                    "params:dataset_spec",
                ],
                outputs="finetune_test_metrics",
                name="compute_test_metrics",
            ),
            Node(
                plot_confusion_matrix,
                inputs=["finetune_test_predictions", "params:model"],
                outputs="finetune_confusion_matrix",
                name="plot_confusion_matrix",
            ),
        ],
        namespace="finetune",
        prefix_datasets_with_namespace=False,
        tags=["finetune"],
    )
