"""Wiring of ``quantize_qat``: fine-tuned FP32 model → one trained, converted folder per variant."""

from kedro.pipeline import Node, Pipeline

from quant_sentiment.variants import produced_by

from .nodes import PRODUCER, make_variant_node_func, render_summary, summarize_variants


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``quantize_qat`` pipeline (namespace ``quantize_qat`` in kedro-viz).

    For every variant V registered with ``producer="quantize_qat"`` a node
    ``train_V`` writes the folder ``qat_V_model`` (ONNX model, tokenizer,
    ``manifest.json``), the training history ``qat_V_history`` and the artifact's
    test predictions ``qat_V_test_predictions`` (which ``evaluate`` reuses).
    """
    variants = produced_by(PRODUCER)
    nodes = [
        Node(
            make_variant_node_func(v.name),
            inputs=[
                "finetuned_model",
                "clean_train",
                "clean_valid",
                "clean_test",
                "params:quantize_qat",
                "params:model",
            ],
            outputs=[v.dataset, f"{v.name}_history", v.predictions],
            name=f"train_{v.name}",
        )
        for v in variants
    ]
    nodes += [
        Node(
            summarize_variants,
            inputs=[v.dataset for v in variants],
            outputs="qat_summary",
            name="summarize_qat_variants",
        ),
        Node(
            render_summary,
            inputs="qat_summary",
            outputs="qat_summary_md",
            name="render_qat_summary",
        ),
    ]
    return Pipeline(
        nodes,
        namespace=PRODUCER,
        prefix_datasets_with_namespace=False,
        tags=[PRODUCER],
    )
