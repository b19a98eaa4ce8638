"""Wiring of ``quantize_ptq``: fine-tuned FP32 model → one versioned folder per variant."""

from kedro.pipeline import Node, Pipeline

from quant_sentiment.variants import produced_by

from .nodes import PRODUCER, make_variant_node_func, render_summary, summarize_variants


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``quantize_ptq`` pipeline (namespace ``quantize_ptq`` in kedro-viz).

    For every variant V registered with ``producer="quantize_ptq"`` a node
    ``quantize_V`` writes the folder ``ptq_V_model`` (weights, tokenizer,
    ``manifest.json``); disabled or impossible variants write a ``skipped`` manifest.
    Variants that calibrate (static quantization) also read ``clean_train``.
    """
    variants = produced_by(PRODUCER)
    nodes = [
        Node(
            make_variant_node_func(v.name),
            inputs=["finetuned_model", "params:quantize_ptq", "params:model"]
            + ["clean_train"] * v.calibration,
            outputs=v.dataset,
            name=f"quantize_{v.name}",
        )
        for v in variants
    ]
    nodes += [
        Node(
            summarize_variants,
            inputs=[v.dataset for v in variants],
            outputs="ptq_summary",
            name="summarize_ptq_variants",
        ),
        Node(
            render_summary,
            inputs="ptq_summary",
            outputs="ptq_summary_md",
            name="render_ptq_summary",
        ),
    ]
    return Pipeline(
        nodes,
        namespace=PRODUCER,
        prefix_datasets_with_namespace=False,
        tags=[PRODUCER],
    )
