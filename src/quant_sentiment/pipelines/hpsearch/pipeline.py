"""Wiring of the ``hpsearch`` pipeline: clean train/valid -> study -> best parameters."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    best_parameters,
    plot_history,
    plot_importance,
    run_study,
    trials_markdown,
    trials_table,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``hpsearch`` pipeline (on request; not in the default chain)."""
    return Pipeline(
        [
            Node(
                run_study,
                inputs=[
                    "clean_train",
                    "clean_valid",
                    "params:model",
                    "params:finetune",
                    "params:hpsearch",
                ],
                outputs="hpsearch_study",
                name="run_study",
            ),
            Node(
                trials_table, "hpsearch_study", "hpsearch_trials", name="trials_table"
            ),
            Node(
                trials_markdown,
                "hpsearch_trials",
                "hpsearch_trials_md",
                name="trials_markdown",
            ),
            Node(
                best_parameters,
                inputs=["hpsearch_study", "params:hpsearch"],
                outputs=["hpsearch_best_params", "hpsearch_summary"],
                name="best_parameters",
            ),
            Node(
                plot_history, "hpsearch_study", "hpsearch_history", name="plot_history"
            ),
            Node(
                plot_importance,
                "hpsearch_study",
                "hpsearch_importance",
                name="plot_importance",
            ),
        ],
        namespace="hpsearch",
        prefix_datasets_with_namespace=False,
        tags=["hpsearch"],
    )
