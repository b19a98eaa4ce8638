"""Wiring of the ``embed_finetune`` pipeline: pairs → leakage check → training → retrieval table."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_pairs,
    check_pairs,
    evaluate_retrieval,
    render_retrieval_table,
    train_embedding_model,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``embed_finetune`` pipeline."""
    return Pipeline(
        [
            Node(
                build_pairs,
                inputs=["nusax_senti", "embed_corpus", "params:embed_finetune.pairs"],
                outputs=[
                    "embed_train_pairs",
                    "embed_valid_pairs",
                    "embed_eval_pairs",
                    "embed_pairs_stats",
                ],
                name="build_embedding_pairs",
            ),
            Node(
                check_pairs,
                inputs=[
                    "embed_train_pairs",
                    "embed_valid_pairs",
                    "embed_eval_pairs",
                    "embed_pairs_stats",
                ],
                outputs="embed_pairs_report",
                name="check_embedding_pairs",
            ),
            Node(
                train_embedding_model,
                inputs=[
                    "embed_train_pairs",
                    "embed_valid_pairs",
                    "embed_pairs_report",
                    "params:embed_finetune",
                ],
                outputs=[
                    "embed_model",
                    "embed_training_history",
                    "embed_training_summary",
                ],
                name="train_embedding_model",
            ),
            Node(
                evaluate_retrieval,
                inputs=[
                    "embed_model",
                    "embed_eval_pairs",
                    "embed_training_summary",
                    "params:embed_finetune",
                ],
                outputs="embed_retrieval_metrics",
                name="evaluate_retrieval",
            ),
            Node(
                render_retrieval_table,
                inputs="embed_retrieval_metrics",
                outputs="embed_retrieval_metrics_md",
                name="render_retrieval_table",
            ),
        ],
        namespace="embed_finetune",
        prefix_datasets_with_namespace=False,
        tags=["embed_finetune"],
    )
