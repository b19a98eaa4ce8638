"""Wiring of ``finetune_per_task``: clean splits → one single-task model per head,
their test predictions (read by ``evaluate``'s task table) and histories."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_single_task_models


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``finetune_per_task`` pipeline (on request, outside the default
    chain: ``kedro run --pipelines=finetune_per_task``)."""
    return Pipeline(
        [
            Node(
                train_single_task_models,
                inputs=[
                    "clean_train",
                    "clean_valid",
                    "clean_test",
                    "params:model",
                    "params:finetune",
                    "params:finetune_per_task",
                    "params:dataset_spec",
                ],
                outputs=[
                    "single_task_models",
                    "single_task_test_predictions",
                    "single_task_history",
                ],
                name="train_single_task_models",
            )
        ],
        namespace="finetune_per_task",
        prefix_datasets_with_namespace=False,
        tags=["finetune_per_task"],
    )
