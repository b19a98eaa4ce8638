"""Wiring of the ``multiseed`` pipeline: per-seed comparison rows -> aggregated table.

``quant-sentiment seeds`` (quant_sentiment.experiments) runs the chosen pipelines once
per seed, collects each run's ``evaluate_comparison_table`` into ``multiseed_runs``,
then runs this pipeline; ``kedro run --pipelines=multiseed`` re-aggregates the last
collection.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import aggregate_seeds, plot_seeds, seeds_markdown


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``multiseed`` pipeline (on request; not in the default chain)."""
    return Pipeline(
        [
            Node(
                aggregate_seeds,
                inputs=["multiseed_runs", "params:multiseed"],
                outputs="multiseed_summary",
                name="aggregate_seeds",
            ),
            Node(
                seeds_markdown,
                inputs=["multiseed_summary", "multiseed_runs"],
                outputs="multiseed_markdown",
                name="seeds_markdown",
            ),
            Node(
                plot_seeds,
                inputs=["multiseed_runs", "multiseed_summary"],
                outputs="multiseed_figure",
                name="plot_seeds",
            ),
        ],
        namespace="multiseed",
        prefix_datasets_with_namespace=False,
        tags=["multiseed"],
    )
